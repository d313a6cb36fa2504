// The drift check's live checks, pure: from the networks, services, address usage and VIP failures read from
// dockerd, what Pulumi cannot see — the network, the stacks and what is attached, replicas, capacity, VIP failures.
import type { Usage } from "../../src/docker";
import { type EngineNetwork, type EngineService, serviceOnNetwork, stackOf, subnetsOf } from "../../src/docker";
import { sameId } from "../../src/pulumiState";
import type { Finding } from "./findings";
import type { LogSource, VipFailure } from "../shared/vip-failure-log";
import type { StackConfig } from "../shared/stack-file";

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
    /** The network's ID in Pulumi's state (src/pulumiState.ts recordedNetworkId), when the state was read. */
    stateNetworkId?: string;
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
        out.push({
            check: "network",
            subject: netName,
            status: "drift",
            kind: "network-missing",
            detail: "network is missing",
        });
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
        const recreated =
            problems.length === 0 &&
            i.stateNetworkId !== undefined &&
            i.stateNetworkId !== "" &&
            !sameId(net.Id, i.stateNetworkId);
        if (recreated) {
            problems.push(
                `recreated out of band: live id ${net.Id.slice(0, 12)}, Pulumi's state has ${(i.stateNetworkId ?? "").slice(0, 12)}`,
            );
        }
        out.push({
            check: "network",
            subject: netName,
            status: problems.length > 0 ? "drift" : "ok",
            kind: problems.length === 0 ? "ok" : recreated ? "network-recreated" : "network-mismatch",
            detail:
                problems.length > 0 ? problems.join("; ") : `overlay ${subnets.join(", ")} (id ${net.Id.slice(0, 12)})`,
            networkId: net.Id,
        });
    }

    for (const st of i.config.stacks) {
        const svcs = i.services
            .filter((s) => stackOf(s) === st.name)
            .sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
        if (svcs.length === 0) {
            out.push({
                check: "stack",
                subject: st.name,
                stack: st.name,
                status: "drift",
                kind: "stack-missing",
                detail: "stack has no services (removed?)",
            });
            continue;
        }
        out.push({
            check: "stack",
            subject: st.name,
            stack: st.name,
            status: "ok",
            kind: "ok",
            detail: `${svcs.length} service(s)`,
        });
        if (net && st.attached !== false) {
            const on = svcs.filter((s) => serviceOnNetwork(s, net)).map((s) => s.Spec.Name);
            if (Array.isArray(st.attached)) {
                const missing = st.attached.filter((a) => !on.includes(a) && !on.includes(`${st.name}_${a}`));
                out.push({
                    check: "attached",
                    subject: st.name,
                    stack: st.name,
                    status: missing.length > 0 ? "drift" : "ok",
                    kind: missing.length > 0 ? "service-detached" : "ok",
                    detail:
                        missing.length > 0
                            ? `not on ${netName}: ${missing.join(", ")}`
                            : `on ${netName}: ${on.join(", ")}`,
                });
            } else {
                out.push({
                    check: "attached",
                    subject: st.name,
                    stack: st.name,
                    status: on.length === 0 ? "drift" : "ok",
                    kind: on.length === 0 ? "service-detached" : "ok",
                    detail:
                        on.length === 0
                            ? `no service of the stack is on ${netName}`
                            : `on ${netName}: ${on.join(", ")}`,
                });
            }
        } else if (st.attached === false && net) {
            const on = svcs.filter((s) => serviceOnNetwork(s, net)).map((s) => s.Spec.Name);
            if (on.length > 0) {
                out.push({
                    check: "attached",
                    subject: st.name,
                    stack: st.name,
                    status: "drift",
                    kind: "service-detached",
                    detail: `expected off ${netName}, but on it: ${on.join(", ")}`,
                });
            }
        }
        for (const s of svcs) {
            const status = s.ServiceStatus;
            if (!status) {
                out.push({
                    check: "replicas",
                    subject: s.Spec.Name,
                    stack: st.name,
                    status: "error",
                    kind: "error",
                    detail: "dockerd gave no ServiceStatus (API < 1.41)",
                });
                continue;
            }
            // A replicated service scaled to 0 out of band runs all it is asked to: still drift, since the stack's
            // compose file never asks for 0 (a stack deploy puts the replicas back).
            const scaledToZero = status.DesiredTasks === 0 && s.Spec.Mode?.Replicated !== undefined;
            const ok = status.RunningTasks >= status.DesiredTasks && !scaledToZero;
            out.push({
                check: "replicas",
                subject: s.Spec.Name,
                stack: st.name,
                status: ok ? "ok" : "drift",
                kind: ok ? "ok" : "replicas-down",
                detail: `${status.RunningTasks}/${status.DesiredTasks} running${scaledToZero ? " (scaled to 0)" : ""}`,
            });
        }
    }

    // Stacks on the swarm that the config does not know: the maintenance's quiescence check refuses to run
    // while they do, and they take addresses the plan does not count.
    const configured = new Set(i.config.stacks.map((st) => st.name));
    const unknown = new Map<string, string[]>();
    for (const s of i.services) {
        const st = stackOf(s);
        if (st !== undefined && !configured.has(st)) {
            unknown.set(st, [...(unknown.get(st) ?? []), s.Spec.Name]);
        }
    }
    for (const [st, names] of [...unknown.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        out.push({
            check: "stack",
            subject: st,
            stack: st,
            status: "drift",
            kind: "stack-unknown",
            detail: `deployed, but not in the stack config: ${names.sort().join(", ")}`,
        });
    }

    if (i.usage) {
        const min = minFreeAddresses(i.minFree, i.usage.assignable);
        out.push({
            check: "capacity",
            subject: netName,
            status: i.usage.free >= min ? "ok" : "drift",
            kind: i.usage.free >= min ? "ok" : "capacity-low",
            detail: `${i.usage.free} of ${i.usage.assignable} addresses free (${i.usage.inUse} in use, ${i.usage.method}); threshold ${min}`,
        });
    }

    if (i.failures && i.logSource) {
        out.push({
            check: "vip-failures",
            subject: `${i.logSource.kind} ${i.logSource.what}`,
            status: i.failures.length > 0 ? "drift" : "ok",
            kind: i.failures.length > 0 ? "vip-failures" : "ok",
            detail:
                i.failures.length > 0
                    ? `${i.failures.length} "could not find an available IP while allocating VIP" line(s), last ${i.failures[i.failures.length - 1].time ?? "(no time)"}`
                    : "none",
        });
    }
    return out;
}
