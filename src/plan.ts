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
            throw new Error(`the waits form a cycle: ${[...visiting.slice(at), name].join(" -> ")}; remove one of these waitsFor entries`);
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
    stacks.forEach((s) => visit(s.name));
    const waves: string[][] = [];
    // Config order within a wave keeps the plan stable across runs.
    for (const s of stacks) {
        const w = wave.get(s.name) ?? 0;
        (waves[w] ??= []).push(s.name);
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

/** Whether the live network differs from the desired one, so that `pulumi up` replaces it. */
export function isReplacing(fromSubnets: readonly string[], toSubnet: string): boolean {
    return fromSubnets.length > 0 && !(fromSubnets.length === 1 && fromSubnets[0] === toSubnet);
}

/**
 * The ordered steps of the maintenance that (re)creates the network: only stacks attached to it come down;
 * they come down dependents first (the reverse of the deploy waves) and come back in deploy waves after the
 * rebuild. It depends on the config alone, so it reads the same before and after the maintenance.
 */
export function maintenancePlan(input: PlanInput): MaintenanceStep[] {
    const attached = input.stacks.filter((s) => s.attached);
    const attachedNames = new Set(attached.map((s) => s.name));
    const waves = orderStacks(input.stacks)
        .map((w) => w.filter((n) => attachedNames.has(n)))
        .filter((w) => w.length > 0);
    const steps: Omit<MaintenanceStep, "step">[] = [];
    const net = input.network;
    steps.push({ action: "gate", targets: [net.name], detail: "the maintenance window is open and the host quiescent" });
    for (const w of [...waves].reverse()) {
        steps.push({ action: "teardown", targets: w, detail: "leak-free: services removed, tasks gone from the swarm, then the stack and its networks" });
    }
    steps.push({ action: "delete-network", targets: [net.name], detail: "waits until the name is free" });
    steps.push({ action: "create-network", targets: [net.name], detail: `overlay, attachable, ${net.toSubnet}` });
    if (input.rebuildCommand) {
        steps.push({ action: "rebuild", targets: [net.name], detail: input.rebuildCommand.join(" ") });
    }
    for (const w of waves) {
        steps.push({ action: "deploy", targets: w, detail: "waits for the previous wave" });
    }
    steps.push({ action: "verify", targets: attached.map((s) => s.name), detail: `replicas converged, task addresses inside ${net.toSubnet}` });
    return steps.map((s, i) => ({ step: i + 1, ...s }));
}
