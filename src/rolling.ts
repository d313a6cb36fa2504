// The rolling migration (network.migration: rolling), as the program plans and previews it: the temporary
// network's subnet, and how each attached service moves. host/network-move.sh does the moves on the host, with
// the same rule for which services can start a new task beside the old one.
import type { EngineService } from "./docker";
import { capacity, findConflicts, planSubnet, type SubnetContext } from "./subnet";

/** One service attached to the network, as the preview describes its move. */
export interface AttachedService {
    name: string;
    stack?: string;
    /** Why it cannot start a new task beside the old one (undefined: it can, start-first). */
    restarts?: string;
    /** Its stop grace period, in seconds, when set: how long an old task may keep serving after SIGTERM. */
    stopGraceSeconds?: number;
}

type MoveSpec = EngineService["Spec"] & {
    TaskTemplate?: {
        Placement?: { MaxReplicas?: number } | null;
        ContainerSpec?: { StopGracePeriod?: number } | null;
    };
};

/** Why a service cannot run two tasks side by side while it moves (host/network-move.sh's rule), or undefined. */
export function restartReason(s: EngineService): string | undefined {
    const hostPorts = (
        (s.Endpoint?.Spec as { Ports?: { PublishMode?: string; PublishedPort?: number }[] } | null)?.Ports ?? []
    )
        .filter((p) => p.PublishMode === "host")
        .map((p) => p.PublishedPort);
    if (hostPorts.length > 0) {
        return `its port ${hostPorts.join(", ")} is published in host mode: a second task cannot bind it on the same node`;
    }
    if ((s.Spec as MoveSpec).TaskTemplate?.Placement?.MaxReplicas === 1) {
        return "it allows one task per node (max_replicas_per_node: 1)";
    }
    return undefined;
}

export function attachedService(s: EngineService): AttachedService {
    const grace = (s.Spec as MoveSpec).TaskTemplate?.ContainerSpec?.StopGracePeriod;
    return {
        name: s.Spec.Name,
        stack: s.Spec.Labels?.["com.docker.stack.namespace"],
        restarts: restartReason(s),
        stopGraceSeconds: grace !== undefined ? grace / 1e9 : undefined,
    };
}

/** The preview's line for one service's move. */
export function describeMove(s: AttachedService): string {
    if (s.restarts !== undefined) {
        return `${s.name}: one restart per hop (two in all), because ${s.restarts}; its routes fail while it restarts`;
    }
    const grace = s.stopGraceSeconds !== undefined ? ` (stop grace ${s.stopGraceSeconds}s)` : "";
    return (
        `${s.name}: start-first, no gap if its old task keeps serving after SIGTERM for longer than traefik's poll ` +
        `interval${grace}; otherwise up to one poll interval of failures per move (four moves)`
    );
}

export interface TemporaryInput {
    key: string;
    /** Explicitly configured (network.rolling.temporarySubnet), or undefined to pick one. */
    subnet?: string;
    /** The target subnet of the network: the temporary one must not overlap it either. */
    target: string;
    /** Networks, routes, reserved ranges and pools, as for the target (the current network is a conflict too). */
    ctx: SubnetContext;
    /** Addresses the attached services use today: the temporary network must hold them all. */
    inUse: number;
}

/**
 * The temporary network's subnet: the configured one, checked like every other subnet, or the first free block
 * from the top of 10.0.0.0/8 with room for twice today's use (at least a /24).
 */
export function temporarySubnet(input: TemporaryInput): string {
    const ctx: SubnetContext = {
        ...input.ctx,
        replacing: undefined,
        networks: [
            ...input.ctx.networks,
            { name: "the new network", driver: "overlay", scope: "swarm", subnets: [input.target] },
        ],
    };
    const needed = Math.max(2 * input.inUse, 64);
    if (input.subnet !== undefined) {
        const planned = planSubnet({ key: input.key, subnet: input.subnet, ctx, inUse: input.inUse, minHeadroom: 1 });
        return planned.subnet;
    }
    let prefix = 24;
    while (prefix > 16 && capacity(`10.0.0.0/${prefix}`, 0).assignable < needed) prefix--;
    const blocks = 2 ** (prefix - 8);
    for (let i = blocks - 1; i >= 0; i--) {
        const base = i * 2 ** (32 - prefix);
        const cidr = `10.${(base >> 16) & 255}.${(base >> 8) & 255}.${base & 255}/${prefix}`;
        if (findConflicts(cidr, ctx).length === 0) return cidr;
    }
    throw new Error(
        `${input.key}: no free /${prefix} in 10.0.0.0/8 for the temporary network; set it to a subnet that overlaps ` +
            "no network, route or reserved range",
    );
}

/** The label network-move.sh puts on the temporary network it creates: the name of the network it moves out of. */
export const TEMPORARY_FOR_LABEL = "swarm-proxy.rolling.temporary-for";

/** Names Docker keeps for its own networks: a temporary network by one of them cannot be created. */
export const DOCKER_RESERVED_NETWORKS: readonly string[] = ["ingress", "bridge", "host", "none", "docker_gwbridge"];

/** A live network as the preview reads it (hostFacts' LiveNetwork), as far as the name check needs it. */
export interface NamedNetwork {
    name: string;
    id: string;
    subnets: string[];
    labels: Record<string, string>;
}

/**
 * The live network by the temporary network's name, when it is this migration's own (left by an interrupted run,
 * its label naming `networkName`: the rerun resumes on it); undefined when there is none. Any other network by that
 * name is refused at preview, not inside the window where the move out would stop on it.
 */
export function ownTemporaryNetwork<N extends NamedNetwork>(
    key: string,
    temporaryName: string,
    networkName: string,
    networks: N[],
): N | undefined {
    const live = networks.find((n) => n.name === temporaryName);
    if (live === undefined || live.labels[TEMPORARY_FOR_LABEL] === networkName) return live;
    throw new Error(
        `${key}: network ${temporaryName} already exists on the host (${live.id.slice(0, 12)}, ` +
            `${live.subnets.join(", ") || "no subnet"}) and is not a temporary network of this migration (no label ` +
            `${TEMPORARY_FOR_LABEL}=${networkName}): choose another name, or remove that network`,
    );
}
