import * as pulumi from "@pulumi/pulumi";
import { REDEPLOY_ENV } from "../config";
import { hostCommand, type Invocation, type Target } from "../src/hostCommand";

/**
 * How the stack is deployed: the compose file (locally relative to the project, where the command runs; over SSH the
 * path it was shipped to, which holds the digest; or a path on the host) with its content digest, the systemd unit
 * that deploys it, another tool (`external`: only required to run), or the user's own command (argv).
 */
export type StackDeploy =
    { compose: string; digest?: string } | { unit: string } | { external: true } | { command: string[] };

export interface SwarmStackArgs {
    stack: string;
    deploy: StackDeploy;
    /**
     * The health check's compose trigger when it keeps the one its state records instead of the digest: an SSH
     * stack recorded before compose files were shipped holds none, and a new one would only run the check again.
     */
    healthTrigger?: string;
    /** Set for stacks attached to the network: its ID is an input, so replacing it replaces the stack. */
    network?: { name: string; id: pulumi.Input<string>; subnet: string };
    teardownTimeoutSeconds: number;
    health: {
        timeoutSeconds: number;
        http?: { url: string; host: string; expectStatus: number; expectText?: string };
    };
    target: Target;
    dependsOn: pulumi.Resource[];
    /** Bound to the stack's deploy as its `beforeDelete` hook: the teardown runs only in the window. */
    windowHook: pulumi.ResourceHook;
    /**
     * Set when this run redeploys the stack on request (SWARM_PROXY_REDEPLOY names it): a value fresh for the run,
     * put into the deploy's and the health check's environment so that both run again in place.
     */
    redeployToken?: string;
    /**
     * Keep the network's ID in `triggers` at the value the state holds (a change would replace the stack): under
     * network.migration rolling, which moves the stack onto a new network in place, and after such a move until
     * the stack is next replaced (its recorded ID then predates the network's).
     */
    keepTriggers?: boolean;
    /** network.migration: rolling. */
    rolling?: {
        /** What the health checks wait for: the move back onto the new network (undefined: no rolling migration). */
        after: pulumi.Resource[];
        /** The network's subnet: the route's check through traefik runs again when it changes (a trigger). */
        subnet: string;
    };
}

/**
 * The redeploy token as a command's input, and what the command ignores so that a later run without it changes
 * nothing. A command resource has no Read, so a stack removed out of band stays "created" in state: a change of an
 * input other than `triggers` is the one way to make pulumi-command run the deploy again, as an update (the
 * idempotent `docker stack deploy`), never as a replacement (a teardown, refused outside the window).
 *
 * The token is the command's stdin, which no host script reads. Not an environment variable: over SSH the command
 * provider sets those with the session's setenv, and sshd refuses (the command fails) a variable it does not
 * AcceptEnv. Without the token the command ignores `stdin`, and always ignores the token a run made before this
 * kept in `environment` (in state only), so that neither an upgrade nor a later run changes anything.
 */
export function redeployInput(
    base: Record<string, string> | undefined,
    token: string | undefined,
): {
    environment: Record<string, string> | undefined;
    stdin: string | undefined;
    ignoreChanges: string[];
} {
    return {
        environment: base,
        stdin: token,
        ignoreChanges: [
            base === undefined ? "environment" : `environment.${REDEPLOY_ENV}`,
            ...(token === undefined ? ["stdin"] : []),
        ],
    };
}

/**
 * The deploy's command. A user's command is not run by the create of a stack that already runs (its adoption):
 * unlike `docker stack deploy` of an unchanged file, nothing says it leaves a running stack as it is.
 */
export function deployInvocation(stack: string, deploy: StackDeploy, run: "create" | "update" = "create"): Invocation {
    if ("compose" in deploy) return { script: "stack-deploy", args: [stack, deploy.compose] };
    if ("unit" in deploy) return { script: "stack-restart-unit", args: [stack, deploy.unit] };
    if ("external" in deploy) return { script: "stack-deploy-command", args: [stack, "present"] };
    return {
        script: "stack-deploy-command",
        args: [stack, run === "create" ? "if-absent" : "always", ...deploy.command],
    };
}

/** What re-runs the health check besides a new deploy: the compose file's content, else the deploy itself. */
function deployTrigger(deploy: StackDeploy, healthTrigger: string | undefined): string {
    if ("compose" in deploy) return healthTrigger ?? deploy.digest ?? "";
    if ("unit" in deploy) return deploy.unit;
    return "external" in deploy ? "external" : deploy.command.join(" ");
}

