// Child processes the commands start (docker CLI, host scripts, pulumi): argv arrays, never a shell string,
// and the dockerd the command talks to passed in the child's own environment — the CLI never changes its
// own DOCKER_HOST, so what one command was given cannot leak into another run in the same process.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CliError, errorMessage } from "./errors";

export const execFileP = promisify(execFile);

/** This process's environment, with DOCKER_HOST set to `dockerHost` when one was given. */
export function childEnv(dockerHost: string | undefined): NodeJS.ProcessEnv {
    return dockerHost === undefined ? process.env : { ...process.env, DOCKER_HOST: dockerHost };
}

/** The last lines of a failed child's stderr, else the error's own message: what the operator needs to see. */
export function failureDetail(e: unknown, lines = 2): string {
    const stderr = (e as { stderr?: unknown }).stderr;
    return typeof stderr === "string" && stderr.trim() !== ""
        ? stderr.trim().split("\n").slice(-lines).join(" ")
        : errorMessage(e);
}

/** Runs `cmd args`; a failure is one CliError "<what> failed: <detail>". */
export async function runChild(cmd: string, args: string[], what: string, env: NodeJS.ProcessEnv): Promise<void> {
    try {
        await execFileP(cmd, args, { env, maxBuffer: 16 * 1024 * 1024 });
    } catch (e) {
        throw new CliError(`${what} failed: ${failureDetail(e)}`);
    }
}
