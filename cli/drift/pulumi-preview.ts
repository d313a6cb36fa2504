// Pulumi's side of the drift check: the changes and errors in the output of `pulumi preview --json` and the
// findings they make (pure), then getting that output — a saved file, or the refresh-preview run here.
import { type CommandInputs, pathOnlyChange, recordedPathNote } from "../../src/checkoutPaths";
import { execFileP, failureDetail } from "../shared/child-process";
import type { Finding } from "./findings";
import { CliError, errorMessage, readOptionFile } from "../shared/errors";
import type { Progress } from "../shared/progress";

export interface PreviewStep {
    op: string;
    urn: string;
}

export interface PreviewSummary {
    source: string;
    changes: PreviewStep[];
    errors: string[];
    /**
     * Updates whose only difference is a recorded path: absolute (an older version of the program recorded the
     * checkout's folder) to the same file relative to the project. Not drift: the one-time change, which the next
     * `pulumi up` records, and whose `stack deploy` of an unchanged file restarts nothing.
     */
    pathChanges: { urn: string; note: string }[];
}

/** A step's resource state in `pulumi preview --json` (oldState, newState): what the path check compares. */
interface StepState {
    inputs?: unknown;
}

function inputsOf(state: StepState | undefined): CommandInputs {
    const inputs = state?.inputs;
    return inputs && typeof inputs === "object" && !Array.isArray(inputs) ? (inputs as CommandInputs) : {};
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
    const pathChanges: PreviewSummary["pathChanges"] = [];
    for (const s of Array.isArray(d.steps) ? d.steps : []) {
        const step = s as { op?: unknown; urn?: unknown; oldState?: StepState; newState?: StepState };
        const op = typeof step.op === "string" ? step.op : "?";
        const urn = typeof step.urn === "string" ? step.urn : "?";
        const moved = op === "update" ? pathOnlyChange(inputsOf(step.oldState), inputsOf(step.newState)) : undefined;
        if (moved) {
            const name = urn.split("::").pop() ?? urn;
            pathChanges.push({ urn, note: recordedPathNote(name.replace(/-stack$/, ""), moved) });
        } else if (!NO_CHANGE_OPS.has(op)) {
            changes.push({ op, urn });
        }
    }
    // Some versions list only the summary when nothing would change; a non-zero change there counts too, less the
    // path changes, which the summary counts as updates.
    if (changes.length === 0 && typeof d.changeSummary === "object" && d.changeSummary !== null) {
        for (const [op, count] of Object.entries(d.changeSummary as Record<string, unknown>)) {
            const n = typeof count === "number" ? count - (op === "update" ? pathChanges.length : 0) : 0;
            if (!NO_CHANGE_OPS.has(op) && n > 0) {
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
    return { source, changes, errors, pathChanges };
}

export function previewFindings(p: PreviewSummary | undefined, skippedWhy: string): Finding[] {
    if (!p) {
        return [{ check: "pulumi", subject: "preview", status: "skipped", kind: "skipped", detail: skippedWhy }];
    }
    const out: Finding[] = [];
    for (const e of p.errors) {
        out.push({ check: "pulumi", subject: "preview", status: "error", kind: "error", detail: e });
    }
    for (const c of p.changes) {
        out.push({ check: "pulumi", subject: c.urn, status: "drift", kind: "pulumi-changes", detail: `would ${c.op}` });
    }
    for (const c of p.pathChanges) {
        out.push({
            check: "pulumi",
            subject: c.urn,
            status: "ok",
            kind: "ok",
            detail: `${c.note}; the next \`pulumi up\` records it`,
        });
    }
    if (out.length === 0) {
        out.push({ check: "pulumi", subject: "preview", status: "ok", kind: "ok", detail: `no changes (${p.source})` });
    }
    return out;
}

export interface PreviewSource {
    kind: "file" | "run" | "none";
    /** The saved output's path, or the stack name to preview. */
    value?: string;
    cwd?: string;
}

export async function readPreview(
    src: PreviewSource,
    progress: Progress,
    env: NodeJS.ProcessEnv = process.env,
): Promise<PreviewSummary | undefined> {
    if (src.kind === "none" || !src.value) {
        return undefined;
    }
    if (src.kind === "file") {
        return parsePreviewJson(readOptionFile("--preview-json", src.value), src.value);
    }
    const args = ["preview", "--refresh", "--expect-no-changes", "--json", "--non-interactive", "--stack", src.value];
    progress.step(`pulumi ${args.join(" ")}`);
    try {
        const { stdout } = await execFileP("pulumi", args, { cwd: src.cwd, env, maxBuffer: 256 * 1024 * 1024 });
        return parsePreviewJson(stdout, "pulumi preview");
    } catch (e) {
        // --expect-no-changes exits non-zero on changes (7 on CLI >= 3.226, 255 before) with the JSON on stdout.
        const out = (e as { stdout?: unknown }).stdout;
        if (typeof out === "string" && out.trim().startsWith("{")) {
            return parsePreviewJson(out, "pulumi preview");
        }
        const code = (e as { code?: unknown }).code;
        if (code === "ENOENT") {
            throw new CliError(
                "pulumi preview: the pulumi CLI is not on PATH; install it or pass --preview-json with a saved output",
            );
        }
        throw new CliError(`pulumi preview failed: ${failureDetail(e, 3)}`);
    }
}
