// The maintenance window. Outside it, nothing is torn down: every resource whose delete takes something down
// (the network, each stack, the teardown of all stacks) carries one named `beforeDelete` hook, and the engine
// calls it before each such delete, whatever made the engine decide to delete or replace it (a changed input,
// a resource gone from the program, `--replace`, a network recreated out of band, ...). The hook's name is
// stored in state with the resource and its code is this run's: it sees this run's window. Inside the window
// the hook checks, once per run and before the first delete, that the host is quiescent.
import * as pulumi from "@pulumi/pulumi";
import { WINDOW_ENV, WINDOW_HOOK } from "./project";

export { WINDOW_HOOK };

export interface WindowArgs {
    windowOpen: boolean;
    /** True during `pulumi preview`: nothing is deleted then, so the hook only says what `up` would refuse. */
    dryRun: boolean;
    /** Throws, naming the stacks, when the host is not quiescent. Called at most once per run. */
    checkQuiescent: () => void;
    /**
     * Right before the delete of the network's resource (named `resource`), in the window: tears down the configured
     * stacks still attached, or throws naming what else is. The state's recorded dependencies, which order the
     * stacks' teardown first, can have been dropped by a refresh or an import: the live host decides.
     */
    network?: {
        resource: string;
        clear: () => void;
        /** Whether the network with this ID is no longer on the host: its delete then tears nothing down. */
        gone?: (id: string) => boolean;
        /** This run's rolling migration removes the old network itself, before the engine deletes its entry. */
        rolling?: boolean;
    };
}

const HOW_TO_OPEN =
    `Open the window for one run with \`${WINDOW_ENV}=open pulumi up\`, or set it with ` +
    "`pulumi config set --path maintenance.windowOpen true`.";

/** Why `pulumi up` refuses to delete `what` now (the window is closed). */
export function deleteRefusal(what: string): string {
    return (
        `outside the maintenance window: this update would delete ${what}, which takes it down; ` +
        `disruptive steps run only in a maintenance window. ${HOW_TO_OPEN} Nothing was torn down.`
    );
}

/** Why `pulumi up` may not replace the network now, or undefined when it may. Checked before anything is registered. */
export function replaceRefusal(a: {
    replacing: boolean;
    /** network.migration: rolling (which tears nothing down; `windowOpen` then includes its own permission). */
    rolling?: boolean;
    windowOpen: boolean;
    dryRun: boolean;
    networkName: string;
}): string | undefined {
    if (!a.replacing || a.windowOpen || a.dryRun) {
        return undefined;
    }
    if (a.rolling) {
        return (
            `this update moves every service attached to "${a.networkName}" onto a new network (network.migration: ` +
            `rolling); it runs in a maintenance window, or outside one with ` +
            "`pulumi config set --path maintenance.allowRollingOutsideWindow true`. " +
            `${HOW_TO_OPEN} Nothing was changed.`
        );
    }
    return (
        `this update replaces the network "${a.networkName}", which takes every attached stack down; ` +
        `it runs only in a maintenance window. ${HOW_TO_OPEN} Nothing was changed.`
    );
}

function describe(args: pulumi.ResourceHookArgs): string {
    return `${args.name} (${args.type})`;
}

/** The hook to bind as `hooks: { beforeDelete: [hook] }` on every resource whose delete is disruptive. */
export function maintenanceWindowHook(a: WindowArgs): pulumi.ResourceHook {
    let quiescent: Error | true | undefined;
    const warned = new Set<string>();
    return new pulumi.ResourceHook(
        WINDOW_HOOK,
        (args) => {
            const net = a.network && args.name === a.network.resource ? a.network : undefined;
            // The rolling migration removed the old network before its replacement was created: the engine's
            // delete of the old entry (at the end of the run) finds nothing, takes nothing down and needs no window.
            if (net?.rolling && a.dryRun) return;
            // Only the Docker provider's network has the network's ID as its own: a command resource's ID is not one,
            // and Docker would call it unknown ("gone") while the network it manages is live.
            if (net?.gone && args.id && args.type === "docker:index/network:Network" && net.gone(args.id)) return;
            if (!a.windowOpen) {
                const refusal = deleteRefusal(describe(args));
                if (!a.dryRun) {
                    throw new Error(refusal);
                }
                if (!warned.has(args.urn)) {
                    warned.add(args.urn);
                    pulumi.log.warn(`\`pulumi up\` would refuse here: ${refusal}`);
                }
                return;
            }
            if (a.dryRun) {
                return;
            }
            if (quiescent === undefined) {
                try {
                    a.checkQuiescent();
                    quiescent = true;
                } catch (e) {
                    quiescent = e as Error;
                }
            }
            if (quiescent !== true) {
                throw new Error(
                    `the maintenance needs a quiescent host, and it is not: ${quiescent.message}. Nothing was torn down.`,
                );
            }
            if (a.network && args.name === a.network.resource) {
                a.network.clear();
            }
        },
        { onDryRun: true },
    );
}
