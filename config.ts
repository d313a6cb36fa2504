// Parses the stack configuration into one typed, validated object. Every error names the key, the bad value
// and what is allowed, and is raised before any resource exists.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { checkCanonicalCidr, toRange, CIDR_FORM } from "./src/subnet";
import { NAME_PATTERN, NAME_RULE } from "./src/names";
import { insideProject } from "./src/checkoutPaths";
import { orderStacks } from "./src/plan";
import { DOCKER_RESERVED_NETWORKS } from "./src/rolling";
import { PROJECT, REDEPLOY_ENV, WINDOW_ENV } from "./src/project";

// The project's names live below the parser (src/project.ts); the program and the tests read them here too.
export { PROJECT, REDEPLOY_ENV, WINDOW_ENV };

/** Where the host scripts are installed on the host unless connection.scriptsDir says otherwise. */
export const DEFAULT_SCRIPTS_DIR = "/var/lib/swarm-proxy/host";

const UNIT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,250}\.(service|target)$/;
const LABEL_KEY_PATTERN = /^[a-z0-9]([a-z0-9.-]{0,253}[a-z0-9])?$/;
const NETWORK_ID_PATTERN = /^[a-z0-9]{25}$|^[a-f0-9]{64}$/;
const HOST_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[?[0-9a-fA-F:]+\]?$/;
const PATH_PATTERN = /^[A-Za-z0-9_./@+-]+$/;

const name = z.string().regex(NAME_PATTERN, { message: `is not allowed; use ${NAME_RULE}` });
const cidr = z.string().refine((v) => toRange(v) !== undefined && v.includes("/"), { message: `is not ${CIDR_FORM}` });
const filePath = z.string().regex(PATH_PATTERN, {
    message: "is not allowed; use a path of letters, digits and _ . / @ + - (no spaces or shell metacharacters)",
});
const seconds = (dflt: number) =>
    z
        .number()
        .int({ message: "must be a whole number of seconds" })
        .min(1, { message: "must be at least 1 second" })
        .max(3600, { message: "must be at most 3600 seconds" })
        .default(dflt);

const networkSchema = z.strictObject({
    name: name.default("proxy"),
    subnet: z.string(),
    gateway: z.string().optional(),
    labels: z
        .record(
            z.string().regex(LABEL_KEY_PATTERN, {
                message: "is not a label key; use lower-case letters, digits, '.' and '-'",
            }),
            z.string().regex(/^[A-Za-z0-9_.:/-]{0,128}$/, {
                message: "is not allowed as a label value; use letters, digits and _ . : / -",
            }),
        )
        .default({ owner: PROJECT }),
    adoptId: z
        .string()
        .regex(NETWORK_ID_PATTERN, {
            message: "is not a Docker network ID (25 lower-case alphanumerics or 64 hex digits)",
        })
        .optional(),
    implementation: z
        .enum(["docker", "command"], { message: 'must be "docker" (the Docker provider) or "command" (host scripts)' })
        .default("docker"),
    minHeadroom: z.number().min(1, { message: "must be at least 1 (the subnet must hold today's use)" }).default(10),
    reserved: z.array(cidr).default([]),
    removeTimeoutSeconds: seconds(120),
    // How a change of subnet (or of another input Docker cannot change in place) reaches the host.
    migration: z
        .enum(["recreate", "rolling"], {
            message:
                'must be "recreate" (tear every attached stack down, recreate the network, redeploy) or "rolling" ' +
                "(move every attached service onto a temporary network and back, keeping every route up)",
        })
        .default("recreate"),
    rolling: z
        .strictObject({
            /** The temporary overlay's name; `<name>-rolling` when unset. */
            temporaryName: name.optional(),
            /** Its subnet; the program picks a free one when unset. */
            temporarySubnet: cidr.optional(),
            /** How long one service may take to move (its new tasks running on the other network). */
            moveTimeoutSeconds: seconds(300),
        })
        .default({ moveTimeoutSeconds: 300 }),
});

