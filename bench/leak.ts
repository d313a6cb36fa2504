// Leak benchmark (a script, not a timed test): on one sandbox engine, addresses of `proxy` lost per 100
// stack removals by concurrent `docker stack rm` versus our teardown (host/stack-teardown.sh), and the wall
// time of each. Free addresses are counted with the capacity probe before and after each arm.
// Usage: [SANDBOX_DOCKER=E] npm run bench:leak [-- --nodes N] [--json]   (BENCH_REMOVALS=100 per arm by default;
// needs root, starts its own sandbox on the engine SANDBOX_DOCKER names (sandbox/up.sh; default 29); with
// --nodes 3, a manager and two workers, and the stacks' tasks spread over them: the leak happens per node, and so
// does each node's load-balancer address). --json: one JSON object as the last line,
// {"engine": {"version", "api"}, "nodes", "arms": [{"arm", "removals", "lost", "teardownSeconds"}]}.
import { engineOf } from "../harness/docker";
import { sandboxDown, sandboxResponds } from "../harness/sandbox";
import {
    createAnchor,
    createProxy,
    deployStacks,
    docker,
    probeCapacity,
    proxyStacks,
    resetSwarm,
    sandboxName,
    swarmSandboxUp,
    teardownOurs,
    teardownStackRm,
} from "../harness/swarm";

function nodeCount(argv: string[]): number {
    const i = argv.indexOf("--nodes");
    const raw = i >= 0 ? argv[i + 1] : (process.env.SANDBOX_NODES ?? "1");
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 5) {
        throw new Error(`--nodes: ${JSON.stringify(raw)} is not allowed; use a whole number of nodes from 1 to 5`);
    }
    return n;
}
const nodes = nodeCount(process.argv.slice(2));
const json = process.argv.slice(2).includes("--json");
// sandbox/up.sh reads it: one manager and nodes-1 workers.
process.env.SANDBOX_NODES = String(nodes);

// Concurrent `docker stack rm` loses about one address per removal here, so the pool must hold more than
// the removals asked for, or that arm would exhaust it mid-run.
const removals = Number(process.env.BENCH_REMOVALS ?? 100);
const subnet = removals > 400 ? "10.92.0.0/21" : "10.92.0.0/23";
const probeLimit = removals > 400 ? 2048 : 512;
const cycles = Math.max(1, Math.ceil(removals / proxyStacks.length));

interface Arm {
    name: string;
    removals: number;
    lost: number;
    teardownMs: number;
    totalMs: number;
    /** Why the arm stopped before its cycles were done (a deploy that never became healthy: an exhausted pool). */
    stopped?: string;
}

async function arm(name: string, teardown: (stacks: string[]) => Promise<void>): Promise<Arm> {
    const before = await probeCapacity("proxy", probeLimit);
    const start = Date.now();
    let teardownMs = 0;
    let done = 0;
    let stopped: string | undefined;
    for (let i = 0; i < cycles; i++) {
        try {
            await deployStacks(proxyStacks, "proxy", subnet);
        } catch (e) {
            // A leaking arm can exhaust an address pool (proxy's, or another network's such as ingress) before its
            // cycles are done: its figures then stand for the removals it made, and the reason is printed.
            stopped = (e as Error).message.split("\n")[0];
            await teardown(proxyStacks).catch(() => undefined);
            break;
        }
        const t = Date.now();
        await teardown(proxyStacks);
        teardownMs += Date.now() - t;
        done++;
        process.stderr.write(`  ${name}: cycle ${i + 1}/${cycles}\n`);
    }
    const totalMs = Date.now() - start;
    const after = await probeCapacity("proxy", probeLimit);
    process.stderr.write(
        `  ${name}: free addresses ${before} -> ${after}${stopped ? ` (stopped after ${done} cycles: ${stopped})` : ""}\n`,
    );
    return { name, removals: done * proxyStacks.length, lost: before - after, teardownMs, totalMs, stopped };
}

async function main(): Promise<void> {
    const startedHere = !(await sandboxResponds(sandboxName));
    await swarmSandboxUp();
    try {
        const ready =
            (await docker(["node", "ls", "--filter", "role=worker", "--format", "{{.Status}}"]))
                .split("\n")
                .filter((s) => s === "Ready").length + 1;
        if (ready !== nodes) {
            throw new Error(
                `sandbox ${sandboxName} has ${ready} ready node(s), not ${nodes}: take it down (SANDBOX=${sandboxName} bash sandbox/down.sh) and rerun`,
            );
        }
        await resetSwarm();
        await createProxy(subnet);
        await createAnchor("proxy");
        const engine = await engineOf();
        process.stderr.write(
            `sandbox ${sandboxName}: dockerd ${engine.version} (API ${engine.api}), ${nodes} node(s), proxy ${subnet}, ` +
                `${cycles} cycles of ${proxyStacks.length} stacks at once per arm\n`,
        );
        const results = [await arm("stack-teardown.sh", teardownOurs), await arm("docker stack rm", teardownStackRm)];
        const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
        console.log(`dockerd ${engine.version} (Engine API ${engine.api}), ${nodes} node(s)`);
        console.log(
            "arm                 removals  lost  lost/100 removals  teardown wall time  per cycle  arm wall time",
        );
        for (const r of results) {
            console.log(
                [
                    r.name.padEnd(18),
                    String(r.removals).padStart(9),
                    String(r.lost).padStart(5),
                    (r.removals > 0 ? ((100 * r.lost) / r.removals).toFixed(1) : "-").padStart(18),
                    s(r.teardownMs).padStart(19),
                    s(r.teardownMs / Math.max(1, r.removals / proxyStacks.length)).padStart(10),
                    s(r.totalMs).padStart(14),
                ].join(" "),
            );
            if (r.stopped) console.log(`  ${r.name} stopped after ${r.removals} removals: ${r.stopped}`);
        }
        if (json) {
            console.log(
                JSON.stringify({
                    engine,
                    nodes,
                    arms: results.map((r) => ({
                        arm: r.name,
                        removals: r.removals,
                        lost: r.lost,
                        teardownSeconds: Number((r.teardownMs / 1000).toFixed(1)),
                        ...(r.stopped ? { stopped: r.stopped } : {}),
                    })),
                }),
            );
        }
        await resetSwarm();
    } finally {
        if (startedHere) await sandboxDown(sandboxName);
    }
}

main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
});
