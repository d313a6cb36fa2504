import * as pulumi from "@pulumi/pulumi";
import { hostCommand, Target } from "../src/hostCommand";

export interface NixosRebuildArgs {
    command: string[];
    /** Digest of the nix module that creates the network: a change re-runs the rebuild. */
    moduleDigest: string;
    networkId: pulumi.Input<string>;
    target: Target;
    dependsOn: pulumi.Resource[];
}

/**
 * Runs the rebuild after the network exists and before the stacks come back, so that the boot-time unit
 * finds the network it would create already there. Re-runs whenever the network or the module changes.
 */
export class NixosRebuild extends pulumi.ComponentResource {
    public readonly done: pulumi.CustomResource;

    constructor(name: string, args: NixosRebuildArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:NixosRebuild", name, {}, opts);
        this.done = hostCommand(`${name}-switch`, {
            create: { script: "run", args: args.command },
            triggers: [args.networkId, args.moduleDigest],
        }, args.target, { parent: this, dependsOn: args.dependsOn });
        this.registerOutputs({});
    }
}
