// The live host survey: networks, host routes and addresses, what is on `proxy`, daemon facts, and whether
// the target subnet conflicts with any of it (the program's own planning code decides that).
import { networkInterfaces } from "node:os";
import { readRoutes } from "../../src/hostFacts";
import { localRunner, type Runner } from "../../src/runner";
import { type Conflict, defaultPoolContaining, findConflicts } from "../../src/subnet";
import { CliError, errorMessage } from "../shared/errors";
import {
    type EngineInfo,
    type EngineNetwork,
    type EngineService,
    type EngineVersion,
    serviceOnNetwork,
    subnetsOf,
} from "../../src/docker";
import type { Engine } from "../../src/engine";

export interface SurveyReport {
    daemon: {
        host: string;
        version: string;
        apiVersion: string;
        role: "manager";
        nodeId: string;
        nodes: number;
        managers: number;
        defaultAddrPool: string[];
        subnetSize: number | null;
        liveRestore: boolean;
    };
    networks: {
        name: string;
        id: string;
        driver: string;
        scope: string;
        subnets: string[];
        attachable: boolean;
        labels: Record<string, string>;
    }[];
    host: { routes: string[]; addresses: { iface: string; cidr: string }[] };
    proxy: { name: string; id: string | null; subnets: string[]; services: string[] };
    target: { subnet: string; conflicts: Conflict[]; insideDefaultPool: string | null; ok: boolean } | null;
}

/** This machine's routes (every table, read as the program reads them at preview) and IPv4 addresses. */
export function hostFacts(run: Runner = localRunner): SurveyReport["host"] {
    let routes: string[];
    try {
        routes = readRoutes(run);
    } catch (e) {
        throw new CliError(
            `cannot read this machine's routes with \`ip -j -4 route show table all\`: ${errorMessage(e)}`,
        );
    }
    const addresses: { iface: string; cidr: string }[] = [];
    for (const [iface, addrs] of Object.entries(networkInterfaces())) {
        for (const a of addrs ?? []) {
            if (a.family === "IPv4" && a.cidr) {
                addresses.push({ iface, cidr: a.cidr });
            }
        }
    }
    return { routes, addresses };
}

export interface SurveyInput {
    host: string;
    info: EngineInfo;
    version: EngineVersion;
    defaultAddrPool: string[];
    subnetSize: number | null;
    networks: EngineNetwork[];
    services: EngineService[];
    hostFacts: SurveyReport["host"];
    proxyName: string;
    targetSubnet?: string;
    reserved: string[];
}

/** Pure: the survey from what was read. */
export function buildSurvey(i: SurveyInput): SurveyReport {
    const proxy = i.networks.find((n) => n.Name === i.proxyName);
    let target: SurveyReport["target"] = null;
    if (i.targetSubnet) {
        const conflicts = findConflicts(i.targetSubnet, {
            networks: i.networks.map((n) => ({
                name: n.Name,
                id: n.Id,
                driver: n.Driver,
                scope: n.Scope,
                subnets: subnetsOf(n),
            })),
            // The host's own addresses are routes too: a subnet over them would shadow the host.
            routes: [...i.hostFacts.routes, ...i.hostFacts.addresses.map((a) => a.cidr)],
            reserved: i.reserved,
            defaultAddressPools: i.defaultAddrPool,
            replacing: i.proxyName,
        });
        target = {
            subnet: i.targetSubnet,
            conflicts,
            insideDefaultPool: defaultPoolContaining(i.targetSubnet, i.defaultAddrPool) ?? null,
            ok: conflicts.length === 0,
        };
    }
    return {
        daemon: {
            host: i.host,
            version: i.version.Version,
            apiVersion: i.version.ApiVersion,
            role: "manager",
            nodeId: i.info.Swarm?.NodeID ?? "",
            nodes: i.info.Swarm?.Nodes ?? 0,
            managers: i.info.Swarm?.Managers ?? 0,
            defaultAddrPool: i.defaultAddrPool,
            subnetSize: i.subnetSize,
            liveRestore: i.info.LiveRestoreEnabled === true,
        },
        networks: i.networks
            .map((n) => ({
                name: n.Name,
                id: n.Id,
                driver: n.Driver,
                scope: n.Scope,
                subnets: subnetsOf(n),
                attachable: n.Attachable === true,
                labels: n.Labels ?? {},
            }))
            .sort((a, b) => a.name.localeCompare(b.name)),
        host: i.hostFacts,
        proxy: {
            name: i.proxyName,
            id: proxy?.Id ?? null,
            subnets: proxy ? subnetsOf(proxy) : [],
            services: proxy
                ? i.services
                      .filter((s) => serviceOnNetwork(s, proxy))
                      .map((s) => s.Spec.Name)
                      .sort()
                : [],
        },
        target,
    };
}

