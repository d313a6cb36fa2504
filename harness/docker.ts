// The docker CLI as the harness calls it: argv only (no shell), the dockerd named by `host` or else this
// process's DOCKER_HOST, and docker's own stderr in the error when it fails.
import { execFile, execFileSync } from "node:child_process";

export interface DockerCall {
    /** unix:// or tcp:// address of the dockerd; undefined: this process's DOCKER_HOST. */
    host?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
}

function envOf(o: DockerCall): NodeJS.ProcessEnv {
    const env = o.env ?? process.env;
    return o.host === undefined ? env : { ...env, DOCKER_HOST: o.host };
}

function failure(args: string[], stderr: string, message: string): Error {
    return new Error(`docker ${args.join(" ")}: ${stderr.trim() || message}`);
}

/** `docker network create` of an attachable swarm overlay with the given subnet and labels (argv after `docker`). */
export function overlayCreateArgs(name: string, subnet: string, labels: Record<string, string> = {}): string[] {
    const labelArgs = Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    return ["network", "create", "--driver", "overlay", "--attachable", "--subnet", subnet, ...labelArgs, name];
}

/** docker ARGS; resolves to its stdout. */
export function docker(args: string[], o: DockerCall = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            "docker",
            args,
            { env: envOf(o), timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
            (err, stdout, stderr) => (err ? reject(failure(args, stderr, err.message)) : resolve(stdout)),
        );
    });
}

/** docker ARGS, waiting for it; its stdout, trimmed. */
export function dockerSync(args: string[], o: DockerCall = {}): string {
    try {
        return execFileSync("docker", args, {
            encoding: "utf8",
            env: envOf(o),
            timeout: o.timeoutMs ?? 120_000,
            maxBuffer: 64 << 20,
            stdio: ["ignore", "pipe", "pipe"],
        }).trim();
    } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw failure(args, err.stderr ?? "", err.message);
    }
}

/** JSON with object keys sorted, so that two specs compare by content. */
function canonical(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (v !== null && typeof v === "object")
        return `{${Object.keys(v)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
            .join(",")}}`;
    return JSON.stringify(v);
}

/**
 * The running tasks the swarm would restart: those whose spec is not their service's task template as stored
 * (the Engine API without defaults filled in), the comparison the swarm's orchestrator makes. Empty right after
 * a deploy means the deploy changed no task: a condition, not a wait for a restart that may come.
 */
export async function dirtyTasks(): Promise<string[]> {
    const { Engine } = await import("../src/engine");
    const engine = new Engine();
    const [services, tasks] = await Promise.all([engine.services(), engine.tasks()]);
    // The daemon names the runtime of a service's template ("container") and not of a task's: not a difference.
    const spec = (v: unknown) => canonical({ ...(v as object), Runtime: undefined });
    const template = new Map(
        services.map((s) => [s.ID, spec((s.Spec as { TaskTemplate?: unknown }).TaskTemplate)] as const),
    );
    return tasks
        .filter((t) => t.DesiredState === "running" && t.ServiceID !== undefined)
        .filter((t) => spec((t as { Spec?: unknown }).Spec) !== template.get(t.ServiceID!))
        .map((t) => `${services.find((s) => s.ID === t.ServiceID)?.Spec.Name ?? t.ServiceID} task ${t.ID}`);
}

/** The engine a sandbox runs, as the benchmarks and the matrix print it: dockerd's version and Engine API. */
export interface EngineFigures {
    version: string;
    api: string;
}

/**
 * The sandbox's dockerd is the engine SANDBOX_DOCKER selects (29 → 29.x, 29.0 → 29.0.x, 28.5 → 28.5.x, 20.10 →
 * 20.10.x; `system` and unset name no version): a matrix row that ran on another dockerd (a distribution's
 * package that moved on, a build that fell back) would report figures for an engine it never ran. Throws naming both.
 */
export function assertSelectedEngine(version: string, selected = process.env.SANDBOX_DOCKER): void {
    if (selected === undefined || selected === "" || selected === "system") return;
    if (!version.startsWith(`${selected}.`)) {
        throw new Error(
            `SANDBOX_DOCKER=${selected} selects dockerd ${selected}.x, but the sandbox runs dockerd ${version}`,
        );
    }
}

export async function engineOf(o: DockerCall = {}): Promise<EngineFigures> {
    const server = JSON.parse(await docker(["version", "--format", "{{json .Server}}"], o)) as {
        Version: string;
        ApiVersion: string;
    };
    return { version: server.Version, api: server.ApiVersion };
}
