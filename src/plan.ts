// The maintenance plan as plain data: which stacks come down and go up, in which order.

export interface StackNode {
    name: string;
    waitsFor: string[];
    attached: boolean;
}

/**
 * Deploy order as waves: every stack comes in the first wave after all the stacks it waits for.
 * Throws naming the cycle when the waits cannot be ordered.
 */
export function orderStacks(stacks: readonly Pick<StackNode, "name" | "waitsFor">[]): string[][] {
    const byName = new Map(stacks.map((s) => [s.name, s]));
    const wave = new Map<string, number>();
    const visiting: string[] = [];
    const visit = (name: string): number => {
        const known = wave.get(name);
        if (known !== undefined) {
            return known;
        }
        const at = visiting.indexOf(name);
        if (at >= 0) {
            throw new Error(
                `the waits form a cycle: ${[...visiting.slice(at), name].join(" -> ")}; remove one of these waitsFor entries`,
            );
        }
        const node = byName.get(name);
        if (!node) {
            throw new Error(`"${name}" is waited for but is not a configured stack`);
        }
        visiting.push(name);
        const w = node.waitsFor.reduce((max, dep) => Math.max(max, visit(dep) + 1), 0);
        visiting.pop();
        wave.set(name, w);
        return w;
    };
    for (const s of stacks) {
        visit(s.name);
    }
    const waves: string[][] = [];
    // Config order within a wave keeps the plan stable across runs.
    for (const s of stacks) {
        const w = wave.get(s.name) ?? 0;
        waves[w] ??= [];
        waves[w].push(s.name);
    }
    return waves;
}

export type StepAction = "gate" | "teardown" | "delete-network" | "create-network" | "rebuild" | "deploy" | "verify";

export interface MaintenanceStep {
    step: number;
    action: StepAction;
    targets: string[];
    detail: string;
}

export interface PlanInput {
    network: { name: string; toSubnet: string };
    stacks: readonly StackNode[];
    rebuildCommand?: readonly string[];
}

/** What the program builds its resources from: the maintenance's steps, and the order it really uses. */
export interface Plan {
    /** The ordered steps of the maintenance, as the stack output `maintenancePlan` shows them. */
    steps: MaintenanceStep[];
    /** Every configured stack in deploy waves: a stack's resources come after those of the stacks it waits for. */
    waves: string[][];
    /** The attached stacks, torn down side by side by one resource when the network is replaced. */
    teardown: string[];
}

/** Whether the live network differs from the desired one, so that `pulumi up` replaces it. */
export function isReplacing(fromSubnets: readonly string[], toSubnet: string): boolean {
    return fromSubnets.length > 0 && !(fromSubnets.length === 1 && fromSubnets[0] === toSubnet);
}

/**
 * The maintenance that (re)creates the network, and the order the program builds: only stacks attached to it
 * come down, all at once (one resource tears them down side by side; the leak-free teardown waits per task,
 * not per stack), and come back in deploy waves after the rebuild. It depends on the config alone, so it reads
 * the same before and after the maintenance.
 */
export function maintenancePlan(input: PlanInput): Plan {
    const attached = input.stacks.filter((s) => s.attached).map((s) => s.name);
    const attachedNames = new Set(attached);
    const waves = orderStacks(input.stacks);
    const attachedWaves = waves.map((w) => w.filter((n) => attachedNames.has(n))).filter((w) => w.length > 0);
    const steps: Omit<MaintenanceStep, "step">[] = [];
    const net = input.network;
    steps.push({
        action: "gate",
        targets: [net.name],
        detail: "the maintenance window is open and the host quiescent",
    });
    if (attached.length > 0) {
        steps.push({
            action: "teardown",
            targets: attached,
            detail: "side by side, leak-free: services removed, tasks gone from the swarm on every node, then the stacks and their networks",
        });
    }
    steps.push({ action: "delete-network", targets: [net.name], detail: "waits until the name is free" });
    steps.push({ action: "create-network", targets: [net.name], detail: `overlay, attachable, ${net.toSubnet}` });
    if (input.rebuildCommand) {
        steps.push({ action: "rebuild", targets: [net.name], detail: input.rebuildCommand.join(" ") });
    }
    for (const [i, w] of attachedWaves.entries()) {
        steps.push({
            action: "deploy",
            targets: w,
            detail: i === 0 ? "once the network exists" : "once the previous wave's services are accepted",
        });
    }
    steps.push({
        action: "verify",
        targets: attached,
        detail: `replicas converged on every node, task addresses inside ${net.toSubnet}`,
    });
    return { steps: steps.map((s, i) => ({ step: i + 1, ...s })), waves, teardown: attached };
}

/**
 * Why a recreate cannot run: it tears every attached stack down and deploys it again, and a stack another tool
 * deploys (`deploy: external`) would stay down, with no way back from the program. Undefined when it can.
 */
export function externalRefusal(input: {
    key: string;
    networkName: string;
    replacing: boolean;
    migration: "recreate" | "rolling";
    stacks: readonly { name: string; attached: boolean; deploy?: string | string[] }[];
}): string | undefined {
    const external = input.stacks.filter((s) => s.attached && s.deploy === "external").map((s) => s.name);
    if (!input.replacing || input.migration !== "recreate" || external.length === 0) return undefined;
    const one = external.length === 1;
    return (
        `${input.key}: "recreate" would tear down ${one ? "the stack" : "the stacks"} ` +
        `${external.join(", ")} with ${input.networkName}, and ${one ? "it is" : "they are"} deploy: external ` +
        `(another tool deploys ${one ? "it" : "them"}): the program could not bring ${one ? "it" : "them"} back. ` +
        'Use network.migration "rolling" (it moves every service and tears nothing down), or give ' +
        `${one ? "it" : "each of them"} a compose file (compose), a systemd unit (unit) or a deploy command ` +
        "(deploy: [words...])"
    );
}
