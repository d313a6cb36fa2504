// `drift --fix` applying the fixes that take nothing down: each command once, argv without a shell, its exit code
// and the tail of its output kept for the report.
import { childEnv, execFileP } from "../shared/child-process";
import { type FixContext, autoFixes, renderCommand } from "./remedies";
import type { Finding, FindingKind } from "./findings";
import { errorMessage } from "../shared/errors";
import type { Progress } from "../shared/progress";

export interface AppliedFix {
    kind: FindingKind;
    subject: string;
    command: string;
    exitCode: number;
    output: string;
}

/** Runs the safe fixes one after another (argv, no shell); a failure is reported and the next one still runs. */
export async function applyFixes(findings: Finding[], ctx: FixContext, progress: Progress): Promise<AppliedFix[]> {
    const done: AppliedFix[] = [];
    for (const { finding, command } of autoFixes(findings, ctx)) {
        const line = renderCommand(command);
        progress.step(`fixing ${finding.kind} ${finding.subject}: ${line}`);
        let exitCode = 0;
        let output = "";
        try {
            // From the project's folder: the commands name it only when the operator gave one (--pulumi-cwd).
            const r = await execFileP(command[0], command.slice(1), {
                cwd: ctx.projectDir,
                env: childEnv(ctx.dockerHost),
                maxBuffer: 256 * 1024 * 1024,
            });
            output = r.stdout;
        } catch (e) {
            const err = e as { code?: unknown; stdout?: unknown; stderr?: unknown };
            exitCode = typeof err.code === "number" ? err.code : 1;
            output = `${typeof err.stdout === "string" ? err.stdout : ""}${typeof err.stderr === "string" ? err.stderr : errorMessage(e)}`;
        }
        done.push({
            kind: finding.kind ?? "ok",
            subject: finding.subject,
            command: line,
            exitCode,
            output: output.trim().split("\n").slice(-15).join("\n"),
        });
    }
    return done;
}
