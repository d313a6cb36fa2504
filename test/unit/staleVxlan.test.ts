// The stale-vxlan trap (moby/libnetwork#1765): which node and overlay, from the swarm's tasks, and the fix's commands.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EngineNetwork, EngineNode, EngineService, EngineTask } from "../../src/docker";
import {
    STALE_VXLAN_CAUSE,
    describeStaleVxlan,
    findStaleVxlan,
    staleVxlanFix,
    staleVxlanSubnet,
} from "../../src/staleVxlan";
import { ROOT } from "./fixtures";

// The error as dockerd 20.10 gave it in the sandbox, for a task on a worker holding a stale interface.
const ERR =
    'network sandbox join failed: subnet sandbox join failed for "10.78.0.0/24": error creating vxlan interface: file exists';
const NET_ID = "9qmovx41qz3plnleekq9twn6r";
const networks: EngineNetwork[] = [
    {
        Name: "proxy-rolling",
        Id: NET_ID,
        Driver: "overlay",
        Scope: "swarm",
        Options: { "com.docker.network.driver.overlay.vxlanid_list": "4098" },
        IPAM: { Config: [{ Subnet: "10.78.0.0/24" }] },
    },
];
const nodes: EngineNode[] = [
    { ID: "n1", Description: { Hostname: "host-w1" } },
    { ID: "n0", Description: { Hostname: "host-manager" } },
];
const services: EngineService[] = [
    { ID: "s1", Spec: { Name: "warm-keycloak_app" } },
    { ID: "s2", Spec: { Name: "ccci-bridge_app" } },
];
const task = (id: string, service: string, node: string, state: string, err?: string, addr?: string): EngineTask => ({
    ID: id,
    ServiceID: service,
    NodeID: node,
    Status: { State: state, Err: err },
    NetworksAttachments: addr === undefined ? [] : [{ Network: { ID: "x" }, Addresses: [addr] }],
});

describe("stale vxlan interface", () => {
    it("reads the overlay's subnet from the rejection, and only from that error", () => {
        assert.strictEqual(staleVxlanSubnet(ERR), "10.78.0.0/24");
        assert.strictEqual(staleVxlanSubnet("network sandbox join failed: something else"), undefined);
        assert.strictEqual(staleVxlanSubnet(undefined), undefined);
    });

    it("names the node, the overlay (name, subnet, VNI) and the services it rejects, once per node and overlay", () => {
        const found = findStaleVxlan(
            [
                task("t1", "s1", "n1", "rejected", ERR),
                task("t2", "s1", "n1", "rejected", ERR),
                task("t3", "s2", "n1", "rejected", ERR),
                task("t4", "s1", "n0", "running"),
            ],
            networks,
            nodes,
            services,
        );
        assert.deepStrictEqual(found, [
            {
                node: "host-w1",
                nodeId: "n1",
                subnet: "10.78.0.0/24",
                network: { id: NET_ID, name: "proxy-rolling", vni: 4098 },
                services: ["ccci-bridge_app", "warm-keycloak_app"],
            },
        ]);
        assert.strictEqual(
            describeStaleVxlan(found[0]),
            `stale vxlan interface: node host-w1 cannot join overlay proxy-rolling (10.78.0.0/24, VNI 4098): ${STALE_VXLAN_CAUSE}; it rejects the tasks of ccci-bridge_app, warm-keycloak_app`,
        );
    });

    it("is current until a task of that service runs on that node in that overlay (not in another: a start-first move's old task)", () => {
        const on = (addr: string) =>
            findStaleVxlan(
                [task("t1", "s1", "n1", "rejected", ERR), task("t2", "s1", "n1", "running", undefined, addr)],
                networks,
                nodes,
                services,
            ).map((s) => `${s.node} ${s.network?.name ?? ""}`);
        assert.deepStrictEqual(on("10.0.1.7/24"), ["host-w1 proxy-rolling"]);
        assert.deepStrictEqual(on("10.78.0.9/24"), []);
    });

    it("gives the script and the same by hand, with the node's exec root and pidfile when they are not dockerd's defaults", () => {
        const [s] = findStaleVxlan([task("t1", "s1", "n1", "rejected", ERR)], networks, nodes, services);
        const fix = staleVxlanFix(s, { hostDir: "/opt/sp/host" });
        assert.strictEqual(fix[0], `bash /opt/sp/host/vxlan-clear.sh ${NET_ID} 4098`);
        assert.ok(
            fix.some((c) => c.startsWith(`nsenter --net=/var/run/docker/netns/1-9qmovx41qz ip -d link show vxlan0`)),
        );
        assert.ok(fix.some((c) => c.includes("grep ' vxlan id 4098 '")));
        const there = staleVxlanFix(s, { hostDir: "/h", execRoot: "/run/d", pidfile: "/run/d/dockerd.pid" });
        assert.strictEqual(there[0], `bash /h/vxlan-clear.sh ${NET_ID} 4098 /run/d /run/d/dockerd.pid`);
    });

    it("for an overlay that no longer exists, names its subnet and how to find the interface", () => {
        const [s] = findStaleVxlan([task("t1", "s1", "n1", "rejected", ERR)], [], nodes, services);
        assert.strictEqual(s.network, undefined);
        assert.match(staleVxlanFix(s, { hostDir: "/h" })[0], /^ip -d -o link show type vxlan /);
        assert.match(describeStaleVxlan(s), /node host-w1 cannot join the overlay of 10\.78\.0\.0\/24/);
    });

    it("says the cause in the host scripts' words too (host/lib.sh)", () => {
        const lib = fs.readFileSync(path.join(ROOT, "host", "lib.sh"), "utf8");
        const cause = /^sp_stale_vxlan_cause='([^']*)'$/m.exec(lib)?.[1];
        assert.strictEqual(cause, STALE_VXLAN_CAUSE);
    });
});