const httpProbe = z.strictObject({
    url: z.url({ message: "is not an http(s) URL", protocol: /^https?$/ }),
    host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, { message: "is not a host name" }),
    expectStatus: z
        .number()
        .int()
        .min(100, { message: "must be an HTTP status (100-599)" })
        .max(599, { message: "must be an HTTP status (100-599)" })
        .default(200),
    // The stack's own answer: the body must contain this text, so that a route that reaches another service (or
    // traefik's own 404 page with a 200-looking proxy in front) is not taken for the stack.
    expectText: z
        .string()
        .regex(/^[\x20-\x7e]{1,200}$/, {
            message: "is not allowed; use 1 to 200 printable ASCII characters (no newline or control character)",
        })
        .optional(),
});

/** One word of a command the program runs on the host (rebuild.command, a stack's deploy command). */
const COMMAND_WORD = /^[A-Za-z0-9_./=:,+@-]+$/;
const COMMAND_WORD_RULE = "use words of letters, digits and _ . / = : , + @ -";

/** A stack that another tool deploys (the program adopts it, moves it under rolling, never redeploys it). */
export const EXTERNAL = "external";

const stackSchema = z.strictObject({
    name,
    compose: filePath.optional(),
    // "external", or the user's own command (argv) run with the stack's name as its last argument. Its words are
    // checked in parseConfig, so that a bad one is named by its index.
    deploy: z
        .union([z.literal(EXTERNAL), z.array(z.string())], {
            message: `must be "${EXTERNAL}" (another tool deploys the stack) or a command as a list of words, such as [abra, app, deploy]`,
        })
        .optional(),
    unit: z
        .string()
        .regex(UNIT_PATTERN, { message: "is not a systemd unit name such as deploy-proxy.service" })
        .optional(),
    waitsFor: z.array(name).default([]),
    attached: z.boolean().default(true),
    health: z
        .strictObject({
            timeoutSeconds: seconds(180),
            http: httpProbe.optional(),
        })
        .default({ timeoutSeconds: 180 }),
    teardownTimeoutSeconds: seconds(180),
});

const rebuildSchema = z.strictObject({
    nixModule: filePath.optional(),
    command: z
        .array(
            z.string().regex(COMMAND_WORD, {
                message: `is not allowed in the rebuild command; ${COMMAND_WORD_RULE}`,
            }),
        )
        .min(1, { message: "must name a program" })
        .default(["nixos-rebuild", "switch"]),
});

const scriptsDir = z
    .string()
    .regex(/^\/[A-Za-z0-9_./@+-]*$/, {
        message:
            "is not allowed; use an absolute path of letters, digits and _ . / @ + - (no spaces or shell metacharacters)",
    })
    .default(DEFAULT_SCRIPTS_DIR);

const connectionSchema = z.discriminatedUnion(
    "mode",
    [
        z.strictObject({ mode: z.literal("local"), scriptsDir }),
        z.strictObject({
            mode: z.literal("ssh"),
            scriptsDir,
            host: z.string().regex(HOST_PATTERN, { message: "is not a host name or address" }),
            port: z
                .number()
                .int()
                .min(1, { message: "must be a TCP port (1-65535)" })
                .max(65535, { message: "must be a TCP port (1-65535)" })
                .default(22),
            user: name,
            hostKey: z
                .string()
                .regex(
                    /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/=]+$/,
                    {
                        message:
                            'is not a public host key line such as "ssh-ed25519 AAAA..." (pin the host key; an unpinned key is not checked)',
                    },
                ),
        }),
    ],
    { message: "must be {mode: local} or {mode: ssh, host, user, hostKey}" },
);

const maintenanceSchema = z.strictObject({
    windowOpen: z.boolean().default(false),
    allowStacks: z.array(name).optional(),
    /** Lets `network.migration: rolling` run outside the window (it tears nothing down); `recreate` never does. */
    allowRollingOutsideWindow: z.boolean().default(false),
});

const rootSchema = z.strictObject({
    network: networkSchema,
    stacks: z.array(stackSchema).min(1, { message: "must list at least one stack" }),
    rebuild: rebuildSchema.default({ command: ["nixos-rebuild", "switch"] }),
    connection: connectionSchema.default({ mode: "local", scriptsDir: DEFAULT_SCRIPTS_DIR }),
    maintenance: maintenanceSchema.default({ windowOpen: false, allowRollingOutsideWindow: false }),
    survey: z.boolean().default(true),
});

