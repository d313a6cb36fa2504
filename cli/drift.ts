// Drift for scheduled CI: what Pulumi sees (a refresh-preview that must show no changes) plus what it
// cannot see — the stacks are Command resources without Read, so refresh never notices a stack removed
// or a service detached; `proxy` recreated out of band; the address space running low; VIP failures.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { CapacityReport, Usage, countUsage, gatherUsage } from "./capacity";
import { Engine, EngineNetwork, EngineService, serviceOnNetwork, stackOf, subnetsOf } from "./engine";
import { CliError, EXIT_DRIFT, EXIT_ERROR, EXIT_OK, errorMessage } from "./errors";
import { LogSource, VipFailure, findVipFailures } from "./logscan";
import { Progress } from "./progress";
import { StackConfig } from "./stackconfig";

const execFileP = promisify(execFile);

export type CheckStatus = "ok" | "drift" | "error" | "skipped";

export interface Finding {
    check: "pulumi" | "network" | "stack" | "attached" | "replicas" | "capacity" | "vip-failures";
    subject: string;
    status: CheckStatus;
    detail: string;
}

export interface PreviewStep {
    op: string;
    urn: string;
}

export interface PreviewSummary {
    source: string;
    changes: PreviewStep[];
    errors: string[];
}

/** Ops that leave a resource as it is; anything else in a refresh-preview is drift. */
const NO_CHANGE_OPS = new Set(["same", "read", "refresh", "discard"]);

/** Pure: the changes and errors in the output of `pulumi preview --json`. */
export function parsePreviewJson(text: string, source: string): PreviewSummary {
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new CliError(`${source}: not the JSON of pulumi preview --json: ${errorMessage(e)}`);
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
        throw new CliError(`${source}: not the JSON of pulumi preview --json (expected an object with steps)`);
    }
    const d = doc as { steps?: unknown; diagnostics?: unknown; changeSummary?: unknown };
    const changes: PreviewStep[] = [];
    for (const s of Array.isArray(d.steps) ? d.steps : []) {
        const step = s as { op?: unknown; urn?: unknown };
        const op = typeof step.op === "string" ? step.op : "?";
        if (!NO_CHANGE_OPS.has(op)) {
            changes.push({ op, urn: typeof step.urn === "string" ? step.urn : "?" });
        }
    }
    // Some versions list only the summary when nothing would change; a non-zero change there counts too.
    if (changes.length === 0 && typeof d.changeSummary === "object" && d.changeSummary !== null) {
        for (const [op, n] of Object.entries(d.changeSummary as Record<string, unknown>)) {
            if (!NO_CHANGE_OPS.has(op) && typeof n === "number" && n > 0) {
                changes.push({ op, urn: `${n} resource(s)` });
            }
        }
    }
    const errors: string[] = [];
    for (const g of Array.isArray(d.diagnostics) ? d.diagnostics : []) {
        const diag = g as { severity?: unknown; message?: unknown };
        if (diag.severity === "error" && typeof diag.message === "string") {
            errors.push(diag.message.trim());
        }
    }
    return { source, changes, errors };
}

export interface PreviewSource {
    kind: "file" | "run" | "none";
    /** The saved output's path, or the stack name to preview. */
    value?: string;
    cwd?: string;
}

export async function readPreview(src: PreviewSource, progress: Progress): Promise<PreviewSummary | undefined> {
    if (src.kind === "none" || !src.value) {
        return undefined;
    }
    if (src.kind === "file") {
        let text: string;
        try {
            text = readFileSync(src.value, "utf8");
        } catch (e) {
            throw new CliError(`--preview-json: cannot read ${JSON.stringify(src.value)}: ${errorMessage(e)}`);
        }
        return parsePreviewJson(text, src.value);
    }
    const args = ["preview", "--refresh", "--expect-no-changes", "--json", "--non-interactive", "--stack", src.value];
    progress.step(`pulumi ${args.join(" ")}`);
    try {
        const { stdout } = await execFileP("pulumi", args, { cwd: src.cwd, maxBuffer: 256 * 1024 * 1024 });
        return parsePreviewJson(stdout, "pulumi preview");
    } catch (e) {
        // --expect-no-changes exits non-zero on changes (7 on CLI >= 3.226, 255 before) with the JSON on stdout.
        const out = (e as { stdout?: unknown }).stdout;
        if (typeof out === "string" && out.trim().startsWith("{")) {
            return parsePreviewJson(out, "pulumi preview");
        }
        const code = (e as { code?: unknown }).code;
        if (code === "ENOENT") {
            throw new CliError("pulumi preview: the pulumi CLI is not on PATH; install it or pass --preview-json with a saved output");
        }
        const stderr = (e as { stderr?: unknown }).stderr;
        const first = typeof stderr === "string" && stderr.trim() !== "" ? stderr.trim().split("\n").slice(-3).join(" ") : errorMessage(e);
        throw new CliError(`pulumi preview failed: ${first}`);
    }
}

