// What Pulumi's state records, read with `pulumi stack export` (the program at preview and up, and the drift
// check alike), and what follows from it when the live network is not the one the state holds: which entries
// are stale, and the state-only steps that adopt the live network again. A refresh or an import can drop the
// network's entry, or the stacks' recorded dependency on it, so nothing here rests on those alone: the stacks'
// `triggers` carry the network ID they were deployed against.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** One resource of the state, as much of it as the checks need. */
export interface RecordedResource {
    urn: string;
    /** The resource's name (the URN's last part: drone-stack, proxy-network, ...). */
    name: string;
    type: string;
    id?: string;
    /** URNs this resource depends on: dependencies, property dependencies, deletedWith. */
    dependsOn: string[];
    /** The command resources' `triggers` input (stacks: [network name, network ID]). */
    triggers: string[];
    /** The resource's inputs as recorded (a command's create, update, environment, ...): what a path check compares. */
    inputs?: Record<string, unknown>;
}

/** The Docker provider's network, as the state last recorded it. */
export interface RecordedNetwork {
    urn: string;
    id: string;
    name?: string;
    subnet?: string;
    gateway?: string;
    labels: Record<string, string>;
}

export interface RecordedState {
    resources: RecordedResource[];
    /** URN of each resource by its name. */
    urns: Record<string, string>;
    /** The stack output networkId: the network's ID as the last `pulumi up` that finished recorded it. */
    networkId?: string;
    /** Stacks deployed by a systemd unit (stack -> unit), read from their deploy command. */
    units: Record<string, string>;
    /** The Docker provider's network resource (docker:index/network:Network), when the state holds one. */
    network?: RecordedNetwork;
}

const NETWORK_TYPE = "docker:index/network:Network";

interface ExportedResource {
    urn?: unknown;
    type?: unknown;
    id?: unknown;
    inputs?: {
        [key: string]: unknown;
        create?: unknown;
        triggers?: unknown;
        name?: unknown;
        ipamConfigs?: unknown;
        labels?: unknown;
    };
    outputs?: { networkId?: unknown };
    /** The old entry of a create-before-delete replacement whose delete has not run yet (a run stopped after the
     * new one's create): the engine deletes it at the next run. */
    delete?: unknown;
    dependencies?: unknown;
    propertyDependencies?: unknown;
    deletedWith?: unknown;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

function recordedNetwork(r: ExportedResource, urn: string): RecordedNetwork | undefined {
    if (typeof r.id !== "string" || r.id === "") return undefined;
    const ipam = (Array.isArray(r.inputs?.ipamConfigs) ? r.inputs.ipamConfigs : []) as {
        subnet?: unknown;
        gateway?: unknown;
    }[];
    const labels: Record<string, string> = {};
    for (const l of (Array.isArray(r.inputs?.labels) ? r.inputs.labels : []) as {
        label?: unknown;
        value?: unknown;
    }[]) {
        if (typeof l.label === "string" && typeof l.value === "string") labels[l.label] = l.value;
    }
    return {
        urn,
        id: r.id,
        name: typeof r.inputs?.name === "string" ? r.inputs.name : undefined,
        subnet: typeof ipam[0]?.subnet === "string" ? ipam[0].subnet : undefined,
        gateway: typeof ipam[0]?.gateway === "string" ? ipam[0].gateway : undefined,
        labels,
    };
}

/** Pure: the parts of `pulumi stack export`'s document the checks need. Throws on a document that is not JSON. */
export function parseStackExport(text: string): RecordedState {
    const doc = JSON.parse(text) as { deployment?: { resources?: unknown } };
    const resources = (doc.deployment?.resources ?? []) as ExportedResource[];
    const state: RecordedState = { resources: [], urns: {}, units: {} };
    for (const r of Array.isArray(resources) ? resources : []) {
        // An entry on its way out is not what the state holds: after a rolling migration stopped before the old
        // network's delete, the old network's entry is still there beside the new one.
        if (typeof r.urn !== "string" || r.delete === true) continue;
        const name = r.urn.split("::").pop() ?? "";
        const type = typeof r.type === "string" ? r.type : "";
        state.urns[name] = r.urn;
        const propertyDeps =
            r.propertyDependencies && typeof r.propertyDependencies === "object"
                ? Object.values(r.propertyDependencies as Record<string, unknown>).flatMap(strings)
                : [];
        state.resources.push({
            urn: r.urn,
            name,
            type,
            id: typeof r.id === "string" && r.id !== "" ? r.id : undefined,
            dependsOn: [
                ...new Set([
                    ...strings(r.dependencies),
                    ...propertyDeps,
                    ...(typeof r.deletedWith === "string" ? [r.deletedWith] : []),
                ]),
            ],
            triggers: strings(r.inputs?.triggers),
            inputs: r.inputs && typeof r.inputs === "object" ? { ...r.inputs } : {},
        });
        if (type === "pulumi:pulumi:Stack" && typeof r.outputs?.networkId === "string") {
            state.networkId = r.outputs.networkId;
        }
        if (type === NETWORK_TYPE) {
            state.network = recordedNetwork(r, r.urn) ?? state.network;
        }
        const unit =
            typeof r.inputs?.create === "string"
                ? /stack-restart-unit\.sh' '([^']+)' '([^']+)'/.exec(r.inputs.create)
                : null;
        if (unit && name === `${unit[1]}-stack`) {
            state.units[unit[1]] = unit[2];
        }
    }
    return state;
}

/** Two network IDs name the same network (one may be the short form of the other). */
export const sameId = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);
const NETWORK_ID = /^[a-z0-9]{25}$|^[a-f0-9]{64}$/;

