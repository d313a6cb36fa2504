// A node that rejects every task of an overlay with "error creating vxlan interface: file exists": a vxlan interface
// with that overlay's VNI was left on the node by a dockerd that stopped without cleaning up (moby/libnetwork#1765,
// moby#21482, moby#28559), and the kernel refuses a second one. Until it is removed, no rerun changes anything. Pure:
// found from the swarm's tasks, networks and nodes; host/lib.sh's sp_stale_vxlan finds the same for the host scripts
// (a unit test keeps the cause's words equal).
import type { EngineNetwork, EngineNode, EngineService, EngineTask } from "./docker";
import { toRange } from "./subnet";

export const STALE_VXLAN_ERROR = "error creating vxlan interface: file exists";
export const STALE_VXLAN_CAUSE =
    "a vxlan interface of that overlay was left on the node by a dockerd that stopped without cleaning up " +
    "(Docker bug moby/libnetwork#1765, also moby#21482, moby#28559)";
/** The overlay driver's option that holds the network's VNI(s). */
export const VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list";

export interface StaleVxlan {
    node: string;
    nodeId: string;
    subnet: string;
    /** The overlay, when it still exists. */
    network?: { id: string; name: string; vni: number };
    /** The services whose tasks the node rejected. */
    services: string[];
}

const SUBNET_IN_ERROR = /subnet sandbox join failed for "([0-9./]+)"/;

/** Pure: the overlay's subnet a task's error names, when it is the stale-vxlan rejection. */
export function staleVxlanSubnet(err: string | undefined): string | undefined {
    if (err === undefined || !err.includes(STALE_VXLAN_ERROR)) {
        return undefined;
    }
    return SUBNET_IN_ERROR.exec(err)?.[1];
}

/**
 * Pure: each node and overlay where a service's task was rejected with the stale-vxlan error, unless a running task of
 * that service on that node has an address in that overlay's subnet (the node joined it since: history). A running
 * task elsewhere, say the old one of a start-first move, does not count.
 */
export function findStaleVxlan(
    tasks: EngineTask[],
    networks: EngineNetwork[],
    nodes: EngineNode[],
    services: EngineService[],
): StaleVxlan[] {
    const joined = new Set<string>();
    const rejected = new Map<string, string>();
    for (const t of tasks) {
        const key = `${t.ServiceID ?? ""} ${t.NodeID ?? ""}`;
        if (t.Status?.State === "running") {
            for (const a of (t.NetworksAttachments ?? []).flatMap((n) => n.Addresses ?? [])) {
                const net = toRange(a);
                if (net) joined.add(`${key} ${net.toCidrString()}`);
            }
            continue;
        }
        const subnet = staleVxlanSubnet(t.Status?.Err);
        if (subnet !== undefined && t.NodeID) {
            rejected.set(key, subnet);
        }
    }
    const byPlace = new Map<string, StaleVxlan>();
    for (const [key, subnet] of rejected) {
        if (joined.has(`${key} ${subnet}`)) {
            continue;
        }
        const [serviceId, nodeId] = key.split(" ");
        const place = `${nodeId} ${subnet}`;
        let s = byPlace.get(place);
        if (!s) {
            const net = networks.find((n) => (n.IPAM?.Config ?? []).some((c) => c.Subnet === subnet));
            const vni = Number((net?.Options?.[VXLAN_ID_OPTION] ?? "").split(",")[0]);
            s = {
                node: nodes.find((n) => n.ID === nodeId)?.Description?.Hostname ?? nodeId,
                nodeId,
                subnet,
                network: net && Number.isInteger(vni) && vni > 0 ? { id: net.Id, name: net.Name, vni } : undefined,
                services: [],
            };
            byPlace.set(place, s);
        }
        s.services.push(services.find((x) => x.ID === serviceId)?.Spec.Name ?? serviceId);
    }
    return [...byPlace.values()]
        .map((s) => ({ ...s, services: [...new Set(s.services)].sort() }))
        .sort((a, b) => `${a.node} ${a.subnet}`.localeCompare(`${b.node} ${b.subnet}`));
}

export interface VxlanPaths {
    /** The folder of the host scripts on the node, for the script form of the fix. */
    hostDir: string;
    /** dockerd's exec root and pidfile on the node (the defaults: /var/run/docker, /var/run/docker.pid). */
    execRoot?: string;
    pidfile?: string;
}

/** Pure: the commands that remove the stale interface, run as root on the node (the script, or the same by hand). */
export function staleVxlanFix(s: StaleVxlan, p: VxlanPaths): string[] {
    if (!s.network) {
        // The overlay is gone, and its VNI with it. A dockerd restart does not remove an interface in dockerd's own
        // namespace (measured on 29.8: the node rejected the overlay's tasks after it); a reboot of the node does.
        return [
            `ip -d -o link show type vxlan   # on node ${s.node}: an interface whose VNI no overlay has is stale; ip link del NAME`,
        ];
    }
    const { id, vni } = s.network;
    const execRoot = p.execRoot ?? "/var/run/docker";
    const extra =
        p.execRoot !== undefined || p.pidfile !== undefined ? ` ${execRoot} ${p.pidfile ?? "/var/run/docker.pid"}` : "";
    return [
        `bash ${p.hostDir}/vxlan-clear.sh ${id} ${vni}${extra}`,
        `# or by hand, the first that names VNI ${vni}: in the overlay's namespace, then in dockerd's own`,
        `nsenter --net=${execRoot}/netns/1-${id.slice(0, 10)} ip -d link show vxlan0   # 'vxlan id ${vni}': then ip link del vxlan0 there`,
        `ip -d -o link show type vxlan | grep ' vxlan id ${vni} '   # then: ip link del NAME`,
    ];
}

/** Pure: the one-line account of a stale interface, naming the node, the overlay and the cause. */
export function describeStaleVxlan(s: StaleVxlan): string {
    const overlay = s.network
        ? `overlay ${s.network.name} (${s.subnet}, VNI ${s.network.vni})`
        : `the overlay of ${s.subnet}`;
    return (
        `stale vxlan interface: node ${s.node} cannot join ${overlay}: ${STALE_VXLAN_CAUSE}; ` +
        `it rejects the tasks of ${s.services.join(", ")}`
    );
}
