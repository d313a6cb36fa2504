// How a command reaches the host: a Runner runs argv there and returns its stdout (execFile, nothing spliced
// into a shell). This machine's runner is here; the one over SSH, with the pinned host key, is src/ssh.ts's
// sshRunner. The preview's host read (src/hostFacts.ts) and the CLI's survey take either.
import { execFileSync } from "node:child_process";

export type Runner = (argv: string[]) => string;

/** Runs argv on this machine. */
export const localRunner: Runner = (argv) =>
    execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
