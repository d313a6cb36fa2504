// The operator CLI: one entry point, one subcommand per task of the runbook, `--json` on each.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { checkCanonicalCidr } from "../src/subnet";
import { CapacityReport, countUsage, gatherUsage, probeFree, renderCapacity } from "./capacity";
import { DriftReport, FixContext, MinFree, PreviewSource, applyFixes, renderDriftMarkdown, runDrift, runDriftWithContext } from "./drift";
import { Engine, checkDockerHost, describeDockerHost } from "./engine";
import { CliError, EXIT_DRIFT, EXIT_ERROR, EXIT_OK, errorMessage } from "./errors";
import { renderGuard, runGuard } from "./guard";
import { TEARDOWN_MODES, defaultHostScripts, leakChart, renderLeak, runLeakProbe } from "./leakprobe";
import { LogSource } from "./logscan";
import { stderrProgress } from "./progress";
import { hostScriptsDir, packageRoot, resolveStackFile } from "./package";
import { StackConfig, readStackConfig } from "./stackconfig";
import { gatherSurvey, renderSurvey } from "./survey";
import { checkChoice, checkInt, checkName, checkNumber, checkSince } from "./validate";

type OptionSpec = { type: "string" | "boolean"; multiple?: boolean; short?: string; help: string; arg?: string };
type Options = Record<string, OptionSpec>;
type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

interface Command {
    summary: string;
    options: Options;
    run(v: Values, io: Io): Promise<number>;
}

export interface Io {
    out(text: string): void;
    err(text: string): void;
}

const COMMON: Options = {
    json: { type: "boolean", help: "print one JSON document on stdout instead of text" },
    host: { type: "string", arg: "URL", help: "dockerd to talk to (unix:///path or tcp://host:port; default $DOCKER_HOST, else the local socket)" },
    quiet: { type: "boolean", short: "q", help: "no progress on stderr" },
    help: { type: "boolean", short: "h", help: "show this help" },
};

const STACK_CONFIG: Options = {
    "stack-config": { type: "string", arg: "FILE", help: "Pulumi stack file (Pulumi.<stack>.yaml) with swarm-proxy:network and swarm-proxy:stacks; a relative path not found from the current folder is looked up in the package" },
};

function str(v: Values, key: string): string | undefined {
    const x = v[key];
    return typeof x === "string" ? x : undefined;
}

function strs(v: Values, key: string): string[] {
    const x = v[key];
    return Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : [];
}

function flag(v: Values, key: string): boolean {
    return v[key] === true;
}

function maybeConfig(v: Values): StackConfig | undefined {
    const p = str(v, "stack-config");
    return p === undefined ? undefined : readStackConfig(resolveStackFile(p));
}

function emit(io: Io, v: Values, data: unknown, text: string): void {
    io.out(flag(v, "json") ? JSON.stringify(data, null, 2) + "\n" : text.endsWith("\n") ? text : text + "\n");
}

async function connect(v: Values, command: string) {
    const progress = stderrProgress(!flag(v, "quiet"), command);
    const host = str(v, "host");
    if (host !== undefined) {
        // docker-modem and the docker CLI children both read DOCKER_HOST.
        process.env.DOCKER_HOST = checkDockerHost("--host", host);
    }
    const engine = new Engine(describeDockerHost());
    const base = await engine.requireManager();
    return { engine, progress, ...base };
}

function logSource(v: Values): LogSource {
    const file = str(v, "log-file");
    if (file !== undefined) {
        return { kind: "file", what: file };
    }
    return { kind: "journal", what: checkName("--unit", str(v, "unit") ?? "docker") };
}

const LOG_OPTIONS: Options = {
    since: { type: "string", arg: "WHEN", help: "look at dockerd's log from this time: ISO 8601 or a duration back (24h, 90m, 7d); default 24h" },
    "log-file": { type: "string", arg: "FILE", help: "read dockerd's log from this file instead of the journal" },
    unit: { type: "string", arg: "UNIT", help: "systemd unit of dockerd for journalctl and restart (default docker)" },
};

function parseMinFree(value: string): MinFree {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(value);
    if (pct) {
        return { percent: checkNumber("--min-free", pct[1], 0, 100) };
    }
    return { count: checkInt("--min-free", value, 0, 1 << 30) };
}

