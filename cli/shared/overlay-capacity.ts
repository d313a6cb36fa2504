// Address accounting for one overlay. Engines >= 29 report what the allocator holds (IPsInUse); older
// ones are counted from the swarm store: 1 VIP per vip-mode service + 1 per live task endpoint + 1
// load-balancer endpoint per node running a task on the network. The count reads a fixed number of
// Engine API calls whatever the number of services; the probe measures what the allocator really has
// left, so leaked addresses show as counted-free minus probed-free.
import { randomBytes } from "node:crypto";
import { type EngineNetwork, type EngineService, type Usage, type UsageInput, vipOn } from "../../src/docker";
import { type Engine, type Prefetched, readUsage } from "../../src/engine";

import { commandLine } from "./command-line";
import { CliError, errorMessage } from "./errors";
import type { Progress } from "./progress";

/**
 * The named overlay and what countUsage needs for it (src/engine.ts readUsage: the program's read at
 * preview too); a missing or non-overlay network is one message naming --network.
 */
export async function gatherUsage(
    engine: Engine,
    networkName: string,
    localNodeId: string | undefined,
    pre: Prefetched & { networks?: EngineNetwork[] } = {},
): Promise<UsageInput> {
    const networks = pre.networks ?? (await engine.networks());
    const network = networks.find((n) => n.Name === networkName) ?? networks.find((n) => n.Id === networkName);
    if (!network) {
        throw new CliError(`--network: no network named ${JSON.stringify(networkName)} on this swarm`);
    }
    if (network.Driver !== "overlay" || network.Scope !== "swarm") {
        throw new CliError(
            `--network: ${networkName} is a ${network.Driver}/${network.Scope} network; capacity is for swarm overlays`,
        );
    }
    return readUsage(engine, network, localNodeId, pre);
}

export interface ProbeOptions {
    image: string;
    /** Upper bound on services created, so a large subnet cannot run away. */
    max: number;
    batch: number;
    progress: Progress;
    /** How long allocation may stay pending before the subnet counts as full. */
    settleMs?: number;
}

export interface ProbeResult {
    /** Services that got an address on the network before allocation failed. */
    free: number;
    /** True when `max` services were allocated without a failure: free is at least `free`. */
    bounded: boolean;
    created: number;
    seconds: number;
}

const PROBE_LABEL = "swarm-proxy.probe";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Creates zero-replica vip services on the network until one gets no address, then removes them all
 * (also on error, Ctrl-C or dockerd restarting under it). Zero replicas start no container; each still
 * takes a VIP. When the removal cannot finish, the error names every service left and the command that
 * removes them.
 */
export async function probeFree(engine: Engine, network: EngineNetwork, opts: ProbeOptions): Promise<ProbeResult> {
    const run = randomBytes(4).toString("hex");
    const started = Date.now();
    const settleMs = opts.settleMs ?? 2000;
    const filter = { label: [`${PROBE_LABEL}=${run}`] };
    /** Names asked of dockerd, for the leftover report when dockerd cannot say what is there. */
    const names: string[] = [];
    let created = 0;
    let allocated = 0;
    let exhausted = false;
    // Ctrl-C stops creating and falls through to the cleanup instead of leaving probe services behind.
    let interrupted = false;
    const onSignal = () => {
        if (!interrupted) {
            opts.progress.step(`probe: interrupted: removing the probe services (spx-probe-${run}-*)`);
        }
        interrupted = true;
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let failure: unknown;
    try {
        while (!exhausted && created < opts.max && !interrupted) {
            const n = Math.min(opts.batch, opts.max - created);
            for (let i = 0; i < n && !interrupted; i++) {
                const name = `spx-probe-${run}-${created}`;
                names.push(name);
                await engine.createService({
                    Name: name,
                    Labels: { [PROBE_LABEL]: run },
                    TaskTemplate: { ContainerSpec: { Image: opts.image }, Networks: [{ Target: network.Id }] },
                    Mode: { Replicated: { Replicas: 0 } },
                    EndpointSpec: { Mode: "vip" },
                });
                created++;
            }
            // Allocation is asynchronous: wait until every service has its VIP, or none is added for settleMs.
            let last = -1;
            let lastChange = Date.now();
            while (!interrupted) {
                const svcs = await engine.services(filter);
                allocated = svcs.filter((s) => vipOn(s, network.Id)).length;
                if (allocated >= created) {
                    break;
                }
                if (allocated !== last) {
                    last = allocated;
                    lastChange = Date.now();
                } else if (Date.now() - lastChange > settleMs) {
                    exhausted = true;
                    break;
                }
                await sleep(100);
            }
            opts.progress.step(`probe: ${allocated} addresses taken on ${network.Name}${exhausted ? " (full)" : ""}`);
        }
    } catch (e) {
        failure = e;
    }
    let left: string | undefined;
    try {
        left = await removeProbeServices(engine, filter, names, opts.progress);
    } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
    }
    const cause = interrupted ? "probe interrupted" : failure === undefined ? undefined : errorMessage(failure);
    if (left !== undefined) {
        throw new CliError(cause === undefined ? left : `${cause}\n${left}`);
    }
    if (cause !== undefined) {
        throw new CliError(`${cause}; every probe service it had created was removed`);
    }
    return { free: allocated, bounded: !exhausted, created, seconds: (Date.now() - started) / 1000 };
}

