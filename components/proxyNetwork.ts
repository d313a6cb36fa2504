import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { hostCommand, type Target } from "../src/hostCommand";

export interface ProxyNetworkArgs {
    name: string;
    subnet: string;
    gateway: string;
    labels: Record<string, string>;
    /** "docker": the Docker provider's Network; "command": the host scripts (no provider plugin needed). */
    implementation: "docker" | "command";
    /** ID of the live network to take over (docker implementation): the first `up` then changes nothing. */
    importId?: string;
    removeTimeoutSeconds: number;
    target: Target;
    dependsOn: pulumi.Resource[];
    /** Its `beforeDelete` hook: the network is deleted only in the maintenance window. */
    windowHook: pulumi.ResourceHook;
    /** The Docker provider that reaches the host (over SSH); the default provider (DOCKER_HOST) when absent. */
    provider?: docker.Provider;
    /**
     * True (the default, network.migration: recreate): the old network goes before the new one is created, its
     * stacks torn down first. False (rolling): the new one is created once the moves removed the old one, and the
     * engine deletes the old entry at the end, when the stacks already run on the new network.
     */
    deleteBeforeReplace?: boolean;
}

/** The shared attachable overlay. Every input forces a replacement, deleted before it is created again. */
export class ProxyNetwork extends pulumi.ComponentResource {
    public readonly networkId: pulumi.Output<string>;
    /** The resource whose replacement must carry the attached stacks with it. */
    public readonly resource: pulumi.CustomResource;

    constructor(name: string, args: ProxyNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:ProxyNetwork", name, {}, opts);
        // Explicitly named: the name is the identity stacks join by, so a create-before-delete would collide.
        const childOpts = {
            parent: this,
            deleteBeforeReplace: args.deleteBeforeReplace ?? true,
            dependsOn: args.dependsOn,
            hooks: { beforeDelete: [args.windowHook] },
        };
        if (args.implementation === "docker") {
            const net = new docker.Network(
                `${name}-network`,
                {
                    name: args.name,
                    driver: "overlay",
                    attachable: true,
                    ipamDriver: "default",
                    ipamConfigs: [{ subnet: args.subnet, gateway: args.gateway }],
                    labels: Object.entries(args.labels).map(([label, value]) => ({ label, value })),
                },
                {
                    ...childOpts,
                    provider: args.provider,
                    import: args.importId,
                    // Docker fills driver options (the VXLAN ID) on create; they are not ours to diff.
                    ignoreChanges: ["options"],
                },
            );
            this.networkId = net.id;
            this.resource = net;
        } else {
            const labels = Object.entries(args.labels).map(([k, v]) => `${k}=${v}`);
            const net = hostCommand(
                `${name}-network`,
                {
                    create: { script: "network-ensure", args: [args.name, args.subnet, args.gateway, ...labels] },
                    delete: { script: "network-remove", args: [args.name, String(args.removeTimeoutSeconds)] },
                    triggers: [args.name, args.subnet, args.gateway, ...labels],
                },
                args.target,
                childOpts,
            );
            this.networkId = net.stdout.apply((s) => s.trim().split("\n").pop() ?? "");
            this.resource = net;
        }
        this.registerOutputs({ networkId: this.networkId });
    }
}