export interface MinFree {
    /** Either an absolute count of free addresses or a share of the assignable ones. */
    count?: number;
    percent?: number;
}

export function minFreeAddresses(min: MinFree, assignable: number): number {
    return min.count ?? Math.ceil(((min.percent ?? 0) / 100) * assignable);
}

export interface LiveInput {
    config: StackConfig;
    networks: EngineNetwork[];
    services: EngineService[];
    usage?: Usage;
    minFree: MinFree;
    failures?: VipFailure[];
    logSource?: LogSource;
}

/** Pure: the live checks from what was read. */
export function liveFindings(i: LiveInput): Finding[] {
    const out: Finding[] = [];
    const netName = i.config.network.name;
    const net = i.networks.find((n) => n.Name === netName);
    if (!net) {
        out.push({ check: "network", subject: netName, status: "drift", detail: "network is missing" });
    } else {
        const subnets = subnetsOf(net);
        const problems: string[] = [];
        if (net.Driver !== "overlay" || net.Scope !== "swarm") {
            problems.push(`is ${net.Driver}/${net.Scope}, expected overlay/swarm`);
        }
        if (i.config.network.subnet && !(subnets.length === 1 && subnets[0] === i.config.network.subnet)) {
            problems.push(`subnet ${subnets.join(", ") || "none"}, config says ${i.config.network.subnet}`);
        }
        if (net.Attachable !== true) {
            problems.push("not attachable");
        }
        out.push({
            check: "network",
            subject: netName,
            status: problems.length > 0 ? "drift" : "ok",
            detail: problems.length > 0 ? problems.join("; ") : `overlay ${subnets.join(", ")} (id ${net.Id.slice(0, 12)})`,
        });
    }

    for (const st of i.config.stacks) {
        const svcs = i.services.filter((s) => stackOf(s) === st.name).sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
        if (svcs.length === 0) {
            out.push({ check: "stack", subject: st.name, status: "drift", detail: "stack has no services (removed?)" });
            continue;
        }
        out.push({ check: "stack", subject: st.name, status: "ok", detail: `${svcs.length} service(s)` });
        if (net && st.attached !== false) {
            const on = svcs.filter((s) => serviceOnNetwork(s, net)).map((s) => s.Spec.Name);
            if (Array.isArray(st.attached)) {
                const missing = st.attached.filter((a) => !on.includes(a) && !on.includes(`${st.name}_${a}`));
                out.push({
                    check: "attached",
                    subject: st.name,
                    status: missing.length > 0 ? "drift" : "ok",
                    detail: missing.length > 0 ? `not on ${netName}: ${missing.join(", ")}` : `on ${netName}: ${on.join(", ")}`,
                });
            } else {
                out.push({
                    check: "attached",
                    subject: st.name,
                    status: on.length === 0 ? "drift" : "ok",
                    detail: on.length === 0 ? `no service of the stack is on ${netName}` : `on ${netName}: ${on.join(", ")}`,
                });
            }
        } else if (st.attached === false && net) {
            const on = svcs.filter((s) => serviceOnNetwork(s, net)).map((s) => s.Spec.Name);
            if (on.length > 0) {
                out.push({ check: "attached", subject: st.name, status: "drift", detail: `expected off ${netName}, but on it: ${on.join(", ")}` });
            }
        }
        for (const s of svcs) {
            const status = s.ServiceStatus;
            if (!status) {
                out.push({ check: "replicas", subject: s.Spec.Name, status: "error", detail: "dockerd gave no ServiceStatus (API < 1.41)" });
                continue;
            }
            const ok = status.RunningTasks >= status.DesiredTasks;
            out.push({
                check: "replicas",
                subject: s.Spec.Name,
                status: ok ? "ok" : "drift",
                detail: `${status.RunningTasks}/${status.DesiredTasks} running`,
            });
        }
    }

    if (i.usage) {
        const min = minFreeAddresses(i.minFree, i.usage.assignable);
        out.push({
            check: "capacity",
            subject: netName,
            status: i.usage.free >= min ? "ok" : "drift",
            detail: `${i.usage.free} of ${i.usage.assignable} addresses free (${i.usage.inUse} in use, ${i.usage.method}); threshold ${min}`,
        });
    }

    if (i.failures && i.logSource) {
        out.push({
            check: "vip-failures",
            subject: `${i.logSource.kind} ${i.logSource.what}`,
            status: i.failures.length > 0 ? "drift" : "ok",
            detail:
                i.failures.length > 0
                    ? `${i.failures.length} "could not find an available IP while allocating VIP" line(s), last ${i.failures[i.failures.length - 1].time ?? "(no time)"}`
                    : "none",
        });
    }
    return out;
}