/** The stack's keys the program reads (without the `swarm-proxy:` prefix); `sshPrivateKey`, a secret, apart. */
export const CONFIG_KEYS = ["network", "stacks", "rebuild", "connection", "maintenance", "survey"] as const;

export type Config = z.infer<typeof rootSchema> & {
    /** Stacks this run redeploys in place (SWARM_PROXY_REDEPLOY): not a config key, it holds for one run only. */
    redeploy?: string[];
};
export type StackConfig = Config["stacks"][number];
export type NetworkConfig = Config["network"];
export type Connection = Config["connection"];

export class ConfigError extends Error {}

/** The object schema's keys at a path, for naming the keys that are allowed there. */
function shapeAt(p: readonly PropertyKey[]): Record<string, unknown> | undefined {
    let schema: z.ZodType = rootSchema;
    for (const part of p) {
        if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) {
            schema = schema.unwrap() as z.ZodType;
        }
        if (schema instanceof z.ZodArray) {
            schema = schema.element as z.ZodType;
            continue;
        }
        if (schema instanceof z.ZodObject) {
            schema = (schema.shape as Record<string, z.ZodType>)[String(part)];
            continue;
        }
        return undefined;
    }
    if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) {
        schema = schema.unwrap() as z.ZodType;
    }
    return schema instanceof z.ZodObject ? (schema.shape as Record<string, unknown>) : undefined;
}

function keyOf(p: readonly PropertyKey[]): string {
    return p
        .reduce<string>(
            (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : `${acc}.${String(part)}`),
            PROJECT,
        )
        .replace(`${PROJECT}.`, `${PROJECT}:`);
}

function fail(p: readonly PropertyKey[], value: unknown, rule: string): never {
    throw new ConfigError(
        value === undefined ? `${keyOf(p)} ${rule}` : `${keyOf(p)}: ${JSON.stringify(value)} ${rule}`,
    );
}

function valueAt(raw: unknown, p: readonly PropertyKey[]): unknown {
    let v: unknown = raw;
    for (const part of p) {
        if (v === null || typeof v !== "object") {
            return undefined;
        }
        v = (v as Record<PropertyKey, unknown>)[part];
    }
    return v;
}

export interface ParseOptions {
    /** Directory that relative file paths (compose files, the nix module) are resolved from. */
    baseDir: string;
    env?: Record<string, string | undefined>;
    /** Whether the secret `sshPrivateKey` is set (its value never passes through here). */
    hasSshPrivateKey?: boolean;
}

