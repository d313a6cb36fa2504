// Outage benchmark (a script, not a timed test): the maintenance `pulumi up` of the real program on a sandbox
// swarm (real CLI, engine and plugins where installed), by strategy (`--strategy recreate|rolling|both`, default
// recreate; `both` runs recreate and then rolling on the same sandbox, each from the state the last left).
// recreate is measured two ways:
// - as users see it: a prober (harness/prober.ts) sends one request per route through the sandbox's real traefik
//   every 100 ms for the whole `up`; per route, the failed requests, the longest gap and the total unavailable
//   seconds;
// - the window: first stack teardown start → last attached stack back (healthy, and routed where it has a
//   route), beside its floor: slowest teardown + network delete + network create + rebuild + slowest deploy (a
//   stack's deploy start → its health check done). The slowest teardown is measured apart, after the
//   maintenance: each attached stack torn down alone, one at a time, so that it is the uncontended time of one
//   leak-free teardown (during the `up` they all run side by side).
// rolling (network.migration: rolling, the window open) is measured as users see it, the same prober, and each
// of traefik's restarts (it publishes its port in host mode, so it restarts stop-first) is read from traefik's own
// container events and reported with its parts: stop (its first signal → exit: traefik answers until the signal,
// which the swarm sends 2 s or more after the update), start (exit → the new task's start)
// and first route (start → the first request routed); failures in flight during a restart are traefik's, every
// other is the route's own (harness/outage.ts). A route's `drains` says whether its service starts its new task
// first and keeps serving after SIGTERM for longer than traefik's poll interval (the stand-in's SANDBOX_ON_TERM).
// Times are when each engine event reached us on `up --json`'s stream (the events themselves carry whole
// seconds only). Usage: npm run bench:outage [-- --strategy S] [-- --json]   (needs root; starts, seeds and stops
// its own sandbox `bench-outage`, or BENCH_SANDBOX; SANDBOX_NODES=3 for three nodes, traefik on the manager;
// BENCH_KEEP=1 keeps it). With --json the last line of stdout is one JSON object per strategy run:
// {"strategy", "nodes", "engine": {"version", "api"}, "routes": [{"route", "requests", "failed",
//  "longestGapSeconds", "unavailableSeconds", "drains"}], "outageSeconds", "floorSeconds"} (rolling:
// "traefikRestarts": [{"gapSeconds", "stopSeconds", "startSeconds", "firstRouteSeconds"}] and "ownFailures" in
// place of the last two, and each route's "ownFailures" with its "ownBound"), or with `both` {"engine", "runs": [recreate, rolling]}. "engine" is the sandbox
// dockerd's Version and ApiVersion.
import type { PulumiProject } from "../harness/engine/pulumi";
import { describePlugins } from "../harness/engine/plugins";
import { enginePlugins, repoRoot } from "../harness/engine/pulumi";
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
import {
    judge,
    ownFailureBound,
    routeDrains,
    SANDBOX_POLL_SECONDS,
    type StackEntry,
    watchEntryPoint,
} from "../harness/outage";
import { Prober, type Route, type RouteFigures, unanswered } from "../harness/prober";
import { type Sandbox, sandboxDownSync, sandboxSeedSync, sandboxUpSync } from "../harness/sandbox";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine } from "../src/engine";

