// The operator CLI: one entry point, one subcommand per task of the runbook (a folder each, listed in
// cli/command-list.ts), `--json` on each.
// This file only parses argv, finds the command, runs it, and turns what it throws into a message and an exit code.
import { parseArgs } from "node:util";
import type { Io } from "./shared/command";
import { commandHelp, usage } from "./help";
import { COMMANDS } from "./command-list";
import { COMMON, type Options, type Values, flag } from "./shared/options";
import { EngineError } from "../src/engine";
import { CliError, EXIT_ERROR, EXIT_OK, errorMessage } from "./shared/errors";

export type { Io } from "./shared/command";
export { usage } from "./help";

export const SUBCOMMANDS = Object.keys(COMMANDS);

const defaultIo: Io = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
};

/** parseArgs' spec for a command's options and the common ones. */
function parseSpec(opts: Options) {
    return Object.fromEntries(
        Object.entries(opts).map(([k, o]) => [
            k,
            { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
        ]),
    );
}

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
        io.out(`${usage()}\n`);
        return name === undefined ? EXIT_ERROR : EXIT_OK;
    }
    const cmd = COMMANDS[name];
    if (!cmd) {
        io.err(`swarm-proxy: unknown command ${JSON.stringify(name)}; commands: ${SUBCOMMANDS.join(", ")}\n`);
        return EXIT_ERROR;
    }
    try {
        let values: Values;
        try {
            values = parseArgs({
                args: rest,
                options: parseSpec({ ...cmd.options, ...COMMON }),
                strict: true,
                allowPositionals: false,
            }).values as Values;
        } catch (e) {
            throw new CliError(`${errorMessage(e)} (see swarm-proxy ${name} --help)`);
        }
        if (flag(values, "help")) {
            io.out(`${commandHelp(name)}\n`);
            return EXIT_OK;
        }
        return await cmd.exec(values, io);
    } catch (e) {
        // The operator's input and dockerd's answers are messages; anything else is a bug, with its stack.
        const meant = e instanceof CliError || e instanceof EngineError;
        const msg = meant ? e.message : `unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
        io.err(`swarm-proxy ${name}: ${msg}\n`);
        return e instanceof CliError ? e.exitCode : EXIT_ERROR;
    }
}

if (require.main === module) {
    void main(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}
