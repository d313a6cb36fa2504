// Turns the validated config and the live host's facts into the plan, checks it, then into resources.
// Every check runs before the first resource is registered: a bad input changes nothing.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { gateRefusal, MaintenanceGate } from "./components/maintenanceGate";
import { NixosRebuild } from "./components/nixosRebuild";
import { ParallelTeardown } from "./components/parallelTeardown";
import { ProxyNetwork } from "./components/proxyNetwork";
import { SwarmStack } from "./components/swarmStack";
import { Config, PROJECT } from "./config";
import { HostFacts } from "./src/hostFacts";
import { Target } from "./src/hostCommand";
import { checkNixModule } from "./src/nix";
import { isReplacing, maintenancePlan, MaintenanceStep, orderStacks } from "./src/plan";
import { capacity, Capacity, planSubnet, toRange } from "./src/subnet";

export interface ProgramInput {
    config: Config;
    /** The live host, read at preview time; undefined when the config turns the survey off. */
    facts?: HostFacts;
    /** Directory relative file paths are resolved from. */
    baseDir: string;
    dryRun: boolean;
    sshPrivateKey?: pulumi.Output<string>;
    /** Applied to every component and so to every resource: how tests see the options the program sets. */
    transformations?: pulumi.ResourceTransformation[];
}

export interface Checked {
    subnet: string;
    gateway: string;
    capacity: Capacity;
    insideDefaultPool?: string;
    fromSubnets: string[];
    replacing: boolean;
    nixModuleDigest?: string;
    plan: MaintenanceStep[];
}

function firstHost(cidr: string): string {
    const range = toRange(cidr);
    if (!range) {
        throw new Error(`${cidr} is not a CIDR`);
    }
    return range.getFirst().nextIPNumber().toString();
}

/** Everything the program decides before creating anything. Throws one error for the first problem. */
export function check(input: ProgramInput): Checked {
    const { config: cfg, facts } = input;
    const net = cfg.network;
    const live = facts?.networks.find((n) => n.name === net.name);
    const fromSubnets = live?.subnets ?? [];
    // Without a survey the program cannot know whether the network changes: it assumes it does, so the
    // gate demands the window.
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
    const liveGateway = live && !replacing ? live.gateways[0] : undefined;
    const gateway = net.gateway ?? liveGateway ?? firstHost(net.subnet);
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
    return { subnet: net.subnet, gateway, capacity: cap, insideDefaultPool, fromSubnets, replacing, nixModuleDigest, plan };
}

function targetOf(input: ProgramInput): Target {
    const c = input.config.connection;
    if (c.mode === "local") {
        return { mode: "local" };
    }
    if (!input.sshPrivateKey) {
        throw new Error(`${PROJECT}:sshPrivateKey is required with connection.mode ssh`);
    }
    return { mode: "ssh", host: c.host, port: c.port, user: c.user, hostKey: c.hostKey, privateKey: input.sshPrivateKey };
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

export function buildProgram(input: ProgramInput): ProgramOutputs {
    const checked = check(input);
    const cfg = input.config;
    const target = targetOf(input);
    // Live figures go to the log, not to the outputs: they move with every task.
    const cap = checked.capacity;
    pulumi.log.info(`${cfg.network.name}: ${cap.inUse} addresses in use; ${cap.cidr} gives ${cap.assignable} assignable` +
        (cap.inUse > 0 ? ` (${(cap.assignable / cap.inUse).toFixed(1)}x)` : "") +
        `; this run ${checked.replacing ? `replaces the network (live: ${checked.fromSubnets.join(", ") || "unknown"})` : "keeps the network"}`);
    if (checked.insideDefaultPool) {
        pulumi.log.warn(`${checked.subnet} lies inside the swarm's default address pool ${checked.insideDefaultPool}; ` +
            `networks created later without --subnet may be given addresses next to it`);
    }

    const gateArgs = {
        networkName: cfg.network.name,
        replacing: checked.replacing,
        windowOpen: cfg.maintenance.windowOpen,
        windowEnv: cfg.windowEnv,
        dryRun: input.dryRun,
    };
    const refusal = gateRefusal(gateArgs);
    if (refusal) {
        throw new Error(refusal);
    }

    const opts: pulumi.ComponentResourceOptions = { transformations: input.transformations };
    const gate = new MaintenanceGate("gate", {
        ...gateArgs,
        desired: `${cfg.network.name} ${checked.subnet} ${checked.gateway}`,
        allowStacks: cfg.maintenance.allowStacks ?? cfg.stacks.map((s) => s.name),
        target,
    }, opts);

    const network = new ProxyNetwork("proxy", {
        name: cfg.network.name,
        subnet: checked.subnet,
        gateway: checked.gateway,
        labels: cfg.network.labels,
        implementation: cfg.network.implementation,
        adoptId: cfg.network.adoptId,
        removeTimeoutSeconds: cfg.network.removeTimeoutSeconds,
        target,
        dependsOn: [gate.check],
    }, opts);

    const rebuild = checked.nixModuleDigest === undefined ? undefined : new NixosRebuild("rebuild", {
        command: cfg.rebuild.command,
        moduleDigest: checked.nixModuleDigest,
        networkId: network.networkId,
        target,
        dependsOn: [network.resource],
    }, opts);

    const stacks = new Map<string, SwarmStack>();
    const byName = new Map(cfg.stacks.map((s) => [s.name, s]));
    // Deploy waves: every stack comes after the stacks it waits for (config validation ruled out cycles).
    for (const s of orderStacks(cfg.stacks).flat().map((n) => byName.get(n)!)) {
        // A stack that waits for another is deployed once the swarm has accepted the other's services, not once
        // they are healthy: joining the network is all that needs the order, and waiting for health would add
        // a whole deploy to the outage.
        const waits = s.waitsFor.map((w) => stacks.get(w)!.deployed);
        const base = s.attached && rebuild ? [gate.check, rebuild.done] : [gate.check];
        stacks.set(s.name, new SwarmStack(s.name, {
            stack: s.name,
            deploy: s.compose !== undefined ? composeDeploy(input, s.compose) : { unit: s.unit! },
            network: s.attached ? { name: cfg.network.name, id: network.networkId, subnet: checked.subnet } : undefined,
            teardownTimeoutSeconds: s.teardownTimeoutSeconds,
            health: s.health,
            target,
            dependsOn: [...base, ...(s.attached ? [network.resource] : []), ...waits],
        }, opts));
    }

    const attached = cfg.stacks.filter((s) => s.attached);
    if (attached.length > 0) {
        new ParallelTeardown("teardown", {
            stacks: attached.map((s) => s.name),
            network: { name: cfg.network.name, id: network.networkId },
            timeoutSeconds: Math.max(...attached.map((s) => s.teardownTimeoutSeconds)),
            target,
            dependsOn: attached.map((s) => stacks.get(s.name)!.deployed),
        }, opts);
    }

    return {
        subnet: checked.subnet,
        gateway: checked.gateway,
        assignableAddresses: checked.capacity.assignable,
        insideDefaultPool: checked.insideDefaultPool ?? null,
        maintenancePlan: checked.plan,
        networkId: network.networkId,
    };
}

function composeDeploy(input: ProgramInput, file: string): { compose: string; digest?: string } {
    if (input.config.connection.mode !== "local") {
        return { compose: file };
    }
    const full = path.resolve(input.baseDir, file);
    return { compose: full, digest: createHash("sha256").update(fs.readFileSync(full)).digest("hex") };
}
