// `swarm-proxy init`: the stack config (Pulumi.<stack>.yaml) written from the live swarm, for the adoption run.
// Every check of the operator's input and of what was read runs before the file is written; the file is written
// whole or not at all, and read back through config.ts (the program's own schema) before it is.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { serviceOnNetwork, stackOf } from "../../src/docker";
import { shellWord } from "../../src/ssh";
import { type Command, type Io, command, connect, emit } from "../shared/command";
import { CliError, EXIT_OK, errorMessage } from "../shared/errors";
import { type Common, DEFAULT_NETWORK, flag, type Options, str, strs, type Values } from "../shared/options";
import { parseStackConfig } from "../shared/stack-file";
import { checkCidr, checkName } from "../shared/validate";
import { gatherSurvey } from "../survey/survey-report";
import { buildInitConfig, type ComposeFile, unitsByStack } from "./init-config";

/** Where a host keeps its systemd units (NixOS links every unit there). */
export const DEFAULT_UNIT_DIRS = ["/etc/systemd/system", "/run/systemd/system"];
const DEFAULT_ENTRY_URL = "http://127.0.0.1/";

export const initOptions: Options = {
    stack: { type: "string", arg: "NAME", help: "the Pulumi stack: writes Pulumi.NAME.yaml in the current folder" },
    "compose-dir": {
        type: "string",
        arg: "DIR",
        help: "folder of compose files: DIR/<stack>.yml or DIR/<stack>/compose.yml, each checked against the live stack",
    },
    "entry-url": {
        type: "string",
        arg: "URL",
        help: `where traefik's entry point answers, for the routes' health checks (default ${DEFAULT_ENTRY_URL})`,
    },
    subnet: { type: "string", arg: "CIDR", help: "the subnet to move to afterwards, checked against this host" },
    network: { type: "string", arg: "NAME", help: `the shared overlay (default ${DEFAULT_NETWORK})` },
    "unit-dir": {
        type: "string",
        multiple: true,
        arg: "DIR",
        help: `where to look for systemd units that deploy a stack (repeatable; default ${DEFAULT_UNIT_DIRS.join(", ")})`,
    },
    force: { type: "boolean", help: "overwrite an existing Pulumi.NAME.yaml (its other top-level keys are kept)" },
};

export interface InitOptions {
    pulumiStack: string;
    file: string;
    composeDir?: string;
    entryUrl: string;
    targetSubnet?: string;
    network: string;
    unitDirs: string[];
    force: boolean;
}

function checkEntryUrl(value: string): string {
    let u: URL | undefined;
    try {
        u = new URL(value);
    } catch {
        u = undefined;
    }
    if (!u || !/^https?:$/.test(u.protocol) || u.username !== "" || u.password !== "" || /\s/.test(value)) {
        throw new CliError(
            `--entry-url: ${JSON.stringify(value)} is not an http(s) URL such as ${DEFAULT_ENTRY_URL} (no credentials)`,
        );
    }
    return value;
}

export function parseInit(v: Values, cwd: string = process.cwd()): InitOptions {
    const stack = str(v, "stack");
    if (stack === undefined) {
        throw new CliError("--stack is missing: name the Pulumi stack whose file to write (Pulumi.NAME.yaml)");
    }
    const pulumiStack = checkName("--stack", stack);
    const file = path.join(cwd, `Pulumi.${pulumiStack}.yaml`);
    const force = flag(v, "force");
    if (!force && fs.existsSync(file)) {
        throw new CliError(
            `${path.basename(file)} already exists in ${cwd}; nothing was written. Give --force to replace its config, or another --stack`,
        );
    }
    const composeDir = str(v, "compose-dir");
    if (composeDir !== undefined) {
        try {
            fs.readdirSync(composeDir);
        } catch (e) {
            throw new CliError(
                `--compose-dir: cannot read ${JSON.stringify(composeDir)}: ${errorMessage(e)}; give a readable folder of compose files`,
            );
        }
    }
    const subnet = str(v, "subnet");
    return {
        pulumiStack,
        file,
        composeDir,
        entryUrl: checkEntryUrl(str(v, "entry-url") ?? DEFAULT_ENTRY_URL),
        targetSubnet: subnet === undefined ? undefined : checkCidr("--subnet", subnet),
        network: checkName("--network", str(v, "network") ?? DEFAULT_NETWORK),
        unitDirs: strs(v, "unit-dir").length > 0 ? strs(v, "unit-dir") : DEFAULT_UNIT_DIRS,
        force,
    };
}

/** The stack's compose file in the folder, if any, named as the config will name it (relative to `cwd`). */
function composeFor(dir: string, stack: string, cwd: string): ComposeFile | undefined {
    for (const rel of [`${stack}.yml`, path.join(stack, "compose.yml")]) {
        const full = path.resolve(dir, rel);
        let text: string;
        try {
            if (!fs.statSync(full).isFile()) continue;
            text = fs.readFileSync(full, "utf8");
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
            throw new CliError(`--compose-dir: cannot read ${JSON.stringify(full)}: ${errorMessage(e)}`);
        }
        const fromCwd = path.relative(cwd, full);
        return { path: fromCwd.startsWith("..") || path.isAbsolute(fromCwd) ? full : fromCwd, text };
    }
    return undefined;
}