/** The network ID a command resource's `triggers` tie it to ([network name, network ID]), if any. */
function triggerNetworkId(r: RecordedResource, networkName: string): string | undefined {
    const [name, id] = r.triggers;
    return name === networkName && id !== undefined && NETWORK_ID.test(id) ? id : undefined;
}

/**
 * Pure: whether the state's entry `name` (a stack's deploy, the teardown of all) carries in its `triggers` another
 * network ID than the state's network entry. A rolling migration leaves them so: it moves the stacks onto the new
 * network without replacing them, and a trigger's value changes only with a replacement.
 */
export function triggersPredate(state: RecordedState | undefined, name: string, networkName: string): boolean {
    const r = state?.resources.find((x) => x.name === name);
    const id = r ? triggerNetworkId(r, networkName) : undefined;
    return id !== undefined && state?.network !== undefined && !sameId(id, state.network.id);
}

/**
 * Pure: the network ID the state records: the Docker provider's network entry, else the ID the stacks were
 * deployed against (a refresh can drop the network's entry), else the last finished run's `networkId` output.
 */
export function recordedNetworkId(state: RecordedState, networkName: string): string | undefined {
    return (
        state.network?.id ??
        state.resources.map((r) => triggerNetworkId(r, networkName)).find((id) => id !== undefined) ??
        state.networkId
    );
}

/**
 * Pure: the state's entries tied to a network other than the live one, with everything that depends on them (so
 * that `pulumi state delete` of the whole list needs no --target-dependents), in the state's order. Stale are the
 * Docker provider's network when it holds another ID, and every resource whose `triggers` name the network with
 * another ID (each attached stack and the teardown of all of them: [network name, network ID]).
 */
export function staleEntries(state: RecordedState, liveId: string, networkName: string): string[] {
    const stale = new Set<string>();
    if (state.network && !sameId(state.network.id, liveId)) stale.add(state.network.urn);
    for (const r of state.resources) {
        const id = triggerNetworkId(r, networkName);
        if (id !== undefined && !sameId(id, liveId)) stale.add(r.urn);
    }
    let grew = stale.size > 0;
    while (grew) {
        grew = false;
        for (const r of state.resources) {
            if (!stale.has(r.urn) && r.dependsOn.some((d) => stale.has(d))) {
                stale.add(r.urn);
                grew = true;
            }
        }
    }
    return state.resources.filter((r) => stale.has(r.urn)).map((r) => r.urn);
}

/** The state-only steps that adopt the live network: argv lists, to run in order. */
export function adoptionSteps(stale: string[], liveId: string): string[][] {
    return [
        ...(stale.length > 0 ? [["pulumi", "state", "delete", "--yes", ...stale]] : []),
        ["pulumi", "config", "set", "--path", "network.adoptId", liveId],
        ["pulumi", "up"],
        ["pulumi", "config", "rm", "--path", "network.adoptId"],
    ];
}

/**
 * The Pulumi CLI that runs this program: the program's process is the language host's child, which is the CLI's
 * child (measured with CLI 3.259), so the same binary, version and backend login are used even where `pulumi` is
 * not on PATH. Elsewhere (a program served inline by a test harness), `pulumi` from PATH.
 */
export function runningCli(): string {
    let pid = process.ppid;
    for (let i = 0; i < 4 && pid > 1; i++) {
        try {
            const exe = fs.readlinkSync(`/proc/${pid}/exe`);
            if (path.basename(exe) === "pulumi") return exe;
            // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces or parentheses.
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        } catch {
            break;
        }
    }
    return "pulumi";
}

/**
 * The state of the stack the program runs for, read with the Pulumi CLI (`pulumi stack export`, which reads the
 * checkpoint and takes no lock, so it works while this update runs: measured 250-370 ms).
 */
export function readRecordedState(stack: string, cwd: string, env: NodeJS.ProcessEnv = process.env): RecordedState {
    const out = execFileSync(runningCli(), ["stack", "export", "--stack", stack, "--non-interactive"], {
        cwd,
        env,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
        stdio: ["ignore", "pipe", "pipe"],
    });
    return parseStackExport(out);
}
