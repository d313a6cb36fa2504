// The maintenance plan and the checks the program makes before it creates anything, without mocks.
import * as assert from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deleteRefusal, replaceRefusal } from "../../src/maintenanceWindow";
import { parseConfig } from "../../config";
import { check } from "../../program";
import { readHostFacts, routesFrom } from "../../src/hostFacts";
import type { Runner } from "../../src/runner";
import { countUsage } from "../../src/docker";
import { Engine } from "../../src/engine";
import { gatherUsage } from "../../cli/shared/overlay-capacity";
import { type FakeEngine, type FakeSwarmSpec, startFakeEngine } from "../../harness/fake-engine";
import { NAME_PATTERN } from "../../src/names";
import { checkName } from "../../cli/shared/validate";
import { argvLine, commandLine, type HostScript, hostFiles, installer } from "../../src/hostCommand";
import { checkNixModule, findNetworkCreate } from "../../src/nix";
import { isReplacing, orderStacks } from "../../src/plan";
import { type RawConfig, rawConfig, referenceFacts, ROOT } from "./fixtures";

function checked(mutate: (c: RawConfig) => void = () => undefined, facts = referenceFacts()) {
    const raw = rawConfig();
    mutate(raw);
    return check({ config: parseConfig(raw, { baseDir: ROOT }), facts, baseDir: ROOT, dryRun: true });
}

describe("stack order", () => {
    it("puts traefik first and the stacks that wait for it in the next wave", () => {
        assert.deepStrictEqual(orderStacks(parseConfig(rawConfig(), { baseDir: ROOT }).stacks), [
            ["traefik", "backups"],
            ["drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak"],
        ]);
    });
    it("orders chains and names a cycle", () => {
        assert.deepStrictEqual(
            orderStacks([
                { name: "c", waitsFor: ["b"] },
                { name: "b", waitsFor: ["a"] },
                { name: "a", waitsFor: [] },
            ]),
            [["a"], ["b"], ["c"]],
        );
        assert.throws(
            () =>
                orderStacks([
                    { name: "a", waitsFor: ["c"] },
                    { name: "b", waitsFor: ["a"] },
                    { name: "c", waitsFor: ["b"] },
                ]),
            { message: "the waits form a cycle: a -> c -> b -> a; remove one of these waitsFor entries" },
        );
    });
});

describe("maintenance plan", () => {
    it("knows when the network is replaced", () => {
        assert.strictEqual(isReplacing(["10.0.1.0/24"], "10.10.0.0/16"), true);
        assert.strictEqual(isReplacing(["10.10.0.0/16"], "10.10.0.0/16"), false);
        assert.strictEqual(isReplacing([], "10.10.0.0/16"), false);
        assert.strictEqual(isReplacing(["10.10.0.0/16", "10.11.0.0/16"], "10.10.0.0/16"), true);
    });

    it("tears down attached stacks dependents first, swaps the network, rebuilds, redeploys traefik first, verifies", () => {
        const plan = checked().plan;
        assert.deepStrictEqual(
            plan.steps.map((s) => `${s.step} ${s.action} ${s.targets.join(",")}`),
            [
                "1 gate proxy",
                "2 teardown traefik,drone,ccci-bridge,ccci-dashboard,ccci-reports,warm-keycloak",
                "3 delete-network proxy",
                "4 create-network proxy",
                "5 rebuild proxy",
                "6 deploy traefik",
                "7 deploy drone,ccci-bridge,ccci-dashboard,ccci-reports,warm-keycloak",
                "8 verify traefik,drone,ccci-bridge,ccci-dashboard,ccci-reports,warm-keycloak",
            ],
        );
        assert.ok(
            !plan.steps.some((s) => s.targets.includes("backups")),
            "backups is not on proxy and must not be touched",
        );
        // What the program builds from: every stack in its wave (backups too), and one teardown of the attached.
        assert.deepStrictEqual(plan.waves, [
            ["traefik", "backups"],
            ["drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak"],
        ]);
        assert.deepStrictEqual(plan.teardown, [
            "traefik",
            "drone",
            "ccci-bridge",
            "ccci-dashboard",
            "ccci-reports",
            "warm-keycloak",
        ]);
    });

    it("adopting the live network is no replacement; the plan still describes the maintenance", () => {
        const facts = referenceFacts();
        const c = checked((r) => {
            r.network.subnet = "10.0.1.0/24";
            r.rebuild = {};
        }, facts);
        assert.strictEqual(c.replacing, false);
        assert.strictEqual(c.gateway, "10.0.1.1");
        assert.deepStrictEqual(
            c.plan.steps.map((s) => s.action),
            ["gate", "teardown", "delete-network", "create-network", "deploy", "deploy", "verify"],
        );
    });
});