/** The host's units (a missing folder is none), each with the text of the scripts its ExecStart lines run. */
export function readUnits(dirs: readonly string[]): { name: string; text: string }[] {
    const units: { name: string; text: string }[] = [];
    for (const dir of dirs) {
        let names: string[];
        try {
            names = fs.readdirSync(dir).filter((n) => n.endsWith(".service"));
        } catch {
            continue;
        }
        for (const name of names) {
            const text = readSmall(path.join(dir, name));
            if (text === undefined) continue;
            const scripts = [...text.matchAll(/^ExecStart(?:Pre|Post)?=[@\-:+!]*(\/\S+)/gm)].map((m) => m[1]);
            units.push({ name, text: [text, ...scripts.map((s) => readSmall(s) ?? "")].join("\n") });
        }
    }
    return units;
}

/** A text file of at most 256 KiB, else undefined (a binary ExecStart says nothing about stacks). */
function readSmall(file: string): string | undefined {
    try {
        const st = fs.statSync(file);
        if (!st.isFile() || st.size > 262_144) return undefined;
        const text = fs.readFileSync(file, "utf8");
        return text.includes("\0") ? undefined : text;
    } catch {
        return undefined;
    }
}

/** Writes the file whole (a temporary file renamed over it), keeping an old file's other top-level keys. */
function writeStackFile(file: string, text: string, force: boolean): void {
    let kept = "";
    if (force && fs.existsSync(file)) {
        const old = parse(fs.readFileSync(file, "utf8")) as Record<string, unknown> | null;
        const rest = Object.entries(old ?? {}).filter(([k]) => k !== "config");
        for (const [k, v] of rest) kept += `${k}: ${JSON.stringify(v)}\n`;
    }
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, kept + text, { flag: "wx" });
    try {
        if (!force && fs.existsSync(file)) {
            throw new CliError(`${path.basename(file)} appeared while init ran; nothing was written`);
        }
        fs.renameSync(tmp, file);
    } finally {
        fs.rmSync(tmp, { force: true });
    }
}

export async function runInit(o: InitOptions, common: Common, io: Io, cwd: string = process.cwd()): Promise<number> {
    const { engine, info, version, dockerHost, progress } = await connect(common, "init");
    progress.step("reading the swarm");
    const { report, networks, services } = await gatherSurvey(
        engine,
        { info, version },
        { proxyName: o.network, targetSubnet: o.targetSubnet, reserved: [] },
    );
    const network = networks.find((n) => n.Name === o.network);
    if (!network) {
        throw new CliError(
            `--network: no network named ${JSON.stringify(o.network)} on ${engine.where}; networks there: ${networks.map((n) => n.Name).join(", ")}`,
        );
    }
    if (report.target && !report.target.ok) {
        throw new CliError(
            `--subnet: ${o.targetSubnet} conflicts with this host (${report.target.conflicts.map((c) => `${c.kind} ${c.name} ${c.cidr}`).join("; ")}); ` +
                "nothing was written. Choose a subnet that overlaps none of them (swarm-proxy survey --subnet CIDR checks one)",
        );
    }
    const stacks = [...new Set(services.map(stackOf).filter((s): s is string => s !== undefined))];
    const compose = new Map<string, ComposeFile>();
    if (o.composeDir !== undefined) {
        for (const s of stacks) {
            const f = composeFor(o.composeDir, s, cwd);
            if (f) compose.set(s, f);
        }
    }
    const result = buildInitConfig({
        file: o.file,
        pulumiStack: o.pulumiStack,
        network,
        services,
        entryUrl: o.entryUrl,
        targetSubnet: o.targetSubnet,
        compose,
        units: unitsByStack(readUnits(o.unitDirs)),
        source: dockerHost ?? engine.where,
    });
    // The program's own schema reads it back before it is written: a file init writes is one `pulumi up` accepts.
    parseStackConfig(`${result.text}`, path.basename(o.file), cwd);
    writeStackFile(o.file, result.text, o.force);
    const onNet = services.filter((s) => serviceOnNetwork(s, network)).length;
    const lines = [
        `wrote ${path.relative(cwd, o.file)}: ${result.stacks.length} stacks (${result.stacks.filter((s) => s.attached).length} on ${network.Name}, ${onNet} services), ${network.Name} ${result.liveSubnet}`,
        ...result.stacks.map(
            (s) =>
                `  ${s.name}: ${"compose" in s.deploy ? `compose ${s.deploy.compose}` : "unit" in s.deploy ? `unit ${s.deploy.unit}` : "deploy: external"}` +
                `${s.entryPoint ? ", entry point" : ""}${s.route ? `, route ${s.route}` : ""}${s.attached ? "" : ", not attached"}`,
        ),
        ...(result.loose.length > 0
            ? [
                  `services on ${network.Name} outside any stack (the program refuses them at preview): ${result.loose.join(", ")}`,
              ]
            : []),
        "next:",
        `  ${result.next[0].map(shellWord).join(" ")}    # adopts the host: changes nothing (pulumi stack init ${o.pulumiStack} first if the stack is new)`,
        `  ${result.next[1].map(shellWord).join(" ")}    # then the move to the new subnet (preview it first)`,
    ];
    emit(
        io,
        common,
        { file: o.file, stacks: result.stacks, loose: result.loose, next: result.next, entryPoint: result.entryPoint },
        lines.join("\n"),
    );
    return EXIT_OK;
}

const init: Command<InitOptions> = {
    summary: "write Pulumi.NAME.yaml from the live swarm: every stack, how it is deployed, its route's health check",
    options: initOptions,
    parse: (v) => parseInit(v),
    run: (o, common, io) => runInit(o, common, io),
};

export const initCommand = command(init);
