// The two keys of a Pulumi stack file the tools need: which network is `proxy` (name, subnet) and which
// stacks are expected on it. Read minimally and checked where read; the program's own config parser
// validates everything else.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { checkCanonicalCidr } from "../src/subnet";
import { CliError, errorMessage } from "./errors";
import { checkName } from "./validate";

export interface StackExpectation {
    name: string;
    /** true: at least one of its services is on the network; a list: exactly these services must be. */
    attached: boolean | string[];
}

export interface StackConfig {
    source: string;
    network: { name: string; subnet?: string; reserved: string[] };
    stacks: StackExpectation[];
}

export const NETWORK_KEY = "swarm-proxy:network";
export const STACKS_KEY = "swarm-proxy:stacks";

function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringAt(key: string, v: unknown): string {
    if (typeof v !== "string") {
        throw new CliError(`${key}: ${JSON.stringify(v)} is not a string`);
    }
    return v;
}

export function parseStackConfig(raw: string, source: string): StackConfig {
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
    const rawNet = config[NETWORK_KEY];
    let network: StackConfig["network"] = { name: "proxy", reserved: [] };
    if (rawNet !== undefined) {
        if (!isRecord(rawNet)) {
            throw new CliError(`${NETWORK_KEY}: ${JSON.stringify(rawNet)} is not a map with name and subnet`);
        }
        const name = rawNet.name === undefined ? "proxy" : checkName(`${NETWORK_KEY}.name`, stringAt(`${NETWORK_KEY}.name`, rawNet.name));
        const subnet =
            rawNet.subnet === undefined
                ? undefined
                : checkCanonicalCidr(`${NETWORK_KEY}.subnet`, stringAt(`${NETWORK_KEY}.subnet`, rawNet.subnet));
        const reservedRaw = rawNet.reserved ?? [];
        if (!Array.isArray(reservedRaw)) {
            throw new CliError(`${NETWORK_KEY}.reserved: ${JSON.stringify(reservedRaw)} is not a list of CIDRs`);
        }
        const reserved = reservedRaw.map((r, i) => checkCanonicalCidr(`${NETWORK_KEY}.reserved[${i}]`, stringAt(`${NETWORK_KEY}.reserved[${i}]`, r)));
        network = { name, subnet, reserved };
    }
    const rawStacks = config[STACKS_KEY] ?? [];
    if (!Array.isArray(rawStacks)) {
        throw new CliError(`${STACKS_KEY}: ${JSON.stringify(rawStacks)} is not a list of stacks ({name, attached})`);
    }
    const stacks = rawStacks.map((s, i): StackExpectation => {
        const key = `${STACKS_KEY}[${i}]`;
        if (typeof s === "string") {
            return { name: checkName(key, s), attached: true };
        }
        if (!isRecord(s)) {
            throw new CliError(`${key}: ${JSON.stringify(s)} is not a stack ({name, attached})`);
        }
        const name = checkName(`${key}.name`, stringAt(`${key}.name`, s.name));
        const a = s.attached ?? true;
        if (typeof a === "boolean") {
            return { name, attached: a };
        }
        if (Array.isArray(a)) {
            return { name, attached: a.map((x, j) => checkName(`${key}.attached[${j}]`, stringAt(`${key}.attached[${j}]`, x))) };
        }
        throw new CliError(`${key}.attached: ${JSON.stringify(a)} is not true, false or a list of service names`);
    });
    return { source, network, stacks };
}

export function readStackConfig(path: string): StackConfig {
    let raw: string;
    try {
        raw = readFileSync(path, "utf8");
    } catch (e) {
        throw new CliError(`--stack-config: cannot read ${JSON.stringify(path)}: ${errorMessage(e)}`);
    }
    return parseStackConfig(raw, path);
}
