// `swarm-proxy drift`: the scheduled drift check — Pulumi's refresh-preview plus the live checks it cannot
// see, each finding with its meaning and fix; --fix applies the ones that take nothing down, then checks
// again. Exit 0 clean, 3 drift, 2 error — an unreachable dockerd is still a report for CI.
import { writeFileSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { type DriftOptions, runDrift, runDriftWithContext } from "./run-checks";
import { applyFixes } from "./apply-fixes";
import type { MinFree } from "./live-checks";
import type { PreviewSource } from "./pulumi-preview";
import type { FixContext } from "./remedies";
import { type DriftReport, renderDriftMarkdown } from "./report";
import { describeDockerHost, envDockerHost } from "../../src/engine";
import { CliError, EXIT_ERROR, errorMessage } from "../shared/errors";
import type { LogSource } from "../shared/vip-failure-log";
import { hostScriptsDir, packageRoot, resolveStackFile } from "../shared/package-root";
import { type StackConfig, readStackConfig } from "../shared/stack-file";
import { checkName, checkSince } from "../shared/validate";
import { type Command, type Io, command, connect, dockerHostOf, emit } from "../shared/command";
import {
    type Common,
    DEFAULT_SINCE,
    LOG_OPTIONS,
    type Options,
    STACK_CONFIG,
    type Values,
    flag,
    logSourceOf,
    str,
} from "../shared/options";

/** Least free addresses on proxy before it counts as drift. */
export const DEFAULT_MIN_FREE = "10%";

export const driftOptions: Options = {
    ...STACK_CONFIG,
    "preview-json": {
        type: "string",
        arg: "FILE",
        help: "saved output of pulumi preview --refresh --expect-no-changes --json",
    },
    "pulumi-stack": {
        type: "string",
        arg: "STACK",
        help: "run pulumi preview --refresh --expect-no-changes --json on this stack",
    },
    "pulumi-cwd": {
        type: "string",
        arg: "DIR",
        help: "folder of the Pulumi project (default: the package's own folder, wherever the CLI runs from); the printed fixes name it as --cwd only when given",
    },
    "min-free": {
        type: "string",
        arg: "N|P%",
        help: `least free addresses on proxy, a count or a share of the assignable ones (default ${DEFAULT_MIN_FREE})`,
    },
    ...LOG_OPTIONS,
    "no-logs": { type: "boolean", help: "skip the VIP-failure log check" },
    "markdown-out": { type: "string", arg: "FILE", help: "also write the Markdown report here" },
    "json-out": { type: "string", arg: "FILE", help: "also write the JSON report here" },
    fix: {
        type: "boolean",
        help: "apply the fixes that take nothing down (redeploy a stack that is gone), then check again; needs --pulumi-stack",
    },
};

export interface DriftCommandOptions {
    stackFile: string;
    config: StackConfig;
    preview: PreviewSource;
    /** --pulumi-cwd, resolved; the package's folder when not given. */
    pulumiCwd?: string;
    minFree: MinFree;
    since: Date;
    /** Undefined with --no-logs. */
    logSource?: LogSource;
    fix: boolean;
    markdownOut?: string;
    jsonOut?: string;
}

const MAX_MIN_FREE = 1 << 30;
const MIN_FREE_FORM = `a count of addresses (0 to ${MAX_MIN_FREE}) or a share of the assignable ones (0% to 100%, e.g. 10%)`;

/** --min-free: a count of addresses, or a share of the assignable ones ("10%"); one message for both forms. */
export function parseMinFree(value: string): MinFree {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(value);
    if (pct && Number(pct[1]) <= 100) {
        return { percent: Number(pct[1]) };
    }
    const count = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!pct && Number.isSafeInteger(count) && count <= MAX_MIN_FREE) {
        return { count };
    }
    throw new CliError(`--min-free: ${JSON.stringify(value)} is not ${MIN_FREE_FORM}`);
}

export function parseDrift(v: Values): DriftCommandOptions {
    const cfgPath = str(v, "stack-config");
    if (cfgPath === undefined) {
        throw new CliError(
            "--stack-config: required for drift (the Pulumi stack file naming the network and the stacks)",
        );
    }
    const stackFile = resolveStackFile(cfgPath);
    const config = readStackConfig(stackFile);
    const previewFile = str(v, "preview-json");
    const pulumiStack = str(v, "pulumi-stack");
    if (previewFile !== undefined && pulumiStack !== undefined) {
        throw new CliError("--preview-json and --pulumi-stack: give one or the other");
    }
    const cwdFlag = str(v, "pulumi-cwd");
    const preview: PreviewSource =
        previewFile !== undefined
            ? { kind: "file", value: previewFile }
            : pulumiStack !== undefined
              ? { kind: "run", value: checkName("--pulumi-stack", pulumiStack), cwd: resolve(cwdFlag ?? packageRoot()) }
              : { kind: "none" };
    const minFree = parseMinFree(str(v, "min-free") ?? DEFAULT_MIN_FREE);
    const since = checkSince("--since", str(v, "since") ?? DEFAULT_SINCE);
    const logSource = flag(v, "no-logs") ? undefined : logSourceOf(v);
    const fix = flag(v, "fix");
    if (fix && preview.kind !== "run") {
        throw new CliError("--fix: needs --pulumi-stack (the fixes it applies are `pulumi up` runs on that stack)");
    }
    return {
        stackFile,
        config,
        preview,
        pulumiCwd: cwdFlag === undefined ? undefined : resolve(cwdFlag),
        minFree,
        since,
        logSource,
        fix,
        markdownOut: str(v, "markdown-out"),
        jsonOut: str(v, "json-out"),
    };
}

