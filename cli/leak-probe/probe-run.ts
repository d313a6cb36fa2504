// Running the runbook's leak measurement: deploy throwaway stacks that pair an external overlay with a network
// of their own and publish a port (the shape that leaks, moby/swarmkit#3230), remove them — all at once with
// `docker stack rm`, or with our leak-free teardown — repeat, and measure the overlay's free addresses after
// every cycle. Dockerd < 29 cannot say how many addresses its allocator holds, so each measurement is a probe
// (zero-replica services until allocation fails); Engine >= 29 reports IPsInUse directly. Ctrl-C stops the
// run and the cleanup (cli/leak-probe/cleanup.ts) removes what it created.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findConflicts } from "../../src/subnet";
import { countUsage } from "../../src/docker";
import { gatherUsage, probeFree } from "../shared/overlay-capacity";
import { childEnv, runChild } from "../shared/child-process";
import { type EngineNetwork, apiAtLeast, stackOf, subnetsOf } from "../../src/docker";
import type { Engine } from "../../src/engine";
import { CliError, errorMessage } from "../shared/errors";
import {
    type LeakProbeSettings,
    type LeakReport,
    type ModeResult,
    type ProxyNow,
    type TeardownMode,
    composeFor,
    leakReport,
    leakStats,
} from "./leak-report";
import { cleanupRun } from "./cleanup";
import { leftoverMessage } from "./leftovers";
import { hostScriptsDir } from "../shared/package-root";
import type { Progress } from "../shared/progress";
import { checkName } from "../shared/validate";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The operator's settings and what connecting found. */
export interface LeakProbeOptions extends LeakProbeSettings {
    localNodeId?: string;
    apiVersion: string;
    progress: Progress;
    /** The dockerd the Engine talks to, given to the docker CLI and the teardown script too. */
    dockerHost?: string;
}

async function waitFor(
    what: string,
    timeoutSec: number,
    check: () => Promise<string | undefined>,
    stop?: () => void,
): Promise<void> {
    const deadline = Date.now() + timeoutSec * 1000;
    for (;;) {
        // Ctrl-C ends a wait at once: the cleanup, not the wait, is what the operator is waiting for.
        stop?.();
        const pending = await check();
        if (pending === undefined) {
            return;
        }
        if (Date.now() > deadline) {
            throw new CliError(`${what}: still waiting after ${timeoutSec} s for ${pending}`);
        }
        await sleep(500);
    }
}

class Run {
    readonly id = randomBytes(3).toString("hex");
    /** Set by Ctrl-C: the run stops at the next step and cleans up instead of leaving stacks behind. */
    interrupted = false;
    /** Names this run asked dockerd to create, for the leftover report when dockerd cannot be asked. */
    readonly deployed: string[] = [];
    readonly createdNetworks: string[] = [];
    /** The overlay the stacks of the current mode join. */
    currentNetwork = "";
    private readonly dir = mkdtempSync(join(tmpdir(), "spx-leak-"));
    private readonly env: NodeJS.ProcessEnv;

    constructor(
        private readonly engine: Engine,
        private readonly o: LeakProbeOptions,
    ) {
        this.env = childEnv(o.dockerHost);
    }

    /** Every stack and network this run creates is named with it, so the cleanup finds them by name alone. */
    get prefix(): string {
        return `spxlp${this.id}`;
    }

    checkInterrupted(): void {
        if (this.interrupted) {
            throw new CliError("leak-probe interrupted");
        }
    }

    stackName(mode: TeardownMode, i: number): string {
        return checkName("stack", `${this.prefix}${mode[0]}${i}`);
    }

    async measure(net: EngineNetwork): Promise<{ free: number; method: "probe" | "ipsInUse" }> {
        if (apiAtLeast(this.o.apiVersion, 1, 52)) {
            const usage = countUsage(
                await gatherUsage(this.engine, net.Id, this.o.localNodeId, { apiVersion: this.o.apiVersion }),
            );
            if (usage.method === "ipsInUse") {
                return { free: usage.free, method: "ipsInUse" };
            }
        }
        const p = await probeFree(this.engine, net, {
            image: this.o.image,
            max: this.o.probeMax,
            batch: 32,
            progress: this.o.progress,
        });
        if (p.bounded) {
            throw new CliError(
                `probe of ${net.Name} allocated --probe-max ${this.o.probeMax} addresses without filling it; use a smaller network`,
            );
        }
        return { free: p.free, method: "probe" };
    }

