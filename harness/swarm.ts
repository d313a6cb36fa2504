// The swarm tier's client of its sandbox instance: the Docker CLI through execFile (argv arrays, never a shell
// string), the Engine API over the unix socket where a test needs many calls, the host scripts in both forms
// there are (installed by the program's installer and run as the program runs them, or run directly from the
// repository as the operator tools do), and the CLI's capacity probe.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { probeFree } from "../cli/shared/overlay-capacity";
import { type EngineVersion, isVersionRefusal, negotiateApiVersion } from "../src/docker";
import { Engine } from "../src/engine";
import { docker as dockerCli, overlayCreateArgs } from "./docker";
import { silentProgress } from "../cli/shared/progress";
import { argvLine, installer } from "../src/hostCommand";
import { type Sandbox, sandboxUp } from "./sandbox";
import { waitFor } from "./wait";

export const repoRoot = path.resolve(__dirname, "..");
export const sandboxName = process.env.SWARM_TEST_SANDBOX ?? "swarm-test";
export const image = "swarm-sandbox/standin:2";
/** The reference host's stacks attached to `proxy`, traefik first. */
export const proxyStacks = ["traefik", "drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak"];
export const composeFile = (stack: string): string => path.join(repoRoot, "sandbox", "stacks", `${stack}.yml`);

export interface Result {
    code: number;
    stdout: string;
    stderr: string;
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, SANDBOX: sandboxName });

/** Runs a program; never throws on a non-zero exit. */
export interface RunOptions {
    input?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
}

export function run(file: string, args: string[], opts: RunOptions = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
        const child = spawn(file, args, { env: { ...env(), ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 600_000);
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
        });
        // A child that exits without reading its stdin (most docker calls) closes the pipe: not an error.
        child.stdin.on("error", (e: NodeJS.ErrnoException) => {
            if (e.code !== "EPIPE") reject(e);
        });
        child.stdin.end(opts.input ?? "");
    });
}

/** The Docker CLI (harness/docker.ts) at the swarm tier's sandbox; throws with its stderr on failure. */
export function docker(args: string[], timeoutMs = 120_000): Promise<string> {
    return dockerCli(args, { env: env(), timeoutMs });
}

export const lines = (s: string): string[] =>
    s
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");

let installedDir: string | undefined;

/** The host scripts installed as the program installs them (HostScripts' installer), once per process. */
export function installedScripts(): string {
    if (!installedDir) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-host-"));
        const r = spawnSync("bash", ["-s", "--", dir], { input: installer(), encoding: "utf8" });
        if (r.status !== 0) throw new Error(`installing the host scripts failed: ${r.stderr}`);
        installedDir = dir;
    }
    return installedDir;
}

/** A host script run as the program runs it: installed on the host, `/bin/sh -c` with every word quoted. */
export function hostInstalled(
    script: string,
    args: string[],
    timeoutMs?: number,
    extraEnv?: NodeJS.ProcessEnv,
): Promise<Result> {
    const line = argvLine(["bash", path.join(installedScripts(), script), ...args]);
    return run("/bin/sh", ["-c", line], { timeoutMs, env: extraEnv });
}

/** A host script run directly from the repository (it sources lib.sh beside itself). */
export function hostDirect(script: string, args: string[], timeoutMs?: number): Promise<Result> {
    return run("bash", [path.join(repoRoot, "host", script), ...args], { timeoutMs });
}

