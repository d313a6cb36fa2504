// The drift check for a node that cannot join an overlay because a stale vxlan interface holds its VNI (src/staleVxlan.ts):
// nothing Pulumi or the live checks see, and every maintenance rerun stops on it until the node is fixed.
import type { EngineNetwork, EngineService } from "../../src/docker";
import type { Engine } from "../../src/engine";
import { describeStaleVxlan, findStaleVxlan, staleVxlanFix } from "../../src/staleVxlan";
import { hostScriptsDir } from "../shared/package-root";
import type { Finding } from "./findings";

export async function staleVxlanFindings(
    engine: Engine,
    networks: EngineNetwork[],
    services: EngineService[],
): Promise<Finding[]> {
    const [tasks, nodes] = await Promise.all([engine.tasks(), engine.nodes()]);
    return findStaleVxlan(tasks, networks, nodes, services).map((s): Finding => ({
        check: "vxlan",
        subject: `${s.node} ${s.network?.name ?? s.subnet}`,
        status: "drift",
        kind: "stale-vxlan",
        detail: describeStaleVxlan(s),
        meaning:
            "The node rejects every task of that overlay until the interface is removed, and every rerun of the " +
            "maintenance stops on it. Removing it takes nothing down: the swarm starts the rejected tasks within " +
            "seconds. On the node this check runs on, `swarm-proxy guard --fix` removes it; on another node, run " +
            "the commands there as root (the package's host/ folder copied there, or by hand).",
        fix: staleVxlanFix(s, { hostDir: hostScriptsDir() }),
        disruptive: false,
        autoFix: false,
    }));
}
