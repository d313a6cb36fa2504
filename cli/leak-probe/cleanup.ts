// The leak probe's cleanup: whatever ended the run — done, an error, Ctrl-C, dockerd restarted or gone —
// everything it created is removed, or the operator is told exactly what is left and how to remove it.
import { join } from "node:path";
import { runChild } from "../shared/child-process";
import type { Engine } from "../../src/engine";
import { errorMessage } from "../shared/errors";
import { type Leftover, collectLeftovers, createdLeftover } from "./leftovers";
import type { TeardownMode } from "./leak-report";
import { hostScriptsDir } from "../shared/package-root";
import type { Progress } from "../shared/progress";
import { checkName } from "../shared/validate";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a run created, by name: the cleanup finds its stacks and networks by the prefix alone. */
export interface RunTrace {
    readonly prefix: string;
    /** Names the run asked dockerd to create, for the report when dockerd cannot be asked. */
    readonly deployed: readonly string[];
    readonly createdNetworks: readonly string[];
}

export interface CleanupOptions {
    timeoutSec: number;
    /** Folder of the stack-teardown.sh the run was given. */
    hostScripts: string;
    progress: Progress;
    /** The teardown script's environment (DOCKER_HOST of the dockerd the run used). */
    env: NodeJS.ProcessEnv;
}

/** What of the run's (by name) is on the swarm now: stacks with their services and networks, and throwaway overlays. */
async function leftovers(engine: Engine, prefix: string): Promise<Leftover> {
    const [svcs, nets] = await Promise.all([engine.services(), engine.networks()]);
    return collectLeftovers(prefix, svcs, nets);
}

/**
 * Removes everything the run created, also after an error, an interrupt or a dockerd restart: waits for
 * dockerd to answer again, tears the stacks down with the leak-free teardown (the given script, again, then
 * the package's own), then removes the throwaway overlays. Never throws: resolves to what is still there,
 * or undefined when the swarm is clean.
 */
export async function cleanupRun(
    engine: Engine,
    run: RunTrace,
    o: CleanupOptions,
    mode: TeardownMode,
): Promise<Leftover | undefined> {
    const deadline = Date.now() + 3 * o.timeoutSec * 1000;
    const given = join(o.hostScripts, "stack-teardown.sh");
    const scripts = [given, given, join(hostScriptsDir(), "stack-teardown.sh")];
    let rounds = 0;
    // The wait is said once per reason, also when the reason is the failure's own (measured on dockerd 29: the
    // failing call and the cleanup's first read both say "cannot reach dockerd", and the wait went unsaid).
    let lastError = "";
    for (;;) {
        let left: Leftover;
        try {
            left = await leftovers(engine, run.prefix);
        } catch (e) {
            if (Date.now() > deadline) {
                return { ...createdLeftover(run.deployed, run.createdNetworks), unverified: errorMessage(e) };
            }
            if (errorMessage(e) !== lastError) {
                o.progress.step(`${mode}: cleanup: waiting for dockerd (${errorMessage(e)})`);
            }
            lastError = errorMessage(e);
            await sleep(1000);
            continue;
        }
        if (left.stacks.length === 0 && left.networks.length === 0) {
            return undefined;
        }
        if (Date.now() > deadline || rounds >= scripts.length + 2) {
            return left;
        }
        rounds++;
        if (left.stacks.length > 0) {
            const script = scripts[Math.min(rounds - 1, scripts.length - 1)];
            o.progress.step(`${mode}: cleaning up ${left.stacks.map((st) => st.name).join(", ")} (${script})`);
            const results = await Promise.allSettled(
                left.stacks.map((st) =>
                    runChild(
                        "bash",
                        [script, checkName("stack", st.name), String(o.timeoutSec)],
                        `stack-teardown.sh ${st.name}`,
                        o.env,
                    ),
                ),
            );
            for (const r of results) {
                if (r.status === "rejected") {
                    o.progress.step(`${mode}: cleanup: ${errorMessage(r.reason)}`);
                }
            }
            continue;
        }
        // The stacks are gone; an overlay can still be refused for a moment while its last endpoints go.
        for (const n of left.networks) {
            try {
                const r = await engine.removeNetwork(n);
                if (!r.removed && r.refused !== "already gone") {
                    o.progress.step(`${mode}: cleanup: network ${n}: ${r.refused ?? ""}`);
                }
            } catch (e) {
                o.progress.step(`${mode}: cleanup: network ${n}: ${errorMessage(e)}`);
            }
        }
        rounds--;
        await sleep(1000);
    }
}
