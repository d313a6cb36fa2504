// The Docker objects as the Engine API returns them, typed to the fields this project reads, and the one count
// of addresses in use on an overlay. The program (at preview) and the operator tools read them through the
// same client (engine.ts) and count with the same function, so `swarm-proxy capacity` and `pulumi preview`
// agree on the number.
import { RESERVED_PER_SUBNET, assignableAddresses } from "./subnet";

export interface EngineInfo {
    ServerVersion: string;
    Name?: string;
    LiveRestoreEnabled?: boolean;
    Swarm?: {
        LocalNodeState?: string;
        ControlAvailable?: boolean;
        NodeID?: string;
        Nodes?: number;
        Managers?: number;
        Error?: string;
        /** Managers only. */
        Cluster?: { DefaultAddrPool?: string[] | null } | null;
    };
}

export interface EngineVersion {
    Version: string;
    ApiVersion: string;
    MinAPIVersion?: string;
}

export interface SwarmInfo {
    ID: string;
    DefaultAddrPool?: string[] | null;
    SubnetSize?: number;
}

export interface VerboseTask {
    Name: string;
    EndpointID?: string;
    EndpointIP?: string;
    Info?: Record<string, string> | null;
}

export interface VerboseService {
    VIP?: string;
    Tasks?: VerboseTask[] | null;
}

export interface EngineNetwork {
    Name: string;
    Id: string;
    Driver: string;
    Scope: string;
    Attachable?: boolean;
    Ingress?: boolean;
    Internal?: boolean;
    Labels?: Record<string, string> | null;
    /** The overlay driver's options: its VNI in com.docker.network.driver.overlay.vxlanid_list. */
    Options?: Record<string, string> | null;
    IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null } | null;
    Containers?: Record<string, { Name?: string; IPv4Address?: string }> | null;
    /** Only with verbose=true, and only when this node takes part in the network. */
    Services?: Record<string, VerboseService> | null;
    Peers?: { Name: string; IP: string }[] | null;
    /** Engine >= 29 (API >= 1.52). */
    Status?: { IPAM?: { Subnets?: Record<string, { IPsInUse?: number; DynamicIPsAvailable?: number }> | null } | null };
}

export interface NetworkAttachmentRef {
    Target: string;
    Aliases?: string[] | null;
}

export interface PortConfig {
    TargetPort?: number;
    PublishedPort?: number;
    PublishMode?: string;
}

export interface EngineService {
    ID: string;
    Spec: {
        Name: string;
        Labels?: Record<string, string> | null;
        Mode?: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: object; GlobalJob?: object };
        TaskTemplate?: {
            Networks?: NetworkAttachmentRef[] | null;
            ContainerSpec?: { Image?: string; Command?: string[] | null; Args?: string[] | null } | null;
        };
        /** Deprecated location, still filled by old clients. */
        Networks?: NetworkAttachmentRef[] | null;
        EndpointSpec?: { Mode?: string; Ports?: PortConfig[] | null } | null;
    };
    Endpoint?: {
        Spec?: { Mode?: string } | null;
        Ports?: PortConfig[] | null;
        VirtualIPs?: { NetworkID: string; Addr?: string }[] | null;
    } | null;
    /** With status=true (API >= 1.41). */
    ServiceStatus?: { RunningTasks: number; DesiredTasks: number } | null;
}

export interface EngineTask {
    ID: string;
    ServiceID?: string;
    NodeID?: string;
    DesiredState?: string;
    Status?: { State?: string; Err?: string; Timestamp?: string } | null;
    NetworksAttachments?: { Network?: { ID: string; Spec?: { Name?: string } }; Addresses?: string[] | null }[] | null;
}

export interface EngineNode {
    ID: string;
    Description?: { Hostname?: string } | null;
    Status?: { State?: string; Addr?: string } | null;
    Spec?: { Role?: string; Availability?: string } | null;
}

export interface EngineContainer {
    Id: string;
    Names?: string[];
    State?: string;
    NetworkSettings?: { Networks?: Record<string, { NetworkID?: string; IPAddress?: string }> | null } | null;
}

/** Swarm task states at or before `running`: such a task holds its addresses (swarmkit frees them after). */
export const LIVE_TASK_STATES: ReadonlySet<string> = new Set([
    "new",
    "pending",
    "assigned",
    "accepted",
    "ready",
    "preparing",
    "starting",
    "running",
]);

/**
 * Where a node stands in its swarm. Only an active manager can create or remove a swarm network and read the
 * services and tasks, so the program and the tools both refuse anything else (each with its own message).
 */
