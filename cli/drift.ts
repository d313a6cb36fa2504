// Drift for scheduled CI: what Pulumi sees (a refresh-preview that must show no changes) plus what it
// cannot see — the stacks are Command resources without Read, so refresh never notices a stack removed
// or a service detached; `proxy` recreated out of band; the address space running low; VIP failures.
import { type CapacityReport, type Usage, countUsage, gatherUsage } from "./capacity";
import { childEnv, execFileP, failureDetail } from "./child";
import { shellWord } from "./command";
import { type EngineNetwork, type EngineService, serviceOnNetwork, stackOf, subnetsOf } from "../src/docker";
import type { Engine } from "../src/engine";
import { CliError, EXIT_DRIFT, EXIT_ERROR, EXIT_OK, errorMessage, readOptionFile } from "./errors";
import { type LogSource, type VipFailure, findVipFailures } from "./logscan";
import type { Progress } from "./progress";
import type { StackConfig } from "./stackconfig";

export type CheckStatus = "ok" | "drift" | "error" | "skipped";

/**
 * What a finding is, stable for other tools to act on (cli/README.md has the table): "ok", "skipped" and
 * "error" (the check could not be made) for findings that are not drift, one kind per cause for drift.
 */
export type FindingKind =
    | "ok"
    | "skipped"
    | "error"
    | "pulumi-changes"
    | "network-missing"
    | "network-recreated"
    | "network-mismatch"
    | "stack-missing"
    | "stack-unknown"
    | "service-detached"
    | "replicas-down"
    | "capacity-low"
    | "vip-failures";

export interface Finding {
    check: "pulumi" | "network" | "stack" | "attached" | "replicas" | "capacity" | "vip-failures";
    subject: string;
    status: CheckStatus;
    detail: string;
    kind?: FindingKind;
    /** The configured stack the finding is about (stack, attached and replicas checks). */
    stack?: string;
    /** What it means, for a finding that needs attention. */
    meaning?: string;
    /** The exact commands that fix it, in order, for this host and stack. */
    fix?: string[];
    /** The fix takes something down: run it only in the maintenance window (`window` says how). */
    disruptive?: boolean;
    window?: string;
    /** `drift --fix` applies it: it takes nothing down. */
    autoFix?: boolean;
    /** The live network's full ID (network findings). */
    networkId?: string;
}

export interface PreviewStep {
    op: string;
    urn: string;
}

export interface PreviewSummary {
    source: string;
    changes: PreviewStep[];
    errors: string[];
}

/** Ops that leave a resource as it is; anything else in a refresh-preview is drift. */
const NO_CHANGE_OPS = new Set(["same", "read", "refresh", "discard"]);

/** Pure: the changes and errors in the output of `pulumi preview --json`. */
export function parsePreviewJson(text: string, source: string): PreviewSummary {
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new CliError(`${source}: not the JSON of pulumi preview --json: ${errorMessage(e)}`);
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
        throw new CliError(`${source}: not the JSON of pulumi preview --json (expected an object with steps)`);
    }
    const d = doc as { steps?: unknown; diagnostics?: unknown; changeSummary?: unknown };
    const changes: PreviewStep[] = [];
    for (const s of Array.isArray(d.steps) ? d.steps : []) {
        const step = s as { op?: unknown; urn?: unknown };
        const op = typeof step.op === "string" ? step.op : "?";
        if (!NO_CHANGE_OPS.has(op)) {
            changes.push({ op, urn: typeof step.urn === "string" ? step.urn : "?" });
        }
    }
    // Some versions list only the summary when nothing would change; a non-zero change there counts too.
    if (changes.length === 0 && typeof d.changeSummary === "object" && d.changeSummary !== null) {
        for (const [op, n] of Object.entries(d.changeSummary as Record<string, unknown>)) {
            if (!NO_CHANGE_OPS.has(op) && typeof n === "number" && n > 0) {
                changes.push({ op, urn: `${n} resource(s)` });
            }
        }
    }
    const errors: string[] = [];
    for (const g of Array.isArray(d.diagnostics) ? d.diagnostics : []) {
        const diag = g as { severity?: unknown; message?: unknown };
        if (diag.severity === "error" && typeof diag.message === "string") {
            errors.push(diag.message.trim());
        }
    }
    return { source, changes, errors };
}

