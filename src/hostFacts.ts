// Reads the live host at preview time: networks, the swarm's default address pools and the addresses in use
// on the managed network through the Engine API (src/engine.ts, the tools' reader too), and the routes
// through a Runner (src/runner.ts: argv to execFile, locally or over SSH; nothing is spliced into a shell).
import {
    type EngineInfo,
    type EngineNetwork,
    type Usage,
    countUsage,
    serviceOnNetwork,
    subnetsOf,
    swarmRole,
} from "./docker";
import { type Engine, readUsage } from "./engine";
import { PROJECT } from "./project";
import { type AttachedService, attachedService } from "./rolling";
import type { Runner } from "./runner";
import type { NetworkFact } from "./subnet";

export interface LiveNetwork extends NetworkFact {
    id: string;
    gateways: string[];
    attachable: boolean;
    labels: Record<string, string>;
}

export interface HostFacts {
    networks: LiveNetwork[];
    routes: string[];
    defaultAddressPools: string[];
    /** Addresses in use on the managed network, by name (VIPs, task endpoints, one load balancer per node using it). */
    inUse: Record<string, number>;
    /** How the managed network's figure was made up (absent when the host has no such network yet). */
    usage?: Usage;
    /** The services attached to the managed network (what a rolling migration moves). */
    attached?: AttachedService[];
}

export function toLiveNetwork(n: EngineNetwork): LiveNetwork {
    const cfgs = n.IPAM?.Config ?? [];
    return {
        name: n.Name,
        id: n.Id,
        driver: n.Driver,
        scope: n.Scope,
        attachable: n.Attachable ?? false,
        labels: n.Labels ?? {},
        subnets: cfgs.map((c) => c.Subnet ?? "").filter((s) => s !== ""),
        gateways: cfgs.map((c) => c.Gateway ?? "").filter((s) => s !== ""),
    };
}

/** Route destinations from `ip -j route` output, as CIDRs (a host route gets /32); the default route is left out. */
export function routesFrom(json: string): string[] {
    const routes = JSON.parse(json) as { dst?: string }[];
    const dsts = routes.map((r) => r.dst ?? "").filter((d) => d !== "" && d !== "default");
    return [...new Set(dsts.map((d) => (d.includes("/") ? d : `${d}/32`)))];
}

/** The host's IPv4 routes in every table (the one route reader of the program and the tools). */
export function readRoutes(run: Runner): string[] {
    return routesFrom(run(["ip", "-j", "-4", "route", "show", "table", "all"]));
}

/**
 * Why the program cannot run against this node, or undefined on an active manager. Network create and remove
 * of a swarm network are manager-only (daemon/cluster/networks.go), and so are the service and task reads.
 */
export function managerRefusal(info: EngineInfo, where: string, networkName: string): string | undefined {
    const role = swarmRole(info);
    if (role === "inactive") {
        return (
            `${PROJECT}:connection: the host at ${where} is not in an active swarm (LocalNodeState=${info.Swarm?.LocalNodeState ?? "inactive"}); ` +
            "point the connection at a manager of the swarm that runs the stacks"
        );
    }
    if (role === "worker") {
        return (
            `${PROJECT}:connection: the host at ${where} is a swarm worker (node ${JSON.stringify(info.Name ?? "?")}, ` +
            `ID ${info.Swarm?.NodeID ?? "?"}), not a manager: the swarm network ${JSON.stringify(networkName)} is created and removed ` +
            "only on a manager, and only a manager can read the stacks' services and tasks. Point the connection at a manager " +
            "(`docker node ls --filter role=manager` on any manager lists them). Nothing was changed."
        );
    }
    return undefined;
}

/**
 * The live host, read through the Engine API on a manager in a fixed number of calls whatever the number of
 * services: every network, the swarm's default address pools and, for the managed network, what countUsage
 * needs (the same read and the same count as `swarm-proxy capacity`); the routes through `run`. Refuses a
 * node that is not an active manager before reading anything else.
 */
export async function readHostFacts(
    engine: Engine,
    run: Runner,
    where: string,
    networkName: string,
): Promise<HostFacts> {
    const info = await engine.info();
    const refusal = managerRefusal(info, where, networkName);
    if (refusal) {
        throw new Error(refusal);
    }
    const networks = await engine.networks();
    const managed = networks.find((n) => n.Name === networkName && n.Driver === "overlay" && n.Scope === "swarm");
    const inUse: Record<string, number> = {};
    let usage: Usage | undefined;
    let attached: AttachedService[] | undefined;
    if (managed && subnetsOf(managed).length > 0) {
        const services = await engine.services();
        usage = countUsage(await readUsage(engine, managed, info.Swarm?.NodeID, { services }));
        inUse[managed.Name] = usage.inUse;
        attached = services.filter((s) => serviceOnNetwork(s, managed)).map(attachedService);
    }
    return {
        networks: networks.map(toLiveNetwork),
        routes: readRoutes(run),
        defaultAddressPools: info.Swarm?.Cluster?.DefaultAddrPool ?? [],
        inUse,
        usage,
        attached,
    };
}
