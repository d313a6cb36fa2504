// The runbook's leak measurement: deploy throwaway stacks that pair an external overlay with a network of
// their own and publish a port (the shape that leaks, moby/swarmkit#3230), remove them — all at once with
// `docker stack rm`, or with our leak-free teardown — repeat, and measure the overlay's free addresses
// after every cycle. Dockerd < 29 cannot say how many addresses its allocator holds, so each measurement
// is a probe (zero-replica services until allocation fails); Engine >= 29 reports IPsInUse directly.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { assignableAddresses, findConflicts } from "../src/subnet";
import { countUsage, gatherUsage, probeFree } from "./capacity";
import { lineChartSvg } from "./chart";
import { commandLine } from "./command";
import { Engine, EngineNetwork, EngineService, apiAtLeast, stackOf, subnetsOf } from "./engine";
import { CliError, errorMessage } from "./errors";
import { hostScriptsDir } from "./package";
import { Progress } from "./progress";
import { checkName } from "./validate";

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type TeardownMode = "concurrent" | "teardown";
export const TEARDOWN_MODES: readonly TeardownMode[] = ["concurrent", "teardown"];

export interface LeakProbeOptions {
    modes: TeardownMode[];
    stacks: number;
    cycles: number;
    image: string;
    /** An existing overlay to measure; otherwise a throwaway one per mode with `probeSubnet`. */
    network?: string;
    probeSubnet: string;
    portBase: number;
    probeMax: number;
    timeoutSec: number;
    /** The network whose exhaustion is projected (today's `proxy`), and the subnet that replaces it. */
    proxyName: string;
    targetSubnet: string;
    removalsPerDay: number;
    /** Folder holding host/stack-teardown.sh. */
    hostScripts: string;
    localNodeId?: string;
    apiVersion: string;
    progress: Progress;
}

export interface ModeResult {
    mode: TeardownMode;
    network: string;
    subnet: string;
    method: "probe" | "ipsInUse";
    /** Free addresses before the first cycle and after each one. */
    free: number[];
    leakedPerCycle: number[];
    leaked: number;
    removals: number;
    perRemoval: number;
    seconds: number;
}

export interface Projection {
    network: string;
    subnet: string;
    free: number;
    /** Stack removals until the free addresses are gone, at the observed rate; null when nothing leaks. */
    removalsToExhaustion: number | null;
    daysToExhaustion: number | null;
}

export interface LeakReport {
    stacks: number;
    cycles: number;
    removalsPerDay: number;
    modes: ModeResult[];
    /** Projections at the worst observed rate. */
    rate: number;
    projections: Projection[];
    chart?: string;
}

/** Pure: leaks per cycle, their total and the rate per stack removal. */
export function leakStats(free: number[], stacksPerCycle: number): Pick<ModeResult, "leakedPerCycle" | "leaked" | "removals" | "perRemoval"> {
    const leakedPerCycle = free.slice(1).map((f, i) => free[i] - f);
    const leaked = free.length > 1 ? free[0] - free[free.length - 1] : 0;
    const removals = (free.length - 1) * stacksPerCycle;
    return { leakedPerCycle, leaked, removals, perRemoval: removals > 0 ? Math.max(0, leaked) / removals : 0 };
}

/** Pure: removals and days until `free` addresses are gone at `rate` per removal. */
export function project(network: string, subnet: string, free: number, rate: number, removalsPerDay: number): Projection {
    if (rate <= 0) {
        return { network, subnet, free, removalsToExhaustion: null, daysToExhaustion: null };
    }
    const removals = Math.floor(free / rate);
    return { network, subnet, free, removalsToExhaustion: removals, daysToExhaustion: removalsPerDay > 0 ? removals / removalsPerDay : null };
}

export function composeFor(image: string, network: string, port: number): string {
    return stringify({
        version: "3.8",
        services: {
            app: {
                image,
                stop_grace_period: "2s",
                networks: ["probe", "internal"],
                ports: [{ target: 80, published: port, protocol: "tcp", mode: "ingress" }],
                deploy: { replicas: 1 },
            },
        },
        networks: {
            probe: { external: true, name: network },
            internal: { driver: "overlay" },
        },
    });
}

