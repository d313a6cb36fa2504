// The option tables every command shares and reading parsed values back as typed ones. Values come from
// node:util parseArgs (strict): a key is a string, a boolean or a list of strings when the table says so.
import type { LogSource } from "./vip-failure-log";
import { resolveStackFile } from "./package-root";
import { type StackConfig, readStackConfig } from "./stack-file";
import { checkInt, checkName, checkNumber } from "./validate";

export interface OptionSpec {
    type: "string" | "boolean";
    multiple?: boolean;
    short?: string;
    help: string;
    /** The value's placeholder in the help. */
    arg?: string;
}
export type Options = Record<string, OptionSpec>;
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export function str(v: Values, key: string): string | undefined {
    const x = v[key];
    return typeof x === "string" ? x : undefined;
}

export function strs(v: Values, key: string): string[] {
    const x = v[key];
    return Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : [];
}

export function flag(v: Values, key: string): boolean {
    return v[key] === true;
}

/** An integer option: `fallback` when not given, else checked to lie in [min, max]. */
export function intOf(v: Values, key: string, fallback: number, min: number, max: number): number {
    const raw = str(v, key);
    return raw === undefined ? fallback : checkInt(`--${key}`, raw, min, max);
}

/** A number option (decimals allowed): `fallback` when not given, else checked to lie in [min, max]. */
export function numberOf(v: Values, key: string, fallback: number, min: number, max: number): number {
    const raw = str(v, key);
    return raw === undefined ? fallback : checkNumber(`--${key}`, raw, min, max);
}

export const COMMON: Options = {
    json: { type: "boolean", help: "print one JSON document on stdout instead of text" },
    host: {
        type: "string",
        arg: "URL",
        help: "dockerd to talk to (unix:///path or tcp://host:port; default $DOCKER_HOST, else the local socket)",
    },
    quiet: { type: "boolean", short: "q", help: "no progress on stderr" },
    help: { type: "boolean", short: "h", help: "show this help" },
};

/** The common options, as every command's run gets them. */
export interface Common {
    json: boolean;
    quiet: boolean;
    /** --host as given: checked when connecting (drift reports a bad one like an unreachable dockerd). */
    host?: string;
}

export function commonOf(v: Values): Common {
    return { json: flag(v, "json"), quiet: flag(v, "quiet"), host: str(v, "host") };
}

/** The overlay every command looks at unless told otherwise (and the stack file does not name another). */
export const DEFAULT_NETWORK = "proxy";

export const STACK_CONFIG: Options = {
    "stack-config": {
        type: "string",
        arg: "FILE",
        help: "Pulumi stack file (Pulumi.<stack>.yaml) with swarm-proxy:network and swarm-proxy:stacks; a relative path not found from the current folder is looked up in the package",
    },
};

/** The stack file named by --stack-config, read through config.ts; undefined without the option. */
export function stackConfigOf(v: Values): StackConfig | undefined {
    const p = str(v, "stack-config");
    return p === undefined ? undefined : readStackConfig(resolveStackFile(p));
}

/** dockerd's systemd unit for journalctl and systemctl. */
export const DEFAULT_UNIT = "docker";
/** How far back dockerd's log is read. */
export const DEFAULT_SINCE = "24h";

export const LOG_OPTIONS: Options = {
    since: {
        type: "string",
        arg: "WHEN",
        help: "look at dockerd's log from this time: ISO 8601 or a duration back (24h, 90m, 7d); default 24h",
    },
    "log-file": { type: "string", arg: "FILE", help: "read dockerd's log from this file instead of the journal" },
    unit: { type: "string", arg: "UNIT", help: "systemd unit of dockerd for journalctl and restart (default docker)" },
};

/** Where dockerd's log is read: --log-file, else the journal of --unit. */
export function logSourceOf(v: Values): LogSource {
    const file = str(v, "log-file");
    if (file !== undefined) {
        return { kind: "file", what: file };
    }
    return { kind: "journal", what: checkName("--unit", str(v, "unit") ?? DEFAULT_UNIT) };
}