/**
 * A file of the package as the report prints it: relative to the checkout, so that a fix printed by a CI build (a
 * fresh clone in a workspace deleted after it) runs from the operator's checkout; a file elsewhere as given.
 */
export function checkoutRelative(file: string, root: string = packageRoot()): string {
    const rel = relative(root, file);
    return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? file : rel;
}

/**
 * What the remedies name, for this host and stack: the Pulumi stack (given, else the stack file's
 * Pulumi.<stack>.yaml), the project folder, the dockerd the check talked to.
 */
export function fixContextOf(o: DriftCommandOptions, dockerHost: string | undefined): Omit<FixContext, "state"> {
    const source = o.logSource;
    return {
        pulumiStack:
            o.preview.kind === "run" && o.preview.value
                ? o.preview.value
                : (/Pulumi\.([^./]+)\.yaml$/.exec(o.stackFile)?.[1] ?? "<stack>"),
        pulumiCwd: o.pulumiCwd,
        projectDir: o.preview.cwd ?? o.pulumiCwd ?? packageRoot(),
        stackFile: checkoutRelative(o.stackFile),
        hostScripts: checkoutRelative(hostScriptsDir()),
        dockerHost,
        logArgs:
            source === undefined ? [] : source.kind === "file" ? ["--log-file", source.what] : ["--unit", source.what],
        since: o.since,
        attachedStacks: o.config.stacks.filter((st) => st.attached !== false).map((st) => st.name),
        networkName: o.config.network.name,
        subnet: o.config.network.subnet,
    };
}

/** The check, and with --fix the safe fixes and the check again; throws when dockerd cannot be asked. */
async function check(o: DriftCommandOptions, common: Common, dockerHost: string | undefined): Promise<DriftReport> {
    const { engine, info, version, progress } = await connect(common, "drift");
    const fix = fixContextOf(o, dockerHost);
    const d: DriftOptions = {
        config: o.config,
        preview: o.preview,
        minFree: o.minFree,
        logSource: o.logSource,
        since: o.since,
        localNodeId: info.Swarm?.NodeID,
        apiVersion: version.ApiVersion,
        progress,
        fix,
        dockerHost,
    };
    const checked = await runDriftWithContext(engine, d);
    const first = checked.report;
    if (!o.fix) {
        return first;
    }
    // Exactly the commands the report names (computed with the state's URNs), the safe ones only.
    const applied = await applyFixes(first.findings, checked.ctx ?? fix, progress);
    let report = first;
    if (applied.length > 0) {
        progress.step("checking again after the fixes");
        report = await runDrift(engine, d);
    }
    return { ...report, applied, before: { result: first.result, findings: first.findings } };
}

export async function runDriftCommand(o: DriftCommandOptions, common: Common, io: Io): Promise<number> {
    let dockerHost = envDockerHost();
    let report: DriftReport;
    try {
        dockerHost = dockerHostOf(common);
        report = await check(o, common, dockerHost);
    } catch (e) {
        // An unreachable dockerd (or a bad --host) is still a report for CI: result "error", exit 2.
        report = {
            result: "error",
            exitCode: EXIT_ERROR,
            generatedAt: new Date().toISOString(),
            host: describeDockerHost(dockerHost),
            stackConfig: o.config.source,
            findings: [{ check: "network", subject: "dockerd", status: "error", detail: errorMessage(e) }],
        };
    }
    const md = renderDriftMarkdown(report);
    if (o.markdownOut !== undefined) {
        writeFileSync(o.markdownOut, md);
    }
    if (o.jsonOut !== undefined) {
        writeFileSync(o.jsonOut, `${JSON.stringify(report, null, 2)}\n`);
    }
    emit(io, common, report, md);
    return report.exitCode;
}

const drift: Command<DriftCommandOptions> = {
    summary:
        "scheduled drift check: pulumi refresh-preview plus live checks, each finding with its meaning and fix (--fix applies the safe ones); exit 0 clean, 3 drift, 2 error",
    options: driftOptions,
    parse: parseDrift,
    run: runDriftCommand,
};

export const driftCommand = command(drift);