/** Validates the raw config (the project's keys, without the `swarm-proxy:` prefix). Throws ConfigError. */
export function parseConfig(raw: unknown, opts: ParseOptions): Config {
    const parsed = rootSchema.safeParse(raw);
    if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const p = issue.path;
        const value = valueAt(raw, p);
        if (issue.code === "unrecognized_keys") {
            const known = Object.keys((valueAt(shapeAt(p), []) ?? {}) as object);
            fail(
                [...p, issue.keys[0]],
                undefined,
                `is not a known key${known.length > 0 ? `; known keys here: ${known.join(", ")}` : ""} (see Pulumi.yaml)`,
            );
        }
        if (issue.code === "invalid_key") {
            const key = issue.path[issue.path.length - 1];
            throw new ConfigError(
                `${keyOf(p.slice(0, -1))}: key ${JSON.stringify(key)} ${issue.issues[0]?.message ?? "is not allowed"}`,
            );
        }
        if (issue.code === "invalid_type" && issue.message.startsWith("Invalid input")) {
            const wanted = issue.expected === "boolean" ? "true or false" : `a ${issue.expected}`;
            fail(p, value, value === undefined ? `is missing; it must be ${wanted}` : `must be ${wanted}`);
        }
        fail(p, value, issue.message);
    }
    const cfg = parsed.data;
    cfg.network.subnet = canonical(["network", "subnet"], cfg.network.subnet);
    for (const [i, r] of cfg.network.reserved.entries()) {
        canonical(["network", "reserved", i], r);
    }
    checkGateway(cfg.network.subnet, cfg.network.gateway);
    checkRolling(cfg.network, cfg.survey);
    checkStacks(cfg.stacks, cfg.maintenance.allowStacks);
    for (const [i, s] of cfg.stacks.entries()) {
        checkDeploy(s, i);
        // Over SSH a file inside the project is shipped to the host, and one outside it is the host's own.
        if (s.compose !== undefined && (cfg.connection.mode === "local" || insideProject(opts.baseDir, s.compose))) {
            mustExist(
                ["stacks", i, "compose"],
                s.compose,
                opts.baseDir,
                cfg.connection.mode === "ssh"
                    ? "; over SSH a compose file outside the project is a path on the host: give it as an absolute path"
                    : "",
            );
        }
    }
    if (cfg.rebuild.nixModule !== undefined) {
        mustExist(["rebuild", "nixModule"], cfg.rebuild.nixModule, opts.baseDir);
    }
    if (cfg.connection.mode === "ssh" && !opts.hasSshPrivateKey) {
        fail(
            ["sshPrivateKey"],
            undefined,
            "is missing: connection.mode ssh needs it; set it with `pulumi config set --secret sshPrivateKey < key`",
        );
    }
    const windowValue = opts.env?.[WINDOW_ENV];
    if (windowValue !== undefined && windowValue !== "" && windowValue !== "open" && windowValue !== "closed") {
        throw new ConfigError(`${WINDOW_ENV}: ${JSON.stringify(windowValue)} is not allowed; use "open" or "closed"`);
    }
    if (windowValue === "open") {
        cfg.maintenance.windowOpen = true;
    }
    const redeploy = parseRedeploy(
        opts.env?.[REDEPLOY_ENV],
        cfg.stacks.map((s) => s.name),
    );
    return redeploy.length > 0 ? { ...cfg, redeploy } : cfg;
}

/** SWARM_PROXY_REDEPLOY: configured stack names, comma-separated; empty or unset redeploys nothing. */
export function parseRedeploy(value: string | undefined, known: string[]): string[] {
    if (value === undefined || value.trim() === "") {
        return [];
    }
    const names = value.split(",").map((n) => n.trim());
    for (const n of names) {
        if (!known.includes(n)) {
            throw new ConfigError(
                `${REDEPLOY_ENV}: ${JSON.stringify(value)} is not allowed; ${n === "" ? "an empty name" : JSON.stringify(n)} is not a configured stack; ` +
                    `use configured stack names separated by commas (known stacks: ${known.join(", ")})`,
            );
        }
    }
    return [...new Set(names)];
}

function canonical(p: PropertyKey[], value: string): string {
    try {
        return checkCanonicalCidr(keyOf(p), value);
    } catch (e) {
        throw new ConfigError((e as Error).message);
    }
}

/** The rolling migration's keys that only make sense together. */
function checkRolling(net: z.infer<typeof networkSchema>, survey: boolean): void {
    if (net.migration === "rolling" && net.implementation !== "docker") {
        fail(
            ["network", "migration"],
            net.migration,
            'needs network.implementation "docker": the Docker provider creates the new network while the ' +
                'services are on the temporary one (with "command", use "recreate")',
        );
    }
    const temp = net.rolling.temporaryName;
    if (temp !== undefined && temp === net.name) {
        fail(["network", "rolling", "temporaryName"], temp, `must differ from network.name (${net.name})`);
    }
    if (temp !== undefined && DOCKER_RESERVED_NETWORKS.includes(temp)) {
        fail(
            ["network", "rolling", "temporaryName"],
            temp,
            `is a network name Docker reserves (${DOCKER_RESERVED_NETWORKS.join(", ")}): choose another`,
        );
    }
    if (net.rolling.temporarySubnet !== undefined) {
        net.rolling.temporarySubnet = canonical(["network", "rolling", "temporarySubnet"], net.rolling.temporarySubnet);
    } else if (net.migration === "rolling" && !survey) {
        // The program picks a free subnet from the host's networks and routes, which it reads only with the survey.
        fail(
            ["network", "rolling", "temporarySubnet"],
            undefined,
            "is missing: with survey false the program cannot check a subnet it would pick for the temporary network " +
                "against the host's networks and routes; set one that overlaps none of them (an IPv4 CIDR such as " +
                "10.255.255.0/24)",
        );
    }
}