export function previewFindings(p: PreviewSummary | undefined, skippedWhy: string): Finding[] {
    if (!p) {
        return [{ check: "pulumi", subject: "preview", status: "skipped", detail: skippedWhy }];
    }
    const out: Finding[] = [];
    for (const e of p.errors) {
        out.push({ check: "pulumi", subject: "preview", status: "error", detail: e });
    }
    for (const c of p.changes) {
        out.push({ check: "pulumi", subject: c.urn, status: "drift", detail: `would ${c.op}` });
    }
    if (out.length === 0) {
        out.push({ check: "pulumi", subject: "preview", status: "ok", detail: `no changes (${p.source})` });
    }
    return out;
}

export interface DriftReport {
    result: "clean" | "drift" | "error";
    exitCode: number;
    generatedAt: string;
    host: string;
    stackConfig: string;
    findings: Finding[];
    capacity?: CapacityReport;
}

export function summarize(findings: Finding[], meta: Omit<DriftReport, "result" | "exitCode" | "findings">): DriftReport {
    const result = findings.some((f) => f.status === "error") ? "error" : findings.some((f) => f.status === "drift") ? "drift" : "clean";
    return { result, exitCode: result === "error" ? EXIT_ERROR : result === "drift" ? EXIT_DRIFT : EXIT_OK, findings, ...meta };
}

function cell(s: string): string {
    return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

const MARK: Record<CheckStatus, string> = { ok: "ok", drift: "**DRIFT**", error: "**ERROR**", skipped: "skipped" };

export function renderDriftMarkdown(r: DriftReport): string {
    const bad = r.findings.filter((f) => f.status === "drift" || f.status === "error");
    const lines = [
        "# swarm-proxy drift report",
        "",
        `Result: **${r.result.toUpperCase()}** — ${bad.length === 0 ? "every check passed" : `${bad.length} of ${r.findings.length} checks need attention`} (exit ${r.exitCode}).`,
        "",
        `- dockerd: \`${r.host}\``,
        `- stack config: \`${r.stackConfig}\``,
        `- generated: ${r.generatedAt}`,
        "",
    ];
    if (bad.length > 0) {
        lines.push("## Needs attention", "");
        for (const f of bad) {
            lines.push(`- ${MARK[f.status]} ${f.check} \`${f.subject}\`: ${f.detail}`);
        }
        lines.push("");
    }
    lines.push("## All checks", "", "| check | subject | status | detail |", "| --- | --- | --- | --- |");
    for (const f of r.findings) {
        lines.push(`| ${f.check} | \`${cell(f.subject)}\` | ${MARK[f.status]} | ${cell(f.detail)} |`);
    }
    return lines.join("\n") + "\n";
}

export interface DriftOptions {
    config: StackConfig;
    preview: PreviewSource;
    minFree: MinFree;
    logSource?: LogSource;
    since: Date;
    localNodeId?: string;
    apiVersion: string;
    progress: Progress;
}

export async function runDrift(engine: Engine, o: DriftOptions): Promise<DriftReport> {
    const findings: Finding[] = [];
    try {
        const preview = await readPreview(o.preview, o.progress);
        findings.push(...previewFindings(preview, "no --preview-json or --pulumi-stack given"));
    } catch (e) {
        findings.push({ check: "pulumi", subject: "preview", status: "error", detail: errorMessage(e) });
    }
    o.progress.step("reading live state");
    const [networks, services] = await Promise.all([engine.networks(), engine.services()]);
    let usage: Usage | undefined;
    let capacity: CapacityReport | undefined;
    const net = networks.find((n) => n.Name === o.config.network.name);
    if (net && net.Driver === "overlay") {
        const input = await gatherUsage(engine, net.Name, o.localNodeId, { networks, services, apiVersion: o.apiVersion });
        usage = countUsage(input);
        capacity = { network: net.Name, networkId: net.Id, usage };
    }
    let failures: VipFailure[] | undefined;
    if (o.logSource) {
        try {
            failures = await findVipFailures(o.logSource, o.since);
        } catch (e) {
            findings.push({ check: "vip-failures", subject: `${o.logSource.kind} ${o.logSource.what}`, status: "error", detail: errorMessage(e) });
        }
    } else {
        findings.push({ check: "vip-failures", subject: "logs", status: "skipped", detail: "--no-logs given" });
    }
    findings.push(...liveFindings({ config: o.config, networks, services, usage, minFree: o.minFree, failures, logSource: o.logSource }));
    return summarize(findings, { generatedAt: new Date().toISOString(), host: engine.where, stackConfig: o.config.source, capacity });
}
