// What the engine tests and bench/outage.ts share beside their sandbox instance (../sandbox.ts): this
// repository's program run by the real CLI as an operator runs it (pulumi.ts), and the engine's event stream
// with the time each event reached us.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { dockerSync } from "../docker";
import { type Route, routesOf } from "../prober";
import { type Sandbox, sandboxSeedSync, sandboxUpSync } from "../sandbox";
import { enginePlugins, PulumiProject, repoRoot, type RunOptions, type RunResult } from "./pulumi";

/** The non-empty lines of a command's output. */
export const linesOf = (s: string): string[] => s.split("\n").filter(Boolean);

/** The Docker CLI (harness/docker.ts) at this process's DOCKER_HOST, the tier's sandbox. */
export const docker = (args: string[]): string => dockerSync(args);

/** Running tasks as "service taskID" lines, sorted: equal before and after means no task was restarted. */
export function runningTasks(): string[] {
    const services = docker(["service", "ls", "--format", "{{.Name}}"]).split("\n").filter(Boolean);
    if (services.length === 0) return [];
    return docker([
        "service",
        "ps",
        "--no-trunc",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}} {{.ID}}",
        ...services,
    ])
        .split("\n")
        .filter(Boolean)
        .map((l) => l.replace(/\.\d+ /, " "))
        .sort();
}

/**
 * Waits until a stack's services and networks are gone: `docker stack rm` returns before they are, and a redeploy
 * racing it finds its network removed under it.
 */
export function stackGone(stack: string): void {
    const filter = `label=com.docker.stack.namespace=${stack}`;
    for (let i = 0; i < 240; i++) {
        const networks = docker(["network", "ls", "--format", "{{.Name}}", "--filter", filter]);
        const services = docker(["service", "ls", "-q", "--filter", filter]);
        if (networks === "" && services === "") return;
        spawnSync("sleep", ["0.5"]);
    }
    throw new Error(`stack ${stack} did not go`);
}