export async function gatherSurvey(
    engine: Engine,
    base: { info: EngineInfo; version: EngineVersion },
    opts: { proxyName: string; targetSubnet?: string; reserved: string[] },
): Promise<{ report: SurveyReport; networks: EngineNetwork[]; services: EngineService[] }> {
    const [swarm, networks, services] = await Promise.all([engine.swarm(), engine.networks(), engine.services()]);
    const report = buildSurvey({
        host: engine.where,
        info: base.info,
        version: base.version,
        // Engines before 19.03 have no DefaultAddrPool: their pool was the fixed 10.0.0.0/8.
        defaultAddrPool:
            swarm.DefaultAddrPool && swarm.DefaultAddrPool.length > 0 ? swarm.DefaultAddrPool : ["10.0.0.0/8"],
        subnetSize: swarm.SubnetSize ?? null,
        networks,
        services,
        hostFacts: hostFacts(),
        ...opts,
    });
    return { report, networks, services };
}

export function renderSurvey(r: SurveyReport): string {
    const d = r.daemon;
    const lines: string[] = [
        `dockerd ${d.version} (API ${d.apiVersion}) at ${d.host}: swarm ${d.role}, node ${d.nodeId.slice(0, 12)}, ${d.nodes} node(s), ${d.managers} manager(s)`,
        `  default address pool ${d.defaultAddrPool.join(", ")}${d.subnetSize ? ` (/${d.subnetSize} each)` : ""}; live-restore ${d.liveRestore ? "ON (incompatible with swarm mode)" : "off"}`,
        "",
        "networks:",
    ];
    const w = Math.max(4, ...r.networks.map((n) => n.name.length));
    for (const n of r.networks) {
        lines.push(
            `  ${n.name.padEnd(w)}  ${n.driver.padEnd(7)} ${n.scope.padEnd(6)} ${n.subnets.join(", ") || "-"}${n.attachable ? "  attachable" : ""}`,
        );
    }
    lines.push("", `host routes: ${r.host.routes.join(", ") || "-"}`);
    lines.push(`host addresses: ${r.host.addresses.map((a) => `${a.iface} ${a.cidr}`).join(", ") || "-"}`);
    lines.push(
        "",
        r.proxy.id
            ? `${r.proxy.name} (${r.proxy.subnets.join(", ")}): ${r.proxy.services.length} service(s)`
            : `${r.proxy.name}: no such network`,
    );
    for (const s of r.proxy.services) {
        lines.push(`  ${s}`);
    }
    if (r.target) {
        const t = r.target;
        lines.push("", `target subnet ${t.subnet}: ${t.ok ? "no conflict" : "CONFLICTS"}`);
        for (const c of t.conflicts) {
            lines.push(`  overlaps ${c.kind} ${c.name} (${c.cidr})`);
        }
        if (t.insideDefaultPool) {
            lines.push(
                `  note: inside the swarm's default address pool ${t.insideDefaultPool}; a subnet outside it avoids future auto-allocated networks landing there`,
            );
        }
    }
    return lines.join("\n");
}
