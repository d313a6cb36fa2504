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
import { SwarmStack } from "./components/swarmStack";
import { type Config, PROJECT } from "./config";
import { type HostFacts, type Runner } from "./src/hostFacts";
import { sshOptions } from "./src/ssh";
import { maintenanceWindowHook, replaceRefusal } from "./src/maintenanceWindow";
import { scriptPath, type Target } from "./src/hostCommand";
import { checkNixModule } from "./src/nix";
import { isReplacing, maintenancePlan, type MaintenanceStep, type Plan } from "./src/plan";
import { capacity, type Capacity, planSubnet, toRange } from "./src/subnet";

export interface ProgramInput {
    config: Config;
    /** The live host, read at preview time; undefined when the config turns the survey off. */
    facts?: HostFacts;
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
    const fromSubnets = live?.subnets ?? [];
    // Without a survey the program cannot know whether the network changes: it assumes it does, so the
    // window is demanded.
    const replacing = facts ? isReplacing(fromSubnets, net.subnet) : true;
    const key = `${PROJECT}:network.subnet`;
    let cap: Capacity;
    let insideDefaultPool: string | undefined;
    if (replacing || !live) {
        const planned = planSubnet({
            key,
            subnet: net.subnet,
            ctx: {
                networks: facts?.networks ?? [],
                routes: facts?.routes ?? [],
                reserved: net.reserved,
                defaultAddressPools: facts?.defaultAddressPools ?? [],
                replacing: net.name,
            },
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
    const follow = live !== undefined && !replacing;
    const gateway = follow ? (live.gateways[0] ?? desiredGateway) : desiredGateway;
    const labels = follow ? live.labels : net.labels;
    const differences: Difference[] = [];
    if (live) {
        const liveGateway = live.gateways.join(",") || "(none)";
        if (liveGateway !== desiredGateway) {
            differences.push({ key: "network.gateway", live: liveGateway, desired: desiredGateway });
        }
        if (labelText(live.labels) !== labelText(net.labels)) {
            differences.push({ key: "network.labels", live: labelText(live.labels), desired: labelText(net.labels) });
        }
    }
    const changes =
        replacing && live
            ? [{ key: "network.subnet", live: fromSubnets.join(",") || "(none)", desired: net.subnet }, ...differences]
            : [];
    let importId: string | undefined;
    if (net.adoptId !== undefined && net.implementation === "docker" && !replacing) {
        if (!live) {
            throw new Error(
                `${PROJECT}:network.adoptId: ${JSON.stringify(net.adoptId)} names a network to adopt, but the host has no network named ${JSON.stringify(net.name)}`,
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
    };
}

function targetOf(input: ProgramInput): Target {
    const c = input.config.connection;
    if (c.mode === "local") {
        return { mode: "local", scriptsDir: c.scriptsDir };
    }
    if (!input.sshPrivateKey) {
        throw new Error(`${PROJECT}:sshPrivateKey is required with connection.mode ssh`);
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

    const refusal = replaceRefusal({
        networkName: cfg.network.name,
        replacing: checked.replacing,
        windowOpen: cfg.maintenance.windowOpen,
        dryRun: input.dryRun,
    });
    if (refusal) {
        throw new Error(refusal);
    }
    const allowStacks = cfg.maintenance.allowStacks ?? cfg.stacks.map((s) => s.name);
    const windowHook = maintenanceWindowHook({
        windowOpen: cfg.maintenance.windowOpen,
        dryRun: input.dryRun,
        checkQuiescent: () => quiescent(input.runner, target, allowStacks),
    });

    const opts: pulumi.ComponentResourceOptions = { transformations: input.transformations };
    // First: every other resource depends on it, so the scripts it installs are on the host before any runs.
    const scripts = new HostScripts("host", { target }, opts);

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
    const network = new ProxyNetwork(
        "proxy",
        {
            name: cfg.network.name,
            subnet: checked.subnet,
            gateway: checked.gateway,
            labels: checked.labels,
            implementation: cfg.network.implementation,
            importId: checked.importId,
            removeTimeoutSeconds: cfg.network.removeTimeoutSeconds,
            target,
            dependsOn: [scripts.resource],
            windowHook,
            provider: dockerProvider,
        },
        opts,
    );

    const rebuild =
        checked.nixModuleDigest === undefined
            ? undefined
            : new NixosRebuild(
                  "rebuild",
                  {
                      command: cfg.rebuild.command,
                      moduleDigest: checked.nixModuleDigest,
                      modulePath:
                          cfg.connection.mode === "local" && cfg.rebuild.nixModule !== undefined
                              ? path.resolve(input.baseDir, cfg.rebuild.nixModule)
                              : undefined,
                      networkId: network.networkId,
                      target,
                      dependsOn: [network.resource],
                  },
                  opts,
              );

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
        const base = s.attached && rebuild ? [scripts.resource, rebuild.done] : [scripts.resource];
        stacks.set(
            s.name,
            new SwarmStack(
                s.name,
                {
                    stack: s.name,
                    deploy: s.compose !== undefined ? composeDeploy(input, s.compose) : { unit: s.unit! },
                    network: s.attached
                        ? { name: cfg.network.name, id: network.networkId, subnet: checked.subnet }
                        : undefined,
                    teardownTimeoutSeconds: s.teardownTimeoutSeconds,
                    health: s.health,
                    target,
                    dependsOn: [...base, ...(s.attached ? [network.resource] : []), ...waits],
                    windowHook,
                    redeployToken: cfg.redeploy?.includes(s.name) ? redeployToken : undefined,
                },
                opts,
            ),
        );
    }

    const teardown = checked.plan.teardown;
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

/** The quiescence check, run on the host through the runner that read its facts (the installed script). */
function quiescent(runner: Runner | undefined, target: Target, allowStacks: string[]): void {
    if (!runner) {
        throw new Error("no way to reach the host was given to the program");
    }
    try {
        runner(["bash", scriptPath(target.scriptsDir, "gate-quiescent"), ...allowStacks]);
    } catch (e) {
        const err = e as Error & { stderr?: string };
        throw new Error((err.stderr ?? "").trim() || err.message);
    }
}

function composeDeploy(input: ProgramInput, file: string): { compose: string; digest?: string } {
    if (input.config.connection.mode !== "local") {
        return { compose: file };
    }
    const full = path.resolve(input.baseDir, file);
    return { compose: full, digest: createHash("sha256").update(fs.readFileSync(full)).digest("hex") };
}