function checkGateway(subnet: string, gateway: string | undefined): void {
    if (gateway === undefined) {
        return;
    }
    const range = toRange(subnet);
    const gw = gateway.includes("/") ? undefined : toRange(gateway);
    if (
        !range ||
        !gw ||
        !range.contains(gw) ||
        gw.getFirst().isEquals(range.getFirst()) ||
        gw.getFirst().isEquals(range.getLast())
    ) {
        fail(
            ["network", "gateway"],
            gateway,
            `is not a host address inside ${subnet} (not its network or broadcast address)`,
        );
    }
}

function checkStacks(stacks: StackConfig[], allow: string[] | undefined): void {
    const seen = new Map<string, number>();
    for (const [i, s] of stacks.entries()) {
        const first = seen.get(s.name);
        if (first !== undefined) {
            fail(["stacks", i, "name"], s.name, `is already the name of stacks[${first}]; stack names must be unique`);
        }
        seen.set(s.name, i);
    }
    for (const [i, s] of stacks.entries()) {
        for (const [j, dep] of s.waitsFor.entries()) {
            if (dep === s.name) {
                fail(["stacks", i, "waitsFor", j], dep, "is the stack itself; a stack cannot wait for itself");
            }
            if (!seen.has(dep)) {
                fail(
                    ["stacks", i, "waitsFor", j],
                    dep,
                    `is not a configured stack; known stacks: ${[...seen.keys()].join(", ")}`,
                );
            }
        }
    }
    for (const [i, a] of (allow ?? []).entries()) {
        if (!seen.has(a)) {
            fail(
                ["maintenance", "allowStacks", i],
                a,
                `is not a configured stack; known stacks: ${[...seen.keys()].join(", ")}`,
            );
        }
    }
    try {
        orderStacks(stacks);
    } catch (e) {
        throw new ConfigError(`${PROJECT}:stacks: ${(e as Error).message}`);
    }
}

/** Exactly one way to deploy the stack; a deploy command's words as rebuild.command's. */
function checkDeploy(s: StackConfig, i: number): void {
    const given = [
        ...(s.compose !== undefined ? [`compose ${JSON.stringify(s.compose)}`] : []),
        ...(s.unit !== undefined ? [`unit ${JSON.stringify(s.unit)}`] : []),
        ...(s.deploy !== undefined ? [`deploy ${JSON.stringify(s.deploy)}`] : []),
    ];
    if (given.length !== 1) {
        const has = given.length === 0 ? "has neither compose, unit nor deploy" : `has ${given.join(" and ")}`;
        throw new ConfigError(
            `${keyOf(["stacks", i])} (${JSON.stringify(s.name)}) ${has}; give exactly one: ` +
                "compose (a compose file deployed with docker stack deploy), unit (the systemd unit that deploys it) " +
                `or deploy ("${EXTERNAL}": another tool deploys it; or a command, run with the stack's name)`,
        );
    }
    if (Array.isArray(s.deploy)) {
        if (s.deploy.length === 0) {
            fail(["stacks", i, "deploy"], s.deploy, "must name a program");
        }
        for (const [j, w] of s.deploy.entries()) {
            if (!COMMAND_WORD.test(w)) {
                fail(["stacks", i, "deploy", j], w, `is not allowed in a deploy command; ${COMMAND_WORD_RULE}`);
            }
        }
    }
}

function mustExist(p: PropertyKey[], file: string, baseDir: string, hint = ""): void {
    const full = path.resolve(baseDir, file);
    if (!fs.existsSync(full) || !fs.statSync(full).isFile()) {
        fail(
            p,
            file,
            `is not a file (looked for ${path.relative(baseDir, full) || full} in the project directory)${hint}`,
        );
    }
}
