// `swarm-proxy guard`: the weekly upgrade's Step-0 safety net — VIP-allocation failures in dockerd's log,
// a prune that never removes proxy, a docker restart only when asked. A dry run unless --apply.
import { CliError, EXIT_OK } from "../shared/errors";
import { type GuardOptions, renderGuard, runGuard } from "./safety-net";
import { checkName, checkSince } from "../shared/validate";
import { type Command, type Io, command, connect, emit } from "../shared/command";
import {
    type Common,
    DEFAULT_NETWORK,
    DEFAULT_SINCE,
    DEFAULT_UNIT,
    LOG_OPTIONS,
    type Options,
    STACK_CONFIG,
    type Values,
    flag,
    logSourceOf,
    stackConfigOf,
    str,
    strs,
} from "../shared/options";

export const guardOptions: Options = {
    ...LOG_OPTIONS,
    protect: {
        type: "string",
        multiple: true,
        arg: "NAME",
        help: "network never to remove (repeatable; proxy, or --stack-config's network, is always protected)",
    },
    apply: { type: "boolean", help: "act; without it nothing is changed (dry run)" },
    "restart-docker": {
        type: "boolean",
        help: "with --apply, restart dockerd (systemctl restart UNIT) when failures were found",
    },
    fix: {
        type: "boolean",
        help: "remove a stale vxlan interface (moby/libnetwork#1765) on this node, as root; another node's fix is printed",
    },
    "exec-root": { type: "string", arg: "DIR", help: "dockerd's exec root on this node (default /var/run/docker)" },
    "docker-pidfile": {
        type: "string",
        arg: "FILE",
        help: "dockerd's pidfile on this node (default /var/run/docker.pid)",
    },
    ...STACK_CONFIG,
};

export type GuardCommandOptions = Omit<GuardOptions, "progress">;

export function parseGuard(v: Values): GuardCommandOptions {
    const cfg = stackConfigOf(v);
    const since = checkSince("--since", str(v, "since") ?? DEFAULT_SINCE);
    // proxy stays protected even when the stack file names another network: the reference host has it.
    const protectedNames = [
        ...new Set([
            DEFAULT_NETWORK,
            cfg?.network.name ?? DEFAULT_NETWORK,
            ...strs(v, "protect").map((p) => checkName("--protect", p)),
        ]),
    ];
    const logSource = logSourceOf(v);
    const unit = checkName("--unit", str(v, "unit") ?? DEFAULT_UNIT);
    return {
        since,
        logSource,
        protectedNames,
        apply: flag(v, "apply"),
        restartDocker: flag(v, "restart-docker"),
        unit,
        fix: flag(v, "fix"),
        execRoot: absolutePath("--exec-root", str(v, "exec-root")),
        pidfile: absolutePath("--docker-pidfile", str(v, "docker-pidfile")),
    };
}

/** A path passed on to the fix script as an argument: absolute, of the characters it accepts. */
function absolutePath(key: string, value: string | undefined): string | undefined {
    if (value !== undefined && !/^\/[A-Za-z0-9_./+-]*$/.test(value)) {
        throw new CliError(`${key} '${value}' is not an absolute path of letters, digits and _./+-`);
    }
    return value;
}

export async function runGuardCommand(o: GuardCommandOptions, common: Common, io: Io): Promise<number> {
    const { engine, progress } = await connect(common, "guard");
    const report = await runGuard(engine, { ...o, progress });
    emit(io, common, report, renderGuard(report));
    return EXIT_OK;
}

const guard: Command<GuardCommandOptions> = {
    summary:
        "Step-0 safety net: VIP failures since a time, prune unused networks but never proxy, restart docker only if asked",
    options: guardOptions,
    parse: parseGuard,
    run: runGuardCommand,
};

export const guardCommand = command(guard);
