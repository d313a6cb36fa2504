// Turns the validated config and the live host's facts into the plan, checks it, then into resources.
// Every check runs before the first resource is registered: a bad input changes nothing.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { HostScripts } from "./components/hostScripts";
import { NixosRebuild } from "./components/nixosRebuild";
import { ParallelTeardown } from "./components/parallelTeardown";
import { ProxyNetwork } from "./components/proxyNetwork";
import { RollingMove } from "./components/rollingMove";
import { deployInvocation, type StackDeploy, SwarmStack, type SwarmStackArgs } from "./components/swarmStack";
import { type Config, EXTERNAL, PROJECT, type StackConfig } from "./config";
import { type HostFacts } from "./src/hostFacts";
import type { Runner } from "./src/runner";
import { shellWord, sshOptions } from "./src/ssh";
import { maintenanceWindowHook, replaceRefusal } from "./src/maintenanceWindow";
import { commandLine, type HostScript, scriptPath, type ShippedFile, type Target } from "./src/hostCommand";
import { pathOnlyChange, projectPath, recordedPathNote, shippedComposePath } from "./src/checkoutPaths";
import { checkNixModule } from "./src/nix";
import { adoptionSteps, type RecordedState, sameId, staleEntries, triggersPredate } from "./src/pulumiState";
import { externalRefusal, isReplacing, maintenancePlan, type MaintenanceStep, type Plan } from "./src/plan";
import { type AttachedService, describeMove, ownTemporaryNetwork, temporarySubnet } from "./src/rolling";
import { capacity, type Capacity, planSubnet, toRange } from "./src/subnet";

/** The network's component, and its resource (the component names its child `<name>-network`). */
const NETWORK_COMPONENT = "proxy";
const NETWORK_RESOURCE = `${NETWORK_COMPONENT}-network`;

export interface ProgramInput {
    config: Config;
    /** The live host, read at preview time; undefined when the config turns the survey off. */
    facts?: HostFacts;
    /** What Pulumi's state records (`pulumi stack export`); undefined where it was not read (the program tier). */
    recorded?: RecordedState;
    /** Directory relative file paths are resolved from. */
    baseDir: string;
    dryRun: boolean;
    sshPrivateKey?: pulumi.Output<string>;
    /** Runs a command on the host from the program itself (the quiescence check before the first teardown). */
    runner?: Runner;
    /** Applied to every component and so to every resource: how tests see the options the program sets. */
    transformations?: pulumi.ResourceTransformation[];
}

export interface Checked {
    subnet: string;
    gateway: string;
    labels: Record<string, string>;
    capacity: Capacity;
    insideDefaultPool?: string;
    fromSubnets: string[];
    replacing: boolean;
    /** The live network's ID to import (docker implementation, adoption). */
    importId?: string;
    /** Inputs that follow the live network although the config asks otherwise: they change at the next replacement. */
    deferred: Difference[];
    /** What this run's replacement of the network changes, from the live network to the config. */
    changes: Difference[];
    nixModuleDigest?: string;
    plan: Plan;
    /** network.migration: rolling: the temporary network, and the services that move (when the host was read). */
    rolling?: { temporaryName: string; temporarySubnet: string; services?: AttachedService[] };
}

export interface Difference {
    key: string;
    live: string;
    desired: string;
}

function firstHost(cidr: string): string {
    const range = toRange(cidr);
    if (!range) {
        throw new Error(`${cidr} is not a CIDR`);
    }
    return range.getFirst().nextIPNumber().toString();
}