export function swarmRole(info: EngineInfo): "inactive" | "worker" | "manager" {
    if ((info.Swarm?.LocalNodeState ?? "inactive") !== "active") {
        return "inactive";
    }
    return info.Swarm?.ControlAvailable === true ? "manager" : "worker";
}

/**
 * The newest Engine API version this project is tested against. Asking for more than the code knows would only
 * change answers under it; asking for less than the daemon's newest is safe only down to its minimum (Docker
 * 29.0 refuses anything under 1.44, moby#51186).
 */
export const NEWEST_API_VERSION = "1.56";
/** The oldest the project works with: ServiceStatus in the service list (`?status=true`) came in 1.41. */
export const OLDEST_API_VERSION = "1.41";

const API_VERSION_RE = /^(\d+)\.(\d+)$/;

/** Orders two "MAJOR.MINOR" Engine API versions numerically (1.9 < 1.41), as moby's versions.Compare does. */
export function compareApiVersions(a: string, b: string): number {
    const pa = API_VERSION_RE.exec(a);
    const pb = API_VERSION_RE.exec(b);
    if (!pa || !pb) {
        throw new Error(`not an Engine API version: ${pa ? b : a}`);
    }
    return Number(pa[1]) - Number(pb[1]) || Number(pa[2]) - Number(pb[2]);
}

/** Whether a daemon's "MAJOR.MINOR" API version is at least major.minor (Engine >= 29, API >= 1.52, reports
 *  addresses in use per subnet); a version that is not of that form is not. */
export function apiAtLeast(apiVersion: string, major: number, minor: number): boolean {
    return API_VERSION_RE.test(apiVersion) && compareApiVersions(apiVersion, `${major}.${minor}`) >= 0;
}

/** dockerd's refusal of a request's API version (moby's API version middleware: HTTP 400, its words). */
export function isVersionRefusal(status: number | undefined, message: string): boolean {
    return status === 400 && /^client version \S+ is too (old|new)\b/.test(message);
}

export type ApiNegotiation = { ok: true; version: string } | { ok: false; reason: string };

/**
 * The Engine API version to ask for, from the daemon's unversioned GET /version: its newest, capped at the
 * newest this code knows, never below the daemon's minimum (a daemon whose minimum is past what we know is
 * still asked at its minimum: it refuses anything older). A daemon older than OLDEST_API_VERSION is refused,
 * with its Docker version and API version named.
 */
export function negotiateApiVersion(
    daemon: { Version?: string; ApiVersion?: string; MinAPIVersion?: string },
    newest: string = NEWEST_API_VERSION,
    oldest: string = OLDEST_API_VERSION,
): ApiNegotiation {
    const api = daemon.ApiVersion ?? "";
    const docker = daemon.Version ?? "(version not given)";
    if (!API_VERSION_RE.test(api)) {
        return { ok: false, reason: `dockerd ${docker} gave no usable Engine API version ('${api}')` };
    }
    if (compareApiVersions(api, oldest) < 0) {
        return {
            ok: false,
            reason: `dockerd ${docker} speaks Engine API ${api}; swarm-proxy needs ${oldest} or newer`,
        };
    }
    let version = compareApiVersions(api, newest) < 0 ? api : newest;
    const min = daemon.MinAPIVersion;
    if (min !== undefined && API_VERSION_RE.test(min) && compareApiVersions(version, min) < 0) {
        version = min;
    }
    return { ok: true, version };
}

/** Network IDs and names a service is attached to, wherever the spec keeps them. */
export function serviceNetworkTargets(s: EngineService): string[] {
    const refs = [...(s.Spec.TaskTemplate?.Networks ?? []), ...(s.Spec.Networks ?? [])];
    return refs.map((r) => r.Target);
}

export function serviceOnNetwork(s: EngineService, net: { Id: string; Name: string }): boolean {
    if ((s.Endpoint?.VirtualIPs ?? []).some((v) => v.NetworkID === net.Id)) {
        return true;
    }
    return serviceNetworkTargets(s).some((t) => t === net.Id || t === net.Name);
}

export function stackOf(s: EngineService): string | undefined {
    return s.Spec.Labels?.["com.docker.stack.namespace"] ?? undefined;
}

export function subnetsOf(n: EngineNetwork): string[] {
    return (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => typeof s === "string" && s !== "");
}

export interface UsageInput {
    network: EngineNetwork;
    /** The same network inspected with verbose=true (its Services map is empty when this node has no endpoint on it). */
    verbose?: EngineNetwork;
    services: EngineService[];
    tasks: EngineTask[];
    nodes: EngineNode[];
    apiVersion: string;
    /** This node's swarm ID: a local `lb-<network>` endpoint in the verbose view is its load balancer. */
    localNodeId?: string;
}

