// The tools tier's own sandbox instance: a dockerd of its own (own network namespace, data root, socket),
// so its prunes and probes cannot touch another tier's swarm. Started by the tier, stopped by the tier.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { main } from "../../cli/main";

const execFileP = promisify(execFile);
export const root = join(__dirname, "..", "..");

export interface Sandbox {
    name: string;
    host: string;
    log: string;
}

export async function sandboxUp(name: string): Promise<Sandbox> {
    const { stdout } = await execFileP("bash", [join(root, "sandbox", "up.sh"), "--env"], {
        env: { ...process.env, SANDBOX: name },
        maxBuffer: 16 * 1024 * 1024,
    });
    const host = /export DOCKER_HOST=(\S+)/.exec(stdout)?.[1];
    const log = /export SANDBOX_DOCKERD_LOG=(\S+)/.exec(stdout)?.[1];
    if (!host || !log) {
        throw new Error(`sandbox/up.sh printed no DOCKER_HOST/SANDBOX_DOCKERD_LOG: ${stdout}`);
    }
    return { name, host, log };
}

export async function sandboxDown(name: string): Promise<void> {
    await execFileP("bash", [join(root, "sandbox", "down.sh")], { env: { ...process.env, SANDBOX: name } });
}

export async function docker(sb: Sandbox, args: string[]): Promise<string> {
    try {
        const { stdout } = await execFileP("docker", args, { env: { ...process.env, DOCKER_HOST: sb.host }, maxBuffer: 64 * 1024 * 1024 });
        return stdout;
    } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`docker ${args.join(" ")}: ${err.stderr ?? err.message}`);
    }
}

export async function script(sb: Sandbox, name: string, args: string[]): Promise<string> {
    const { stdout } = await execFileP("bash", [join(root, "host", name), ...args], { env: { ...process.env, DOCKER_HOST: sb.host } });
    return stdout;
}

export async function deployStack(sb: Sandbox, stack: string): Promise<void> {
    await docker(sb, ["stack", "deploy", "--resolve-image", "never", "-c", join(root, "sandbox", "stacks", `${stack}.yml`), stack]);
}

export async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
}

/** Every service of the stacks has all its replicas running. */
export async function converged(sb: Sandbox, stacks: string[]): Promise<void> {
    await waitFor(`${stacks.join(", ")} to converge`, 120_000, async () => {
        const out = await docker(sb, ["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]);
        const lines = out.trim().split("\n").filter((l) => stacks.some((s) => l.startsWith(`${s}_`)));
        const stacksSeen = new Set(lines.map((l) => stacks.find((s) => l.startsWith(`${s}_`))));
        return stacksSeen.size === stacks.length && lines.every((l) => /\s(\d+)\/\1(\s|$)/.test(l));
    });
}

export async function networkGone(sb: Sandbox, name: string): Promise<void> {
    await waitFor(`network ${name} to go`, 60_000, async () => {
        const out = await docker(sb, ["network", "ls", "--format", "{{.Name}}"]);
        return !out.split("\n").includes(name);
    });
}

export async function networkNames(sb: Sandbox): Promise<string[]> {
    return (await docker(sb, ["network", "ls", "--format", "{{.Name}}"])).trim().split("\n");
}

export interface CliResult {
    code: number;
    out: string;
    err: string;
}

/** Runs the CLI in this process against the sandbox (quiet: progress would clutter the test output). */
export async function cli(sb: Sandbox, args: string[]): Promise<CliResult> {
    let out = "";
    let err = "";
    const code = await main([...args, "--host", sb.host, "-q"], { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
}

export function json<T>(r: CliResult): T {
    try {
        return JSON.parse(r.out) as T;
    } catch {
        throw new Error(`not JSON (exit ${r.code}): ${r.out}\n${r.err}`);
    }
}