/** Every service as "name: network names" (sorted), from the specs. */
export function serviceNetworks(): Record<string, string[]> {
    const byId = new Map(
        linesOf(docker(["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])).map((l) => {
            const [id, name] = l.split(" ");
            return [id, name] as const;
        }),
    );
    const nets: Record<string, string[]> = {};
    for (const l of linesOf(
        docker([
            "service",
            "inspect",
            "--format",
            "{{.Spec.Name}}{{range .Spec.TaskTemplate.Networks}} {{.Target}}{{end}}",
            ...linesOf(docker(["service", "ls", "-q"])),
        ]),
    )) {
        const [name, ...ids] = l.split(" ");
        nets[name] = ids.map((id) => byId.get(id) ?? id).sort();
    }
    return nets;
}

/** Fails naming each of `services` that is on neither of `networks` (by their specs): `when` says at what point. */
export function assertOnEither(services: string[], networks: [string, string], when: string): void {
    const nets = serviceNetworks();
    for (const svc of services) {
        if (!nets[svc]?.some((n) => networks.includes(n))) {
            throw new Error(`${when}: ${svc} is on neither ${networks.join(" nor ")}: ${nets[svc]?.join(",")}`);
        }
    }
}

/** Each running task's addresses on `network`: "taskID address" lines. */
export function taskAddresses(network: string): string[] {
    const services = docker(["service", "ls", "-q"]).split("\n").filter(Boolean);
    if (services.length === 0) return [];
    const tasks = docker(["service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", ...services])
        .split("\n")
        .filter(Boolean);
    const rows = docker([
        "inspect",
        "--type",
        "task",
        "--format",
        "{{.ID}}{{range .NetworksAttachments}} {{.Network.Spec.Name}}={{range .Addresses}}{{.}},{{end}}{{end}}",
        ...tasks,
    ]).split("\n");
    const out: string[] = [];
    for (const row of rows) {
        const [id, ...atts] = row.split(" ");
        for (const a of atts) {
            const [net, addrs] = a.split("=");
            if (net !== network) continue;
            for (const addr of addrs.split(",").filter(Boolean)) out.push(`${id} ${addr}`);
        }
    }
    return out;
}

export function networkSubnet(name: string): string {
    return docker(["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", name]);
}

export function networkId(name: string): string {
    return docker(["network", "inspect", "--format", "{{.Id}}", name]);
}

/**
 * The committed sandbox config (Pulumi.sandbox.yaml) as the raw object the program parses, keys unprefixed.
 * On a machine without the real Docker provider the network falls back to the host scripts.
 */
/**
 * A stack config as the tests edit it, key by key, before the program validates it (config.ts): any shape.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the raw config is edited freely by tests and validated by the program
export type RawStackConfig = Record<string, any>;

export function sandboxConfig(): RawStackConfig {
    const doc = YAML.parse(fs.readFileSync(path.join(repoRoot, "Pulumi.sandbox.yaml"), "utf8")) as {
        config: Record<string, unknown>;
    };
    const raw: RawStackConfig = {};
    for (const [k, v] of Object.entries(doc.config)) raw[k.replace(/^swarm-proxy:/, "")] = v;
    if (!enginePlugins().docker.path) raw.network.implementation = "command";
    return raw;
}

/** The committed config's routes are the default instance's: traefik's entry point (the manager's end of the
 *  front link, sandbox/up.sh's SANDBOX_FRONT_ADDR) differs per instance, so each route's URL is pointed at the
 *  instance's own. A copy; the config given is not changed. */
export function atFront(raw: RawStackConfig, env: Record<string, string>): RawStackConfig {
    const copy = JSON.parse(JSON.stringify(raw)) as RawStackConfig;
    const front = env.SANDBOX_FRONT_ADDR;
    if (front === undefined) return copy;
    for (const s of (copy.stacks ?? []) as { health?: { http?: { url?: string } } }[]) {
        const http = s.health?.http;
        if (http?.url !== undefined) http.url = http.url.replace(/^(https?:\/\/)[^/:]+/, `$1${front}`);
    }
    return copy;
}

/** The committed config's routes whose services drain through their moves (SANDBOX_ON_TERM drain:3 in their compose
 *  files, harness/outage.ts routeDrains); the other three stop at once on SIGTERM. */
export const SANDBOX_DRAINING_ROUTES = ["drone.sandbox.test", "ccci-dashboard.sandbox.test"];

/** The routes through traefik of a config, on the instance's own entry point. */
export function sandboxRoutes(raw: RawStackConfig, sb: Sandbox): Route[] {
    return routesOf(atFront(raw, sb.env).stacks);
}

/** What a run of the program sees: its raw config and the value of SWARM_PROXY_MAINTENANCE. */
export interface ProgramState {
    raw: RawStackConfig;
    window?: "open" | "closed";
}

/**
 * This repository's program (index.ts, as `pulumi up` runs it: the real language host where installed) on
 * the sandbox, with the stack's config and the window taken from `state` before every run, so a test changes
 * them between runs as an operator would with `pulumi config set` and SWARM_PROXY_MAINTENANCE.
 */
export function swarmProject(sb: Sandbox, state: ProgramState): Promise<PulumiProject> {
    return PulumiProject.create({
        repo: true,
        env: sb.env,
        prepare: (p) => {
            p.writeConfig(atFront(state.raw, sb.env));
            return { SWARM_PROXY_MAINTENANCE: state.window ?? "" };
        },
    });
}

/**
 * A sandbox of the tier's own, seeded with the reference host's before state (a previous run's leftovers go), and
 * the README's quick start (step 5) in `raw`: the live subnet and the live network's ID to adopt.
 */
export function seededSandbox(name: string, raw: RawStackConfig, seed?: Record<string, string>): Sandbox {
    const sb = sandboxUpSync({ name, exportDockerHost: true });
    sandboxSeedSync(sb, seed);
    raw.network.subnet = networkSubnet("proxy");
    raw.network.adoptId = networkId("proxy");
    return sb;
}

/**
 * The end of a run's output, for an assertion's message (a CLI run's stdout and stderr, or the bin's out and err),
 * after the lines before that end that name an error or a stop (a long run's outputs can push them out of it).
 */
export function out(r: { stdout?: string; stderr?: string; out?: string; err?: string }): string {
    const stdout = r.stdout ?? r.out ?? "";
    const said = stdout
        .slice(0, -6000)
        .split("\n")
        .filter((l) => /error|could not|failed|stopped|refus/i.test(l))
        .map((l) => l.slice(0, 2000))
        .slice(-20);
    const before = said.length > 0 ? `--- stdout (its errors before the end)\n${said.join("\n")}\n` : "";
    return `${before}--- stdout (end)\n${stdout.slice(-6000)}\n--- stderr\n${(r.stderr ?? r.err ?? "").slice(-4000)}`;
}

/**
 * The adoption's promise, as the README's first run: `pulumi up` succeeds, restarts no task and keeps the network,
 * and a preview after it is clean (`--expect-no-changes`, exit 0). Resolves to the up's run.
 */
export async function adoptChangesNothing(p: PulumiProject): Promise<RunResult> {
    const before = { tasks: runningTasks(), proxy: networkId("proxy") };
    const up = await p.up();
    if (up.code !== 0) throw new Error(`the adoption failed (exit ${up.code})\n${out(up)}`);
    const after = { tasks: runningTasks(), proxy: networkId("proxy") };
    if (JSON.stringify(after) !== JSON.stringify(before)) {
        throw new Error(
            `adoption changed the host:\nbefore ${JSON.stringify(before, null, 1)}\nafter ${JSON.stringify(after, null, 1)}`,
        );
    }
    const clean = await p.preview(["--expect-no-changes"]);
    if (clean.code !== 0)
        throw new Error(`the preview after the adoption is not clean (exit ${clean.code})\n${out(clean)}`);
    return up;
}

/** One engine event as written by `--event-log`, with the time (ms since the epoch) we read it. */
export interface TimedEvent {
    at: number;
    sequence: number;
    resourcePreEvent?: { metadata: { op: string; urn: string } };
    resOutputsEvent?: { metadata: { op: string; urn: string } };
    resOpFailedEvent?: { metadata: { op: string; urn: string } };
    diagnosticEvent?: { message: string; severity: string; urn?: string };
    [key: string]: unknown;
}

/** A step of the run: resource (its name), op, when it started and ended (ms), whether it failed. */
export interface Step {
    name: string;
    urn: string;
    op: string;
    start: number;
    end?: number;
    failed?: boolean;
}

/**
 * `pulumi up --json`, whose stdout is the engine's event stream (one JSON event a line), each event stamped with
 * the time it reached us: the events carry only whole-second timestamps, and the outage figures need better.
 */
export async function upWithEvents(
    p: PulumiProject,
    extra: string[] = [],
    onEvent?: (e: TimedEvent) => void,
    onSpawn?: RunOptions["onSpawn"],
    opts: Pick<RunOptions, "env" | "group"> = {},
): Promise<{ run: RunResult; events: TimedEvent[]; steps: Step[] }> {
    const events: TimedEvent[] = [];
    let partial = "";
    const onStdout = (chunk: Buffer) => {
        const now = Date.now();
        const lines = (partial + chunk.toString("utf8")).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) {
            if (!l.trim().startsWith("{")) continue;
            try {
                const e = { ...(JSON.parse(l) as TimedEvent), at: now };
                events.push(e);
                onEvent?.(e);
            } catch {
                // not an event line
            }
        }
    };
    const run = await p.run(["up", "--yes", "--skip-preview", "--json", ...extra], {
        program: true,
        onStdout,
        onSpawn,
        ...opts,
    });
    return { run, events, steps: stepsOf(events) };
}