export async function hostOk(script: string, args: string[], timeoutMs?: number): Promise<string> {
    const r = await hostInstalled(script, args, timeoutMs);
    if (r.code !== 0) throw new Error(`${script} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
}

/** Each service's name and the names of the networks its spec attaches, in name order (an unknown ID stays an ID). */
export async function serviceNetworkNames(): Promise<[string, string[]][]> {
    const ids = lines(await docker(["service", "ls", "-q"]));
    if (ids.length === 0) return [];
    const byId = new Map(
        lines(await docker(["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])).map(
            (l) => l.split(" ") as [string, string],
        ),
    );
    return lines(
        await docker([
            "service",
            "inspect",
            "--format",
            "{{.Spec.Name}}{{range .Spec.TaskTemplate.Networks}} {{.Target}}{{end}}",
            ...ids,
        ]),
    ).map((l) => {
        const [name, ...nets] = l.split(" ");
        return [name, nets.map((n) => byId.get(n) ?? n).sort()];
    });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let logPath: string | undefined;

/** Starts, reuses or restarts the tier's instance (`sandboxName`) and points this process's DOCKER_HOST at it. */
export async function swarmSandboxUp(restart = false): Promise<Sandbox> {
    const sb = await sandboxUp({ name: sandboxName, restart, exportDockerHost: true });
    logPath = sb.log;
    return sb;
}

/** dockerd's log of the sandbox instance the tier runs against. */
export function sandboxLog(): string {
    if (!logPath) throw new Error("the sandbox is not up (no dockerd log path)");
    return logPath;
}

// --- Engine API ----------------------------------------------------------------------------------------

function request(
    socket: string,
    method: string,
    urlPath: string,
    data?: string,
): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request(
            {
                socketPath: socket,
                method,
                path: urlPath,
                headers: data ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } : {},
            },
            (res) => {
                let text = "";
                res.on("data", (d: Buffer) => (text += d.toString()));
                res.on("end", () => resolve({ status: res.statusCode ?? 500, text }));
            },
        );
        req.on("error", reject);
        req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
        req.end(data);
    });
}

/** The message of an Engine API error body ({"message": ...}), or the body itself. */
function messageOf(text: string): string {
    try {
        return (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
        return text;
    }
}

/** The API version agreed with each DOCKER_HOST's dockerd, asked once (a failed ask is asked again). */
const agreed = new Map<string, Promise<string>>();

/**
 * The version to put in front of every path, as src/engine.ts agrees it: GET /version unversioned, then the
 * daemon's newest that the project knows, never below its minimum (Docker 29.0 refuses anything under 1.44).
 */
function apiVersionFor(host: string, socket: string): Promise<string> {
    let v = agreed.get(host);
    if (v === undefined) {
        v = (async () => {
            const r = await request(socket, "GET", "/version");
            if (r.status >= 300) throw new Error(`GET /version: ${r.status} ${r.text.trim()}`);
            const n = negotiateApiVersion(JSON.parse(r.text) as EngineVersion);
            if (!n.ok) throw new Error(`${n.reason} (DOCKER_HOST ${host})`);
            return n.version;
        })();
        const attempt = v;
        attempt.catch(() => {
            if (agreed.get(host) === attempt) agreed.delete(host);
        });
        agreed.set(host, attempt);
    }
    return v;
}

export async function api<T>(method: string, urlPath: string, body?: unknown): Promise<T> {
    const host = process.env.DOCKER_HOST ?? "";
    if (!host.startsWith("unix://")) throw new Error(`DOCKER_HOST '${host}' is not a unix socket`);
    const socket = host.slice("unix://".length);
    const data = body === undefined ? undefined : JSON.stringify(body);
    let r = await request(socket, method, `/v${await apiVersionFor(host, socket)}${urlPath}`, data);
    if (isVersionRefusal(r.status, messageOf(r.text))) {
        // Another dockerd on the same socket since the version was agreed (a sandbox restarted on another
        // engine): agree again, once.
        agreed.delete(host);
        r = await request(socket, method, `/v${await apiVersionFor(host, socket)}${urlPath}`, data);
    }
    if (r.status >= 300) throw new Error(`${method} ${urlPath}: ${r.status} ${r.text.trim()}`);
    return (r.text ? JSON.parse(r.text) : undefined) as T;
}

interface ApiService {
    ID: string;
    Spec: { Name: string; Labels?: Record<string, string> };
    Endpoint?: { VirtualIPs?: { NetworkID: string; Addr: string }[] };
}

export interface Task {
    ID: string;
    ServiceID: string;
    DesiredState: string;
    Status: { State: string; Err?: string };
    NetworksAttachments?: { Network: { ID: string; Spec: { Name: string } }; Addresses?: string[] }[];
}

const filters = (f: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(f));

export const listServices = (label?: string): Promise<ApiService[]> =>
    api<ApiService[]>("GET", label ? `/services?filters=${filters({ label: [label] })}` : "/services");

export const listTasks = (f: Record<string, string[]> = {}): Promise<Task[]> =>
    api<Task[]>("GET", `/tasks?filters=${filters(f)}`);

export async function networkId(name: string): Promise<string | undefined> {
    const nets = await api<{ Id: string; Name: string }[]>("GET", `/networks?filters=${filters({ name: [name] })}`);
    return nets.find((n) => n.Name === name)?.Id;
}

/**
 * Free addresses on a network by allocation: the CLI's probe (`swarm-proxy capacity --probe`), at most `limit`
 * services (the subnet's size).
 */
export async function probeCapacity(network: string, limit: number): Promise<number> {
    // A task on its way out (an update's old task, draining) holds its addresses until the manager records it
    // stopped: count once every such task has, or the probe sees a transient as a leak.
    const terminal = new Set(["complete", "shutdown", "failed", "rejected", "remove", "orphaned"]);
    await waitFor("every stopping task to have stopped", 120_000, async () =>
        (await listTasks()).every((t) => t.DesiredState === "running" || terminal.has(t.Status.State)),
    );
    const engine = new Engine();
    const net = await engine.findNetwork(network);
    if (!net) throw new Error(`probe: network ${network} does not exist`);
    return (await probeFree(engine, net, { image, max: limit, batch: 32, progress: silentProgress })).free;
}

// --- state ---------------------------------------------------------------------------------------------

const builtinNetworks = new Set(["bridge", "host", "none", "ingress", "docker_gwbridge"]);

/** Back to a clean swarm: no service, no container, no network but the built-in ones. */
export async function resetSwarm(): Promise<void> {
    const services = lines(await docker(["service", "ls", "-q"]));
    if (services.length) await docker(["service", "rm", ...services]);
    await waitFor("all tasks to be gone", 120_000, async () => ((await listTasks()).length === 0 ? true : undefined));
    // A task's container may still be going away by itself ("removal ... is already in progress"): remove what
    // is left and wait until none is.
    await waitFor("all containers to be gone", 120_000, async () => {
        const containers = lines(await docker(["ps", "-aq"]));
        if (containers.length) await run("docker", ["rm", "-f", ...containers], { timeoutMs: 60_000 });
        return containers.length === 0 ? true : undefined;
    });
    await waitFor("custom networks to be gone", 120_000, async () => {
        const nets = lines(await docker(["network", "ls", "--format", "{{.Name}}"])).filter(
            (n) => !builtinNetworks.has(n),
        );
        for (const n of nets) await run("docker", ["network", "rm", n], { timeoutMs: 30_000 });
        return nets.length === 0 ? true : undefined;
    });
}

export async function createProxy(subnet: string, name = "proxy"): Promise<void> {
    await docker(overlayCreateArgs(name, subnet));
}

/** Task IDs of a stack's services whose desired state is running. */
export async function runningTaskIds(stack: string): Promise<string[]> {
    return (await stackTasks(stack))
        .filter((t) => t.DesiredState === "running")
        .map((t) => t.ID)
        .sort();
}

export async function stackTasks(stack: string): Promise<Task[]> {
    const ids = (await listServices(`com.docker.stack.namespace=${stack}`)).map((s) => s.ID);
    if (ids.length === 0) return [];
    return listTasks({ service: ids });
}

export function tmpDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// --- stack cycles (shared by the leak test and the leak benchmark) ------------------------------------

/** Deploys the stacks at once with stack-deploy.sh and waits until each is healthy on `network`. */
export async function deployStacks(stacks: string[], network: string, subnet: string): Promise<void> {
    await Promise.all(stacks.map((s) => hostOk("stack-deploy.sh", [s, composeFile(s)])));
    await Promise.all(stacks.map((s) => hostOk("stack-health.sh", [s, network, subnet, "180"])));
}

/** Our teardown, every stack at once. */
export async function teardownOurs(stacks: string[]): Promise<void> {
    await Promise.all(stacks.map((s) => hostOk("stack-teardown.sh", [s, "180"])));
}

/**
 * What the host did before: `docker stack rm` of every stack at once, then wait until all is gone. A
 * removal that finds a network still in use ("is in use by task") fails; like an operator, re-run it.
 */
export async function teardownStackRm(stacks: string[]): Promise<void> {
    await Promise.all(stacks.map((s) => run("docker", ["stack", "rm", s])));
    await waitFor(`stacks ${stacks.join(", ")} to be gone`, 180_000, async () => {
        let left = false;
        for (const s of stacks) {
            const nets = lines(
                await docker(["network", "ls", "-q", "--filter", `label=com.docker.stack.namespace=${s}`]),
            );
            const services = await listServices(`com.docker.stack.namespace=${s}`);
            if (nets.length || services.length) {
                left = true;
                await sleep(500);
                await run("docker", ["stack", "rm", s]);
            }
        }
        if (left) return undefined;
        const services = new Set((await listServices()).map((s) => s.ID));
        // Tasks of removed services must be gone too, or the next probe counts their addresses as used.
        return (await listTasks()).some((t) => !services.has(t.ServiceID)) ? undefined : true;
    });
}

/** A one-replica service that stays on the network, as traefik does, so the node's load-balancer
 *  endpoint on it exists throughout and every probe sees the same baseline. */
export async function createAnchor(network: string): Promise<void> {
    await docker(["service", "create", "-d", "-q", "--name", "anchor", "--network", network, image]);
    await waitFor("anchor to run", 60_000, async () =>
        (await listTasks({ service: ["anchor"], "desired-state": ["running"] })).some(
            (t) => t.Status.State === "running",
        )
            ? true
            : undefined,
    );
}

const ipToInt = (ip: string): number => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
/** Whether an address (optionally with /len) lies inside a CIDR. */
export function ipInCidr(addr: string, cidr: string): boolean {
    const [net, len] = cidr.split("/");
    const size = 2 ** (32 - Number(len));
    const base = ipToInt(net);
    const ip = ipToInt(addr.split("/")[0]);
    return ip >= base && ip < base + size;
}