    async deploy(mode: TeardownMode): Promise<string[]> {
        const names = Array.from({ length: this.o.stacks }, (_, i) => this.stackName(mode, i));
        this.deployed.push(...names.filter((n) => !this.deployed.includes(n)));
        await Promise.all(
            names.map((name, i) => {
                const file = join(this.dir, `${name}.yml`);
                writeFileSync(file, composeFor(this.o.image, this.currentNetwork, this.o.portBase + i));
                return runChild(
                    "docker",
                    ["stack", "deploy", "--resolve-image", "never", "-c", file, name],
                    `docker stack deploy ${name}`,
                    this.env,
                );
            }),
        );
        await waitFor(
            "deploy",
            this.o.timeoutSec,
            async () => {
                const svcs = (await this.engine.services()).filter((s) => names.includes(stackOf(s) ?? ""));
                const notUp = names.filter((n) => {
                    const s = svcs.find((x) => stackOf(x) === n);
                    return !s?.ServiceStatus || s.ServiceStatus.RunningTasks < 1;
                });
                return notUp.length > 0 ? `running tasks in ${notUp.join(", ")}` : undefined;
            },
            () => this.checkInterrupted(),
        );
        return names;
    }

    async remove(mode: TeardownMode, names: string[]): Promise<void> {
        if (mode === "concurrent") {
            // `docker stack rm` fails to remove a stack network a task still holds ("in use by task") and
            // returns: the race this mode exists to show. Like an operator, retry until the networks are gone.
            const rm = (n: string) =>
                runChild("docker", ["stack", "rm", n], `docker stack rm ${n}`, this.env).catch(() => undefined);
            await Promise.all(names.map(rm));
            await this.waitGone(names, async (left) => {
                await Promise.all(left.map(rm));
            });
        } else {
            const script = join(this.o.hostScripts, "stack-teardown.sh");
            await Promise.all(
                names.map((n) =>
                    runChild("bash", [script, n, String(this.o.timeoutSec)], `stack-teardown.sh ${n}`, this.env),
                ),
            );
            await this.waitGone(names);
        }
    }

    async waitGone(names: string[], retry?: (stacksLeft: string[]) => Promise<void>): Promise<void> {
        let polls = 0;
        await waitFor(
            "stack removal",
            this.o.timeoutSec,
            async () => {
                const [svcs, nets] = await Promise.all([this.engine.services(), this.engine.networks()]);
                const stackSvcs = svcs.filter((s) => names.includes(stackOf(s) ?? ""));
                const stackNets = nets.filter((n) => names.includes(n.Labels?.["com.docker.stack.namespace"] ?? ""));
                const left = [
                    ...stackSvcs.map((s) => `service ${s.Spec.Name}`),
                    ...stackNets.map((n) => `network ${n.Name}`),
                ];
                if (left.length === 0) {
                    return undefined;
                }
                polls++;
                if (retry && polls % 4 === 0) {
                    const stacks = new Set([
                        ...stackSvcs.map((s) => stackOf(s) ?? ""),
                        ...stackNets.map((n) => n.Labels?.["com.docker.stack.namespace"] ?? ""),
                    ]);
                    await retry([...stacks].filter((x) => x !== ""));
                }
                return left.join(", ");
            },
            () => this.checkInterrupted(),
        );
    }

    async createThrowaway(mode: TeardownMode): Promise<EngineNetwork> {
        const name = checkName("network", `${this.prefix}${mode[0]}-net`);
        const networks = await this.engine.networks();
        const conflicts = findConflicts(this.o.probeSubnet, {
            networks: networks.map((n) => ({ name: n.Name, driver: n.Driver, scope: n.Scope, subnets: subnetsOf(n) })),
            routes: [],
            reserved: [],
            defaultAddressPools: [],
        });
        if (conflicts.length > 0) {
            throw new CliError(
                `--probe-subnet: ${this.o.probeSubnet} overlaps ${conflicts.map((c) => `${c.kind} ${c.name} (${c.cidr})`).join(", ")}; pass a free one`,
            );
        }
        this.createdNetworks.push(name);
        const id = await this.engine.createNetwork({
            Name: name,
            Driver: "overlay",
            Attachable: true,
            Labels: { "swarm-proxy.leak-probe": this.id },
            IPAM: { Config: [{ Subnet: this.o.probeSubnet }] },
        });
        // Docker 29 can list and inspect a network it has just created before the swarm has allocated it: no
        // driver, no subnet (a fresh CI run measured "spxlp…-net ()" and refused it as a "/swarm network"). It is
        // measured once both views show the overlay asked for.
        const ready = (n: EngineNetwork | undefined): n is EngineNetwork =>
            n?.Driver === "overlay" && n.Scope === "swarm" && subnetsOf(n).includes(this.o.probeSubnet);
        let created: EngineNetwork | undefined;
        await waitFor(
            `network ${name}`,
            this.o.timeoutSec,
            async () => {
                const listed = (await this.engine.networks()).find((n) => n.Id === id);
                created = await this.engine.network(id);
                return ready(listed) && ready(created) ? undefined : "the swarm to allocate it";
            },
            () => this.checkInterrupted(),
        );
        return created!;
    }

