import * as pulumi from "@pulumi/pulumi";
import { hostCommand, type Invocation, type Target } from "../src/hostCommand";

export interface RollingMoveArgs {
    name: string;
    temporaryName: string;
    temporarySubnet: string;
    /** The network's subnet after the move. */
    subnet: string;
    moveTimeoutSeconds: number;
    /** The stacks allowed to run on the host (the quiescence check before the first move). */
    allowStacks: string[];
    /** True when this run changes the network: the moves' commands take this run's arguments. */
    migrating: boolean;
    target: Target;
    dependsOn: pulumi.Resource[];
}

/**
 * The two hops of network.migration: rolling, around the network's replacement (create before delete: the old
 * network is gone by then, moved out of and removed by `out`). `out` runs before the network is created again,
 * `back` once it exists (and the rebuild ran). Neither has a delete: they tear nothing down, and both do nothing
 * when the host is already where they lead, so a rerun after an interruption picks up where it stopped. Outside a
 * migration their commands keep what the state holds, so a temporary subnet picked anew never shows as a change.
 */
export class RollingMove extends pulumi.ComponentResource {
    /** Completes once every service left the old network (and the old network is removed). */
    public readonly out: pulumi.CustomResource;
    private readonly args: RollingMoveArgs;
    private readonly resourceName: string;

    constructor(name: string, args: RollingMoveArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:RollingMove", name, {}, opts);
        this.args = args;
        this.resourceName = name;
        const out: Invocation = {
            script: "network-move",
            args: [
                "out",
                args.name,
                args.temporaryName,
                args.temporarySubnet,
                args.subnet,
                String(args.moveTimeoutSeconds),
                ...args.allowStacks,
            ],
        };
        this.out = hostCommand(`${name}-out`, { create: out, update: out }, args.target, {
            parent: this,
            dependsOn: args.dependsOn,
            ignoreChanges: args.migrating ? [] : ["create", "update"],
        });
        this.registerOutputs({});
    }

    /**
     * The way back onto the new network: replaced (it has no delete: its create runs) whenever the network's ID
     * changes. A trigger, not an environment variable: over SSH, sshd refuses variables it does not AcceptEnv.
     */
    back(networkId: pulumi.Input<string>, dependsOn: pulumi.Resource[]): pulumi.CustomResource {
        const a = this.args;
        const back: Invocation = {
            script: "network-move",
            args: ["back", a.name, a.temporaryName, String(a.moveTimeoutSeconds)],
        };
        return hostCommand(
            `${this.resourceName}-back`,
            { create: back, update: back, triggers: [networkId] },
            a.target,
            { parent: this, dependsOn, ignoreChanges: a.migrating ? [] : ["create", "update"] },
        );
    }
}
