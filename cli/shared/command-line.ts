// Commands the CLI prints for the operator to run (the removal of what a failed run left behind). They are
// printed, never run by the CLI: words are quoted for a POSIX shell only where needed, so a line can be
// pasted as is, and split back into argv arrays by anyone who would rather not go through a shell.

import { shellWord } from "../../src/ssh";

/**
 * One line running each argv in turn, stopping at the first failure (`a && b`). With a dockerd other than
 * the local socket, every step is prefixed `env DOCKER_HOST=…` so the line acts on the dockerd the CLI used.
 */
export function commandLine(steps: string[][], dockerHost: string | undefined): string {
    const prefix = dockerHost !== undefined && dockerHost !== "" ? ["env", `DOCKER_HOST=${dockerHost}`] : [];
    return steps.map((argv) => [...prefix, ...argv].map(shellWord).join(" ")).join(" && ");
}
