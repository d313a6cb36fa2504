import * as pulumi from "@pulumi/pulumi";
import { commandLine, type Target, targetCommand } from "../src/hostCommand";

export interface ParallelTeardownArgs {
    /** The attached stacks, torn down together. */
    stacks: string[];
    network: { name: string; id: pulumi.Input<string> };
    timeoutSeconds: number;
    target: Target;
    /** Every attached stack's deploy: this resource comes after them, so the engine deletes it before them. */
    dependsOn: pulumi.Resource[];
    /** Its `beforeDelete` hook: the teardown runs only in the maintenance window. */
    windowHook: pulumi.ResourceHook;
    /**
     * Keep the network's ID in `triggers` at the value the state holds: under network.migration rolling (a new
     * network moves the stacks instead of tearing them down), and ever after one (replaced late, this resource
     * would tear down stacks just redeployed; the network's own clear-before-delete tears them down instead).
     */
    keepTriggers?: boolean;
}

/**
 * Tears every attached stack down at once when the network is replaced. The engine deletes the replaced
 * dependents of a delete-before-replace resource one after another, so six leak-free teardowns of ~5 s
 * each would take ~30 s in a row; this resource is one of those dependents and is deleted first (it depends
 * on all the stacks), running them side by side. Each stack's own delete then finds nothing left to do.
 */
export class ParallelTeardown extends pulumi.ComponentResource {
    public readonly resource: pulumi.CustomResource;

    constructor(name: string, args: ParallelTeardownArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:ParallelTeardown", name, {}, opts);
        this.resource = targetCommand(
            `${name}-all`,
            {
                create: "true",
                delete: commandLine(args.target.scriptsDir, {
                    script: "stacks-teardown",
                    args: [String(args.timeoutSeconds), ...args.stacks],
                }),
                triggers: [args.network.name, args.network.id],
            },
            args.target,
            {
                parent: this,
                dependsOn: args.dependsOn,
                deleteBeforeReplace: true,
                hooks: { beforeDelete: [args.windowHook] },
                ignoreChanges: args.keepTriggers ? ["triggers"] : [],
            },
        );
        this.registerOutputs({});
    }
}
