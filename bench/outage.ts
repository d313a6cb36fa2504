// Outage benchmark (a script, not a timed test): ONE maintenance `pulumi up` of the real program on a sandbox
// swarm (real CLI, engine and plugins where installed), measured two ways:
// - as users see it: a prober (harness/prober.ts) sends one request per route through the sandbox's real traefik
//   every 100 ms for the whole `up`; per route, the failed requests, the longest gap and the total unavailable
//   seconds;
// - the window: first stack teardown start → last attached stack back (healthy, and routed where it has a
//   route), beside its floor: slowest teardown + network delete + network create + rebuild + slowest deploy (a
//   stack's deploy start → its health check done). The slowest teardown is measured apart, after the
//   maintenance: each attached stack torn down alone, one at a time, so that it is the uncontended time of one
//   leak-free teardown (during the `up` they all run side by side).
// Times are when each engine event reached us on `up --json`'s stream (the events themselves carry whole
// seconds only). Usage: npm run bench:outage [-- --json]   (needs root; starts, seeds and stops its own sandbox
// `bench-outage`, or BENCH_SANDBOX; SANDBOX_NODES=3 for three nodes, traefik on the manager; BENCH_KEEP=1 keeps
// it). With --json the last line of stdout is one JSON object:
// {"strategy", "nodes", "routes": [{"route", "requests", "failed", "longestGapSeconds", "unavailableSeconds"}],
//  "outageSeconds", "floorSeconds"}.
import type { PulumiProject } from "../harness/engine/pulumi";
import { describePlugins } from "../harness/engine/plugins";
import { enginePlugins } from "../harness/engine/pulumi";
import {
    completed,
    docker,
    networkId,
    networkSubnet,
    outageSpan,
    type ProgramState,
    sandboxConfig,
    sandboxRoutes,
    stackNames,
    swarmProject,
    upWithEvents,
} from "../harness/engine/swarm-fixture";
import { Prober, unanswered } from "../harness/prober";
import { sandboxDownSync, sandboxSeedSync, sandboxUpSync } from "../harness/sandbox";
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const SANDBOX = process.env.BENCH_SANDBOX ?? "bench-outage";
const NEW_SUBNET = "10.10.0.0/16";
const json = process.argv.includes("--json");

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
// With --json, stdout carries the JSON line last; the report goes to stderr then.
const say = (line: string) => (json ? console.error(line) : console.log(line));