/** Options of the stack's command: torn down before it comes back, never alongside the old one. */
export function stackResourceOptions(
    parent: pulumi.Resource,
    dependsOn: pulumi.Resource[],
    windowHook: pulumi.ResourceHook | undefined,
): pulumi.CustomResourceOptions {
    return {
        parent,
        dependsOn,
        deleteBeforeReplace: true,
        ...(windowHook ? { hooks: { beforeDelete: [windowHook] } } : {}),
    };
}

/**
 * One app stack. Create deploys it (an unchanged, already running stack keeps its tasks); delete is the
 * leak-free teardown; a compose change updates it in place; a network replacement replaces it.
 */
export class SwarmStack extends pulumi.ComponentResource {
    public readonly deployed: pulumi.CustomResource;
    /** Completes once the stack's replicas converged with addresses inside the network's subnet. */
    public readonly healthy: pulumi.CustomResource;

    constructor(name: string, args: SwarmStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("swarm-proxy:index:SwarmStack", name, {}, opts);
        const deploy = deployInvocation(args.stack, args.deploy);
        // A stack another tool deployed is not torn down by the program: removing it from the config only stops
        // watching it. (A replacement of the network under recreate is refused before that: see externalRefusal.)
        const external = "external" in args.deploy;
        // Over SSH the digest is in the shipped path instead: the command provider sets variables with the session's
        // setenv, which sshd refuses for one it does not AcceptEnv.
        const digest =
            "compose" in args.deploy && args.deploy.digest && args.target.mode === "local"
                ? { SWARM_PROXY_COMPOSE_SHA256: args.deploy.digest }
                : undefined;
        const deployInput = redeployInput(digest, args.redeployToken);
        this.deployed = hostCommand(
            `${name}-stack`,
            {
                create: deploy,
                update: deployInvocation(args.stack, args.deploy, "update"),
                delete: external
                    ? undefined
                    : { script: "stack-teardown", args: [args.stack, String(args.teardownTimeoutSeconds)] },
                // A property dependency on the network's ID, so that replacing the network replaces the stack first:
                // with dependsOn alone the engine deletes the network while the stack still uses it, and Docker refuses.
                triggers: args.network ? [args.network.name, args.network.id] : [],
                environment: deployInput.environment,
                stdin: deployInput.stdin,
            },
            args.target,
            {
                // Its delete runs nothing: no window to require.
                ...stackResourceOptions(this, args.dependsOn, external ? undefined : args.windowHook),
                ignoreChanges: [...deployInput.ignoreChanges, ...(args.keepTriggers ? ["triggers"] : [])],
            },
        );

        const net = args.network;
        // The health check has no update: a new token re-runs its create, so a redeploy is verified like a deploy.
        const healthInput = redeployInput(undefined, args.redeployToken);
        this.healthy = hostCommand(
            `${name}-health`,
            {
                create: {
                    script: "stack-health",
                    args: [args.stack, net?.name ?? "", net?.subnet ?? "", String(args.health.timeoutSeconds)],
                },
                triggers: [this.deployed.id, deployTrigger(args.deploy, args.healthTrigger)],
                stdin: healthInput.stdin,
            },
            args.target,
            {
                parent: this,
                dependsOn: [this.deployed, ...(args.rolling?.after ?? [])],
                ignoreChanges: healthInput.ignoreChanges,
            },
        );
        const http = args.health.http;
        if (http) {
            hostCommand(
                `${name}-http`,
                {
                    create: {
                        script: "http-probe",
                        // The stack and the expected text only when the text is set: a probe configured before
                        // keeps its exact command, so an upgrade does not re-run it.
                        args: [
                            http.url,
                            http.host,
                            String(http.expectStatus),
                            String(args.health.timeoutSeconds),
                            ...(http.expectText !== undefined ? [args.stack, http.expectText] : []),
                        ],
                    },
                    // Under rolling, the subnet too: the stack moves without a new deploy, and is checked again.
                    triggers: [this.deployed.id, ...(args.rolling ? [args.rolling.subnet] : [])],
                },
                args.target,
                { parent: this, dependsOn: [this.healthy] },
            );
        }
        this.registerOutputs({});
    }
}
