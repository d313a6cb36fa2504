// Sandbox instances (sandbox/*.sh) for every tier and benchmark: start, seed, stop, ask. Each tier names an
// instance of its own (SANDBOX), so one tier's prunes and probes cannot touch another's swarm.
// Two forms of each call, the same but for how the script runs: the async ones for tiers that keep other work
// going meanwhile (a teardown running across a dockerd restart, a CLI run whose dockerd is stopped under it),
// the sync ones for the engine tiers, whose fixtures (test/drift, test/multinode) start and stop without await.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { dockerSync } from "./docker";

const repoRoot = path.resolve(__dirname, "..");

export interface SandboxOptions {
    /** The instance (SANDBOX). */
    name: string;
    /** SANDBOX_NODES: a manager and nodes-1 workers. Unset: as this process's environment says (up.sh: as many as
     *  the instance has). */
    nodes?: number;
    /** Stop and start the manager's dockerd, keeping its swarm state (what a host reboot does). */
    restart?: boolean;
    /** Also point this process's DOCKER_HOST at the manager: the program reads host facts in this process, as
     *  index.ts does, and the tiers' `docker` calls name no host. SANDBOX_DOCKER_SOCKET too: the traefik stack's
     *  compose file binds that socket, and the tiers deploy it with this process's environment. */
    exportDockerHost?: boolean;
}

export interface Sandbox {
    name: string;
    /** Every variable `up.sh --env` printed, unquoted: what a child process needs to reach the instance. */
    env: Record<string, string>;
    /** The manager's dockerd. */
    dockerHost: string;
    /** The manager's dockerd log. */
    log: string;
    nodes: number;
    /** The workers' dockerd sockets (unix://...), w1 first. */
    workers: string[];
}

/** `export NAME=value` lines as the sandbox scripts print them: printf %q quoting, '...' for lists, backslash
 *  escapes otherwise. */
export function parseExports(out: string): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const m of out.matchAll(/^export ([A-Z_]+)=(.*)$/gm)) {
        vars[m[1]] = /^'.*'$/.test(m[2]) ? m[2].slice(1, -1) : m[2].replace(/\\(.)/g, "$1");
    }
    return vars;
}

interface Call {
    script: string;
    args: string[];
    env: NodeJS.ProcessEnv;
    timeoutMs: number;
}

const call = (
    name: string,
    script: string,
    args: string[],
    timeoutMs: number,
    env: Record<string, string> = {},
): Call => ({
    script,
    args,
    env: { ...process.env, SANDBOX: name, ...env },
    timeoutMs,
});

const argv = (c: Call): string[] => [path.join(repoRoot, "sandbox", c.script), ...c.args];
const failed = (c: Call, how: string, stderr: string): Error =>
    new Error(`SANDBOX=${c.env.SANDBOX} sandbox/${[c.script, ...c.args].join(" ")} ${how}: ${stderr.trim()}`);
const opts = (c: Call) => ({
    cwd: repoRoot,
    env: c.env,
    timeout: c.timeoutMs,
    maxBuffer: 64 << 20,
    encoding: "utf8" as const,
});

function runSync(c: Call): string {
    const r = spawnSync("bash", argv(c), { ...opts(c), stdio: ["ignore", "pipe", "pipe"] });
    if (r.error) throw failed(c, `did not run (${r.error.message})`, r.stderr ?? "");
    if (r.status !== 0) throw failed(c, `exited ${r.status ?? r.signal}`, r.stderr);
    return r.stdout;
}

function runAsync(c: Call): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile("bash", argv(c), opts(c), (err, stdout, stderr) => {
            if (err) reject(failed(c, `exited ${err.code ?? err.signal}`, stderr || err.message));
            else resolve(stdout);
        });
        child.stdin?.end();
    });
}

const upCall = (o: SandboxOptions): Call =>
    call(
        o.name,
        "up.sh",
        ["--env", ...(o.restart ? ["--restart"] : [])],
        900_000,
        o.nodes === undefined ? {} : { SANDBOX_NODES: String(o.nodes) },
    );

function started(o: SandboxOptions, out: string): Sandbox {
    const env = parseExports(out);
    for (const k of ["DOCKER_HOST", "SANDBOX_DOCKERD_LOG"]) {
        if (!env[k]) throw new Error(`sandbox/up.sh --env printed no ${k}:\n${out}`);
    }
    const workers = (env.SANDBOX_WORKER_HOSTS ?? "").split(" ").filter(Boolean);
    if (o.nodes !== undefined && workers.length !== o.nodes - 1) {
        throw new Error(`sandbox/up.sh printed ${workers.length} worker socket(s), not ${o.nodes - 1}:\n${out}`);
    }
    if (o.exportDockerHost) {
        process.env.DOCKER_HOST = env.DOCKER_HOST;
        if (env.SANDBOX_DOCKER_SOCKET) process.env.SANDBOX_DOCKER_SOCKET = env.SANDBOX_DOCKER_SOCKET;
    }
    return {
        name: o.name,
        env,
        dockerHost: env.DOCKER_HOST,
        log: env.SANDBOX_DOCKERD_LOG,
        nodes: workers.length + 1,
        workers,
    };
}

/** Starts, reuses or (`restart`) restarts the instance. */
export async function sandboxUp(o: SandboxOptions): Promise<Sandbox> {
    return started(o, await runAsync(upCall(o)));
}

export function sandboxUpSync(o: SandboxOptions): Sandbox {
    return started(o, runSync(upCall(o)));
}

export interface DownOptions {
    /** Stop the dockerds but keep their state, so that the next `up` brings the same swarm back. */
    keepState?: boolean;
}

const downCall = (name: string, o: DownOptions): Call =>
    call(name, "down.sh", o.keepState ? ["--keep-state"] : [], 300_000);

export async function sandboxDown(name: string, o: DownOptions = {}): Promise<void> {
    await runAsync(downCall(name, o));
}

export function sandboxDownSync(name: string, o: DownOptions = {}): void {
    runSync(downCall(name, o));
}

/**
 * The reference host's before state, proxy and its stacks (sandbox/seed.sh), whatever a previous run left: when
 * the instance has stacks or a proxy network, `seed.sh --remove` first. `env` adds to the seed's (PROXY_SUBNET).
 */
export function sandboxSeedSync(sb: Sandbox, env: Record<string, string> = {}): void {
    const on = { host: sb.dockerHost };
    if (
        dockerSync(["stack", "ls", "--format", "{{.Name}}"], on) !== "" ||
        dockerSync(["network", "ls", "-q", "--filter", "name=^proxy$"], on) !== ""
    ) {
        runSync(call(sb.name, "seed.sh", ["--remove"], 900_000, sb.env));
    }
    runSync(call(sb.name, "seed.sh", [], 900_000, { ...sb.env, ...env }));
}

/** Another of the instance's scripts (node.sh, sshd.sh), its stdout. */
export function sandboxScriptSync(sb: Sandbox, script: string, args: string[]): string {
    return runSync(call(sb.name, script, args, 900_000));
}

/** Whether the instance's manager dockerd is up and answers (then `up` reuses it). */
export function sandboxResponds(name: string): Promise<boolean> {
    const sock = `/run/swarm-sandbox/${name}.sock`;
    if (!fs.existsSync(sock)) return Promise.resolve(false);
    return new Promise((resolve) => {
        execFile(
            "docker",
            ["-H", `unix://${sock}`, "version", "--format", "{{.Server.Version}}"],
            { timeout: 20_000 },
            (err) => resolve(!err),
        );
    });
}
