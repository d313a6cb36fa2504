// Runs the program under pulumi.runtime.setMocks and records every resource with its inputs and options.
// The mocks throw on any type token they do not know, so a resource the program should not create fails.
import type * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";

// The SDK's mock monitor accepts resource hooks as a feature but has no RPC to register one: answer it, so a
// program that binds hooks runs under mocks (the hooks themselves run only in the engine tier).
Object.assign(MockMonitor.prototype, {
    registerResourceHook(_req: unknown, callback: (err: Error | null, res: unknown) => void): void {
        callback(null, {});
    },
});

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    /** Options as the program set them; dependsOn resolved to resource names. */
    parent?: string;
    dependsOn: string[];
    deleteBeforeReplace?: boolean;
    import?: string;
    ignoreChanges?: string[];
    /** Names of the resource's beforeDelete hooks. */
    beforeDelete: string[];
}

const KNOWN = new Set([
    "command:local:Command",
    "command:remote:Command",
    "docker:index/network:Network",
    "swarm-proxy:index:ProxyNetwork",
    "swarm-proxy:index:SwarmStack",
    "swarm-proxy:index:NixosRebuild",
    "swarm-proxy:index:HostScripts",
    "swarm-proxy:index:ParallelTeardown",
    "swarm-proxy:index:RollingMove",
]);

export class Recorder {
    readonly registered: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
    private readonly names = new Map<pulumi.Resource, string>();
    private readonly options = new Map<string, Omit<Recorded, "type" | "name" | "inputs">>();
    private readonly pending: pulumi.Resource[] = [];

    mocks(): pulumi.runtime.Mocks {
        return {
            newResource: (args) => {
                if (!KNOWN.has(args.type)) {
                    throw new Error(`unexpected resource type ${args.type} (${args.name})`);
                }
                this.registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type.startsWith("command:")) {
                    state.stdout = `id-of-${args.name}`;
                    state.stderr = "";
                }
                return { id: `${args.name}-id`, state };
            },
            call: (args) => {
                throw new Error(`unexpected call ${args.token}`);
            },
        };
    }

    /** The transformation that sees each resource's options (MockResourceArgs carries none). */
    readonly transformation: pulumi.ResourceTransformation = (args) => {
        this.names.set(args.resource, args.name);
        this.pending.push(args.resource);
        const nameOf = (r: unknown) => this.names.get(r as pulumi.Resource) ?? "?";
        const deps = args.opts.dependsOn;
        const list = deps === undefined ? [] : Array.isArray(deps) ? deps : [deps];
        const o = args.opts as pulumi.CustomResourceOptions;
        this.options.set(args.name, {
            parent: args.opts.parent ? nameOf(args.opts.parent) : undefined,
            dependsOn: (list as unknown[]).map(nameOf),
            deleteBeforeReplace: o.deleteBeforeReplace,
            import: o.import as string | undefined,
            ignoreChanges: o.ignoreChanges,
            beforeDelete: (o.hooks?.beforeDelete ?? []).map((h) => h.name),
        });
        return undefined;
    };

    /** Waits until every resource the program created has been registered with the mocks. */
    async settle(): Promise<void> {
        await Promise.all(this.pending.map((r) => new Promise<void>((resolve) => r.urn.apply(() => resolve()))));
    }

    get(name: string): Recorded {
        const r = this.registered.find((x) => x.name === name);
        if (!r) {
            throw new Error(`no resource ${name}; registered: ${this.registered.map((x) => x.name).join(", ")}`);
        }
        return { ...r, dependsOn: [], beforeDelete: [], ...this.options.get(name) };
    }
}
