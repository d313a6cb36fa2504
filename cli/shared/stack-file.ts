// The stack file as the tools read it: through the program's own schema (config.ts), so `swarm-proxy` and
// `pulumi up` accept and refuse the same files with the same messages. The tools use the network (name,
// subnet, reserved ranges) and the stacks expected on it.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { type Config, CONFIG_KEYS, ConfigError, parseConfig, PROJECT } from "../../config";
import { CliError, errorMessage, readOptionFile } from "./errors";

export interface StackExpectation {
    name: string;
    /**
     * false: none of its services may be on the network. For an attached stack, the services its compose file
     * puts on the network (read from the file when it is on this machine), else true: at least one must be.
     */
    attached: boolean | string[];
}

export interface StackConfig {
    source: string;
    network: { name: string; subnet?: string; reserved: string[] };
    stacks: StackExpectation[];
    /** The whole validated config, as the program sees it. */
    config: Config;
}

export const NETWORK_KEY = `${PROJECT}:network`;
export const STACKS_KEY = `${PROJECT}:stacks`;

function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses a stack file's text; relative paths in it (compose files, the nix module) are resolved from baseDir. */
export function parseStackConfig(raw: string, source: string, baseDir: string = dirname(resolve(source))): StackConfig {
    let doc: unknown;
    try {
        doc = parse(raw);
    } catch (e) {
        throw new CliError(`${source}: not valid YAML: ${errorMessage(e)}`);
    }
    const config = isRecord(doc) && isRecord(doc.config) ? doc.config : undefined;
    if (!config) {
        throw new CliError(`${source}: no top-level "config:" map; expected a Pulumi stack file (Pulumi.<stack>.yaml)`);
    }
    const ours: Record<string, unknown> = {};
    // The keys the program reads; the secret sshPrivateKey is only checked for presence, as the program does.
    for (const key of CONFIG_KEYS) {
        if (config[`${PROJECT}:${key}`] !== undefined) {
            ours[key] = config[`${PROJECT}:${key}`];
        }
    }
    let cfg: Config;
    try {
        cfg = parseConfig(ours, {
            baseDir,
            env: {},
            hasSshPrivateKey: config[`${PROJECT}:sshPrivateKey`] !== undefined,
        });
    } catch (e) {
        if (e instanceof ConfigError) {
            throw new CliError(`${source}: ${e.message}`);
        }
        throw e;
    }
    return {
        source,
        network: { name: cfg.network.name, subnet: cfg.network.subnet, reserved: cfg.network.reserved },
        stacks: cfg.stacks.map((s) => ({
            name: s.name,
            attached:
                s.attached && s.compose !== undefined
                    ? (servicesOn(resolve(baseDir, s.compose), cfg.network.name) ?? true)
                    : s.attached,
        })),
        config: cfg,
    };
}

/**
 * The services a compose file puts on the external network `network` (by its name, or by an alias whose `name:`
 * is it), or undefined when the file is not readable here (a stack file for a remote host).
 */
export function servicesOn(composeFile: string, network: string): string[] | undefined {
    let doc: unknown;
    try {
        doc = parse(readFileSync(composeFile, "utf8"));
    } catch {
        return undefined;
    }
    if (!isRecord(doc) || !isRecord(doc.services)) {
        return undefined;
    }
    const nets = isRecord(doc.networks) ? doc.networks : {};
    const aliases = Object.entries(nets)
        .filter(
            ([alias, n]) =>
                isRecord(n) && n.external === true && (typeof n.name === "string" ? n.name : alias) === network,
        )
        .map(([alias]) => alias);
    return Object.entries(doc.services)
        .filter(([, svc]) => {
            const on = isRecord(svc) ? svc.networks : undefined;
            const names = Array.isArray(on) ? on : isRecord(on) ? Object.keys(on) : [];
            return names.some((n) => aliases.includes(String(n)));
        })
        .map(([name]) => name)
        .sort();
}

export function readStackConfig(path: string): StackConfig {
    return parseStackConfig(readOptionFile("--stack-config", path), path);
}