/** Bound on the probe's cleanup, dockerd restarts included: long enough for a restart, short enough to report. */
const PROBE_CLEANUP_MS = 120_000;

/**
 * Removes the probe's services, waiting for dockerd to answer again after a restart. Never throws: resolves
 * to undefined once none is left, else to what is left and the command that removes it.
 */
async function removeProbeServices(
    engine: Engine,
    filter: Record<string, string[]>,
    created: string[],
    progress: Progress,
): Promise<string | undefined> {
    const deadline = Date.now() + PROBE_CLEANUP_MS;
    const report = (head: string, names: string[]) =>
        `${head}: ${names.map((n) => `service ${n}`).join(", ")}\nremove it with: ${commandLine([["docker", "service", "rm", ...names]], engine.host)}`;
    let lastError = "";
    for (;;) {
        let left: EngineService[];
        try {
            left = await engine.services(filter);
        } catch (e) {
            if (Date.now() > deadline) {
                return created.length === 0
                    ? undefined
                    : report(
                          `could not check what is left (${errorMessage(e)}); this probe created, and may have left`,
                          created,
                      );
            }
            if (errorMessage(e) !== lastError) {
                // dockerd restarting under the probe: wait for it rather than leave the services behind.
                progress.step(`probe: waiting for dockerd to remove the probe services (${errorMessage(e)})`);
            }
            lastError = errorMessage(e);
            await sleep(1000);
            continue;
        }
        if (left.length === 0) {
            return undefined;
        }
        if (Date.now() > deadline) {
            return report(`left on the swarm after ${PROBE_CLEANUP_MS / 1000} s`, left.map((s) => s.Spec.Name).sort());
        }
        progress.step(`probe: removing ${left.length} probe services`);
        const queue = [...left];
        await Promise.all(
            Array.from({ length: 8 }, async () => {
                for (let s = queue.pop(); s; s = queue.pop()) {
                    try {
                        await engine.removeService(s.ID);
                    } catch {
                        // Retried by the outer loop; a service already gone is fine.
                    }
                }
            }),
        );
        await sleep(200);
    }
}

export interface CapacityReport {
    network: string;
    networkId: string;
    usage: Usage;
    probe?: ProbeResult & {
        /** counted free minus probed free: addresses the allocator holds that nothing accounts for. */
        unaccounted: number;
    };
}

function describeCount(u: Usage): string {
    return (
        `${u.vips} VIPs + ${u.taskEndpoints} task endpoints + ${u.containerEndpoints} container endpoints + ` +
        `${u.lbEndpoints} load balancers (one per node using it)`
    );
}

export function renderCapacity(r: CapacityReport): string {
    const u = r.usage;
    const lines = [
        `network ${r.network} (${r.networkId.slice(0, 12)}) ${u.subnets.join(", ")}`,
        `  assignable   ${u.assignable}   (${u.reserved} reserved: network, broadcast, gateway)`,
        `  in use       ${u.inUse}   (${u.method === "ipsInUse" ? "reported by the Engine" : describeCount(u)})`,
        `  free         ${u.free}`,
        `  headroom     ${u.headroom === null ? "unbounded (nothing in use)" : `${u.headroom.toFixed(1)}x the current use`}`,
    ];
    if (u.method === "ipsInUse") {
        lines.push(`  counted      ${describeCount(u)}`);
    }
    if (r.probe) {
        const p = r.probe;
        lines.push(
            `  probe        ${p.bounded ? `at least ${p.free}` : p.free} free by allocation (${p.created} services, ${p.seconds.toFixed(1)} s)`,
            `  unaccounted  ${p.bounded ? "unknown (probe bounded)" : `${p.unaccounted} (leaked or held by something the count does not see)`}`,
        );
    }
    return lines.join("\n");
}
