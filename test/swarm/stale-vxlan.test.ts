// The stale vxlan interface (moby/libnetwork#1765, moby#21482, moby#28559) on the manager, made deterministic: a vxlan
// with an overlay's VNI, added in the manager's dockerd namespace before the overlay's tasks start there, is what a
// dockerd that stopped without cleaning up leaves (the kernel refuses a second vxlan with that VNI wherever the first
// is: "error creating vxlan interface: file exists", the error the crashed worker gave). The moves, the health check,
// drift and guard must name the node, the overlay and the fix; the fix applied, the rerun converges.
import * as assert from "node:assert";
import * as os from "node:os";
import * as path from "node:path";
import {
    composeFile,
    createProxy,
    docker,
    hostInstalled,
    hostOk,
    lines,
    repoRoot,
    resetSwarm,
    run,
    sandboxLog,
    sandboxName,
    serviceNetworkNames,
} from "../../harness/swarm";
import {
    leaveStaleVxlan,
    leftTemporaryNetworkArgs,
    removeStaleVxlan,
    STALE_VXLAN,
    VNI_FORMAT,
} from "../../harness/engine/multinode";
import { runBin } from "../tools/bin";

const subnet = "10.104.0.0/25";
const tempSubnet = "10.105.0.0/25";
const target = "10.106.0.0/16";
/** A global service (a task on every node) and a replicated one, both on proxy and on a network of their own. */
const stacks = ["warm-keycloak", "ccci-bridge"];
/** The sandbox's dockerd: its exec root (overlay namespaces under netns/) and pidfile (its network namespace). */
const execRoot = `/run/swarm-sandbox/${sandboxName}`;
const pidfile = `${execRoot}/dockerd.pid`;

async function vniOf(network: string): Promise<number> {
    const vni = Number(await docker(["network", "inspect", "--format", VNI_FORMAT, network]));
    assert.ok(Number.isInteger(vni) && vni > 0, `no VNI for ${network}`);
    return vni;
}

/** Each service's networks by name, "service: net net". */
async function serviceNetworks(): Promise<string[]> {
    return (await serviceNetworkNames()).map(([svc, nets]) => `${svc}: ${nets.join(" ")}`);
}

/** Every task of every service, with its node, state and error: what the swarm said, for a failure's message. */
async function tasksWithErrors(): Promise<string> {
    return docker([
        "service",
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}",
        ...lines(await docker(["service", "ls", "-q"])),
    ]);
}

