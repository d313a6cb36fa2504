import * as pulumi from "@pulumi/pulumi";
import { hostCommand, Target } from "../src/hostCommand";

export interface MaintenanceGateArgs {
    networkName: string;
    /** Whether this run replaces the network (live subnet differs from the configured one). */
    replacing: boolean;
    /** The desired network, as the value whose change re-arms the gate. */
    desired: string;
    windowOpen: boolean;
    windowEnv: string;
    /** Stacks that may run during the window; any other running stack makes the host not quiescent. */
    allowStacks: string[];
    /** True during `pulumi preview`: the gate never blocks a preview. */
    dryRun: boolean;
    target: Target;
}

/** Why `pulumi up` may not replace the network now, or undefined when it may. */
export function gateRefusal(a: Pick<MaintenanceGateArgs, "replacing" | "windowOpen" | "windowEnv" | "dryRun" | "networkName">): string | undefined {
    if (!a.replacing || a.windowOpen || a.dryRun) {
        return undefined;
    }
    return `this update replaces the network "${a.networkName}", which takes every attached stack down; ` +
        `it runs only in a maintenance window. Open the window for this run with ` +
        `\`${a.windowEnv}=open pulumi up\`, or set it with \`pulumi config set --path maintenance.windowOpen true\`. ` +
        `Nothing was changed.`;
}

/**
 * First resource of the program: everything else depends on it, so when its host check fails the engine has
 * not registered (and so cannot delete) anything else. The window itself is checked before it is created
 * (gateRefusal), so a closed window registers nothing at all.
 */
export class MaintenanceGate extends pulumi.ComponentResource {
    public readonly check: pulumi.CustomResource;

    constructor(name: string, args: MaintenanceGateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:MaintenanceGate", name, {}, opts);
        // Keyed on the desired network alone: it re-runs exactly when the network is about to change, and a
        // run after the maintenance (when the live network already matches) sees no difference.
        this.check = hostCommand(`${name}-quiescent`, {
            create: { script: "gate-quiescent", args: args.allowStacks },
            triggers: [args.desired],
        }, args.target, { parent: this });
        this.registerOutputs({});
    }
}