export interface Usage {
    /** "ipsInUse": the Engine's own figure (Engine >= 29); "counted": inferred from services, tasks and nodes. */
    method: "ipsInUse" | "counted";
    subnets: string[];
    /** Network, broadcast and gateway address of each subnet. */
    reserved: number;
    assignable: number;
    vips: number;
    /** Service tasks with an address on the network (from the swarm store). */
    taskEndpoints: number;
    /** Standalone containers attached to an attachable network (`docker run --network`), from the verbose view. */
    containerEndpoints: number;
    lbEndpoints: number;
    /** Addresses in use, not counting the reserved ones. */
    inUse: number;
    free: number;
    /** assignable / inUse; null when nothing is in use. */
    headroom: number | null;
    nodesUsing: string[];
    servicesWithVip: string[];
}

/** Whether the service holds a virtual IP on the network. */
export function vipOn(s: EngineService, netId: string): boolean {
    return (s.Endpoint?.VirtualIPs ?? []).some((v) => v.NetworkID === netId && (v.Addr ?? "") !== "");
}

/** Pure: addresses in use on `input.network`. */
export function countUsage(input: UsageInput): Usage {
    const net = input.network;
    const subnets = subnetsOf(net);
    if (subnets.length === 0) {
        throw new Error(`network ${net.Name} has no IPAM subnet; capacity needs a network with a configured subnet`);
    }
    const assignable = subnets.reduce((sum, s) => sum + assignableAddresses(s), 0);
    const reserved = subnets.length * RESERVED_PER_SUBNET;

    const servicesWithVip = input.services.filter((s) => vipOn(s, net.Id)).map((s) => s.Spec.Name);
    let taskEndpoints = 0;
    const nodes = new Set<string>();
    for (const t of input.tasks) {
        const state = t.Status?.State ?? "";
        if (!LIVE_TASK_STATES.has(state)) {
            continue;
        }
        for (const a of t.NetworksAttachments ?? []) {
            if (a.Network?.ID !== net.Id) {
                continue;
            }
            taskEndpoints += (a.Addresses ?? []).length;
            if (t.NodeID) {
                nodes.add(t.NodeID);
            }
        }
    }
    // The Engine's task list leaves out the attachment tasks of standalone containers; the verbose view
    // lists them under the service named "" (the load balancers are not in that map).
    const lbNames = new Set([`${net.Name}-endpoint`, `lb-${net.Name}`]);
    const attached = (input.verbose?.Services?.[""]?.Tasks ?? []).filter((t) => !lbNames.has(t.Name));
    for (const c of attached) {
        const hostIp = c.Info?.["Host IP"] ?? "";
        const node = input.nodes.find((n) => n.Status?.Addr === hostIp);
        nodes.add(node?.ID ?? `host ${hostIp}`);
    }
    if (input.localNodeId && input.verbose?.Containers?.[`lb-${net.Name}`]) {
        nodes.add(input.localNodeId);
    }
    const lbEndpoints = nodes.size;
    const counted = servicesWithVip.length + taskEndpoints + attached.length + lbEndpoints;

    const statusSubnets = input.network.Status?.IPAM?.Subnets ?? undefined;
    const useEngine = statusSubnets !== undefined && statusSubnets !== null && apiAtLeast(input.apiVersion, 1, 52);
    // Both figures are lower bounds, so the larger is taken. The Engine's (API 1.52+) is the swarm allocator's when
    // the network is inspected by name (readUsage), which sees what the count cannot: leaked addresses. Read by ID,
    // dockerd 29.8 gives the node's own figure instead, which misses what the count sees (VIPs, and leaked
    // addresses: one VIP, one task and the node's load balancer read as 2 in use where the probe found 3).
    let engineInUse = 0;
    if (useEngine) {
        for (const s of subnets) {
            engineInUse += Math.max(0, (statusSubnets[s]?.IPsInUse ?? RESERVED_PER_SUBNET) - RESERVED_PER_SUBNET);
        }
    }
    const byEngine = useEngine && engineInUse >= counted;
    const inUse = byEngine ? engineInUse : counted;
    const free = Math.max(0, assignable - inUse);
    return {
        method: byEngine ? "ipsInUse" : "counted",
        subnets,
        reserved,
        assignable,
        vips: servicesWithVip.length,
        taskEndpoints,
        containerEndpoints: attached.length,
        lbEndpoints,
        inUse,
        free,
        headroom: inUse > 0 ? assignable / inUse : null,
        nodesUsing: [...nodes].sort(),
        servicesWithVip: servicesWithVip.sort(),
    };
}