describe("checks before anything is created", () => {
    const KEY = "swarm-proxy:network.subnet";
    const refused: [string, (c: RawConfig) => void, string][] = [
        [
            "overlap with ingress",
            (c) => {
                c.network.subnet = "10.0.0.0/16";
            },
            `${KEY}: 10.0.0.0/16 overlaps network "ingress" (10.0.0.0/24), network "traefik_internal" (10.0.2.0/24), network "warm-keycloak_internal" (10.0.3.0/24), network "backups_default" (10.0.4.0/24); choose a subnet that overlaps no existing network, host route or reserved range`,
        ],
        [
            "overlap with docker_gwbridge",
            (c) => {
                c.network.subnet = "172.18.0.0/24";
            },
            `${KEY}: 172.18.0.0/24 overlaps network "docker_gwbridge" (172.18.0.0/16), host route 172.18.0.0/16; choose a subnet that overlaps no existing network, host route or reserved range`,
        ],
        [
            "overlap with a host route",
            (c) => {
                c.network.subnet = "100.101.0.0/16";
            },
            `${KEY}: 100.101.0.0/16 overlaps host route 100.101.102.103/32; choose a subnet that overlaps no existing network, host route or reserved range`,
        ],
        [
            "prefix too small",
            (c) => {
                c.network.subnet = "10.10.0.0/26";
            },
            `${KEY}: 10.10.0.0/26 gives 61 assignable addresses, 1.5x the 40 in use; at least 10x is configured (minHeadroom): use a /23 or larger`,
        ],
        [
            "nix module with another subnet",
            (c) => {
                c.network.subnet = "10.20.0.0/16";
            },
            "swarm-proxy:rebuild.nixModule: nix/swarm.nix:33 creates proxy with --subnet 10.10.0.0/16 but the config wants 10.20.0.0/16; make them equal",
        ],
    ];
    for (const [what, mutate, message] of refused) {
        it(`refuses ${what}`, () => assert.throws(() => checked(mutate), { message }));
    }

    it("refuses a nix module that creates the network with Docker's default /24 once the subnet changes", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nix-"));
        fs.writeFileSync(
            path.join(dir, "swarm.nix"),
            "script = ''\n  docker network create --driver overlay --attachable proxy\n'';\n",
        );
        const text = fs.readFileSync(path.join(dir, "swarm.nix"), "utf8");
        assert.throws(() => checkNixModule("k", "swarm.nix", text, "proxy", "10.10.0.0/16", ["10.0.1.0/24"]), {
            message:
                "k: swarm.nix:2 creates proxy without --subnet (Docker's default /24) but the config wants 10.10.0.0/16; add --subnet 10.10.0.0/16 to the module",
        });
        // ...but accepts it for the adoption run, which keeps the live /24.
        checkNixModule("k", "swarm.nix", text, "proxy", "10.0.1.0/24", ["10.0.1.0/24"]);
        assert.throws(() => checkNixModule("k", "m.nix", "{ }", "proxy", "10.10.0.0/16", []), {
            message:
                'k: "m.nix" has no `docker network create … proxy` line; the module must create the network the program manages',
        });
    });

    it("reads --subnet=, literal and let-bound subnets", () => {
        assert.deepStrictEqual(
            findNetworkCreate("docker network create --subnet=10.9.0.0/16 -d overlay proxy", "proxy"),
            { line: 1, subnet: "10.9.0.0/16" },
        );
        assert.deepStrictEqual(
            // Nix string interpolation, not a template
            findNetworkCreate('s = "10.8.0.0/16";\nx\n${docker} network create --subnet ${s} proxy', "proxy"),
            { line: 3, subnet: "10.8.0.0/16" },
        );
        assert.strictEqual(findNetworkCreate("docker network create --subnet 10.9.0.0/16 other", "proxy"), undefined);
    });

    it("labels and gateway follow the live network until it is replaced, and the change run lists what changes", () => {
        const facts = referenceFacts();
        const live = facts.networks.find((n) => n.name === "proxy")!;
        live.labels = { team: "ops" };
        const adopt = rawConfig();
        adopt.network = {
            ...adopt.network,
            subnet: "10.0.1.0/24",
            gateway: "10.0.1.9",
            labels: { owner: "swarm-proxy" },
        };
        adopt.rebuild = {};
        const kept = check({ config: parseConfig(adopt, { baseDir: ROOT }), facts, baseDir: ROOT, dryRun: true });
        assert.strictEqual(kept.replacing, false);
        assert.strictEqual(kept.gateway, "10.0.1.1");
        assert.deepStrictEqual(kept.labels, { team: "ops" });
        assert.deepStrictEqual(kept.changes, []);
        assert.deepStrictEqual(kept.deferred, [
            { key: "network.gateway", live: "10.0.1.1", desired: "10.0.1.9" },
            { key: "network.labels", live: "team=ops", desired: "owner=swarm-proxy" },
        ]);
        const change = rawConfig();
        change.network = { ...change.network, labels: { owner: "swarm-proxy" } };
        const replaced = check({ config: parseConfig(change, { baseDir: ROOT }), facts, baseDir: ROOT, dryRun: true });
        assert.strictEqual(replaced.replacing, true);
        assert.strictEqual(replaced.gateway, "10.10.0.1");
        assert.deepStrictEqual(replaced.labels, { owner: "swarm-proxy" });
        assert.deepStrictEqual(replaced.deferred, []);
        assert.deepStrictEqual(replaced.changes, [
            { key: "network.subnet", live: "10.0.1.0/24", desired: "10.10.0.0/16" },
            { key: "network.gateway", live: "10.0.1.1", desired: "10.10.0.1" },
            { key: "network.labels", live: "team=ops", desired: "owner=swarm-proxy" },
        ]);
    });

    it("without a survey it assumes a replacement, so the window is demanded", () => {
        const c = check({
            config: parseConfig(rawConfig(), { baseDir: ROOT }),
            facts: undefined,
            baseDir: ROOT,
            dryRun: false,
        });
        assert.strictEqual(c.replacing, true);
    });
});

