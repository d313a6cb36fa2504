// The tools tier's client of its own sandbox instance (../../harness/sandbox.ts starts and stops it): every
// call names the instance's dockerd, never this process's DOCKER_HOST, so its prunes and probes cannot touch
// another tier's swarm.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { main } from "../../cli/main";
import { docker as dockerCli } from "../../harness/docker";
import type { Sandbox } from "../../harness/sandbox";
import { waitFor } from "../../harness/wait";

const execFileP = promisify(execFile);
export const root = join(__dirname, "..", "..");

/** The Docker CLI (harness/docker.ts) at this tier's own instance. */
export function docker(sb: Sandbox, args: string[]): Promise<string> {
    return dockerCli(args, { host: sb.dockerHost });
}

export async function script(sb: Sandbox, name: string, args: string[]): Promise<string> {
    const { stdout } = await execFileP("bash", [join(root, "host", name), ...args], {
        env: { ...process.env, DOCKER_HOST: sb.dockerHost },
    });
    return stdout;
}

export async function deployStack(sb: Sandbox, stack: string): Promise<void> {
    await docker(sb, [
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        join(root, "sandbox", "stacks", `${stack}.yml`),
        stack,
    ]);
}

/** Every service of the stacks has all its replicas running. */
export async function converged(sb: Sandbox, stacks: string[]): Promise<void> {
    await waitFor(`${stacks.join(", ")} to converge`, 120_000, async () => {
        const out = await docker(sb, ["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]);
        const lines = out
            .trim()
            .split("\n")
            .filter((l) => stacks.some((s) => l.startsWith(`${s}_`)));
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
    const code = await main([...args, "--host", sb.dockerHost, "-q"], {
        out: (t) => (out += t),
        err: (t) => (err += t),
    });
    return { code, out, err };
}

export function json<T>(r: CliResult): T {
    try {
        return JSON.parse(r.out) as T;
    } catch {
        throw new Error(`not JSON (exit ${r.code}): ${r.out}\n${r.err}`);
    }
}
