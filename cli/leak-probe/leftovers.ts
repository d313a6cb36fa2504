// What a leak-probe run left on the swarm, and the one command that removes it: pure, so the message an
// operator pastes after a failure is tested without a swarm.
import { commandLine } from "../shared/command-line";
import { type EngineNetwork, type EngineService, stackOf } from "../../src/docker";

export interface LeftoverStack {
    name: string;
    services: string[];
    networks: string[];
}

export interface Leftover {
    stacks: LeftoverStack[];
    /** Throwaway overlays (not part of a stack). */
    networks: string[];
    /** Set when dockerd could not be asked: the list is then what the run created, not what was seen. */
    unverified?: string;
}

/** Pure: the stacks (with their services and networks) and other networks whose names start with `prefix`. */
export function collectLeftovers(prefix: string, svcs: EngineService[], nets: EngineNetwork[]): Leftover {
    const stacks = new Map<string, LeftoverStack>();
    const stack = (name: string) => {
        let st = stacks.get(name);
        if (st === undefined) {
            st = { name, services: [], networks: [] };
            stacks.set(name, st);
        }
        return st;
    };
    const networks: string[] = [];
    for (const s of svcs) {
        const st = stackOf(s);
        if (st?.startsWith(prefix)) {
            stack(st).services.push(s.Spec.Name);
        } else if (s.Spec.Name.startsWith(prefix)) {
            stack(s.Spec.Name.split("_")[0]).services.push(s.Spec.Name);
        }
    }
    for (const n of nets) {
        const st = n.Labels?.["com.docker.stack.namespace"];
        if (st?.startsWith(prefix)) {
            stack(st).networks.push(n.Name);
        } else if (n.Name.startsWith(prefix)) {
            networks.push(n.Name);
        }
    }
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return {
        stacks: [...stacks.values()]
            .map((st) => ({ ...st, services: st.services.sort(byName), networks: st.networks.sort(byName) }))
            .sort((a, b) => byName(a.name, b.name)),
        networks: networks.sort(byName),
    };
}

/** Pure: what a run asked dockerd to create, for when dockerd cannot say what is left. */
export function createdLeftover(stacks: readonly string[], networks: readonly string[]): Leftover {
    return { stacks: stacks.map((name) => ({ name, services: [], networks: [] })), networks: [...networks] };
}

/**
 * Pure: exactly what is left and the one command that removes it (the leak-free teardown, then the overlays),
 * on the line starting "remove it with: ", aimed at `dockerHost` when that is not the local socket.
 */
export function leftoverMessage(l: Leftover, teardownScript: string, dockerHost?: string): string {
    const what = [
        ...l.stacks.map((st) => {
            const parts = [...st.services.map((x) => `service ${x}`), ...st.networks.map((x) => `network ${x}`)];
            return `stack ${st.name}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
        }),
        ...l.networks.map((n) => `network ${n}`),
    ];
    const cmd = commandLine(
        [
            ...l.stacks.map((st) => ["bash", teardownScript, st.name]),
            ...(l.networks.length > 0 ? [["docker", "network", "rm", ...l.networks]] : []),
        ],
        dockerHost,
    );
    const head =
        l.unverified === undefined
            ? "left on the swarm"
            : `could not check what is left (${l.unverified}); this run created, and may have left`;
    return `${head}: ${what.join(", ")}\nremove it with: ${cmd}`;
}