async function main(): Promise<void> {
    const sb = sandboxUpSync({ name: SANDBOX, exportDockerHost: true });
    let p: PulumiProject | undefined;
    try {
        sandboxSeedSync(sb);
        const state: ProgramState = { raw: sandboxConfig() };
        state.raw.network.subnet = networkSubnet("proxy");
        state.raw.network.adoptId = networkId("proxy");
        state.raw.rebuild.nixModule = "sandbox/swarm-before.nix";
        const { attached } = stackNames(state.raw);
        const routes = sandboxRoutes(state.raw, sb);
        p = await swarmProject(sb, state);
        say(`engine: ${describePlugins(enginePlugins())}`);
        console.error(`adopting ${state.raw.network.subnet} and the running stacks`);
        const adopt = await p.up();
        if (adopt.code !== 0) throw new Error(`adoption failed:\n${adopt.stdout.slice(-3000)}\n${adopt.stderr}`);
        const before = await unanswered(routes);
        if (before.length > 0)
            throw new Error(`routes that do not answer before the maintenance: ${before.join("; ")}`);

        state.raw.network.subnet = NEW_SUBNET;
        delete state.raw.network.adoptId;
        state.raw.rebuild.nixModule = "nix/swarm.nix";
        state.window = "open";
        console.error(`maintenance: proxy → ${NEW_SUBNET}, ${routes.length} routes probed every 100 ms`);
        const prober = new Prober(routes).start();
        const t0 = Date.now();
        const { run, steps } = await upWithEvents(p);
        const wall = Date.now() - t0;
        await prober.stop();
        if (run.code !== 0) throw new Error(`maintenance up failed:\n${run.stderr}`);
        const after = await unanswered(routes);
        if (after.length > 0) throw new Error(`routes that do not answer after the maintenance: ${after.join("; ")}`);

        const together = completed(steps, "teardown-all", "delete-replaced");
        const teardowns = [together, ...attached.map((s) => completed(steps, `${s}-stack`, "delete-replaced"))];
        const deploys = attached.map((s) => ({
            stack: s,
            start: completed(steps, `${s}-stack`, "create-replacement").start,
            end: completed(steps, `${s}-health`, "create-replacement").end,
        }));
        const netDelete = completed(steps, "proxy-network", "delete-replaced");
        const netCreate = completed(steps, "proxy-network", "create-replacement");
        const rebuild = completed(steps, "rebuild-switch", "create-replacement");
        const span = outageSpan(steps, state.raw);
        const outageStart = span.start;
        const healthyEnd = Math.max(...deploys.map((d) => d.end));
        const outage = healthyEnd - outageStart;
        const alone: { stack: string; ms: number }[] = [];
        for (const s of attached) {
            const t = Date.now();
            execFileSync("bash", [path.join(__dirname, "..", "host", "stack-teardown.sh"), s, "180"], {
                env: { ...process.env, ...sb.env },
                stdio: "ignore",
            });
            alone.push({ stack: s, ms: Date.now() - t });
        }
        const slowestTeardown = Math.max(...alone.map((a) => a.ms));
        const slowestDeploy = Math.max(...deploys.map((d) => d.end - d.start));
        const floor =
            slowestTeardown +
            (netDelete.end - netDelete.start) +
            (netCreate.end - netCreate.start) +
            (rebuild.end - rebuild.start) +
            slowestDeploy;

        const rel = (t: number) => `+${((t - outageStart) / 1000).toFixed(1)}`;
        const nodes = docker(["node", "ls", "-q"]).split("\n").filter(Boolean).length;
        say(
            `outage of the maintenance up on sandbox ${SANDBOX} (${nodes} node(s): SANDBOX_NODES; ${attached.length} attached stacks, proxy → ${NEW_SUBNET})`,
        );
        say("");
        say("timeline (s after the first teardown started: start → end)");
        say(`  teardown of all attached  ${rel(together.start)} → ${rel(together.end)}  (side by side, one resource)`);
        for (const s of teardowns.slice(1))
            say(`  own delete ${s.name.replace(/-stack$/, "").padEnd(14)} ${rel(s.start)} → ${rel(s.end)}`);
        say(`  network delete           ${rel(netDelete.start)} → ${rel(netDelete.end)}`);
        say(`  network create           ${rel(netCreate.start)} → ${rel(netCreate.end)}`);
        say(`  rebuild                  ${rel(rebuild.start)} → ${rel(rebuild.end)}`);
        for (const d of deploys) say(`  deploy+health ${d.stack.padEnd(10)} ${rel(d.start)} → ${rel(d.end)}`);
        say(`  last route answering through traefik (its check done) ${rel(span.end)}`);
        say("");
        say(`outage window (first teardown start → last stack healthy): ${secs(outage)}`);
        say(
            `floor: slowest teardown ${secs(slowestTeardown)} + network delete ${secs(netDelete.end - netDelete.start)}` +
                ` + network create ${secs(netCreate.end - netCreate.start)} + rebuild ${secs(rebuild.end - rebuild.start)}` +
                ` + slowest deploy ${secs(slowestDeploy)} = ${secs(floor)}`,
        );
        say(
            `teardown of one stack alone, after the maintenance: ${alone.map((a) => `${a.stack} ${secs(a.ms)}`).join(", ")}`,
        );
        say(`outage / floor: ${(outage / floor).toFixed(2)}  (target ≤ 1.15)`);
        say(`whole up (engine start to exit): ${secs(wall)}`);
        say("");
        say("as users see it: one request per route through traefik every 100 ms during the whole up");
        say(
            `  ${"route".padEnd(28)} ${"requests".padStart(8)} ${"failed".padStart(7)} ${"longest gap".padStart(12)} ${"unavailable".padStart(12)}`,
        );
        const figures = prober.figures();
        for (const f of figures) {
            say(
                `  ${f.route.padEnd(28)} ${String(f.requests).padStart(8)} ${String(f.failed).padStart(7)} ${`${f.longestGapSeconds.toFixed(1)} s`.padStart(12)} ${`${f.unavailableSeconds.toFixed(1)} s`.padStart(12)}`,
            );
        }
        say(`  next to the floor ${secs(floor)} and the window ${secs(outage)}`);
        if (json) {
            console.log(
                JSON.stringify({
                    strategy: "recreate",
                    nodes,
                    routes: figures,
                    outageSeconds: Math.round(outage / 100) / 10,
                    floorSeconds: Math.round(floor / 100) / 10,
                }),
            );
        }
    } finally {
        p?.cleanup();
        if (!process.env.BENCH_KEEP) sandboxDownSync(SANDBOX);
    }
}

main().catch((e: Error) => {
    console.error(`bench:outage: ${e.message}`);
    process.exit(1);
});