const SANDBOX = process.env.BENCH_SANDBOX ?? "bench-outage";
const json = process.argv.includes("--json");
const STRATEGIES = ["recreate", "rolling", "both"] as const;
const strategyAt = process.argv.indexOf("--strategy");
const strategy = (strategyAt >= 0 ? process.argv[strategyAt + 1] : "recreate") as (typeof STRATEGIES)[number];
if (!STRATEGIES.includes(strategy)) {
    console.error(
        `bench:outage: --strategy ${JSON.stringify(strategy ?? "")} is not allowed; use recreate, rolling or both`,
    );
    process.exit(2);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
// With --json, stdout carries the JSON line last; the report goes to stderr then.
const say = (line: string) => (json ? console.error(line) : console.log(line));

type Run = Record<string, unknown>;

/** The error and warning messages of an `up --json` event stream, for a failed run's report. */
function diagnostics(stdout: string): string {
    return stdout
        .split("\n")
        .flatMap((l) => {
            try {
                const d = (JSON.parse(l) as { diagnosticEvent?: { severity: string; message: string; urn?: string } })
                    .diagnosticEvent;
                return d && d.severity !== "info" && d.severity !== "debug"
                    ? [`${d.severity} ${d.urn?.split("::").pop() ?? ""}: ${d.message.trim()}`]
                    : [];
            } catch {
                return [];
            }
        })
        .join("\n");
}

interface Bench {
    sb: Sandbox;
    p: PulumiProject;
    state: ProgramState;
    routes: Route[];
    nodes: number;
    engine: { version: string; api: string };
}

function routeTable(prober: Prober, raw: ProgramState["raw"]): (RouteFigures & { drains: boolean })[] {
    const figures = prober
        .figures()
        .map((f) => ({ ...f, drains: routeDrains(raw.stacks as StackEntry[], f.route, SANDBOX_POLL_SECONDS) }));
    say(
        `  ${"route".padEnd(28)} ${"drains".padStart(6)} ${"requests".padStart(8)} ${"failed".padStart(7)} ${"longest gap".padStart(12)} ${"unavailable".padStart(12)}`,
    );
    for (const f of figures) {
        say(
            `  ${f.route.padEnd(28)} ${(f.drains ? "yes" : "no").padStart(6)} ${String(f.requests).padStart(8)} ${String(f.failed).padStart(7)} ${`${f.longestGapSeconds.toFixed(1)} s`.padStart(12)} ${`${f.unavailableSeconds.toFixed(1)} s`.padStart(12)}`,
        );
    }
    return figures;
}

async function recreate(b: Bench, subnet: string, nixModule: string): Promise<Run> {
    const { sb, p, state, routes } = b;
    const { attached } = stackNames(state.raw);
    state.raw.network.migration = "recreate";
    state.raw.network.subnet = subnet;
    delete state.raw.network.adoptId;
    state.raw.rebuild.nixModule = nixModule;
    state.window = "open";
    console.error(`recreate: proxy → ${subnet}, ${routes.length} routes probed every 100 ms`);
    const prober = new Prober(routes).start();
    const t0 = Date.now();
    const { run, steps } = await upWithEvents(p);
    const wall = Date.now() - t0;
    await prober.stop();
    if (run.code !== 0) throw new Error(`maintenance up failed:\n${diagnostics(run.stdout)}\n${run.stderr}`);
    const after = await unanswered(routes);
    if (after.length > 0) throw new Error(`routes that do not answer after the maintenance: ${after.join("; ")}`);

    // After a rolling migration the stacks are torn down by the network's clear-before-delete (no teardown-all).
    const together = steps.some((x) => x.name === "teardown-all" && x.op === "delete-replaced")
        ? completed(steps, "teardown-all", "delete-replaced")
        : completed(steps, "proxy-network", "delete-replaced");
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
    say(
        `recreate: outage of the maintenance up on sandbox ${SANDBOX} (${b.nodes} node(s): SANDBOX_NODES; ${attached.length} attached stacks, proxy → ${subnet})`,
    );
    say("");
    say("timeline (s after the first teardown started: start → end)");
    say(
        `  teardown of all attached  ${rel(together.start)} → ${rel(together.end)}  (side by side, ${together.name === "teardown-all" ? "one resource" : "the network's clear-before-delete, with its delete"})`,
    );
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
    const figures = routeTable(prober, state.raw);
    say(`  next to the floor ${secs(floor)} and the window ${secs(outage)}`);
    say("");
    return {
        strategy: "recreate",
        nodes: b.nodes,
        engine: b.engine,
        routes: figures,
        outageSeconds: Math.round(outage / 100) / 10,
        floorSeconds: Math.round(floor / 100) / 10,
    };
}

async function rolling(b: Bench, subnet: string, nixModule: string): Promise<Run> {
    const { p, state, routes } = b;
    state.raw.network.migration = "rolling";
    state.raw.network.subnet = subnet;
    delete state.raw.network.adoptId;
    state.raw.rebuild.nixModule = nixModule;
    state.window = "open";
    console.error(`rolling: proxy → ${subnet}, ${routes.length} routes probed every 100 ms`);
    const entry = await watchEntryPoint(new Engine(), routes);
    const prober = new Prober(routes).start();
    const t0 = Date.now();
    const { run, steps } = await upWithEvents(p);
    const wall = Date.now() - t0;
    const samples = [...(await prober.stop()).values()].flat();
    const events = entry.stop();
    if (run.code !== 0) throw new Error(`rolling up failed:\n${diagnostics(run.stdout)}\n${run.stderr}`);
    const after = await unanswered(routes);
    if (after.length > 0) throw new Error(`routes that do not answer after the migration: ${after.join("; ")}`);
    const out = completed(steps, "proxy-move-out", "update");
    const back = completed(steps, "proxy-move-back", "create-replacement");
    const verdict = judge(prober.failures(), samples, events, Date.now());
    const parts = verdict.figures;
    say(
        `rolling: network.migration rolling on sandbox ${SANDBOX} (${b.nodes} node(s); ${stackNames(state.raw).attached.length} attached stacks, proxy → ${subnet})`,
    );
    say(`  move out ${secs(out.end - out.start)}, move back ${secs(back.end - back.start)}; whole up ${secs(wall)}`);
    say(`  traefik's restarts (${entry.service}'s container events): ${parts.length}`);
    for (const r of parts)
        say(
            `    gap ${r.gapSeconds.toFixed(1)} s = stop ${r.stopSeconds.toFixed(1)} s + start ${r.startSeconds.toFixed(1)} s` +
                ` + first route ${r.firstRouteSeconds === null ? "none before the end" : `${r.firstRouteSeconds.toFixed(1)} s`}`,
        );
    say("as users see it: one request per route through traefik every 100 ms during the whole up");
    const own = verdict.own;
    // Each route's own failures beside what it is promised: none for a draining route, one poll a move (two
    // moves) for one that stops at once (harness/outage.ts, the bounded spans).
    const figures = routeTable(prober, state.raw).map((f) => ({
        ...f,
        ownFailures: own.filter((o) => o.route === f.route).length,
        ownBound: f.drains ? 0 : ownFailureBound(2),
    }));
    say(
        `  failures outside traefik's restarts: ${own.length}` +
            (own.length > 0
                ? ` (${figures.map((f) => `${f.route} ${f.ownFailures} of at most ${f.ownBound}`).join(", ")})`
                : ""),
    );
    say("");
    return {
        strategy: "rolling",
        nodes: b.nodes,
        engine: b.engine,
        routes: figures,
        traefikRestarts: parts,
        ownFailures: own.length,
    };
}

async function main(): Promise<void> {
    const sb = sandboxUpSync({ name: SANDBOX, exportDockerHost: true });
    let p: PulumiProject | undefined;
    try {
        sandboxSeedSync(sb);
        const state: ProgramState = { raw: sandboxConfig() };
        state.raw.network.subnet = networkSubnet("proxy");
        state.raw.network.adoptId = networkId("proxy");
        state.raw.network.migration = strategy === "recreate" ? "recreate" : "rolling";
        state.raw.rebuild.nixModule = "sandbox/swarm-before.nix";
        const routes = sandboxRoutes(state.raw, sb);
        p = await swarmProject(sb, state);
        say(`engine: ${describePlugins(enginePlugins())}`);
        console.error(`adopting ${state.raw.network.subnet} and the running stacks`);
        const adopt = await p.up();
        if (adopt.code !== 0) throw new Error(`adoption failed:\n${adopt.stdout.slice(-3000)}\n${adopt.stderr}`);
        const before = await unanswered(routes);
        if (before.length > 0)
            throw new Error(`routes that do not answer before the maintenance: ${before.join("; ")}`);
        const nodes = docker(["node", "ls", "-q"]).split("\n").filter(Boolean).length;
        const v = await new Engine().version();
        const engine = { version: v.Version, api: v.ApiVersion };
        say(`dockerd: ${engine.version} (API ${engine.api})`);
        const b: Bench = { sb, p, state, routes, nodes, engine };
        const runs: Run[] = [];
        // rolling first: recreate's figures include each stack torn down alone afterwards.
        if (strategy !== "recreate") runs.push(await rolling(b, "10.10.0.0/16", "nix/swarm.nix"));
        if (strategy !== "rolling") {
            const [subnet, module] =
                strategy === "both" ? ["10.11.0.0/16", secondModule(p)] : ["10.10.0.0/16", "nix/swarm.nix"];
            runs.push(await recreate(b, subnet, module));
        }
        if (json) console.log(JSON.stringify(runs.length === 1 ? runs[0] : { engine, runs }));
    } finally {
        p?.cleanup();
        if (!process.env.BENCH_KEEP) sandboxDownSync(SANDBOX);
    }
}

/** The host's module with 10.11.0.0/16, for a second change on the same sandbox (in the project's copy). */
function secondModule(p: PulumiProject): string {
    const text = fs
        .readFileSync(path.join(repoRoot, "nix", "swarm.nix"), "utf8")
        .replaceAll("10.10.0.0/16", "10.11.0.0/16");
    fs.writeFileSync(path.join(p.projectDir, "nix", "swarm-second.nix"), text);
    return "nix/swarm-second.nix";
}

main().catch((e: Error) => {
    console.error(`bench:outage: ${e.message}`);
    process.exit(1);
});
