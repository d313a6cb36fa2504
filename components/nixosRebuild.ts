import * as pulumi from "@pulumi/pulumi";
import { argvLine, type Target, targetCommand } from "../src/hostCommand";

export interface NixosRebuildArgs {
    command: string[];
    /** Digest of the nix module that creates the network: a change re-runs the rebuild. */
    moduleDigest: string;
    /**
     * The module's path relative to the project (the command runs in the project's folder), given to the command as
     * SWARM_PROXY_NIX_MODULE (local connection only).
     */
    modulePath?: string;
    /** Keep the path the state records (an absolute one from an older version) until the rebuild next runs. */
    keepRecordedPath?: boolean;
    networkId: pulumi.Input<string>;
    target: Target;
    dependsOn: pulumi.Resource[];
}

/**
 * Runs the rebuild after the network exists and before the stacks come back, so that the boot-time unit
 * finds the network it would create already there. Re-runs when the network or the module changes, and
 * only then: its inputs hold no host script, so a changed script never runs it again.
 */
export class NixosRebuild extends pulumi.ComponentResource {
    public readonly done: pulumi.CustomResource;

    constructor(name: string, args: NixosRebuildArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:NixosRebuild", name, {}, opts);
        this.done = targetCommand(
            `${name}-switch`,
            {
                // stdin is closed: the rebuild must not wait for input.
                create: `${argvLine(args.command)} </dev/null`,
                triggers: [args.networkId, args.moduleDigest],
                environment: args.modulePath !== undefined ? { SWARM_PROXY_NIX_MODULE: args.modulePath } : undefined,
            },
            args.target,
            { parent: this, dependsOn: args.dependsOn, ignoreChanges: args.keepRecordedPath ? ["environment"] : [] },
        );
        this.registerOutputs({});
    }
}