const commands: Record<string, Command> = {
    survey: {
        summary: "live host survey: networks, routes, what is on proxy, daemon facts, target subnet conflicts",
        options: {
            network: { type: "string", arg: "NAME", help: "the shared overlay (default: from --stack-config, else proxy)" },
            subnet: { type: "string", arg: "CIDR", help: "target subnet to check (default: from --stack-config)" },
            reserve: { type: "string", multiple: true, arg: "CIDR", help: "a range kept for other uses (repeatable)" },
            ...STACK_CONFIG,
        },
        async run(v, io) {
            const cfg = maybeConfig(v);
            const subnetFlag = str(v, "subnet");
            const targetSubnet = subnetFlag !== undefined ? checkCanonicalCidr("--subnet", subnetFlag) : cfg?.network.subnet;
            const reserved = [...strs(v, "reserve").map((r) => checkCanonicalCidr("--reserve", r)), ...(cfg?.network.reserved ?? [])];
            const proxyName = checkName("--network", str(v, "network") ?? cfg?.network.name ?? "proxy");
            const { engine, info, version } = await connect(v, "survey");
            const { report } = await gatherSurvey(engine, { info, version }, { proxyName, targetSubnet, reserved });
            emit(io, v, report, renderSurvey(report));
            return report.target && !report.target.ok ? EXIT_DRIFT : EXIT_OK;
        },
    },
    capacity: {
        summary: "addresses assignable, in use, free and headroom on proxy (or any overlay); --probe measures real free space",
        options: {
            network: { type: "string", arg: "NAME", help: "overlay to account (default: from --stack-config, else proxy)" },
            probe: { type: "boolean", help: "also measure free space by allocation (creates and removes zero-replica services)" },
            "probe-max": { type: "string", arg: "N", help: "most services the probe may create (default 2048)" },
            image: { type: "string", arg: "IMAGE", help: "image named by probe services; never pulled or run (default busybox:latest)" },
            ...STACK_CONFIG,
        },
        async run(v, io) {
            const cfg = maybeConfig(v);
            const name = checkName("--network", str(v, "network") ?? cfg?.network.name ?? "proxy");
            const probeMax = checkInt("--probe-max", str(v, "probe-max") ?? "2048", 1, 70000);
            const image = str(v, "image") ?? "busybox:latest";
            const { engine, info, version, progress } = await connect(v, "capacity");
            const input = await gatherUsage(engine, name, info.Swarm?.NodeID, { apiVersion: version.ApiVersion });
            const usage = countUsage(input);
            const report: CapacityReport = { network: input.network.Name, networkId: input.network.Id, usage };
            if (flag(v, "probe")) {
                if (usage.free > probeMax) {
                    throw new CliError(
                        `--probe: ${name} has about ${usage.free} free addresses, more than --probe-max ${probeMax}; raise --probe-max to probe it (it creates that many services)`,
                    );
                }
                progress.step(`probing ${name}: creating zero-replica services until allocation fails`);
                const p = await probeFree(engine, input.network, { image, max: probeMax, batch: 32, progress });
                report.probe = { ...p, unaccounted: usage.free - p.free };
            }
            emit(io, v, { ...report, apiCalls: engine.calls }, renderCapacity(report));
            return EXIT_OK;
        },
    },
    "leak-probe": {
        summary: "deploy and remove throwaway stacks in cycles; addresses leaked per cycle, projected exhaustion, SVG chart",
        options: {
            mode: { type: "string", arg: "MODES", help: "concurrent (docker stack rm, all at once), teardown (our leak-free teardown) or both, comma-separated (default concurrent)" },
            stacks: { type: "string", arg: "N", help: "stacks per cycle (default 8)" },
            cycles: { type: "string", arg: "N", help: "cycles (default 5)" },
            image: { type: "string", arg: "IMAGE", help: "image of the throwaway stacks; must be present on the nodes (default swarm-sandbox/standin:1)" },
            network: { type: "string", arg: "NAME", help: "measure this existing overlay instead of a throwaway one (its free space is probed every cycle)" },
            "probe-subnet": { type: "string", arg: "CIDR", help: "subnet of the throwaway overlay (default 10.199.0.0/24)" },
            "probe-max": { type: "string", arg: "N", help: "most services one measurement may create (default 2048)" },
            "port-base": { type: "string", arg: "PORT", help: "first published port of the throwaway stacks (default 30080)" },
            timeout: { type: "string", arg: "SECONDS", help: "bound on each wait (default 180)" },
            proxy: { type: "string", arg: "NAME", help: "network whose exhaustion is projected (default: from --stack-config, else proxy)" },
            "target-subnet": { type: "string", arg: "CIDR", help: "subnet projected for after the change (default: from --stack-config, else 10.10.0.0/16)" },
            "removals-per-day": { type: "string", arg: "N", help: "stack removals a day on the host, for the projection (default 1)" },
            chart: { type: "string", arg: "FILE", help: "where to write the SVG chart (default leak-probe.svg)" },
            "host-scripts": { type: "string", arg: "DIR", help: "folder with stack-teardown.sh (default: the package's host/; on a failure the cleanup falls back to that one)" },
            ...STACK_CONFIG,
        },
        async run(v, io) {
            const cfg = maybeConfig(v);
            const modeArg = str(v, "mode") ?? "concurrent";
            const modes = (modeArg === "both" ? [...TEARDOWN_MODES] : modeArg.split(",")).map((m) => checkChoice("--mode", m, TEARDOWN_MODES));
            const network = str(v, "network");
            const o = {
                modes,
                stacks: checkInt("--stacks", str(v, "stacks") ?? "8", 1, 50),
                cycles: checkInt("--cycles", str(v, "cycles") ?? "5", 1, 1000),
                image: str(v, "image") ?? "swarm-sandbox/standin:1",
                network: network === undefined ? undefined : checkName("--network", network),
                probeSubnet: checkCanonicalCidr("--probe-subnet", str(v, "probe-subnet") ?? "10.199.0.0/24"),
                probeMax: checkInt("--probe-max", str(v, "probe-max") ?? "2048", 1, 70000),
                portBase: checkInt("--port-base", str(v, "port-base") ?? "30080", 1024, 65000),
                timeoutSec: checkInt("--timeout", str(v, "timeout") ?? "180", 5, 3600),
                proxyName: checkName("--proxy", str(v, "proxy") ?? cfg?.network.name ?? "proxy"),
                targetSubnet: checkCanonicalCidr("--target-subnet", str(v, "target-subnet") ?? cfg?.network.subnet ?? "10.10.0.0/16"),
                removalsPerDay: checkNumber("--removals-per-day", str(v, "removals-per-day") ?? "1", 0, 100000),
                hostScripts: resolve(str(v, "host-scripts") ?? defaultHostScripts()),
            };
            if (/[^A-Za-z0-9_./:@-]/.test(o.image)) {
                throw new CliError(`--image: ${JSON.stringify(o.image)} is not an image reference (letters, digits, _ . / : @ -)`);
            }
            const chart = resolve(str(v, "chart") ?? "leak-probe.svg");
            const { engine, info, version, progress } = await connect(v, "leak-probe");
            const report = await runLeakProbe(engine, { ...o, localNodeId: info.Swarm?.NodeID, apiVersion: version.ApiVersion, progress });
            writeFileSync(chart, leakChart(report));
            report.chart = chart;
            emit(io, v, report, renderLeak(report));
            return EXIT_OK;
        },
    },
    guard: {
        summary: "Step-0 safety net: VIP failures since a time, prune unused networks but never proxy, restart docker only if asked",
        options: {
            ...LOG_OPTIONS,
            protect: { type: "string", multiple: true, arg: "NAME", help: "network never to remove (repeatable; proxy, or --stack-config's network, is always protected)" },
            apply: { type: "boolean", help: "act; without it nothing is changed (dry run)" },
            "restart-docker": { type: "boolean", help: "with --apply, restart dockerd (systemctl restart UNIT) when failures were found" },
            ...STACK_CONFIG,
        },
        async run(v, io) {
            const cfg = maybeConfig(v);
            const since = checkSince("--since", str(v, "since") ?? "24h");
            const protectedNames = [...new Set(["proxy", cfg?.network.name ?? "proxy", ...strs(v, "protect").map((p) => checkName("--protect", p))])];
            const source = logSource(v);
            const unit = checkName("--unit", str(v, "unit") ?? "docker");
            const { engine, progress } = await connect(v, "guard");
            const report = await runGuard(engine, {
                since,
                logSource: source,
                protectedNames,
                apply: flag(v, "apply"),
                restartDocker: flag(v, "restart-docker"),
                unit,
                progress,
            });
            emit(io, v, report, renderGuard(report));
            return EXIT_OK;
        },
    },
    drift: {
        summary: "scheduled drift check: pulumi refresh-preview plus live checks, each finding with its meaning and fix (--fix applies the safe ones); exit 0 clean, 3 drift, 2 error",
        options: {
            ...STACK_CONFIG,
            "preview-json": { type: "string", arg: "FILE", help: "saved output of pulumi preview --refresh --expect-no-changes --json" },
            "pulumi-stack": { type: "string", arg: "STACK", help: "run pulumi preview --refresh --expect-no-changes --json on this stack" },
            "pulumi-cwd": { type: "string", arg: "DIR", help: "folder of the Pulumi project (default: the package's own folder, wherever the CLI runs from)" },
            "min-free": { type: "string", arg: "N|P%", help: "least free addresses on proxy, a count or a share of the assignable ones (default 10%)" },
            ...LOG_OPTIONS,
            "no-logs": { type: "boolean", help: "skip the VIP-failure log check" },
            "markdown-out": { type: "string", arg: "FILE", help: "also write the Markdown report here" },
            "json-out": { type: "string", arg: "FILE", help: "also write the JSON report here" },
            fix: { type: "boolean", help: "apply the fixes that take nothing down (redeploy a stack that is gone), then check again; needs --pulumi-stack" },
        },
        async run(v, io) {
            const cfgPath = str(v, "stack-config");
            if (cfgPath === undefined) {
                throw new CliError("--stack-config: required for drift (the Pulumi stack file naming the network and the stacks)");
            }
            const stackFile = resolveStackFile(cfgPath);
            const config = readStackConfig(stackFile);
            const previewFile = str(v, "preview-json");
            const pulumiStack = str(v, "pulumi-stack");
            if (previewFile !== undefined && pulumiStack !== undefined) {
                throw new CliError("--preview-json and --pulumi-stack: give one or the other");
            }
            const preview: PreviewSource =
                previewFile !== undefined
                    ? { kind: "file", value: previewFile }
                    : pulumiStack !== undefined
                      ? { kind: "run", value: checkName("--pulumi-stack", pulumiStack), cwd: resolve(str(v, "pulumi-cwd") ?? packageRoot()) }
                      : { kind: "none" };
            const minFree = parseMinFree(str(v, "min-free") ?? "10%");
            const since = checkSince("--since", str(v, "since") ?? "24h");
            const source = flag(v, "no-logs") ? undefined : logSource(v);
            const fixRequested = flag(v, "fix");
            if (fixRequested && preview.kind !== "run") {
                throw new CliError("--fix: needs --pulumi-stack (the fixes it applies are `pulumi up` runs on that stack)");
            }
            let report: DriftReport;
            try {
                const { engine, info, version, progress } = await connect(v, "drift");
                const host = str(v, "host") ?? process.env.DOCKER_HOST;
                // The remedies name commands for this host and stack: the Pulumi stack (given, else the stack
                // file's Pulumi.<stack>.yaml), the project folder, the dockerd the check talked to.
                const fix: Omit<FixContext, "state"> = {
                    pulumiStack: preview.kind === "run" && preview.value ? preview.value : /Pulumi\.([^./]+)\.yaml$/.exec(stackFile)?.[1] ?? "<stack>",
                    pulumiCwd: preview.cwd ?? resolve(str(v, "pulumi-cwd") ?? packageRoot()),
                    stackFile,
                    hostScripts: hostScriptsDir(),
                    dockerHost: host !== undefined && host !== "" ? host : undefined,
                    logArgs: source === undefined ? [] : source.kind === "file" ? ["--log-file", source.what] : ["--unit", source.what],
                    since,
                    attachedStacks: config.stacks.filter((st) => st.attached !== false).map((st) => st.name),
                    networkName: config.network.name,
                    subnet: config.network.subnet,
                };
                const o = { config, preview, minFree, logSource: source, since, localNodeId: info.Swarm?.NodeID, apiVersion: version.ApiVersion, progress, fix };
                const checked = await runDriftWithContext(engine, o);
                report = checked.report;
                if (fixRequested) {
                    const first = report;
                    // Exactly the commands the report names (computed with the state's URNs), the safe ones only.
                    const applied = await applyFixes(first.findings, checked.ctx ?? fix, progress);
                    if (applied.length > 0) {
                        progress.step("checking again after the fixes");
                        report = await runDrift(engine, o);
                    }
                    report = { ...report, applied, before: { result: first.result, findings: first.findings } };
                }
            } catch (e) {
                // An unreachable dockerd is still a report for CI: result "error", exit 2.
                report = {
                    result: "error",
                    exitCode: EXIT_ERROR,
                    generatedAt: new Date().toISOString(),
                    host: describeDockerHost(),
                    stackConfig: config.source,
                    findings: [{ check: "network", subject: "dockerd", status: "error", detail: errorMessage(e) }],
                };
            }
            const md = renderDriftMarkdown(report);
            const mdOut = str(v, "markdown-out");
            const jsonOut = str(v, "json-out");
            if (mdOut !== undefined) {
                writeFileSync(mdOut, md);
            }
            if (jsonOut !== undefined) {
                writeFileSync(jsonOut, JSON.stringify(report, null, 2) + "\n");
            }
            emit(io, v, report, md);
            return report.exitCode;
        },
    },
};