describe("maintenance window", () => {
    const base = {
        replacing: true,
        windowOpen: false,
        dryRun: false,
        networkName: "proxy",
    };
    it("refuses a replacing `up` outside the window and says how to open it", () => {
        assert.strictEqual(
            replaceRefusal(base),
            'this update replaces the network "proxy", which takes every attached stack down; it runs only in a maintenance window. ' +
                "Open the window for one run with `SWARM_PROXY_MAINTENANCE=open pulumi up`, or set it with `pulumi config set --path maintenance.windowOpen true`. Nothing was changed.",
        );
    });
    it("never blocks a preview, an open window, or a run that replaces nothing", () => {
        assert.strictEqual(replaceRefusal({ ...base, dryRun: true }), undefined);
        assert.strictEqual(replaceRefusal({ ...base, windowOpen: true }), undefined);
        assert.strictEqual(replaceRefusal({ ...base, replacing: false }), undefined);
    });
    it("a refused delete names the resource and how to open the window", () => {
        assert.strictEqual(
            deleteRefusal("drone-stack (command:local:Command)"),
            "outside the maintenance window: this update would delete drone-stack (command:local:Command), which takes it down; " +
                "disruptive steps run only in a maintenance window. Open the window for one run with `SWARM_PROXY_MAINTENANCE=open pulumi up`, " +
                "or set it with `pulumi config set --path maintenance.windowOpen true`. Nothing was torn down.",
        );
    });
});