    /** The overlay a mode measures: the given one (refused when a probe could not fill it), else a throwaway one. */
    async measured(mode: TeardownMode): Promise<EngineNetwork> {
        if (!this.o.network) {
            return this.createThrowaway(mode);
        }
        const net = await this.engine.findNetwork(this.o.network);
        if (net?.Driver !== "overlay") {
            throw new CliError(`--network: ${JSON.stringify(this.o.network)} is not an overlay network on this swarm`);
        }
        if (!apiAtLeast(this.o.apiVersion, 1, 52)) {
            // Measuring means filling the network with probe services: refuse before starting, not after.
            const f = countUsage(
                await gatherUsage(this.engine, net.Id, this.o.localNodeId, { apiVersion: this.o.apiVersion }),
            ).free;
            if (f > this.o.probeMax) {
                throw new CliError(
                    `--network: ${net.Name} has about ${f} free addresses, more than --probe-max ${this.o.probeMax}; measure a throwaway network (leave out --network) or raise --probe-max`,
                );
            }
        }
        return net;
    }

    async mode(mode: TeardownMode): Promise<ModeResult> {
        this.checkInterrupted();
        const started = Date.now();
        const free: number[] = [];
        let method: "probe" | "ipsInUse" = "probe";
        let net: EngineNetwork | undefined;
        let failure: unknown;
        try {
            net = await this.measured(mode);
            this.currentNetwork = net.Name;
            this.o.progress.step(`${mode}: measuring ${net.Name} (${subnetsOf(net)[0] ?? ""}) before the first cycle`);
            const m0 = await this.measure(net);
            method = m0.method;
            free.push(m0.free);
            for (let c = 1; c <= this.o.cycles; c++) {
                this.checkInterrupted();
                this.o.progress.step(`${mode}: cycle ${c}/${this.o.cycles}: deploying ${this.o.stacks} stacks`);
                const names = await this.deploy(mode);
                this.checkInterrupted();
                this.o.progress.step(
                    `${mode}: cycle ${c}/${this.o.cycles}: removing them (${mode === "concurrent" ? "docker stack rm, all at once" : "stack-teardown.sh, all at once"})`,
                );
                await this.remove(mode, names);
                const m = await this.measure(net);
                free.push(m.free);
                this.o.progress.step(
                    `${mode}: cycle ${c}/${this.o.cycles}: ${m.free} free (${free[0] - m.free} lost so far)`,
                );
            }
        } catch (e) {
            failure = e;
        }
        const left = await cleanupRun(this.engine, this, { ...this.o, env: this.env }, mode);
        if (left !== undefined) {
            const cause =
                failure === undefined ? "" : `${this.interrupted ? "leak-probe interrupted" : errorMessage(failure)}\n`;
            throw new CliError(
                `${cause}${leftoverMessage(left, join(hostScriptsDir(), "stack-teardown.sh"), this.o.dockerHost)}`,
            );
        }
        if (failure !== undefined) {
            const cause = this.interrupted ? "leak-probe interrupted" : errorMessage(failure);
            throw new CliError(`${cause}; everything it had created was removed`);
        }
        if (net === undefined) {
            throw new CliError("leak-probe: no network was measured");
        }
        return {
            mode,
            network: net.Name,
            subnet: subnetsOf(net)[0] ?? "",
            method,
            free,
            ...leakStats(free, this.o.stacks),
            seconds: (Date.now() - started) / 1000,
        };
    }

    dispose(): void {
        rmSync(this.dir, { recursive: true, force: true });
    }
}

/** Today's overlay as counted now, or undefined when there is no overlay of that name. */
async function proxyNow(engine: Engine, o: LeakProbeOptions): Promise<ProxyNow | undefined> {
    const proxy = await engine.findNetwork(o.proxyName);
    if (proxy?.Driver !== "overlay") {
        return undefined;
    }
    const usage = countUsage(await gatherUsage(engine, proxy.Id, o.localNodeId, { apiVersion: o.apiVersion }));
    return { name: proxy.Name, subnets: usage.subnets, free: usage.free, inUse: usage.inUse };
}

export async function runLeakProbe(engine: Engine, o: LeakProbeOptions): Promise<LeakReport> {
    const r = new Run(engine, o);
    const modes: ModeResult[] = [];
    const onSignal = () => {
        if (!r.interrupted) {
            o.progress.step(`interrupted: removing what this run created (stacks and networks named ${r.prefix}*)`);
        }
        r.interrupted = true;
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
        for (const m of o.modes) {
            modes.push(await r.mode(m));
        }
    } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        r.dispose();
    }
    return leakReport(o, modes, await proxyNow(engine, o));
}
