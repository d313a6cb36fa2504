// What each kind of drift means and the exact commands that fix it on this host, pure: the remedies, the findings
// with them, and the fixes `drift --fix` may apply. Applying them is cli/drift/apply-fixes.ts.
import { adoptionSteps, staleEntries } from "../../src/pulumiState";
import { shellWord } from "../../src/ssh";
import type { PulumiState } from "./pulumi-state";
import type { Finding, FindingKind } from "./findings";

/** One command of a fix: argv, with the environment it needs given as `env VAR=value …` in front. */
export type FixCommand = string[];

/** What the remedies are computed from: this host, this stack file, this Pulumi stack and its state. */
export interface FixContext {
    /** The Pulumi stack (`--pulumi-stack`, else the stack file's name, Pulumi.<stack>.yaml). */
    pulumiStack: string;
    /**
     * The Pulumi project's folder as the operator gave it (`--pulumi-cwd`): printed as `--cwd` only then. Without it
     * the commands are for the operator's own checkout, run from its folder: the folder this check ran in may be a
     * CI build's workspace, deleted after the build.
     */
    pulumiCwd?: string;
    /** Where `--fix` runs the commands and the state is read: the project's folder here (default the package's). */
    projectDir?: string;
    /** Read from the stack's state (`pulumi stack export`) when `--pulumi-stack` was given. */
    state?: PulumiState;
    /** The stack file the drift check read (for `pulumi config set` hints and guard), relative to the checkout. */
    stackFile: string;
    /** The host scripts' folder (stack-teardown.sh and friends): `host`, relative to the checkout. */
    hostScripts: string;
    /** The dockerd the CLI talked to, when it is not the local socket: every command is aimed at it. */
    dockerHost?: string;
    /** How the check read the logs, for the guard command of a VIP finding. */
    logArgs: string[];
    since: Date;
    /** The stacks configured as attached to the network (torn down with it). */
    attachedStacks: string[];
    networkName: string;
    /** The subnet the config asks for. */
    subnet?: string;
}

/** Pure: a command as one line for a POSIX shell (words quoted only where needed). */
export function renderCommand(cmd: FixCommand): string {
    return cmd.map(shellWord).join(" ");
}

function withEnv(ctx: FixContext, env: Record<string, string>, argv: string[]): FixCommand {
    const assignments = [
        ...(ctx.dockerHost ? [`DOCKER_HOST=${ctx.dockerHost}`] : []),
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ];
    return assignments.length > 0 ? ["env", ...assignments, ...argv] : argv;
}

function pulumi(ctx: FixContext, env: Record<string, string>, args: string[]): FixCommand {
    const cwd = ctx.pulumiCwd !== undefined ? ["--cwd", ctx.pulumiCwd] : [];
    return withEnv(ctx, env, ["pulumi", ...args, "--stack", ctx.pulumiStack, ...cwd]);
}

/** The window, as the issue of a disruptive fix names it: CI's maintenance promotion, or on the host. */
function windowNote(params: string): string {
    return (
        `Run it in the maintenance window: \`drone build promote <build> maintenance${params}\` runs the maintenance pipeline ` +
        "(preview, `pulumi up` with the window open for that run, drift check), or run the commands on the host in the window."
    );
}

/** `pulumi up` that redeploys these stacks in place (an update: the idempotent deploy, nothing torn down). */
function redeploy(ctx: FixContext, stacks: string[]): FixCommand {
    const targets = stacks.map((st) => ctx.state?.urns[`${st}-stack`]).filter((u): u is string => u !== undefined);
    const narrow =
        targets.length === stacks.length ? [...targets.flatMap((u) => ["--target", u]), "--target-dependents"] : [];
    return pulumi(ctx, { SWARM_PROXY_REDEPLOY: stacks.join(",") }, ["up", "--yes", ...narrow]);
}

export interface Remedy {
    meaning: string;
    commands: FixCommand[];
    disruptive: boolean;
    window?: string;
    autoFix: boolean;
}

