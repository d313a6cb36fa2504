// What Pulumi's state says that the drift remedies need (URNs, the network's ID, the stacks' units): the parse
// of `pulumi stack export` (pure), then running it.
import { execFileP, failureDetail } from "./child";
import { CliError, errorMessage } from "./errors";
import type { Progress } from "./progress";

/** What Pulumi's state says, read with `pulumi stack export`. */
export interface PulumiState {
    /** URN of each resource by its name (drone-stack, drone-health, proxy-network, ...). */
    urns: Record<string, string>;
    /** The network's ID as the last `pulumi up` recorded it (the stack output networkId). */
    networkId?: string;
    /** Stacks deployed by a systemd unit (stack -> unit), read from their deploy command. */
    units: Record<string, string>;
}

/** Pure: the parts of `pulumi stack export`'s document the remedies need. */
export function parseStackExport(text: string): PulumiState {
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new CliError(`pulumi stack export: not JSON: ${errorMessage(e)}`);
    }
    const resources = ((doc as { deployment?: { resources?: unknown } }).deployment?.resources ?? []) as {
        urn?: unknown;
        type?: unknown;
        inputs?: { create?: unknown };
        outputs?: { networkId?: unknown };
    }[];
    const state: PulumiState = { urns: {}, units: {} };
    for (const r of Array.isArray(resources) ? resources : []) {
        if (typeof r.urn !== "string") {
            continue;
        }
        const name = r.urn.split("::").pop() ?? "";
        state.urns[name] = r.urn;
        if (r.type === "pulumi:pulumi:Stack" && typeof r.outputs?.networkId === "string") {
            state.networkId = r.outputs.networkId;
        }
        const unit =
            typeof r.inputs?.create === "string"
                ? /stack-restart-unit\.sh' '([^']+)' '([^']+)'/.exec(r.inputs.create)
                : null;
        if (unit && name === `${unit[1]}-stack`) {
            state.units[unit[1]] = unit[2];
        }
    }
    return state;
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