export function stepsOf(events: TimedEvent[]): Step[] {
    const steps: Step[] = [];
    const open = new Map<string, Step>();
    for (const e of [...events].sort((a, b) => a.sequence - b.sequence)) {
        const pre = e.resourcePreEvent?.metadata;
        const done = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
        if (pre) {
            const s: Step = { name: pre.urn.split("::").pop()!, urn: pre.urn, op: pre.op, start: e.at };
            steps.push(s);
            open.set(`${pre.op} ${pre.urn}`, s);
        } else if (done) {
            const s = open.get(`${done.op} ${done.urn}`);
            if (s) {
                s.end = e.at;
                s.failed = e.resOpFailedEvent !== undefined;
                open.delete(`${done.op} ${done.urn}`);
            }
        }
    }
    return steps;
}

/** The stacks of the sandbox config attached to the network, and those that are not. */
export function stackNames(raw: RawStackConfig): { attached: string[]; unattached: string[] } {
    const stacks = raw.stacks as { name: string; attached?: boolean }[];
    return {
        attached: stacks.filter((s) => s.attached !== false).map((s) => s.name),
        unattached: stacks.filter((s) => s.attached === false).map((s) => s.name),
    };
}

/** A step of the run that completed; a missing or failed one is an error naming it. */
export function completed(steps: Step[], name: string, op: string): Step & { end: number } {
    const s = steps.find((x) => x.name === name && x.op === op);
    if (!s || s.end === undefined || s.failed) throw new Error(`step ${op} ${name} missing or not completed`);
    return s as Step & { end: number };
}

/**
 * The span of a maintenance in which routes may fail: from the first teardown's start (the teardown of all
 * attached stacks, side by side) to the last attached stack back — its health check done and, for a stack with
 * a route, its check through traefik done (traefik routes to a new task only after its next poll).
 */
export function outageSpan(steps: Step[], raw: RawStackConfig): { start: number; end: number } {
    const { attached } = stackNames(raw);
    const routed = new Set(
        (raw.stacks as { name: string; health?: { http?: unknown } }[])
            .filter((s) => s.health?.http !== undefined)
            .map((s) => s.name),
    );
    // The teardown of all attached stacks, or (after a rolling migration left the state without the stacks'
    // link to the network) the network's clear-before-delete, which tears them down inside the network's delete.
    const together = steps.find((x) => x.name === "teardown-all" && x.op === "delete-replaced");
    const starts = [
        together
            ? completed(steps, "teardown-all", "delete-replaced").start
            : completed(steps, "proxy-network", "delete-replaced").start,
        ...attached.map((s) => completed(steps, `${s}-stack`, "delete-replaced").start),
    ];
    const ends = attached.flatMap((s) => [
        completed(steps, `${s}-health`, "create-replacement").end,
        ...(routed.has(s) ? [completed(steps, `${s}-http`, "create-replacement").end] : []),
    ]);
    return { start: Math.min(...starts), end: Math.max(...ends) };
}