export interface PreviewSource {
    kind: "file" | "run" | "none";
    /** The saved output's path, or the stack name to preview. */
    value?: string;
    cwd?: string;
}

export async function readPreview(
    src: PreviewSource,
    progress: Progress,
    env: NodeJS.ProcessEnv = process.env,
): Promise<PreviewSummary | undefined> {
    if (src.kind === "none" || !src.value) {
        return undefined;
    }
    if (src.kind === "file") {
        return parsePreviewJson(readOptionFile("--preview-json", src.value), src.value);
    }
    const args = ["preview", "--refresh", "--expect-no-changes", "--json", "--non-interactive", "--stack", src.value];
    progress.step(`pulumi ${args.join(" ")}`);
    try {
        const { stdout } = await execFileP("pulumi", args, { cwd: src.cwd, env, maxBuffer: 256 * 1024 * 1024 });
        return parsePreviewJson(stdout, "pulumi preview");
    } catch (e) {
        // --expect-no-changes exits non-zero on changes (7 on CLI >= 3.226, 255 before) with the JSON on stdout.
        const out = (e as { stdout?: unknown }).stdout;
        if (typeof out === "string" && out.trim().startsWith("{")) {
            return parsePreviewJson(out, "pulumi preview");
        }
        const code = (e as { code?: unknown }).code;
        if (code === "ENOENT") {
            throw new CliError(
                "pulumi preview: the pulumi CLI is not on PATH; install it or pass --preview-json with a saved output",
            );
        }
        throw new CliError(`pulumi preview failed: ${failureDetail(e, 3)}`);
    }
}

export interface MinFree {
    /** Either an absolute count of free addresses or a share of the assignable ones. */
    count?: number;
    percent?: number;
}

export function minFreeAddresses(min: MinFree, assignable: number): number {
    return min.count ?? Math.ceil(((min.percent ?? 0) / 100) * assignable);
}

export interface LiveInput {
    config: StackConfig;
    /** The network's ID in Pulumi's state (the stack's `networkId` output), when the state was read. */
    stateNetworkId?: string;
    networks: EngineNetwork[];
    services: EngineService[];
    usage?: Usage;
    minFree: MinFree;
    failures?: VipFailure[];
    logSource?: LogSource;
}