/** Pure: what a drift finding means and what fixes it, or undefined for findings that are not drift. */
export function remedy(f: Finding, ctx: FixContext, all: Finding[]): Remedy | undefined {
    if (f.status !== "drift") {
        return undefined;
    }
    const st = f.stack ?? f.subject;
    const unit = ctx.state?.units[st];
    const viaUnit = unit
        ? ` (its deploy restarts ${unit}; \`systemctl restart ${unit}\` alone also brings it back, outside Pulumi)`
        : "";
    const netUrn = ctx.state?.urns[`${ctx.networkName}-network`] ?? ctx.state?.urns["proxy-network"];
    switch (f.kind) {
        case "stack-missing":
            return {
                meaning:
                    "The stack is gone from the swarm (removed out of band, or its deploy failed). Pulumi cannot see it: " +
                    "the stack is a command resource without Read, so `pulumi up` and `pulumi refresh` think it still exists. " +
                    `Redeploying it in place brings it back and takes nothing down${viaUnit}.`,
                commands: [redeploy(ctx, [st])],
                disruptive: false,
                autoFix: true,
            };
        case "replicas-down": {
            // Redeploying with the compose file unchanged keeps the tasks that run; it only puts the replicas back.
            const detached = all.some((x) => x.kind === "service-detached" && x.stack === st);
            return {
                meaning:
                    `A service of stack ${st} runs fewer tasks than it should (scaled down out of band, or its tasks fail: ` +
                    `see \`docker service ps ${f.subject}\`). Redeploying the stack puts its spec back; tasks that run are kept${viaUnit}.`,
                commands: [redeploy(ctx, [st])],
                disruptive: false,
                autoFix: !detached,
            };
        }
        case "service-detached":
            return {
                meaning:
                    `A service of stack ${st} is not on ${ctx.networkName} as configured (changed out of band): traefik cannot reach it. ` +
                    "Redeploying the stack puts the network back; Docker restarts that service's tasks to do it.",
                commands: [redeploy(ctx, [st])],
                disruptive: true,
                window:
                    windowNote(` --param SWARM_PROXY_REDEPLOY=${st}`) +
                    " It restarts the detached service only, not the stack's other services.",
                autoFix: false,
            };
        case "stack-unknown":
            return {
                meaning:
                    `Stack ${st} runs on the swarm but the stack file does not list it: Pulumi does not manage it, and the ` +
                    "maintenance refuses to run while it does (the host is not quiescent). Either add it to swarm-proxy:stacks in " +
                    `${ctx.stackFile} (with its compose file or unit) and \`pulumi up\`, or remove it with the leak-free teardown below.`,
                commands: [withEnv(ctx, {}, ["bash", `${ctx.hostScripts}/stack-teardown.sh`, st, "180"])],
                disruptive: true,
                window: `${windowNote("")} The teardown takes the stack down.`,
                autoFix: false,
            };
        case "network-recreated":
            // The live network is what the config asks for (same subnet, attachable overlay) and the stacks run on it:
            // nothing on the host needs to change, only Pulumi's record of it. Adopting it again, as the first run on a
            // host does, converges without taking anything down; a replacement would tear every stack down for nothing.
            return {
                meaning:
                    `${ctx.networkName} was recreated out of band with the config's subnet (another network ID than Pulumi's state), ` +
                    "and the stacks run on it. Pulumi's state still points at the old network: a plain `pulumi up` would replace every " +
                    "attached stack. Adopting the live network again changes nothing on the host: the state entries of the network and " +
                    "of what depends on it are dropped (the host is not touched), the live network is imported by its ID, and the " +
                    "stacks' deploys run again (an unchanged compose file keeps its running tasks).",
                // The program's own adoption steps for this state (the stale entries, whether or not a refresh dropped
                // the network's), each run non-interactively.
                commands: adoptionSteps(
                    ctx.state && f.networkId ? staleEntries(ctx.state, f.networkId, ctx.networkName) : [],
                    f.networkId ?? "<live network ID>",
                ).map(([, ...args]) => pulumi(ctx, {}, args[0] === "up" ? [...args, "--yes"] : args)),
                disruptive: false,
                // It rewrites Pulumi's record of the network: a person runs it, never `drift --fix`.
                autoFix: false,
            };
        case "network-missing":
        case "network-mismatch": {
            const why =
                f.kind === "network-missing"
                    ? `${ctx.networkName} is gone: no stack can attach to it.`
                    : `${ctx.networkName} is not what the config asks for (recreated out of band, e.g. by an old swarm-init without --subnet).`;
            // The stacks on it come down (leak-free), the hand-made network goes, then Pulumi's own replacement of the
            // network runs as at the maintenance: recreated as configured, the stacks redeployed and checked.
            return {
                meaning:
                    `${why} Only the maintenance converges it: the attached stacks come down, the network is recreated as the ` +
                    "config says, the stacks come back. It takes every attached stack down.",
                commands: [
                    withEnv(ctx, {}, ["bash", `${ctx.hostScripts}/stacks-teardown.sh`, "180", ...ctx.attachedStacks]),
                    ...(f.kind === "network-missing"
                        ? []
                        : [withEnv(ctx, {}, ["bash", `${ctx.hostScripts}/network-remove.sh`, ctx.networkName, "120"])]),
                    pulumi(ctx, { SWARM_PROXY_MAINTENANCE: "open" }, [
                        "up",
                        "--yes",
                        ...(netUrn ? ["--replace", netUrn] : []),
                    ]),
                ],
                disruptive: true,
                window: windowNote(""),
                autoFix: false,
            };
        }
        case "capacity-low": {
            const target = ctx.subnet !== "10.10.0.0/16" ? "10.10.0.0/16" : undefined;
            return {
                meaning:
                    `Few addresses are left on ${ctx.networkName} (${f.detail}). Either addresses leaked (concurrent \`docker stack rm\`, ` +
                    "moby/swarmkit#3230): `swarm-proxy capacity --probe` shows them as unaccounted, and `swarm-proxy guard --apply " +
                    "--restart-docker` reclaims them by restarting dockerd (every task restarts); or the stacks outgrew the subnet: " +
                    `the maintenance recreates ${ctx.networkName} larger${target ? ` (${target}, checked by the program for conflicts and headroom; the host's nix module must create it so)` : ""}.`,
                commands: [
                    withEnv(ctx, {}, ["swarm-proxy", "capacity", "--network", ctx.networkName, "--probe"]),
                    ...(target ? [pulumi(ctx, {}, ["config", "set", "--path", "network.subnet", target])] : []),
                    pulumi(ctx, { SWARM_PROXY_MAINTENANCE: "open" }, ["up", "--yes"]),
                ],
                disruptive: true,
                window:
                    windowNote("") +
                    " The probe logs VIP-allocation failures: give the next drift check a later --since.",
                autoFix: false,
            };
        }
        case "vip-failures":
            return {
                meaning:
                    "dockerd could not allocate an address for a service: new tasks stay `New`. The guard prunes unused " +
                    `networks (never ${ctx.networkName}) and restarts dockerd, which rebuilds the allocator and reclaims leaked addresses; ` +
                    "every task restarts. Check the next run with a --since after the restart.",
                commands: [
                    withEnv(ctx, {}, [
                        "swarm-proxy",
                        "guard",
                        "--stack-config",
                        ctx.stackFile,
                        ...ctx.logArgs,
                        "--since",
                        ctx.since.toISOString(),
                        "--apply",
                        "--restart-docker",
                    ]),
                ],
                disruptive: true,
                window: windowNote(""),
                autoFix: false,
            };
        case "pulumi-changes": {
            const op = /^would (\S+)/.exec(f.detail)?.[1] ?? "";
            const takesDown = /delete|replace|discard/.test(op);
            return {
                meaning:
                    "Pulumi's refresh-preview shows changes: the config or the code changed since the last `pulumi up`, or a " +
                    "resource Pulumi can read (the network) changed on the host. Review them, then apply them" +
                    (takesDown ? "; this one deletes or replaces, which only the maintenance window allows." : "."),
                commands: [
                    pulumi(ctx, {}, ["preview", "--diff"]),
                    pulumi(ctx, takesDown ? { SWARM_PROXY_MAINTENANCE: "open" } : {}, ["up", "--yes"]),
                ],
                disruptive: takesDown,
                window: takesDown ? windowNote("") : undefined,
                autoFix: false,
            };
        }
        case "killed-run": {
            const creates = (ctx.state?.pending ?? []).some((o) => o.op === "creating");
            // `pulumi cancel` deletes the lock; the lock's process is gone (a live one is a run in progress, never
            // this finding). The rerun in the window finishes what the killed run began: each pending operation is
            // planned again from the host as it is, and every finding the lock hid is re-planned with it.
            return {
                meaning:
                    "A `pulumi up` was killed (SIGKILL: a CI timeout, a lost SSH session) and never finished. " +
                    (f.subject === "lock"
                        ? 'Its lock stays: every `pulumi up` fails ("the stack is currently locked") until `pulumi cancel` removes it. '
                        : "") +
                    "The maintenance run again in the window finishes its work from the host as it is; it tears down only what " +
                    "the plan still replaces, as the killed run would have. " +
                    (creates
                        ? "Pulumi keeps pending creates in the state after that run (only a refresh drops them, measured with CLI " +
                          "3.259): the last step drops them once the rerun has created those resources again. "
                        : "") +
                    "Then check again: the next drift check names what is left.",
                commands: [
                    ...(f.subject === "lock" ? [pulumi(ctx, {}, ["cancel", "--yes"])] : []),
                    pulumi(ctx, { SWARM_PROXY_MAINTENANCE: "open" }, ["up", "--yes"]),
                    ...(creates ? [pulumi(ctx, {}, ["refresh", "--clear-pending-creates", "--yes"])] : []),
                ],
                disruptive: true,
                window: windowNote(""),
                autoFix: false,
            };
        }
        default:
            return undefined;
    }
}

/** Pure: every finding with its kind and, when it needs attention, its meaning and fix. */
export function withRemedies(findings: Finding[], ctx: FixContext): Finding[] {
    return findings.map((f) => {
        const kind: FindingKind =
            f.kind ??
            (f.status === "drift"
                ? "pulumi-changes"
                : f.status === "error"
                  ? "error"
                  : f.status === "skipped"
                    ? "skipped"
                    : "ok");
        const g: Finding = { ...f, kind };
        if (f.status === "error") {
            return {
                ...g,
                meaning: "The check could not be made; the detail says why. Fix that, then run drift again.",
            };
        }
        const r = remedy(g, ctx, findings);
        if (!r) {
            return g;
        }
        return {
            ...g,
            meaning: r.meaning,
            fix: r.commands.map(renderCommand),
            disruptive: r.disruptive,
            window: r.window,
            autoFix: r.autoFix,
        };
    });
}

/** The fixes `--fix` may apply (take nothing down), each command once, in the order found. */
export function autoFixes(findings: Finding[], ctx: FixContext): { finding: Finding; command: FixCommand }[] {
    const seen = new Set<string>();
    const out: { finding: Finding; command: FixCommand }[] = [];
    for (const f of findings) {
        const r = remedy(f, ctx, findings);
        if (!r?.autoFix || r.disruptive) {
            continue;
        }
        for (const c of r.commands) {
            const line = renderCommand(c);
            if (!seen.has(line)) {
                seen.add(line);
                out.push({ finding: f, command: c });
            }
        }
    }
    return out;
}