function labelText(labels: Record<string, string>): string {
    const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
    return entries.length === 0 ? "(none)" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** Everything the program decides before creating anything. Throws one error for the first problem. */
export function check(input: ProgramInput): Checked {
    const { config: cfg, facts } = input;
    const net = cfg.network;
    const live = facts?.networks.find((n) => n.name === net.name);
    // Without a survey, the network as the state last recorded it stands in for the live one: inputs that follow
    // the live network keep following what was recorded for them, instead of snapping back to the config (which
    // would plan a replacement of the network and of every attached stack).
    const recordedNet = facts ? undefined : input.recorded?.network;
    const current =
        live ??
        (recordedNet && {
            subnets: recordedNet.subnet !== undefined ? [recordedNet.subnet] : [],
            gateways: recordedNet.gateway !== undefined ? [recordedNet.gateway] : [],
            labels: recordedNet.labels,
        });
    const fromSubnets = current?.subnets ?? [];
    // Without a survey or a recorded network the program cannot know whether the network changes: it assumes it
    // does, so the window is demanded.
    const replacing = current || facts ? isReplacing(fromSubnets, net.subnet) : true;
    const key = `${PROJECT}:network.subnet`;
    // What a new subnet must not collide with: the target's and the temporary network's check alike.
    const hostCtx = {
        networks: facts?.networks ?? [],
        routes: facts?.routes ?? [],
        reserved: net.reserved,
        defaultAddressPools: facts?.defaultAddressPools ?? [],
    };
    let cap: Capacity;
    let insideDefaultPool: string | undefined;
    if (replacing || !current) {
        const planned = planSubnet({
            key,
            subnet: net.subnet,
            ctx: { ...hostCtx, replacing: net.name },
            inUse: facts?.inUse[net.name] ?? 0,
            minHeadroom: net.minHeadroom,
        });
        cap = planned.capacity;
        insideDefaultPool = planned.insideDefaultPool;
    } else {
        // Adoption keeps today's subnet, whatever its headroom: refusing it would block taking over the host.
        cap = capacity(net.subnet, facts?.inUse[net.name] ?? 0);
    }
    // Inputs that Docker cannot change in place (labels, gateway) follow the live network until the network is
    // replaced: a difference there alone would make the engine replace it (and refuse an import).
    const desiredGateway = net.gateway ?? firstHost(net.subnet);
    const follow = current !== undefined && !replacing;
    const gateway = follow ? (current.gateways[0] ?? desiredGateway) : desiredGateway;
    const labels = follow ? current.labels : net.labels;
    const differences: Difference[] = [];
    if (current) {
        const liveGateway = current.gateways.join(",") || "(none)";
        if (liveGateway !== desiredGateway) {
            differences.push({ key: "network.gateway", live: liveGateway, desired: desiredGateway });
        }
        if (labelText(current.labels) !== labelText(net.labels)) {
            differences.push({
                key: "network.labels",
                live: labelText(current.labels),
                desired: labelText(net.labels),
            });
        }
    }
    const changes =
        replacing && current
            ? [{ key: "network.subnet", live: fromSubnets.join(",") || "(none)", desired: net.subnet }, ...differences]
            : [];
    const external = externalRefusal({
        key: `${PROJECT}:network.migration`,
        networkName: net.name,
        replacing,
        migration: net.migration,
        stacks: cfg.stacks,
    });
    if (external) throw new Error(external);
    if (live && input.recorded && net.implementation === "docker") {
        const refusal = adoptionRefusal(net, live, fromSubnets, input.recorded);
        if (refusal) throw new Error(refusal);
    }
    let importId: string | undefined;
    if (net.adoptId !== undefined && net.implementation === "docker" && !replacing) {
        if (!live) {
            throw new Error(
                `${PROJECT}:network.adoptId: ${JSON.stringify(net.adoptId)} names a network to adopt, but the host has no network named ${JSON.stringify(net.name)}: remove network.adoptId (pulumi config rm --path network.adoptId), or point the program at the host that has it`,
            );
        }
        if (live.id !== net.adoptId && !live.id.startsWith(net.adoptId)) {
            throw new Error(
                `${PROJECT}:network.adoptId: ${JSON.stringify(net.adoptId)} is not the ID of the live network ${JSON.stringify(net.name)} (${live.id}); ` +
                    "set it to the live ID to adopt that network, or remove it once the network is adopted",
            );
        }
        importId = live.id;
    }
    let nixModuleDigest: string | undefined;
    if (cfg.rebuild.nixModule !== undefined) {
        const file = cfg.rebuild.nixModule;
        const text = fs.readFileSync(path.resolve(input.baseDir, file), "utf8");
        checkNixModule(`${PROJECT}:rebuild.nixModule`, file, text, net.name, net.subnet, fromSubnets);
        nixModuleDigest = createHash("sha256").update(text).digest("hex");
    }
    let rolling: Checked["rolling"];
    if (net.migration === "rolling") {
        const temporaryName = net.rolling.temporaryName ?? `${net.name}-rolling`;
        const liveTemp =
            facts &&
            ownTemporaryNetwork(`${PROJECT}:network.rolling.temporaryName`, temporaryName, net.name, facts.networks);
        // A temporary network left by an interrupted run keeps its subnet: the rerun resumes on it.
        const temp =
            liveTemp?.subnets[0] ??
            temporarySubnet({
                key: `${PROJECT}:network.rolling.temporarySubnet`,
                subnet: net.rolling.temporarySubnet,
                target: net.subnet,
                ctx: hostCtx,
                inUse: facts?.inUse[net.name] ?? 0,
            });
        rolling = { temporaryName, temporarySubnet: temp, services: facts?.attached };
    }
    const plan = maintenancePlan({
        network: { name: net.name, toSubnet: net.subnet },
        stacks: cfg.stacks,
        rebuildCommand: cfg.rebuild.nixModule !== undefined ? cfg.rebuild.command : undefined,
    });
    return {
        subnet: net.subnet,
        gateway,
        labels,
        capacity: cap,
        insideDefaultPool,
        fromSubnets,
        replacing,
        importId,
        deferred: follow ? differences : [],
        changes,
        nixModuleDigest,
        plan,
        rolling,
    };
}

/**
 * Why the program stops when the configured network is live but Pulumi's state does not hold it (never adopted,
 * its entry dropped by a refresh, or recreated out of band so the state holds another ID), or still holds entries
 * tied to another network: Pulumi would create a network whose name is taken (Docker refuses), or replace every
 * attached stack. The one message names the live network and the state-only steps that adopt it.
 */
export function adoptionRefusal(
    net: Config["network"],
    live: { id: string },
    liveSubnets: string[],
    recorded: RecordedState,
): string | undefined {
    const stale = staleEntries(recorded, live.id, net.name);
    const held = recorded.network !== undefined && sameId(recorded.network.id, live.id);
    const adopting = net.adoptId !== undefined && sameId(net.adoptId, live.id);
    // The state holds the live network: the engine's plan is right (stacks still tied to an older network are its
    // dependents, e.g. a replacement a failed maintenance left pending, and it replaces them as usual).
    if (held || (adopting && stale.length === 0)) return undefined;
    const why = recorded.network
        ? `the state holds another network (ID ${recorded.network.id.slice(0, 12)}): it was recreated out of band`
        : stale.length > 0
          ? `the state does not hold it (its entry was dropped, e.g. by a refresh) and still holds ${stale.length} entries tied to the old network`
          : "the state does not hold it: it was never adopted";
    const steps = adoptionSteps(stale, live.id).filter(
        (argv) => !(adopting && argv.includes("network.adoptId") && argv.includes("set")),
    );
    // Adoption keeps the live subnet; the change to another subnet is the reviewed run after it.
    const liveSubnet = liveSubnets.length === 1 ? liveSubnets[0] : undefined;
    if (liveSubnet !== undefined && liveSubnet !== net.subnet) {
        steps.splice(steps.length - 2, 0, ["pulumi", "config", "set", "--path", "network.subnet", liveSubnet]);
        steps.push(["pulumi", "config", "set", "--path", "network.subnet", net.subnet]);
    }
    return (
        `${PROJECT}:network: the network ${JSON.stringify(net.name)} is live on the host (ID ${live.id}, subnet ` +
        `${liveSubnets.join(",") || "none"}), but ${why}. From this state Pulumi would create a network whose name is ` +
        "taken (Docker refuses) or replace every attached stack, so nothing was registered. Adopt the live network; " +
        "these steps change only Pulumi's state, nothing on the host (the stacks' deploys run again, and an unchanged " +
        `stack keeps its tasks): ${steps.map((argv, i) => `${i + 1}. ${argv.map(shellWord).join(" ")}`).join("  ")}`
    );
}

function targetOf(input: ProgramInput): Target {
    const c = input.config.connection;
    if (c.mode === "local") {
        return { mode: "local", scriptsDir: c.scriptsDir };
    }
    if (!input.sshPrivateKey) {
        throw new Error(
            `${PROJECT}:sshPrivateKey is required with connection.mode ssh: set it as a secret (pulumi config set --secret sshPrivateKey < KEYFILE), or use connection.mode local on the host itself`,
        );
    }
    return {
        mode: "ssh",
        scriptsDir: c.scriptsDir,
        host: c.host,
        port: c.port,
        user: c.user,
        hostKey: c.hostKey,
        privateKey: input.sshPrivateKey,
    };
}

/** Stack outputs: derived from the config alone, so they read the same before and after the maintenance. */
export interface ProgramOutputs {
    subnet: string;
    gateway: string;
    assignableAddresses: number;
    insideDefaultPool: string | null;
    maintenancePlan: MaintenanceStep[];
    networkId: pulumi.Output<string>;
}

function logFacts(cfg: Config, checked: Checked, facts: HostFacts | undefined): void {
    // Live figures go to the log, not to the outputs: they move with every task.
    const cap = checked.capacity;
    const u = facts?.usage;
    const parts = u
        ? ` (${u.vips} VIPs, ${u.taskEndpoints + u.containerEndpoints} endpoints, ${u.lbEndpoints} load balancers: one per node using it)`
        : "";
    pulumi.log.info(
        `${cfg.network.name}: ${cap.inUse} addresses in use${parts}; ${cap.cidr} gives ${cap.assignable} assignable` +
            (cap.inUse > 0 ? ` (${(cap.assignable / cap.inUse).toFixed(1)}x)` : "") +
            `; this run ${checked.replacing ? `replaces the network (live: ${checked.fromSubnets.join(", ") || "unknown"})` : "keeps the network"}`,
    );
    const show = (d: Difference) => `${d.key} ${d.live} -> ${d.desired}`;
    if (checked.changes.length > 0) {
        pulumi.log.info(`at this maintenance the network changes: ${checked.changes.map(show).join("; ")}`);
    }
    if (checked.deferred.length > 0) {
        pulumi.log.info(
            `${checked.deferred.map((d) => d.key).join(" and ")} follow the live network until it is next replaced ` +
                `(Docker cannot change them in place); they change at the next maintenance: ${checked.deferred.map(show).join("; ")}`,
        );
    }
    const r = checked.rolling;
    if (r && checked.replacing) {
        const services = r.services;
        pulumi.log.info(
            `network.migration rolling: ${cfg.network.name} becomes ${checked.subnet} without tearing any stack down: ` +
                `every attached service moves onto ${r.temporaryName} (${r.temporarySubnet}), the network is ` +
                `recreated, and every service moves back; then ${r.temporaryName} is removed. ` +
                (services
                    ? `${services.length} service(s) move: ${services.map(describeMove).join("; ")}`
                    : "The attached services were not read (no survey): the move finds them on the host."),
        );
    }
    if (checked.insideDefaultPool) {
        pulumi.log.warn(
            `${checked.subnet} lies inside the swarm's default address pool ${checked.insideDefaultPool}; ` +
                `networks created later without --subnet may be given addresses next to it`,
        );
    }
}

export function buildProgram(input: ProgramInput): ProgramOutputs {
    const checked = check(input);
    const cfg = input.config;
    const target = targetOf(input);
    logFacts(cfg, checked, input.facts);

    const rollingMigration = checked.rolling !== undefined && checked.replacing;
    const refusal = replaceRefusal({
        networkName: cfg.network.name,
        replacing: checked.replacing,
        rolling: checked.rolling !== undefined,
        windowOpen:
            cfg.maintenance.windowOpen || (checked.rolling !== undefined && cfg.maintenance.allowRollingOutsideWindow),
        dryRun: input.dryRun,
    });
    if (refusal) {
        throw new Error(refusal);
    }
    const allowStacks = cfg.maintenance.allowStacks ?? cfg.stacks.map((s) => s.name);
    const attachedStacks = cfg.stacks.filter((s) => s.attached);
    const windowHook = maintenanceWindowHook({
        windowOpen: cfg.maintenance.windowOpen,
        dryRun: input.dryRun,
        checkQuiescent: () => runHostScript(input.runner, target, "gate-quiescent", allowStacks),
        network: {
            resource: NETWORK_RESOURCE,
            clear: () =>
                runHostScript(input.runner, target, "network-clear", [
                    cfg.network.name,
                    String(Math.max(60, ...attachedStacks.map((s) => s.teardownTimeoutSeconds))),
                    ...attachedStacks.map((s) => s.name),
                ]),
            gone: cfg.network.implementation === "docker" ? (id) => networkGone(input.runner, id) : undefined,
            rolling: rollingMigration,
        },
    });

    const opts: pulumi.ComponentResourceOptions = { transformations: input.transformations };
    const deploys = new Map(
        cfg.stacks.map((s) => [s.name, s.compose !== undefined ? composeDeploy(input, target, s.compose) : undefined]),
    );
    for (const [name, d] of deploys) {
        if (d?.hostPath) {
            pulumi.log.info(
                `stack ${name}: compose ${d.hostPath} lies outside the project, so it is not shipped over SSH: ` +
                    `the host must hold ${d.hostPath}`,
            );
        }
    }
    // First: every other resource depends on it, so the scripts it installs (and over SSH the compose files it
    // ships) are on the host before any runs.
    const scripts = new HostScripts(
        "host",
        {
            target,
            compose: [...deploys.values()].flatMap((d) => (d?.ship ? [d.ship] : [])),
            optional: cfg.stacks.some((s) => s.deploy !== undefined) ? ["stack-deploy-command"] : [],
        },
        opts,
    );

    // Over SSH the Docker provider reaches the host's dockerd through `ssh ... docker system dial-stdio` with the
    // operator's agent and the pinned host key; locally it uses DOCKER_HOST, as the default provider always did.
    const dockerProvider =
        target.mode === "ssh" && cfg.network.implementation === "docker"
            ? new docker.Provider(
                  "host-docker",
                  {
                      host: `ssh://${target.user}@${target.host}:${target.port}`,
                      sshOpts: sshOptions(target.host, target.port, target.hostKey),
                  },
                  opts,
              )
            : undefined;
    const move = checked.rolling
        ? new RollingMove(
              "proxy-move",
              {
                  name: cfg.network.name,
                  temporaryName: checked.rolling.temporaryName,
                  temporarySubnet: checked.rolling.temporarySubnet,
                  subnet: checked.subnet,
                  moveTimeoutSeconds: cfg.network.rolling.moveTimeoutSeconds,
                  allowStacks,
                  migrating: rollingMigration,
                  target,
                  dependsOn: [scripts.resource],
              },
              opts,
          )
        : undefined;
    const network = new ProxyNetwork(
        NETWORK_COMPONENT,
        {
            name: cfg.network.name,
            subnet: checked.subnet,
            gateway: checked.gateway,
            labels: checked.labels,
            implementation: cfg.network.implementation,
            importId: checked.importId,
            removeTimeoutSeconds: cfg.network.removeTimeoutSeconds,
            target,
            dependsOn: [scripts.resource, ...(move ? [move.out] : [])],
            // Rolling: the new network is created once `out` removed the old one, and the old entry deleted last.
            deleteBeforeReplace: move === undefined,
            windowHook,
            provider: dockerProvider,
        },
        opts,
    );

    const modulePath =
        cfg.connection.mode === "local" && cfg.rebuild.nixModule !== undefined
            ? projectPath(input.baseDir, cfg.rebuild.nixModule)
            : undefined;
    const rebuild =
        checked.nixModuleDigest === undefined
            ? undefined
            : new NixosRebuild(
                  "rebuild",
                  {
                      command: cfg.rebuild.command,
                      moduleDigest: checked.nixModuleDigest,
                      modulePath,
                      networkId: network.networkId,
                      target,
                      dependsOn: [network.resource],
                      keepRecordedPath: keepsRecordedModulePath(input.recorded, modulePath, checked),
                  },
                  opts,
              );

    const back = move?.back(network.networkId, [network.resource, ...(rebuild ? [rebuild.done] : [])]);
    const stacks = new Map<string, SwarmStack>();
    // One value per run: every stack SWARM_PROXY_REDEPLOY names is updated in place (see SwarmStack).
    const redeployToken = `${new Date().toISOString()} ${process.pid}`;
    const byName = new Map(cfg.stacks.map((s) => [s.name, s]));
    // The plan's deploy waves: every stack comes after the stacks it waits for (config validation ruled out cycles).
    for (const s of checked.plan.waves.flat().map((n) => byName.get(n)!)) {
        // A stack that waits for another is deployed once the swarm has accepted the other's services, not once
        // they are healthy: joining the network is all that needs the order, and waiting for health would add
        // a whole deploy to the outage.
        const waits = s.waitsFor.map((w) => stacks.get(w)!.deployed);
        const deploy = deploys.get(s.name)?.deploy ?? otherDeploy(s);
        const moved = recordedPathMove(input.recorded, s.name, deploy, target);
        if (moved) pulumi.log.info(moved);
        const base = s.attached && rebuild ? [scripts.resource, rebuild.done] : [scripts.resource];
        stacks.set(
            s.name,
            new SwarmStack(
                s.name,
                {
                    stack: s.name,
                    deploy,
                    network: s.attached
                        ? { name: cfg.network.name, id: network.networkId, subnet: checked.subnet }
                        : undefined,
                    teardownTimeoutSeconds: s.teardownTimeoutSeconds,
                    health: s.health,
                    target,
                    dependsOn: [...base, ...(s.attached ? [network.resource] : []), ...waits],
                    windowHook,
                    redeployToken: cfg.redeploy?.includes(s.name) ? redeployToken : undefined,
                    healthTrigger: keepsHealthTrigger(input.recorded, s.name, deploy, target, moved !== undefined),
                    rolling: back && s.attached ? { after: [back], subnet: checked.subnet } : undefined,
                    // A recreate that replaces the network replaces the stack whatever its recorded ID.
                    keepTriggers:
                        s.attached &&
                        (move !== undefined ||
                            (!checked.replacing &&
                                triggersPredate(input.recorded, `${s.name}-stack`, cfg.network.name))),
                },
                opts,
            ),
        );
    }

    // A stack another tool deployed is never torn down by the program (a recreate with one was refused above).
    const teardown = checked.plan.teardown.filter((n) => byName.get(n)!.deploy !== EXTERNAL);
    if (teardown.length > 0) {
        new ParallelTeardown(
            "teardown",
            {
                stacks: teardown,
                network: { name: cfg.network.name, id: network.networkId },
                timeoutSeconds: Math.max(...teardown.map((n) => byName.get(n)!.teardownTimeoutSeconds)),
                target,
                dependsOn: teardown.map((n) => stacks.get(n)!.deployed),
                windowHook,
                keepTriggers: move !== undefined || triggersPredate(input.recorded, "teardown-all", cfg.network.name),
            },
            opts,
        );
    }

    return {
        subnet: checked.subnet,
        gateway: checked.gateway,
        assignableAddresses: checked.capacity.assignable,
        insideDefaultPool: checked.insideDefaultPool ?? null,
        maintenancePlan: checked.plan.steps,
        networkId: network.networkId,
    };
}

/**
 * An installed host script run from the program itself (the window's checks before a teardown), through the runner
 * that read the host's facts; its own message on failure.
 */
function runHostScript(runner: Runner | undefined, target: Target, script: HostScript, args: string[]): void {
    if (!runner) {
        throw new Error("no way to reach the host was given to the program");
    }
    try {
        runner(["bash", scriptPath(target.scriptsDir, script), ...args]);
    } catch (e) {
        const err = e as Error & { stderr?: string };
        throw new Error((err.stderr ?? "").trim() || err.message);
    }
}

/** Whether the network with this ID is gone from the host (a failed read counts as there: nothing is assumed). */
function networkGone(runner: Runner | undefined, id: string): boolean {
    if (!runner) return false;
    try {
        runner(["docker", "network", "inspect", "--format", "{{.Id}}", id]);
        return false;
    } catch (e) {
        const err = e as Error & { stderr?: string };
        return /no such network|not found/i.test(`${err.stderr ?? ""} ${err.message}`);
    }
}

/** The deploy of a stack without a compose file: its unit, another tool, or the user's own command. */
function otherDeploy(s: StackConfig): StackDeploy {
    if (s.unit !== undefined) return { unit: s.unit };
    return s.deploy === EXTERNAL ? { external: true } : { command: s.deploy ?? [] };
}

/** A compose stack's deploy, and what it needs on the host. */
interface ComposeDeploy {
    deploy: { compose: string; digest?: string };
    /** Over SSH, the project's file the installer ships. */
    ship?: ShippedFile;
    /** Over SSH, a path outside the project: the host's own file, which the host must hold. */
    hostPath?: string;
}

/**
 * A compose stack's deploy, keyed by the file's path relative to the project and its content digest: the same in
 * every checkout, so that a clone elsewhere (every CI build) previews clean, and a changed file is that stack's
 * update alone. Locally the command runs in the project's folder and names the relative path, the digest in its
 * environment; over SSH it names the path the file is shipped to, which holds both. A path outside the project is
 * the host's over SSH, passed as given.
 */
function composeDeploy(input: ProgramInput, target: Target, file: string): ComposeDeploy {
    const rel = projectPath(input.baseDir, file);
    if (target.mode === "ssh" && path.isAbsolute(rel)) {
        return { deploy: { compose: file }, hostPath: file };
    }
    const content = fs.readFileSync(path.resolve(input.baseDir, file));
    const digest = createHash("sha256").update(content).digest("hex");
    if (target.mode === "local") {
        return { deploy: { compose: rel, digest } };
    }
    return {
        deploy: { compose: shippedComposePath(target.scriptsDir, rel, digest), digest },
        ship: { rel, digest, content },
    };
}

/**
 * The preview's note for a stack whose recorded deploy differs from this run's only in the compose file's path
 * (recorded absolute by the program before, relative now) with the same digest: the update that records it runs
 * `docker stack deploy` of an unchanged file, which restarts nothing (measured: same task IDs). Over SSH the state
 * from before recorded the host's path and no digest; the path the same file is now shipped to is that change.
 */
export function recordedPathMove(
    recorded: RecordedState | undefined,
    stack: string,
    deploy: SwarmStackArgs["deploy"],
    target: Target,
): string | undefined {
    if (!("compose" in deploy) || deploy.digest === undefined) return undefined;
    const r = recorded?.resources.find((x) => x.name === `${stack}-stack`);
    const env = r?.inputs?.environment as Record<string, unknown> | undefined;
    const recordedDigest = target.mode === "local" ? deploy.digest : undefined;
    if (!r || env?.SWARM_PROXY_COMPOSE_SHA256 !== recordedDigest) return undefined;
    const line = commandLine(target.scriptsDir, deployInvocation(stack, deploy));
    const changes = pathOnlyChange(
        { create: r.inputs?.create, update: r.inputs?.update },
        { create: line, update: line },
    );
    return changes ? recordedPathNote(stack, changes) : undefined;
}

/**
 * The health check's compose trigger for an SSH stack whose state predates shipped compose files (it recorded none):
 * kept while the deploy is that one-time path change or unchanged since, so the upgrade re-runs no check; a changed
 * file gives the digest, and the check runs again after its deploy.
 */
function keepsHealthTrigger(
    recorded: RecordedState | undefined,
    stack: string,
    deploy: SwarmStackArgs["deploy"],
    target: Target,
    moved: boolean,
): string | undefined {
    if (target.mode !== "ssh" || !("compose" in deploy) || deploy.digest === undefined) return undefined;
    const health = recorded?.resources.find((x) => x.name === `${stack}-health`);
    if (health?.triggers[1] !== "") return undefined;
    const r = recorded?.resources.find((x) => x.name === `${stack}-stack`);
    const unchanged = r?.inputs?.create === commandLine(target.scriptsDir, deployInvocation(stack, deploy));
    return moved || unchanged ? "" : undefined;
}

/**
 * Whether the rebuild keeps the module path its state records (absolute, from before paths were relative): the
 * module and the network are unchanged, and an update of that variable alone would run the rebuild again for
 * nothing. The next rebuild (a new network or module) records the relative path.
 */
function keepsRecordedModulePath(
    recorded: RecordedState | undefined,
    modulePath: string | undefined,
    checked: Checked,
): boolean {
    const r = recorded?.resources.find((x) => x.name === "rebuild-switch");
    if (!r || modulePath === undefined || checked.replacing || r.triggers[1] !== checked.nixModuleDigest) return false;
    const env = { SWARM_PROXY_NIX_MODULE: modulePath };
    const changes = pathOnlyChange({ environment: r.inputs?.environment }, { environment: env });
    if (!changes) return false;
    pulumi.log.info(
        `rebuild: recorded module path ${changes[0].from} stays until the next rebuild (a new network or module), ` +
            `which records ${changes[0].to}; nothing runs for it now`,
    );
    return true;
}