/** Pure: the live checks from what was read. */
export function liveFindings(i: LiveInput): Finding[] {
    const out: Finding[] = [];
    const netName = i.config.network.name;
    const net = i.networks.find((n) => n.Name === netName);
    if (!net) {
        out.push({
            check: "network",
            subject: netName,
            status: "drift",
            kind: "network-missing",
            detail: "network is missing",
        });
    } else {
        const subnets = subnetsOf(net);
        const problems: string[] = [];
        if (net.Driver !== "overlay" || net.Scope !== "swarm") {
            problems.push(`is ${net.Driver}/${net.Scope}, expected overlay/swarm`);
        }
        if (i.config.network.subnet && !(subnets.length === 1 && subnets[0] === i.config.network.subnet)) {
            problems.push(`subnet ${subnets.join(", ") || "none"}, config says ${i.config.network.subnet}`);
        }
        if (net.Attachable !== true) {
            problems.push("not attachable");
        }
        const recreated =
            problems.length === 0 &&
            i.stateNetworkId !== undefined &&
            i.stateNetworkId !== "" &&
            !net.Id.startsWith(i.stateNetworkId) &&
            !i.stateNetworkId.startsWith(net.Id);
        if (recreated) {
            problems.push(
                `recreated out of band: live id ${net.Id.slice(0, 12)}, Pulumi's state has ${(i.stateNetworkId ?? "").slice(0, 12)}`,
            );
        }
        out.push({
            check: "network",
            subject: netName,
            status: problems.length > 0 ? "drift" : "ok",
            kind: problems.length === 0 ? "ok" : recreated ? "network-recreated" : "network-mismatch",
            detail:
                problems.length > 0 ? problems.join("; ") : `overlay ${subnets.join(", ")} (id ${net.Id.slice(0, 12)})`,
            networkId: net.Id,
        });
    }

    for (const st of i.config.stacks) {
        const svcs = i.services
            .filter((s) => stackOf(s) === st.name)
            .sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
        if (svcs.length === 0) {
            out.push({
                check: "stack",
                subject: st.name,
                stack: st.name,
                status: "drift",
                kind: "stack-missing",
                detail: "stack has no services (removed?)",
            });
            continue;
        }
        out.push({
            check: "stack",
            subject: st.name,
            stack: st.name,
            status: "ok",
            kind: "ok",
            detail: `${svcs.length} service(s)`,
        });
        if (net && st.attached !== false) {
            const on = svcs.filter((s) => serviceOnNetwork(s, net)).map((s) => s.Spec.Name);
            if (Array.isArray(st.attached)) {
                const missing = st.attached.filter((a) => !on.includes(a) && !on.includes(`${st.name}_${a}`));
                out.push({
                    check: "attached",
                    subject: st.name,
                    stack: st.name,
                    status: missing.length > 0 ? "drift" : "ok",
                    kind: missing.length > 0 ? "service-detached" : "ok",
                    detail:
                        missing.length > 0
                            ? `not on ${netName}: ${missing.join(", ")}`
                            : `on ${netName}: ${on.join(", ")}`,
                });
            } else {
                out.push({
                    check: "attached",
                    subject: st.name,
                    stack: st.name,
                    status: on.length === 0 ? "drift" : "ok",
                    kind: on.length === 0 ? "service-detached" : "ok",
                    detail:
                        on.length === 0
                            ? `no service of the stack is on ${netName}`
                            : `on ${netName}: ${on.join(", ")}`,
                });
            }
        } else if (st.attached === false && net) {
            const on = svcs.filter((s) => serviceOnNetwork(s, net)).map((s) => s.Spec.Name);
            if (on.length > 0) {
                out.push({
                    check: "attached",
                    subject: st.name,
                    stack: st.name,
                    status: "drift",
                    kind: "service-detached",
                    detail: `expected off ${netName}, but on it: ${on.join(", ")}`,
                });
            }
        }
        for (const s of svcs) {
            const status = s.ServiceStatus;
            if (!status) {
                out.push({
                    check: "replicas",
                    subject: s.Spec.Name,
                    stack: st.name,
                    status: "error",
                    kind: "error",
                    detail: "dockerd gave no ServiceStatus (API < 1.41)",
                });
                continue;
            }
            // A replicated service scaled to 0 out of band runs all it is asked to: still drift, since the stack's
            // compose file never asks for 0 (a stack deploy puts the replicas back).
            const scaledToZero = status.DesiredTasks === 0 && s.Spec.Mode?.Replicated !== undefined;
            const ok = status.RunningTasks >= status.DesiredTasks && !scaledToZero;
            out.push({
                check: "replicas",
                subject: s.Spec.Name,
                stack: st.name,
                status: ok ? "ok" : "drift",
                kind: ok ? "ok" : "replicas-down",
                detail: `${status.RunningTasks}/${status.DesiredTasks} running${scaledToZero ? " (scaled to 0)" : ""}`,
            });
        }
    }

    // Stacks on the swarm that the config does not know: the maintenance's quiescence check refuses to run
    // while they do, and they take addresses the plan does not count.
    const configured = new Set(i.config.stacks.map((st) => st.name));
    const unknown = new Map<string, string[]>();
    for (const s of i.services) {
        const st = stackOf(s);
        if (st !== undefined && !configured.has(st)) {
            unknown.set(st, [...(unknown.get(st) ?? []), s.Spec.Name]);
        }
    }
    for (const [st, names] of [...unknown.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        out.push({
            check: "stack",
            subject: st,
            stack: st,
            status: "drift",
            kind: "stack-unknown",
            detail: `deployed, but not in the stack config: ${names.sort().join(", ")}`,
        });
    }

    if (i.usage) {
        const min = minFreeAddresses(i.minFree, i.usage.assignable);
        out.push({
            check: "capacity",
            subject: netName,
            status: i.usage.free >= min ? "ok" : "drift",
            kind: i.usage.free >= min ? "ok" : "capacity-low",
            detail: `${i.usage.free} of ${i.usage.assignable} addresses free (${i.usage.inUse} in use, ${i.usage.method}); threshold ${min}`,
        });
    }

    if (i.failures && i.logSource) {
        out.push({
            check: "vip-failures",
            subject: `${i.logSource.kind} ${i.logSource.what}`,
            status: i.failures.length > 0 ? "drift" : "ok",
            kind: i.failures.length > 0 ? "vip-failures" : "ok",
            detail:
                i.failures.length > 0
                    ? `${i.failures.length} "could not find an available IP while allocating VIP" line(s), last ${i.failures[i.failures.length - 1].time ?? "(no time)"}`
                    : "none",
        });
    }
    return out;
}

export function previewFindings(p: PreviewSummary | undefined, skippedWhy: string): Finding[] {
    if (!p) {
        return [{ check: "pulumi", subject: "preview", status: "skipped", kind: "skipped", detail: skippedWhy }];
    }
    const out: Finding[] = [];
    for (const e of p.errors) {
        out.push({ check: "pulumi", subject: "preview", status: "error", kind: "error", detail: e });
    }
    for (const c of p.changes) {
        out.push({ check: "pulumi", subject: c.urn, status: "drift", kind: "pulumi-changes", detail: `would ${c.op}` });
    }
    if (out.length === 0) {
        out.push({ check: "pulumi", subject: "preview", status: "ok", kind: "ok", detail: `no changes (${p.source})` });
    }
    return out;
}

/** One command of a fix: argv, with the environment it needs given as `env VAR=value …` in front. */
export type FixCommand = string[];

/** What the remedies are computed from: this host, this stack file, this Pulumi stack and its state. */
export interface FixContext {
    /** The Pulumi stack (`--pulumi-stack`, else the stack file's name, Pulumi.<stack>.yaml). */
    pulumiStack: string;
    /** The Pulumi project's folder (`--pulumi-cwd`, default the package's). */
    pulumiCwd: string;
    /** Read from the stack's state (`pulumi stack export`) when `--pulumi-stack` was given. */
    state?: PulumiState;
    /** The stack file the drift check read (for `pulumi config set` hints and guard). */
    stackFile: string;
    /** The package's host/ folder (stack-teardown.sh and friends). */
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

/** What Pulumi's state says, read with `pulumi stack export`. */
export interface PulumiState {
    /** URN of each resource by its name (drone-stack, drone-health, proxy-network, ...). */
    urns: Record<string, string>;
    /** The network's ID as the last `pulumi up` recorded it (the stack output networkId). */
    networkId?: string;
    /** Stacks deployed by a systemd unit (stack -> unit), read from their deploy command. */
    units: Record<string, string>;
}

/** Pure: the parts of `pulumi stack export`'s document the remedies need. */
export function parseStackExport(text: string): PulumiState {
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new CliError(`pulumi stack export: not JSON: ${errorMessage(e)}`);
    }
    const resources = ((doc as { deployment?: { resources?: unknown } }).deployment?.resources ?? []) as {
        urn?: unknown;
        type?: unknown;
        inputs?: { create?: unknown };
        outputs?: { networkId?: unknown };
    }[];
    const state: PulumiState = { urns: {}, units: {} };
    for (const r of Array.isArray(resources) ? resources : []) {
        if (typeof r.urn !== "string") {
            continue;
        }
        const name = r.urn.split("::").pop() ?? "";
        state.urns[name] = r.urn;
        if (r.type === "pulumi:pulumi:Stack" && typeof r.outputs?.networkId === "string") {
            state.networkId = r.outputs.networkId;
        }
        const unit =
            typeof r.inputs?.create === "string"
                ? /stack-restart-unit\.sh' '([^']+)' '([^']+)'/.exec(r.inputs.create)
                : null;
        if (unit && name === `${unit[1]}-stack`) {
            state.units[unit[1]] = unit[2];
        }
    }
    return state;
}

export async function readPulumiState(
    stack: string,
    cwd: string,
    progress: Progress,
    env: NodeJS.ProcessEnv = process.env,
): Promise<PulumiState> {
    const args = ["stack", "export", "--stack", stack, "--non-interactive"];
    progress.step(`pulumi ${args.join(" ")}`);
    try {
        const { stdout } = await execFileP("pulumi", args, { cwd, env, maxBuffer: 256 * 1024 * 1024 });
        return parseStackExport(stdout);
    } catch (e) {
        if (e instanceof CliError) {
            throw e;
        }
        throw new CliError(`pulumi stack export failed: ${failureDetail(e)}`);
    }
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
    return withEnv(ctx, env, ["pulumi", ...args, "--stack", ctx.pulumiStack, "--cwd", ctx.pulumiCwd]);
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
                commands: [
                    ...(netUrn ? [pulumi(ctx, {}, ["state", "delete", netUrn, "--target-dependents", "--yes"])] : []),
                    pulumi(ctx, {}, ["config", "set", "--path", "network.adoptId", f.networkId ?? "<live network ID>"]),
                    pulumi(ctx, {}, ["up", "--yes"]),
                    pulumi(ctx, {}, ["config", "rm", "--path", "network.adoptId"]),
                ],
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

export interface AppliedFix {
    kind: FindingKind;
    subject: string;
    command: string;
    exitCode: number;
    output: string;
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

/** Runs the safe fixes one after another (argv, no shell); a failure is reported and the next one still runs. */
export async function applyFixes(findings: Finding[], ctx: FixContext, progress: Progress): Promise<AppliedFix[]> {
    const done: AppliedFix[] = [];
    for (const { finding, command } of autoFixes(findings, ctx)) {
        const line = renderCommand(command);
        progress.step(`fixing ${finding.kind} ${finding.subject}: ${line}`);
        let exitCode = 0;
        let output = "";
        try {
            const r = await execFileP(command[0], command.slice(1), {
                env: childEnv(ctx.dockerHost),
                maxBuffer: 256 * 1024 * 1024,
            });
            output = r.stdout;
        } catch (e) {
            const err = e as { code?: unknown; stdout?: unknown; stderr?: unknown };
            exitCode = typeof err.code === "number" ? err.code : 1;
            output = `${typeof err.stdout === "string" ? err.stdout : ""}${typeof err.stderr === "string" ? err.stderr : errorMessage(e)}`;
        }
        done.push({
            kind: finding.kind ?? "ok",
            subject: finding.subject,
            command: line,
            exitCode,
            output: output.trim().split("\n").slice(-15).join("\n"),
        });
    }
    return done;
}

export interface DriftReport {
    result: "clean" | "drift" | "error";
    exitCode: number;
    generatedAt: string;
    host: string;
    stackConfig: string;
    findings: Finding[];
    capacity?: CapacityReport;
    /** With --fix: what was applied before this (re-)check, and what the first check found. */
    applied?: AppliedFix[];
    before?: { result: DriftReport["result"]; findings: Finding[] };
}

export function summarize(
    findings: Finding[],
    meta: Omit<DriftReport, "result" | "exitCode" | "findings" | "applied" | "before">,
): DriftReport {
    const result = findings.some((f) => f.status === "error")
        ? "error"
        : findings.some((f) => f.status === "drift")
          ? "drift"
          : "clean";
    return {
        result,
        exitCode: result === "error" ? EXIT_ERROR : result === "drift" ? EXIT_DRIFT : EXIT_OK,
        findings,
        ...meta,
    };
}

function cell(s: string): string {
    return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

const MARK: Record<CheckStatus, string> = { ok: "ok", drift: "**DRIFT**", error: "**ERROR**", skipped: "skipped" };

export function renderDriftMarkdown(r: DriftReport): string {
    const bad = r.findings.filter((f) => f.status === "drift" || f.status === "error");
    const lines = [
        "# swarm-proxy drift report",
        "",
        `Result: **${r.result.toUpperCase()}** — ${bad.length === 0 ? "every check passed" : `${bad.length} of ${r.findings.length} checks need attention`} (exit ${r.exitCode}).`,
        "",
        `- dockerd: \`${r.host}\``,
        `- stack config: \`${r.stackConfig}\``,
        `- generated: ${r.generatedAt}`,
        "",
    ];
    if (r.applied !== undefined) {
        lines.push("## Fixed by --fix (then checked again)", "");
        if (r.applied.length === 0) {
            lines.push(
                `- nothing: no finding of the first check${r.before ? ` (${r.before.result})` : ""} has a fix that takes nothing down`,
            );
        }
        for (const a of r.applied) {
            lines.push(
                `- ${a.exitCode === 0 ? "done" : `**FAILED (exit ${a.exitCode})**`}: ${a.kind} \`${a.subject}\`: \`${a.command}\``,
            );
            if (a.exitCode !== 0) {
                lines.push("", "  ```", ...a.output.split("\n").map((l) => `  ${l}`), "  ```");
            }
        }
        lines.push("");
    }
    if (bad.length > 0) {
        lines.push("## Needs attention", "");
        for (const f of bad) {
            lines.push(`- ${MARK[f.status]} ${f.check} \`${f.subject}\`: ${f.detail}`);
            if (f.kind !== undefined && f.meaning !== undefined) {
                lines.push(`  - kind \`${f.kind}\`: ${f.meaning}`);
            }
            if (f.fix !== undefined && f.fix.length > 0) {
                const how = f.disruptive
                    ? "fix (**disruptive: maintenance window only**)"
                    : `fix (takes nothing down${f.autoFix ? "; `drift --fix` applies it" : ""})`;
                lines.push(`  - ${how}:`, ...f.fix.map((c) => `    - \`${c}\``));
                if (f.window !== undefined) {
                    lines.push(`  - window: ${f.window}`);
                }
            }
        }
        lines.push("");
    }
    lines.push("## All checks", "", "| check | subject | status | detail |", "| --- | --- | --- | --- |");
    for (const f of r.findings) {
        lines.push(`| ${f.check} | \`${cell(f.subject)}\` | ${MARK[f.status]} | ${cell(f.detail)} |`);
    }
    return `${lines.join("\n")}\n`;
}

export interface DriftOptions {
    config: StackConfig;
    /** What the remedies are computed from; without it findings carry kinds only. */
    fix?: Omit<FixContext, "state">;
    preview: PreviewSource;
    minFree: MinFree;
    logSource?: LogSource;
    since: Date;
    localNodeId?: string;
    apiVersion: string;
    progress: Progress;
    /** The dockerd the check talks to, for the pulumi children (the program's providers and host scripts). */
    dockerHost?: string;
}

export async function runDrift(engine: Engine, o: DriftOptions): Promise<DriftReport> {
    return (await runDriftWithContext(engine, o)).report;
}

/** The check, and what its remedies were computed from (for --fix, which applies exactly those). */
export async function runDriftWithContext(
    engine: Engine,
    o: DriftOptions,
): Promise<{ report: DriftReport; ctx?: FixContext }> {
    const findings: Finding[] = [];
    try {
        const preview = await readPreview(o.preview, o.progress, childEnv(o.dockerHost));
        findings.push(...previewFindings(preview, "no --preview-json or --pulumi-stack given"));
    } catch (e) {
        findings.push({ check: "pulumi", subject: "preview", status: "error", kind: "error", detail: errorMessage(e) });
    }
    let state: PulumiState | undefined;
    if (o.preview.kind === "run" && o.preview.value !== undefined && o.fix !== undefined) {
        try {
            state = await readPulumiState(o.preview.value, o.fix.pulumiCwd, o.progress, childEnv(o.dockerHost));
        } catch (e) {
            findings.push({
                check: "pulumi",
                subject: "state",
                status: "error",
                kind: "error",
                detail: errorMessage(e),
            });
        }
    }
    o.progress.step("reading live state");
    const [networks, services] = await Promise.all([engine.networks(), engine.services()]);
    let usage: Usage | undefined;
    let capacity: CapacityReport | undefined;
    const net = networks.find((n) => n.Name === o.config.network.name);
    if (net && net.Driver === "overlay") {
        const input = await gatherUsage(engine, net.Name, o.localNodeId, {
            networks,
            services,
            apiVersion: o.apiVersion,
        });
        usage = countUsage(input);
        capacity = { network: net.Name, networkId: net.Id, usage };
    }
    let failures: VipFailure[] | undefined;
    if (o.logSource) {
        try {
            failures = await findVipFailures(o.logSource, o.since);
        } catch (e) {
            findings.push({
                check: "vip-failures",
                subject: `${o.logSource.kind} ${o.logSource.what}`,
                status: "error",
                kind: "error",
                detail: errorMessage(e),
            });
        }
    } else {
        findings.push({
            check: "vip-failures",
            subject: "logs",
            status: "skipped",
            kind: "skipped",
            detail: "--no-logs given",
        });
    }
    findings.push(
        ...liveFindings({
            config: o.config,
            stateNetworkId: state?.networkId,
            networks,
            services,
            usage,
            minFree: o.minFree,
            failures,
            logSource: o.logSource,
        }),
    );
    const ctx: FixContext | undefined = o.fix ? { ...o.fix, state } : undefined;
    const all = ctx ? withRemedies(findings, ctx) : findings;
    return {
        report: summarize(all, {
            generatedAt: new Date().toISOString(),
            host: engine.where,
            stackConfig: o.config.source,
            capacity,
        }),
        ctx,
    };
}
