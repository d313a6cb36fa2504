// What Pulumi's state says that the drift remedies need (URNs, the network's ID, the stacks' units): the parse
// of `pulumi stack export` (pure), then running it.
import { parseStackExport as parseRecorded, type RecordedState } from "../../src/pulumiState";
import { execFileP, failureDetail } from "../shared/child-process";
import { CliError, errorMessage } from "../shared/errors";
import type { Progress } from "../shared/progress";
import { type PendingOperation, parsePendingOperations } from "./killed-run";

/** What Pulumi's state says, read with `pulumi stack export` (src/pulumiState.ts: the program reads it alike). */
export type PulumiState = RecordedState & { pending?: PendingOperation[] };

/** Pure: the parts of `pulumi stack export`'s document the remedies need. */
export function parseStackExport(text: string): PulumiState {
    try {
        return { ...parseRecorded(text), pending: parsePendingOperations(JSON.parse(text)) };
    } catch (e) {
        throw new CliError(`pulumi stack export: not JSON: ${errorMessage(e)}`);
    }
}

export async function readPulumiState(
    stack: string,
    cwd: string,
    progress: Progress,
    env: NodeJS.ProcessEnv = process.env,
): Promise<PulumiState> {
    const args = ["stack", "export", "--stack", stack, "--non-interactive"];
    progress.step(`pulumi ${args.join(" ")}`);
    try {
        const { stdout } = await execFileP("pulumi", args, { cwd, env, maxBuffer: 256 * 1024 * 1024 });
        return parseStackExport(stdout);
    } catch (e) {
        if (e instanceof CliError) {
            throw e;
        }
        throw new CliError(`pulumi stack export failed: ${failureDetail(e)}`);
    }
}
