// The help texts: the command list with the common options, and each command's own options.
import { COMMANDS } from "./command-list";
import { COMMON, type Options } from "./shared/options";

function optionHelp(opts: Options): string[] {
    return Object.entries(opts).map(([k, o]) => {
        const left = `  ${o.short ? `-${o.short}, ` : ""}--${k}${o.arg ? ` ${o.arg}` : ""}`;
        return `${left.padEnd(30)} ${o.help}`;
    });
}

export function usage(): string {
    const names = Object.keys(COMMANDS);
    const w = Math.max(...names.map((c) => c.length));
    return [
        "usage: swarm-proxy <command> [options]",
        "",
        "Operator tools for the swarm's shared overlay network (proxy).",
        "",
        "commands:",
        ...names.map((c) => `  ${c.padEnd(w)}  ${COMMANDS[c].summary}`),
        "",
        "common options:",
        ...optionHelp(COMMON),
        "",
        "exit codes: 0 done/clean, 2 error (dockerd unreachable, not a swarm manager, bad input), 3 drift found (drift) or target subnet conflicts (survey)",
        "Run `swarm-proxy <command> --help` for a command's options.",
    ].join("\n");
}

export function commandHelp(name: string): string {
    const c = COMMANDS[name];
    return [
        `usage: swarm-proxy ${name} [options]`,
        "",
        c.summary,
        "",
        "options:",
        ...optionHelp(c.options),
        ...optionHelp(COMMON),
    ].join("\n");
}