async function run(cmd: string, args: string[], what: string): Promise<void> {
    try {
        await execFileP(cmd, args, { env: process.env, maxBuffer: 16 * 1024 * 1024 });
    } catch (e) {
        const stderr = (e as { stderr?: unknown }).stderr;
        const detail = typeof stderr === "string" && stderr.trim() !== "" ? stderr.trim().split("\n").slice(-2).join(" ") : errorMessage(e);
        throw new CliError(`${what} failed: ${detail}`);
    }
}

async function waitFor(what: string, timeoutSec: number, check: () => Promise<string | undefined>, stop?: () => void): Promise<void> {
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

    checkInterrupted(): void {
        if (this.interrupted) {
            throw new CliError("leak-probe interrupted");
        }
    }
    private readonly dir = mkdtempSync(join(tmpdir(), "spx-leak-"));

    constructor(
        private readonly engine: Engine,
        private readonly o: LeakProbeOptions,
    ) {}

    /** Every stack and network this run creates is named with it, so the cleanup finds them by name alone. */
    /** Names this run asked dockerd to create, for the leftover report when dockerd cannot be asked. */
    readonly deployed: string[] = [];
    readonly createdNetworks: string[] = [];

    get prefix(): string {
        return `spxlp${this.id}`;
    }

    stackName(mode: TeardownMode, i: number): string {
        return checkName("stack", `${this.prefix}${mode[0]}${i}`);
    }

    async measure(net: EngineNetwork): Promise<{ free: number; method: "probe" | "ipsInUse" }> {
        if (apiAtLeast(this.o.apiVersion, 1, 52)) {
            const usage = countUsage(await gatherUsage(this.engine, net.Id, this.o.localNodeId, { apiVersion: this.o.apiVersion }));
            if (usage.method === "ipsInUse") {
                return { free: usage.free, method: "ipsInUse" };
            }
        }
        const p = await probeFree(this.engine, net, { image: this.o.image, max: this.o.probeMax, batch: 32, progress: this.o.progress });
        if (p.bounded) {
            throw new CliError(`probe of ${net.Name} allocated --probe-max ${this.o.probeMax} addresses without filling it; use a smaller network`);
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
                return run("docker", ["stack", "deploy", "--resolve-image", "never", "-c", file, name], `docker stack deploy ${name}`);
            }),
        );
        await waitFor("deploy", this.o.timeoutSec, async () => {
            const svcs = (await this.engine.services()).filter((s) => names.includes(stackOf(s) ?? ""));
            const notUp = names.filter((n) => {
                const s = svcs.find((x) => stackOf(x) === n);
                return !s || !s.ServiceStatus || s.ServiceStatus.RunningTasks < 1;
            });
            return notUp.length > 0 ? `running tasks in ${notUp.join(", ")}` : undefined;
        }, () => this.checkInterrupted());
        return names;
    }

    async remove(mode: TeardownMode, names: string[]): Promise<void> {
        if (mode === "concurrent") {
            // `docker stack rm` fails to remove a stack network a task still holds ("in use by task") and
            // returns: the race this mode exists to show. Like an operator, retry until the networks are gone.
            const rm = (n: string) => run("docker", ["stack", "rm", n], `docker stack rm ${n}`).catch(() => undefined);
            await Promise.all(names.map(rm));
            await this.waitGone(names, async (left) => {
                await Promise.all(left.map(rm));
            });
        } else {
            const script = join(this.o.hostScripts, "stack-teardown.sh");
            await Promise.all(names.map((n) => run("bash", [script, n, String(this.o.timeoutSec)], `stack-teardown.sh ${n}`)));
            await this.waitGone(names);
        }
    }

    async waitGone(names: string[], retry?: (stacksLeft: string[]) => Promise<void>): Promise<void> {
        let polls = 0;
        await waitFor("stack removal", this.o.timeoutSec, async () => {
            const [svcs, nets] = await Promise.all([this.engine.services(), this.engine.networks()]);
            const stackSvcs = svcs.filter((s) => names.includes(stackOf(s) ?? ""));
            const stackNets = nets.filter((n) => names.includes(n.Labels?.["com.docker.stack.namespace"] ?? ""));
            const left = [...stackSvcs.map((s) => `service ${s.Spec.Name}`), ...stackNets.map((n) => `network ${n.Name}`)];
            if (left.length === 0) {
                return undefined;
            }
            polls++;
            if (retry && polls % 4 === 0) {
                const stacks = new Set([...stackSvcs.map((s) => stackOf(s) ?? ""), ...stackNets.map((n) => n.Labels?.["com.docker.stack.namespace"] ?? "")]);
                await retry([...stacks].filter((x) => x !== ""));
            }
            return left.join(", ");
        }, () => this.checkInterrupted());
    }

    currentNetwork = "";

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
        return this.engine.network(id);
    }

    async mode(mode: TeardownMode): Promise<ModeResult> {
        this.checkInterrupted();
        const started = Date.now();
        const free: number[] = [];
        let method: "probe" | "ipsInUse" = "probe";
        let net: EngineNetwork | undefined;
        let failure: unknown;
        try {
            if (this.o.network) {
                const found = await this.engine.findNetwork(this.o.network);
                if (!found || found.Driver !== "overlay") {
                    throw new CliError(`--network: ${JSON.stringify(this.o.network)} is not an overlay network on this swarm`);
                }
                net = found;
                if (!apiAtLeast(this.o.apiVersion, 1, 52)) {
                    // Measuring means filling the network with probe services: refuse before starting, not after.
                    const f = countUsage(await gatherUsage(this.engine, net.Id, this.o.localNodeId, { apiVersion: this.o.apiVersion })).free;
                    if (f > this.o.probeMax) {
                        throw new CliError(
                            `--network: ${net.Name} has about ${f} free addresses, more than --probe-max ${this.o.probeMax}; measure a throwaway network (leave out --network) or raise --probe-max`,
                        );
                    }
                }
            } else {
                net = await this.createThrowaway(mode);
            }
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
                this.o.progress.step(`${mode}: cycle ${c}/${this.o.cycles}: removing them (${mode === "concurrent" ? "docker stack rm, all at once" : "stack-teardown.sh, all at once"})`);
                await this.remove(mode, names);
                const m = await this.measure(net);
                free.push(m.free);
                this.o.progress.step(`${mode}: cycle ${c}/${this.o.cycles}: ${m.free} free (${free[0] - m.free} lost so far)`);
            }
        } catch (e) {
            failure = e;
        }
        const left = await this.cleanup(mode, failure);
        if (left !== undefined) {
            const cause = failure === undefined ? "" : `${this.interrupted ? "leak-probe interrupted" : errorMessage(failure)}\n`;
            throw new CliError(`${cause}${leftoverMessage(left, join(hostScriptsDir(), "stack-teardown.sh"), process.env.DOCKER_HOST)}`);
        }
        if (failure !== undefined) {
            const cause = this.interrupted ? "leak-probe interrupted" : errorMessage(failure);
            throw new CliError(`${cause}; everything it had created was removed`);
        }
        if (net === undefined) {
            throw new CliError("leak-probe: no network was measured");
        }
        return { mode, network: net.Name, subnet: subnetsOf(net)[0] ?? "", method, free, ...leakStats(free, this.o.stacks), seconds: (Date.now() - started) / 1000 };
    }

    /** What of this run's (by name) is on the swarm now: stacks with their services and networks, and throwaway overlays. */
    async leftovers(): Promise<Leftover> {
        const [svcs, nets] = await Promise.all([this.engine.services(), this.engine.networks()]);
        return collectLeftovers(this.prefix, svcs, nets);
    }

    /**
     * Removes everything this run created, also after an error, an interrupt or a dockerd restart: waits for
     * dockerd to answer again, tears the stacks down with the leak-free teardown (the given script, again, then
     * the package's own), then removes the throwaway overlays. Never throws: resolves to what is still there,
     * or undefined when the swarm is clean.
     */
    async cleanup(mode: TeardownMode, failure: unknown): Promise<Leftover | undefined> {
        const deadline = Date.now() + 3 * this.o.timeoutSec * 1000;
        const given = join(this.o.hostScripts, "stack-teardown.sh");
        const scripts = [given, given, join(hostScriptsDir(), "stack-teardown.sh")];
        let rounds = 0;
        let lastError = failure === undefined ? "" : errorMessage(failure);
        for (;;) {
            let left: Leftover;
            try {
                left = await this.leftovers();
            } catch (e) {
                if (Date.now() > deadline) {
                    return { ...this.created(), unverified: errorMessage(e) };
                }
                if (errorMessage(e) !== lastError) {
                    this.o.progress.step(`${mode}: cleanup: waiting for dockerd (${errorMessage(e)})`);
                }
                lastError = errorMessage(e);
                await sleep(1000);
                continue;
            }
            if (left.stacks.length === 0 && left.networks.length === 0) {
                return undefined;
            }
            if (Date.now() > deadline || rounds >= scripts.length + 2) {
                return left;
            }
            rounds++;
            if (left.stacks.length > 0) {
                const script = scripts[Math.min(rounds - 1, scripts.length - 1)];
                this.o.progress.step(`${mode}: cleaning up ${left.stacks.map((st) => st.name).join(", ")} (${script})`);
                const results = await Promise.allSettled(
                    left.stacks.map((st) => run("bash", [script, checkName("stack", st.name), String(this.o.timeoutSec)], `stack-teardown.sh ${st.name}`)),
                );
                for (const r of results) {
                    if (r.status === "rejected") {
                        this.o.progress.step(`${mode}: cleanup: ${errorMessage(r.reason)}`);
                    }
                }
                continue;
            }
            // The stacks are gone; an overlay can still be refused for a moment while its last endpoints go.
            for (const n of left.networks) {
                try {
                    const r = await this.engine.removeNetwork(n);
                    if (!r.removed && r.refused !== "already gone") {
                        this.o.progress.step(`${mode}: cleanup: network ${n}: ${r.refused ?? ""}`);
                    }
                } catch (e) {
                    this.o.progress.step(`${mode}: cleanup: network ${n}: ${errorMessage(e)}`);
                }
            }
            rounds--;
            await sleep(1000);
        }
    }

    /** What this run may have created, for when dockerd cannot say what is left. */
    created(): Leftover {
        return {
            stacks: this.deployed.map((name) => ({ name, services: [], networks: [] })),
            networks: [...this.createdNetworks],
        };
    }

    dispose(): void {
        rmSync(this.dir, { recursive: true, force: true });
    }
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
    const rate = Math.max(0, ...modes.map((m) => m.perRemoval));
    const projections: Projection[] = [];
    const proxy = await engine.findNetwork(o.proxyName);
    let inUse = 0;
    if (proxy && proxy.Driver === "overlay") {
        const usage = countUsage(await gatherUsage(engine, proxy.Id, o.localNodeId, { apiVersion: o.apiVersion }));
        inUse = usage.inUse;
        projections.push(project(proxy.Name, usage.subnets.join(", "), usage.free, rate, o.removalsPerDay));
    }
    projections.push(project(`${o.proxyName} (target)`, o.targetSubnet, Math.max(0, assignableAddresses(o.targetSubnet) - inUse), rate, o.removalsPerDay));
    return { stacks: o.stacks, cycles: o.cycles, removalsPerDay: o.removalsPerDay, modes, rate, projections };
}

