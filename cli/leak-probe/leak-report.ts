// The leak probe's arithmetic and documents, pure: leaks per cycle and per stack removal, the projected time
// to exhaustion, the throwaway stacks' compose file, the text report and the chart. Running the probe —
// child processes, signals, the cleanup — is cli/leak-probe/probe-run.ts.
import { stringify } from "yaml";
import { assignableAddresses } from "../../src/subnet";
import { lineChartSvg } from "./chart";

export type TeardownMode = "concurrent" | "teardown";
export const TEARDOWN_MODES: readonly TeardownMode[] = ["concurrent", "teardown"];

/** What the operator chose (`swarm-proxy leak-probe`'s options, checked). */
export interface LeakProbeSettings {
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
export function leakStats(
    free: number[],
    stacksPerCycle: number,
): Pick<ModeResult, "leakedPerCycle" | "leaked" | "removals" | "perRemoval"> {
    const leakedPerCycle = free.slice(1).map((f, i) => free[i] - f);
    const leaked = free.length > 1 ? free[0] - free[free.length - 1] : 0;
    const removals = (free.length - 1) * stacksPerCycle;
    return { leakedPerCycle, leaked, removals, perRemoval: removals > 0 ? Math.max(0, leaked) / removals : 0 };
}

/** Pure: removals and days until `free` addresses are gone at `rate` per removal. */
export function project(
    network: string,
    subnet: string,
    free: number,
    rate: number,
    removalsPerDay: number,
): Projection {
    if (rate <= 0) {
        return { network, subnet, free, removalsToExhaustion: null, daysToExhaustion: null };
    }
    const removals = Math.floor(free / rate);
    return {
        network,
        subnet,
        free,
        removalsToExhaustion: removals,
        daysToExhaustion: removalsPerDay > 0 ? removals / removalsPerDay : null,
    };
}

/** Today's overlay as counted after the probe: its name, subnets, free and in-use addresses. */
export interface ProxyNow {
    name: string;
    subnets: string[];
    free: number;
    inUse: number;
}

/**
 * Pure: the report, projected at the worst rate any mode showed — for today's overlay when it exists, and
 * for the target subnet carrying today's use.
 */
export function leakReport(s: LeakProbeSettings, modes: ModeResult[], proxy: ProxyNow | undefined): LeakReport {
    const rate = Math.max(0, ...modes.map((m) => m.perRemoval));
    const projections: Projection[] = [];
    if (proxy !== undefined) {
        projections.push(project(proxy.name, proxy.subnets.join(", "), proxy.free, rate, s.removalsPerDay));
    }
    const free = Math.max(0, assignableAddresses(s.targetSubnet) - (proxy?.inUse ?? 0));
    projections.push(project(`${s.proxyName} (target)`, s.targetSubnet, free, rate, s.removalsPerDay));
    return { stacks: s.stacks, cycles: s.cycles, removalsPerDay: s.removalsPerDay, modes, rate, projections };
}

/** Pure: one throwaway stack — a service on the measured overlay and on a network of its own, publishing a port. */
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
    lines.push(
        `projection at ${r.rate.toFixed(2)} addresses lost per removal and ${r.removalsPerDay} removal(s) a day:`,
    );
    for (const p of r.projections) {
        lines.push(
            `  ${p.network} ${p.subnet}: ${p.free} free → ${p.removalsToExhaustion === null ? "no exhaustion" : `${p.removalsToExhaustion} removals, ${days(p.daysToExhaustion)}`}`,
        );
    }
    if (r.chart) {
        lines.push(`chart: ${r.chart}`);
    }
    return lines.join("\n");
}
