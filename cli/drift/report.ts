// The drift report, pure: its result and exit code from the findings, and the Markdown an operator reads.
import type { CapacityReport } from "../shared/overlay-capacity";
import type { AppliedFix } from "./apply-fixes";
import type { CheckStatus, Finding } from "./findings";
import { EXIT_DRIFT, EXIT_ERROR, EXIT_OK, EXIT_RUNNING } from "../shared/errors";

export interface DriftReport {
    result: "clean" | "drift" | "error" | "running";
    exitCode: number;
    generatedAt: string;
    host: string;
    stackConfig: string;
    /** Which checkout and stack the fixes are for: the Pulumi stack, and the folder only when the operator named one. */
    fixesFor?: { pulumiStack: string; cwd?: string };
    findings: Finding[];
    capacity?: CapacityReport;
    /** With --fix: what was applied before this (re-)check, and what the first check found. */
    applied?: AppliedFix[];
    before?: { result: DriftReport["result"]; findings: Finding[] };
}

export function summarize(
    findings: Finding[],
    meta: Omit<DriftReport, "result" | "exitCode" | "findings" | "applied" | "before">,
): DriftReport {
    // A run in progress first: what the other checks saw is that run's work, not drift.
    const result = findings.some((f) => f.status === "running")
        ? "running"
        : findings.some((f) => f.status === "error")
          ? "error"
          : findings.some((f) => f.status === "drift")
            ? "drift"
            : "clean";
    const codes = { running: EXIT_RUNNING, error: EXIT_ERROR, drift: EXIT_DRIFT, clean: EXIT_OK } as const;
    return {
        result,
        exitCode: codes[result],
        findings,
        ...meta,
    };
}

function cell(s: string): string {
    return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

const MARK: Record<CheckStatus, string> = {
    ok: "ok",
    drift: "**DRIFT**",
    error: "**ERROR**",
    skipped: "skipped",
    running: "**RUNNING**",
};

export function renderDriftMarkdown(r: DriftReport): string {
    const bad = r.findings.filter((f) => f.status === "drift" || f.status === "error" || f.status === "running");
    const lines = [
        "# swarm-proxy drift report",
        "",
        `Result: **${r.result.toUpperCase()}** — ${bad.length === 0 ? "every check passed" : `${bad.length} of ${r.findings.length} checks need attention`} (exit ${r.exitCode}).`,
        "",
        `- dockerd: \`${r.host}\``,
        `- stack config: \`${r.stackConfig}\``,
        `- generated: ${r.generatedAt}`,
        ...(r.fixesFor
            ? [
                  `- fixes: for Pulumi stack \`${r.fixesFor.pulumiStack}\`, ${r.fixesFor.cwd !== undefined ? `project folder \`${r.fixesFor.cwd}\`` : "run from your swarm-proxy checkout's folder"}`,
              ]
            : []),
        "",
    ];
    if (r.applied !== undefined) {
        lines.push("## Fixed by --fix (then checked again)", "");
        if (r.applied.length === 0) {
            lines.push(
                `- nothing: no finding of the first check${r.before ? ` (${r.before.result})` : ""} has a fix that takes nothing down`,
            );
        }
        for (const a of r.applied) {
            lines.push(
                `- ${a.exitCode === 0 ? "done" : `**FAILED (exit ${a.exitCode})**`}: ${a.kind} \`${a.subject}\`: \`${a.command}\``,
            );
            if (a.exitCode !== 0) {
                lines.push("", "  ```", ...a.output.split("\n").map((l) => `  ${l}`), "  ```");
            }
        }
        lines.push("");
    }
    if (bad.length > 0) {
        lines.push("## Needs attention", "");
        for (const f of bad) {
            lines.push(`- ${MARK[f.status]} ${f.check} \`${f.subject}\`: ${f.detail}`);
            if (f.kind !== undefined && f.meaning !== undefined) {
                lines.push(`  - kind \`${f.kind}\`: ${f.meaning}`);
            }
            if (f.fix !== undefined && f.fix.length > 0) {
                const how = f.disruptive
                    ? "fix (**disruptive: maintenance window only**)"
                    : `fix (takes nothing down${f.autoFix ? "; `drift --fix` applies it" : ""})`;
                lines.push(`  - ${how}:`, ...f.fix.map((c) => `    - \`${c}\``));
                if (f.window !== undefined) {
                    lines.push(`  - window: ${f.window}`);
                }
            }
        }
        lines.push("");
    }
    lines.push("## All checks", "", "| check | subject | status | detail |", "| --- | --- | --- | --- |");
    for (const f of r.findings) {
        lines.push(`| ${f.check} | \`${cell(f.subject)}\` | ${MARK[f.status]} | ${cell(f.detail)} |`);
    }
    return `${lines.join("\n")}\n`;
}