export interface LeftoverStack {
    name: string;
    services: string[];
    networks: string[];
}

export interface Leftover {
    stacks: LeftoverStack[];
    /** Throwaway overlays (not part of a stack). */
    networks: string[];
    /** Set when dockerd could not be asked: the list is then what the run created, not what was seen. */
    unverified?: string;
}

/** Pure: the stacks (with their services and networks) and other networks whose names start with `prefix`. */
export function collectLeftovers(prefix: string, svcs: EngineService[], nets: EngineNetwork[]): Leftover {
    const stacks = new Map<string, LeftoverStack>();
    const stack = (name: string) => {
        let st = stacks.get(name);
        if (st === undefined) {
            st = { name, services: [], networks: [] };
            stacks.set(name, st);
        }
        return st;
    };
    const networks: string[] = [];
    for (const s of svcs) {
        const st = stackOf(s);
        if (st?.startsWith(prefix)) {
            stack(st).services.push(s.Spec.Name);
        } else if (s.Spec.Name.startsWith(prefix)) {
            stack(s.Spec.Name.split("_")[0]).services.push(s.Spec.Name);
        }
    }
    for (const n of nets) {
        const st = n.Labels?.["com.docker.stack.namespace"];
        if (st?.startsWith(prefix)) {
            stack(st).networks.push(n.Name);
        } else if (n.Name.startsWith(prefix)) {
            networks.push(n.Name);
        }
    }
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return {
        stacks: [...stacks.values()]
            .map((st) => ({ ...st, services: st.services.sort(byName), networks: st.networks.sort(byName) }))
            .sort((a, b) => byName(a.name, b.name)),
        networks: networks.sort(byName),
    };
}

