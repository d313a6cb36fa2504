// host/network-move.sh as the program installs and runs it, on a real swarm with the sandbox's stacks on a small
// `proxy` (traefik among them, whose port is published in host mode): every service moves out onto a temporary
// network and back onto `proxy` created again with the same subnet, and the free-address probe counts the same
// free addresses on `proxy` before, on the temporary network in between, and on `proxy` after: the moves lose no
// address on either network. Then a deploy of each stack's compose file restarts nothing.
import * as assert from "node:assert";
import * as fs from "node:fs";
import { dirtyTasks } from "../../harness/docker";
import { labelSwitches, watchEngine } from "../../harness/outage";
import {
    composeFile,
    createProxy,
    deployStacks,
    docker,
    hostInstalled,
    hostOk,
    lines,
    probeCapacity,
    proxyStacks,
    resetSwarm,
    sandboxLog,
    serviceNetworkNames,
} from "../../harness/swarm";
import { Engine } from "../../src/engine";

const subnet = "10.96.0.0/25";
const tempSubnet = "10.97.0.0/25";
const probeLimit = 128;

async function serviceNetworks(): Promise<string[]> {
    return (await serviceNetworkNames()).map(
        ([name, nets]) =>
            `${name}: ${nets
                .map((n) => n.replace(/^.*_/, "<stack>_"))
                .sort()
                .join(" ")}`,
    );
}

/**
 * A hop's summary line: every service it moved, counted as the per-service lines say, onto the network named, and
 * traefik's restart gap among the restarting services'.
 */
function hopSummary(stdout: string, onto: string, services: number, traefik: string): void {
    const m =
        /^moved (\d+) service\(s\) onto (\S+) in \d+\.\ds; restart gap \(stop signal to new task running\): (.+)$/m.exec(
            stdout,
        );
    assert.ok(m, `no summary line in the hop's output:\n${stdout}`);
    assert.strictEqual(m[2], onto);
    assert.strictEqual(Number(m[1]), services, m[0]);
    assert.strictEqual(stdout.split("\n").filter((l) => /^ {2}\S+: moved/.test(l)).length, services, stdout);
    assert.match(m[3], new RegExp(`(^|, )${traefik} \\d+\\.\\ds(,|$)`), m[0]);
    console.log(`      ${m[0]}`);
}

/** What holds an address on a network, from its swarm-wide view: each service's VIP and each task's address. */
async function holders(network: string): Promise<string[]> {
    const services = JSON.parse(
        await docker(["network", "inspect", "--verbose", "--format", "{{json .Services}}", network]),
    ) as Record<string, { VIP?: string; Tasks?: { Name: string; EndpointIP: string }[] }> | null;
    return Object.entries(services ?? {})
        .flatMap(([svc, s]) => [
            ...(s.VIP ? [`${svc || "(no service)"} VIP ${s.VIP}`] : []),
            ...(s.Tasks ?? []).map((t) => `${t.Name} ${t.EndpointIP}`),
        ])
        .sort();
}

/**
 * Free addresses on a network, counted once: the probe first waits until the swarm has recorded every stopping
 * task as dead (a draining task holds its address until then), so any shortfall after that is a leak. No
 * recount: a count that retried until it matched let a real leak through (seen twice, then passed).
 */
const settledFree = (network: string): Promise<number> => probeCapacity(network, probeLimit);

const running = async () =>
    lines(
        await docker([
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=running",
            ...lines(await docker(["service", "ls", "-q"])),
        ]),
    ).sort();