export const SUBCOMMANDS = Object.keys(commands);

function optionHelp(opts: Options): string[] {
    return Object.entries(opts).map(([k, o]) => {
        const left = `  ${o.short ? `-${o.short}, ` : ""}--${k}${o.arg ? ` ${o.arg}` : ""}`;
        return `${left.padEnd(30)} ${o.help}`;
    });
}

export function usage(): string {
    const w = Math.max(...SUBCOMMANDS.map((c) => c.length));
    return [
        "usage: swarm-proxy <command> [options]",
        "",
        "Operator tools for the swarm's shared overlay network (proxy).",
        "",
        "commands:",
        ...SUBCOMMANDS.map((c) => `  ${c.padEnd(w)}  ${commands[c].summary}`),
        "",
        "common options:",
        ...optionHelp(COMMON),
        "",
        "exit codes: 0 done/clean, 2 error (dockerd unreachable, not a swarm manager, bad input), 3 drift found (drift) or target subnet conflicts (survey)",
        "Run `swarm-proxy <command> --help` for a command's options.",
    ].join("\n");
}

function commandHelp(name: string): string {
    const c = commands[name];
    return [`usage: swarm-proxy ${name} [options]`, "", c.summary, "", "options:", ...optionHelp(c.options), ...optionHelp(COMMON)].join("\n");
}