describe("a stale vxlan interface on the manager (moby/libnetwork#1765)", function () {
    this.timeout(900_000);
    let node = "";
    before(async () => {
        node = (await docker(["info", "--format", "{{.Name}}"])).trim();
    });
    afterEach(() => removeStaleVxlan(pidfile));
    after(resetSwarm);

    it("the move out stops naming the node, the temporary network with its subnet and the fix; the printed fix applied, the rerun converges", async () => {
        await resetSwarm();
        await createProxy(subnet);
        await Promise.all(stacks.map((s) => hostOk("stack-deploy.sh", [s, composeFile(s)])));
        await Promise.all(stacks.map((s) => hostOk("stack-health.sh", [s, "proxy", subnet, "180"])));
        const onProxy = (await serviceNetworks()).filter((l) => / proxy( |$)/.test(l));
        assert.strictEqual(onProxy.length, 2, onProxy.join("\n"));
        // What an interrupted run leaves, resumed by the rerun: the temporary network, so its VNI is known beforehand.
        await docker(leftTemporaryNetworkArgs(tempSubnet));
        leaveStaleVxlan(pidfile, await vniOf("proxy-rolling"));
        const args = ["out", "proxy", "proxy-rolling", tempSubnet, target, "60", ...stacks];
        const first = await hostInstalled("network-move.sh", args, 600_000);
        assert.notStrictEqual(first.code, 0, first.stdout);
        const said = first.stdout + first.stderr;
        const named = new RegExp(
            `stale vxlan interface: node ${node} cannot join overlay proxy-rolling \\(10\\.105\\.0\\.0/25\\): ` +
                `[^;]*moby/libnetwork#1765[^;]*; fix, as root on node ${node}: (bash \\S+/vxlan-clear\\.sh [0-9a-z]+ \\d+)`,
        ).exec(said);
        assert.ok(named, `${said}\n--- tasks\n${await tasksWithErrors()}`);
        console.log(`      the move stopped: ${named[0]}`);
        // Every service was put back onto proxy.
        assert.deepStrictEqual(
            (await serviceNetworks()).filter((l) => / proxy( |$)/.test(l)),
            onProxy,
        );
        // The printed fix, with the sandbox's exec root and pidfile (dockerd's defaults on a host).
        const [cmd, ...words] = named[1].split(" ");
        const fix = await run(cmd, [...words, execRoot, pidfile]);
        assert.strictEqual(fix.code, 0, fix.stderr);
        assert.match(fix.stdout, new RegExp(`removed vxlan interface ${STALE_VXLAN} \\(VNI \\d+\\)`));
        const rerun = await hostInstalled("network-move.sh", args, 600_000);
        assert.strictEqual(rerun.code, 0, rerun.stderr);
        const nets = lines(await docker(["network", "ls", "--format", "{{.Name}}"]));
        assert.ok(!nets.includes("proxy"), nets.join(" "));
        assert.deepStrictEqual(
            (await serviceNetworks()).filter((l) => / proxy-rolling( |$)/.test(l)),
            onProxy
                .map((l) => l.replace(/ proxy( |$)/, " proxy-rolling$1"))
                .map((l) => `${l.split(": ")[0]}: ${l.split(": ")[1].split(" ").sort().join(" ")}`),
        );
        for (const s of stacks) await hostOk("stack-health.sh", [s, "proxy-rolling", tempSubnet, "120"]);
    });

    it("the health check, drift and guard name it; `guard --fix` removes it and the stacks run", async () => {
        await resetSwarm();
        await createProxy(subnet);
        leaveStaleVxlan(pidfile, await vniOf("proxy"));
        await Promise.all(stacks.map((s) => hostOk("stack-deploy.sh", [s, composeFile(s)])));
        const overlay = `node ${node} cannot join overlay proxy \\(10\\.104\\.0\\.0/25`;
        // The global service counts 1/1 while the node rejects its task: the health check must not call it healthy.
        const health = await hostInstalled("stack-health.sh", ["warm-keycloak", "proxy", subnet, "20"]);
        assert.notStrictEqual(health.code, 0, health.stdout);
        assert.match(health.stderr, new RegExp(`stale vxlan interface: ${overlay}\\): .*moby/libnetwork#1765`));
        const drift = await runBin(
            ["drift", "--json", "--no-logs", "--stack-config", path.join(repoRoot, "Pulumi.sandbox.yaml")],
            { cwd: os.tmpdir() },
        );
        assert.strictEqual(drift.code, 3, drift.err);
        const findings = (JSON.parse(drift.out) as { findings: { kind?: string; detail: string; fix?: string[] }[] })
            .findings;
        const stale = findings.filter((f) => f.kind === "stale-vxlan");
        assert.strictEqual(stale.length, 1, JSON.stringify(findings, null, 1));
        assert.match(stale[0].detail, new RegExp(`${overlay}, VNI \\d+\\): .*moby/libnetwork#1765`));
        assert.match(stale[0].fix?.[0] ?? "", /^bash \S+\/vxlan-clear\.sh [0-9a-z]+ \d+$/);
        const guard = await runBin(
            ["guard", "--log-file", sandboxLog(), "--fix", "--exec-root", execRoot, "--docker-pidfile", pidfile],
            { cwd: os.tmpdir() },
        );
        assert.strictEqual(guard.code, 0, guard.err);
        assert.match(guard.out, new RegExp(`stale vxlan interface: ${overlay}`));
        assert.match(guard.out, new RegExp(`fixed: removed vxlan interface ${STALE_VXLAN} \\(VNI \\d+\\)`));
        for (const s of stacks) await hostOk("stack-health.sh", [s, "proxy", subnet, "120"]);
    });
});