/**
 * Pure: exactly what is left and the one command that removes it (the leak-free teardown, then the overlays),
 * on the line starting "remove it with: ", aimed at `dockerHost` when that is not the local socket.
 */
export function leftoverMessage(l: Leftover, teardownScript: string, dockerHost?: string): string {
    const what = [
        ...l.stacks.map((st) => {
            const parts = [...st.services.map((x) => `service ${x}`), ...st.networks.map((x) => `network ${x}`)];
            return `stack ${st.name}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
        }),
        ...l.networks.map((n) => `network ${n}`),
    ];
    const cmd = commandLine(
        [...l.stacks.map((st) => ["bash", teardownScript, st.name]), ...(l.networks.length > 0 ? [["docker", "network", "rm", ...l.networks]] : [])],
        dockerHost,
    );
    const head =
        l.unverified === undefined
            ? "left on the swarm"
            : `could not check what is left (${l.unverified}); this run created, and may have left`;
    return `${head}: ${what.join(", ")}\nremove it with: ${cmd}`;
}

export function leakChart(r: LeakReport): string {
    return lineChartSvg({
        title: `Free overlay addresses: ${r.cycles} cycle(s) of deploying and removing ${r.stacks} stacks`,
        xLabel: "cycle",
        yLabel: "free addresses",
        series: r.modes.map((m) => ({
            label: `${m.mode === "concurrent" ? "docker stack rm" : "our teardown"} (${m.leaked} lost)`,
            points: m.free.map((y, x) => ({ x, y })),
        })),
    });
}

function days(d: number | null): string {
    if (d === null) {
        return "never at this rate";
    }
    return d >= 365 ? `${(d / 365).toFixed(1)} years` : `${d.toFixed(1)} days`;
}

export function renderLeak(r: LeakReport): string {
    const lines = [`leak probe: ${r.cycles} cycle(s) of ${r.stacks} stack(s)`];
    for (const m of r.modes) {
        lines.push(
            `  ${m.mode.padEnd(10)} on ${m.network} (${m.subnet}, ${m.method}): free ${m.free.join(" → ")}`,
            `             lost ${m.leaked} in ${m.removals} removals (${m.perRemoval.toFixed(2)} per removal; per cycle ${m.leakedPerCycle.join(", ")}), ${m.seconds.toFixed(0)} s`,
        );
    }
    lines.push(`projection at ${r.rate.toFixed(2)} addresses lost per removal and ${r.removalsPerDay} removal(s) a day:`);
    for (const p of r.projections) {
        lines.push(`  ${p.network} ${p.subnet}: ${p.free} free → ${p.removalsToExhaustion === null ? "no exhaustion" : `${p.removalsToExhaustion} removals, ${days(p.daysToExhaustion)}`}`);
    }
    if (r.chart) {
        lines.push(`chart: ${r.chart}`);
    }
    return lines.join("\n");
}

/** The package's host/ (found from package.json, not from where this file was compiled to). */
export function defaultHostScripts(): string {
    return hostScriptsDir();
}