describe("network-move.sh: the rolling migration's moves", function () {
    this.timeout(900_000);
    before(async () => {
        await resetSwarm();
        await createProxy(subnet);
        await deployStacks(proxyStacks, "proxy", subnet);
    });
    after(resetSwarm);

    it("move every service out and back, losing no address on either network; the specs stay what stack deploy writes", async () => {
        const networksBefore = await serviceNetworks();
        const logFrom = fs.statSync(sandboxLog()).size;
        const before = await probeCapacity("proxy", probeLimit);
        assert.ok(before > 100, `the probe found only ${before} free addresses on ${subnet}`);
        const proxyHolders = await holders("proxy");
        const names = lines(await docker(["service", "ls", "--format", "{{.Name}}"]));
        const entry = names.find((n) => n.startsWith("traefik_"));
        assert.ok(entry !== undefined, `no traefik service among ${names.join(", ")}`);
        const routed = lines(
            await docker(["service", "ls", "--filter", "label=traefik.enable=true", "--format", "{{.Name}}"]),
        ).filter((n) => n !== entry);
        assert.ok(routed.length >= 5, `the routed services: ${routed.join(", ")}`);
        const watch = await watchEngine(new Engine(), { type: ["container", "service"] });
        const out = await hostInstalled(
            "network-move.sh",
            ["out", "proxy", "proxy-rolling", tempSubnet, "10.98.0.0/16", "300", ...proxyStacks],
            900_000,
        );
        assert.strictEqual(out.code, 0, out.stderr);
        const onProxy = networksBefore.filter((l) => / proxy( |$)/.test(l)).length;
        hopSummary(out.stdout, "proxy-rolling", onProxy, entry);
        assert.ok(!lines(await docker(["network", "ls", "--format", "{{.Name}}"])).includes("proxy"), "proxy is left");
        const onTemp = await settledFree("proxy-rolling");
        const tempHolders = await holders("proxy-rolling");
        // The network is created again (here with the same subnet, so that the counts compare) and everything moves back.
        await createProxy(subnet);
        hopSummary(
            await hostOk("network-move.sh", ["back", "proxy", "proxy-rolling", "300"], 900_000),
            "proxy",
            onProxy,
            entry,
        );
        const switches = labelSwitches(watch.stop(), entry, routed);
        const after = await settledFree("proxy");
        console.log(
            `      free addresses: proxy ${before} before, proxy-rolling ${onTemp} in between, proxy ${after} after`,
        );
        assert.strictEqual(
            onTemp,
            before,
            `free on the temporary network ${onTemp}, on proxy before ${before}; ` +
                `holders on proxy before:\n${proxyHolders.join("\n")}\non the temporary network:\n${tempHolders.join("\n")}`,
        );
        assert.strictEqual(after, before, `free on proxy went from ${before} to ${after}`);
        // traefik restarts once per hop; in each restart every routed service's label is switched after the old
        // traefik's stop signal and before the new one starts (and reads the swarm), from dockerd's own events.
        assert.strictEqual(switches.restarts.length, 2, `traefik's restarts: ${JSON.stringify(switches.restarts)}`);
        assert.deepStrictEqual(switches.late, []);
        console.log(
            `      labels switched ${switches.margins.map((m) => `${(m / 1000).toFixed(2)} s`).join(" and ")} before traefik's new task started`,
        );
        // The swarm's allocator says so when it could not release a task's addresses (a network removed under a
        // task whose death it had not processed yet): none of that during the moves.
        const log = fs.readFileSync(sandboxLog()).subarray(logFrom).toString("utf8");
        assert.deepStrictEqual(
            log
                .split("\n")
                .filter((l) => /Failed freeing network resources|could not find network allocator state/.test(l)),
            [],
        );
        assert.ok(!lines(await docker(["network", "ls", "--format", "{{.Name}}"])).includes("proxy-rolling"));
        assert.deepStrictEqual(await serviceNetworks(), networksBefore);
        const tasks = await running();
        for (const s of proxyStacks) await hostOk("stack-deploy.sh", [s, composeFile(s)]);
        // No task replaced yet, and none the swarm would replace: every running task's spec is its service's template.
        assert.deepStrictEqual(await dirtyTasks(), [], "a deploy of the compose files changed task specs");
        assert.deepStrictEqual(await running(), tasks, "a deploy of the compose files restarted tasks");
    });
});