const defaultIo: Io = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
};

/** Runs the CLI; resolves to the exit code. Never throws. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
        io.out(usage() + "\n");
        return name === undefined ? EXIT_ERROR : EXIT_OK;
    }
    const cmd = commands[name];
    if (!cmd) {
        io.err(`swarm-proxy: unknown command ${JSON.stringify(name)}; commands: ${SUBCOMMANDS.join(", ")}\n`);
        return EXIT_ERROR;
    }
    try {
        const all: Options = { ...cmd.options, ...COMMON };
        const spec = Object.fromEntries(
            Object.entries(all).map(([k, o]) => [
                k,
                { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
            ]),
        );
        let values: Values;
        try {
            values = parseArgs({ args: rest, options: spec, strict: true, allowPositionals: false }).values as Values;
        } catch (e) {
            throw new CliError(`${errorMessage(e)} (see swarm-proxy ${name} --help)`);
        }
        if (flag(values, "help")) {
            io.out(commandHelp(name) + "\n");
            return EXIT_OK;
        }
        return await cmd.run(values, io);
    } catch (e) {
        const msg = e instanceof CliError ? e.message : `unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
        io.err(`swarm-proxy ${name}: ${msg}\n`);
        return e instanceof CliError ? e.exitCode : EXIT_ERROR;
    }
}

if (require.main === module) {
    void main(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}
