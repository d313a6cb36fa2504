// Exit codes are part of the CLI's contract: scheduled CI tells "drift found" from "could not check".
import { readFileSync } from "node:fs";

export const EXIT_OK = 0;
export const EXIT_ERROR = 2;
export const EXIT_DRIFT = 3;
/** drift: a `pulumi` run holds the stack's lock now (its process runs, or runs on another host); not drift. */
export const EXIT_RUNNING = 4;

/** An error meant for the operator: its message is printed as is, without a stack trace. */
export class CliError extends Error {
    constructor(
        message: string,
        readonly exitCode: number = EXIT_ERROR,
    ) {
        super(message);
        this.name = "CliError";
    }
}

export function errorMessage(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

/** A file an option names, as text; an unreadable one is one message naming the option and the path. */
export function readOptionFile(option: string, path: string): string {
    try {
        return readFileSync(path, "utf8");
    } catch (e) {
        throw new CliError(`${option}: cannot read ${JSON.stringify(path)}: ${errorMessage(e)}`);
    }
}