describe("host commands", () => {
    it("quotes every word and never splices an argument into the command", () => {
        assert.strictEqual(
            commandLine("/var/lib/swarm-proxy/host", { script: "stack-teardown", args: ["drone", "180"] }),
            "'bash' '/var/lib/swarm-proxy/host/stack-teardown.sh' 'drone' '180'",
        );
        assert.strictEqual(
            commandLine("/d", { script: "http-probe", args: ["echo", "it's $(x)"] }),
            "'bash' '/d/http-probe.sh' 'echo' 'it'\\''s $(x)'",
        );
    });
    it("installs every host script byte for byte, with the bundle's digest, and prints it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-install-"));
        try {
            const target = path.join(dir, "scripts");
            const r = spawnSync("/bin/sh", ["-c", `bash -s -- '${target}'`], { input: installer(), encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
            const files = hostFiles();
            assert.ok(files.length >= 10, files.map((f) => f.name).join(", "));
            for (const f of files) {
                assert.strictEqual(fs.readFileSync(path.join(target, f.name), "utf8"), f.text, f.name);
            }
            assert.deepStrictEqual(
                fs.readdirSync(target).filter((n) => n.startsWith(".")),
                [],
                "no temporary file is left",
            );
            assert.strictEqual(r.stdout.trim(), fs.readFileSync(path.join(target, "DIGEST"), "utf8").trim());
            assert.match(r.stdout.trim(), /^[0-9a-f]{64}$/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("the installer's text changes with a script, and only then", () => {
        assert.strictEqual(installer(), installer());
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-host-"));
        try {
            for (const f of hostFiles()) fs.writeFileSync(path.join(dir, f.name), f.text);
            assert.strictEqual(installer(dir), installer());
            fs.appendFileSync(path.join(dir, "lib.sh"), "# a comment\n");
            assert.notStrictEqual(installer(dir), installer());
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("runs an installed script with its arguments intact, and validates names before touching docker", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-install-"));
        try {
            // The package's scripts plus one that prints its arguments, installed and run as the program does.
            const host = path.join(dir, "host");
            fs.mkdirSync(host);
            for (const f of hostFiles()) fs.writeFileSync(path.join(host, f.name), f.text);
            fs.writeFileSync(path.join(host, "print-args.sh"), "printf '%s|' \"$@\"\n");
            const installed = path.join(dir, "installed");
            assert.strictEqual(spawnSync("bash", ["-s", "--", installed], { input: installer(host) }).status, 0);
            const ok = spawnSync(
                "/bin/sh",
                ["-c", argvLine(["bash", path.join(installed, "print-args.sh"), "a b", "it's", "$(reboot)"])],
                { encoding: "utf8" },
            );
            assert.strictEqual(ok.status, 0, ok.stderr);
            assert.strictEqual(ok.stdout, "a b|it's|$(reboot)|");
            const run = (script: HostScript, args: string[]) =>
                spawnSync("/bin/sh", ["-c", commandLine(installed, { script, args })], { encoding: "utf8" });
            const bad = run("stack-teardown", ["drone;reboot", "10"]);
            assert.notStrictEqual(bad.status, 0);
            assert.match(bad.stderr, /STACK 'drone;reboot' is not a valid name/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("one naming rule", () => {
    it("the host scripts check names with the program's rule, and both accept and refuse the same names", () => {
        const lib = fs.readFileSync(path.join(ROOT, "host", "lib.sh"), "utf8");
        const re = /^sp_name_re='([^']*)'$/m.exec(lib)?.[1];
        assert.strictEqual(re, NAME_PATTERN.source);
        const samples = [
            "drone",
            "ccci-bridge",
            "warm_keycloak.1",
            "a".repeat(63),
            "a".repeat(64),
            "-rf",
            ".x",
            "a b",
            "a;b",
            "$(x)",
            "é",
            "",
        ];
        for (const s of samples) {
            const sh = spawnSync(
                "bash",
                ["-c", 'source "$1"; sp_check_name "$2" NAME', "_", path.join(ROOT, "host", "lib.sh"), s],
                { encoding: "utf8" },
            );
            assert.strictEqual(
                sh.status === 0,
                NAME_PATTERN.test(s),
                `${JSON.stringify(s)}: lib.sh says ${sh.status}, the program ${NAME_PATTERN.test(s)}`,
            );
            assert.strictEqual(
                (() => {
                    try {
                        return checkName("--stack", s) === s;
                    } catch {
                        return false;
                    }
                })(),
                NAME_PATTERN.test(s),
            );
        }
    });
});

describe("host facts", () => {
    // The program's read at preview, through the Engine API (the tools' reader) against the fake Engine API;
    // the routes come through the runner, here a stand-in printing no routes.
    const noRoutes: Runner = () => "[]";
    async function withFake<T>(spec: Partial<FakeSwarmSpec>, fn: (f: FakeEngine) => Promise<T>): Promise<T> {
        const fake = await startFakeEngine({
            services: 3,
            replicas: 2,
            history: 1,
            nodes: 3,
            subnet: "10.0.1.0/24",
            ...spec,
        });
        try {
            return await fn(fake);
        } finally {
            await fake.close();
        }
    }

    it("counts one load-balancer address per node that runs a task on the network, as `swarm-proxy capacity` does", async () => {
        await withFake({}, async (fake) => {
            const facts = await readHostFacts(new Engine({ host: fake.host }), noRoutes, "here", "proxy");
            // 3 VIPs + 6 live task endpoints + 3 load balancers (tasks on every node); finished tasks hold nothing.
            assert.strictEqual(facts.inUse.proxy, 12);
            assert.strictEqual(facts.usage?.lbEndpoints, 3);
            assert.deepStrictEqual(facts.defaultAddressPools, ["10.0.0.0/8"]);
            const tools = countUsage(await gatherUsage(new Engine({ host: fake.host }), "proxy", "node0"));
            assert.strictEqual(facts.inUse.proxy, tools.inUse);
            assert.ok(facts.networks.some((n) => n.name === "proxy" && n.subnets[0] === "10.0.1.0/24"));
        });
    });
    it("reads a fixed number of times whatever the number of services, and never service or task lists on a worker", async () => {
        const calls = async (services: number) =>
            withFake({ services }, async (fake) => {
                await readHostFacts(new Engine({ host: fake.host }), noRoutes, "here", "proxy");
                return fake.requests.length;
            });
        assert.strictEqual(await calls(300), await calls(3));
        await withFake({ role: "worker" }, async (fake) => {
            await assert.rejects(
                readHostFacts(new Engine({ host: fake.host }), noRoutes, "ssh root@198.18.0.2:22", "proxy"),
                {
                    message:
                        'swarm-proxy:connection: the host at ssh root@198.18.0.2:22 is a swarm worker (node "host0", ID node0), not a manager: ' +
                        'the swarm network "proxy" is created and removed only on a manager, and only a manager can read the stacks\' services ' +
                        "and tasks. Point the connection at a manager (`docker node ls --filter role=manager` on any manager lists them). Nothing was changed.",
                },
            );
            // The Engine's first call agrees the API version (GET /version, unversioned), then reads /info only.
            assert.deepStrictEqual(fake.requests, ["GET /version", "GET /info"]);
        });
        await withFake({ role: "inactive" }, async (fake) => {
            await assert.rejects(
                readHostFacts(new Engine({ host: fake.host }), noRoutes, "here", "proxy"),
                /the host at here is not in an active swarm \(LocalNodeState=inactive\)/,
            );
        });
    });
    it("reads route destinations, without the default route", () => {
        assert.deepStrictEqual(
            routesFrom(JSON.stringify([{ dst: "default" }, { dst: "172.17.0.0/16" }, { dst: "100.101.102.103" }])),
            ["172.17.0.0/16", "100.101.102.103/32"],
        );
    });
});
