// Subnet planning, table-driven, without mocks.
import * as assert from "node:assert";
import {
    assignableAddresses,
    capacity,
    checkCanonicalCidr,
    defaultPoolContaining,
    findConflicts,
    planSubnet,
    type SubnetContext,
} from "../../src/subnet";
import { referenceFacts } from "./fixtures";

const KEY = "swarm-proxy:network.subnet";

function ctx(over: Partial<SubnetContext> = {}): SubnetContext {
    const f = referenceFacts();
    return {
        networks: f.networks,
        routes: f.routes,
        reserved: ["100.64.0.0/10"],
        defaultAddressPools: f.defaultAddressPools,
        replacing: "proxy",
        ...over,
    };
}

describe("subnet planning", () => {
    describe("canonical CIDRs", () => {
        const good = ["10.10.0.0/16", "10.0.1.0/24", "192.168.0.0/16", "10.10.0.0/28", "0.0.0.0/0", "10.10.10.10/32"];
        for (const c of good) {
            it(`accepts ${c}`, () => assert.strictEqual(checkCanonicalCidr(KEY, c), c));
        }
        const bad: [string, string][] = [
            [
                "10.10.1.0/16",
                `${KEY}: "10.10.1.0/16" has host bits set; use 10.10.0.0/16 (an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16)`,
            ],
            [
                "10.0.1.5/24",
                `${KEY}: "10.0.1.5/24" has host bits set; use 10.0.1.0/24 (an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16)`,
            ],
            ["10.10.0.0", `${KEY}: "10.10.0.0" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16`],
            [
                "10.10.0.0/33",
                `${KEY}: "10.10.0.0/33" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16`,
            ],
            [
                "10.10.256.0/24",
                `${KEY}: "10.10.256.0/24" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16`,
            ],
            ["", `${KEY}: "" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16`],
        ];
        for (const [c, msg] of bad) {
            it(`refuses ${JSON.stringify(c)}`, () => assert.throws(() => checkCanonicalCidr(KEY, c), { message: msg }));
        }
        it("agrees with the arithmetic for every prefix (property)", () => {
            for (let prefix = 1; prefix <= 32; prefix++) {
                for (let trial = 0; trial < 20; trial++) {
                    const n = Math.floor(Math.random() * 2 ** 32);
                    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
                    const net = (n & mask) >>> 0;
                    const ip = (x: number) => [24, 16, 8, 0].map((s) => (x >>> s) & 255).join(".");
                    assert.strictEqual(checkCanonicalCidr(KEY, `${ip(net)}/${prefix}`), `${ip(net)}/${prefix}`);
                    if (n !== net) {
                        assert.throws(() => checkCanonicalCidr(KEY, `${ip(n)}/${prefix}`), /has host bits set/);
                    }
                    assert.strictEqual(
                        assignableAddresses(`${ip(net)}/${prefix}`),
                        Math.max(0, 2 ** (32 - prefix) - 3),
                    );
                }
            }
        });
    });

    describe("capacity", () => {
        const table: [string, number, number, number][] = [
            // cidr, in use, assignable, free
            ["10.0.1.0/24", 40, 253, 213],
            ["10.10.0.0/16", 40, 65533, 65493],
            ["10.10.0.0/28", 20, 13, 0],
            ["10.10.0.0/30", 0, 1, 1],
        ];
        for (const [c, used, assignable, free] of table) {
            it(`${c} with ${used} in use`, () => {
                const cap = capacity(c, used);
                assert.strictEqual(cap.assignable, assignable);
                assert.strictEqual(cap.free, free);
            });
        }
        it("the /16 holds 259x the assignable addresses of the /24", () =>
            assert.strictEqual(
                Math.round(assignableAddresses("10.10.0.0/16") / assignableAddresses("10.0.1.0/24")),
                259,
            ));
    });

    describe("conflicts", () => {
        const table: [string, string[]][] = [
            ["10.10.0.0/16", []],
            ["10.0.0.0/24", ["network ingress 10.0.0.0/24"]],
            [
                "10.0.0.0/16",
                [
                    "network ingress 10.0.0.0/24",
                    "network traefik_internal 10.0.2.0/24",
                    "network warm-keycloak_internal 10.0.3.0/24",
                    "network backups_default 10.0.4.0/24",
                ],
            ],
            ["10.0.1.0/24", []],
            ["172.18.0.0/20", ["network docker_gwbridge 172.18.0.0/16", "route 172.18.0.0/16 172.18.0.0/16"]],
            [
                "172.16.0.0/12",
                [
                    "network bridge 172.17.0.0/16",
                    "network docker_gwbridge 172.18.0.0/16",
                    "route 172.17.0.0/16 172.17.0.0/16",
                    "route 172.18.0.0/16 172.18.0.0/16",
                ],
            ],
            ["203.0.113.0/24", ["route 203.0.113.7 203.0.113.7/32"]],
            ["100.101.0.0/16", ["route 100.101.102.103 100.101.102.103/32", "reserved 100.64.0.0/10 100.64.0.0/10"]],
        ];
        for (const [target, want] of table) {
            it(`${target} -> ${want.length === 0 ? "none" : want.join("; ")}`, () => {
                assert.deepStrictEqual(
                    findConflicts(target, ctx()).map((c) => `${c.kind} ${c.name} ${c.cidr}`),
                    want,
                );
            });
        }
        it("the replaced network's own subnet counts once it is not the one being replaced", () => {
            assert.deepStrictEqual(
                findConflicts("10.0.1.0/24", ctx({ replacing: undefined })).map((c) => c.name),
                ["proxy"],
            );
        });
        it("reports the default address pool", () => {
            assert.strictEqual(defaultPoolContaining("10.10.0.0/16", ["10.0.0.0/8"]), "10.0.0.0/8");
            assert.strictEqual(defaultPoolContaining("172.30.0.0/16", ["10.0.0.0/8"]), undefined);
        });
    });

    describe("planSubnet", () => {
        it("plans the reference target", () => {
            const plan = planSubnet({ key: KEY, subnet: "10.10.0.0/16", ctx: ctx(), inUse: 40, minHeadroom: 10 });
            assert.deepStrictEqual(plan, {
                subnet: "10.10.0.0/16",
                capacity: { cidr: "10.10.0.0/16", assignable: 65533, inUse: 40, free: 65493, headroom: 65533 / 40 },
                insideDefaultPool: "10.0.0.0/8",
            });
        });
        const refused: [string, number, number, string][] = [
            [
                "10.0.0.0/24",
                40,
                10,
                `${KEY}: 10.0.0.0/24 overlaps network "ingress" (10.0.0.0/24); choose a subnet that overlaps no existing network, host route or reserved range`,
            ],
            [
                "172.18.0.0/16",
                40,
                10,
                `${KEY}: 172.18.0.0/16 overlaps network "docker_gwbridge" (172.18.0.0/16), host route 172.18.0.0/16; choose a subnet that overlaps no existing network, host route or reserved range`,
            ],
            [
                "203.0.113.0/24",
                40,
                1,
                `${KEY}: 203.0.113.0/24 overlaps host route 203.0.113.7/32; choose a subnet that overlaps no existing network, host route or reserved range`,
            ],
            [
                "100.64.0.0/16",
                40,
                1,
                `${KEY}: 100.64.0.0/16 overlaps reserved range 100.64.0.0/10; choose a subnet that overlaps no existing network, host route or reserved range`,
            ],
            [
                "10.10.0.0/24",
                40,
                10,
                `${KEY}: 10.10.0.0/24 gives 253 assignable addresses, 6.3x the 40 in use; at least 10x is configured (minHeadroom): use a /23 or larger`,
            ],
            [
                "10.10.0.0/20",
                1000,
                10,
                `${KEY}: 10.10.0.0/20 gives 4093 assignable addresses, 4.1x the 1000 in use; at least 10x is configured (minHeadroom): use a /18 or larger`,
            ],
            [
                "10.10.1.0/16",
                40,
                10,
                `${KEY}: "10.10.1.0/16" has host bits set; use 10.10.0.0/16 (an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16)`,
            ],
        ];
        for (const [subnet, inUse, minHeadroom, msg] of refused) {
            it(`refuses ${subnet} (${inUse} in use, ${minHeadroom}x)`, () => {
                assert.throws(() => planSubnet({ key: KEY, subnet, ctx: ctx(), inUse, minHeadroom }), { message: msg });
            });
        }
    });
});
