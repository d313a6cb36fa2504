// `swarm-proxy leak-probe`: deploy and remove throwaway stacks in cycles, addresses lost per cycle and per
// removal, projected exhaustion of today's overlay and of the target subnet, and an SVG chart.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { CliError, EXIT_OK } from "../shared/errors";
import { type LeakProbeSettings, TEARDOWN_MODES, type TeardownMode, leakChart, renderLeak } from "./leak-report";
import { runLeakProbe } from "./probe-run";
import { hostScriptsDir } from "../shared/package-root";
import { checkChoice, checkName, checkCidr } from "../shared/validate";
import { DEFAULT_PROBE_MAX, parseProbeMax } from "../capacity/capacity-command";
import { type Command, type Io, command, connect, emit } from "../shared/command";
import {
    type Common,
    DEFAULT_NETWORK,
    type Options,
    STACK_CONFIG,
    type Values,
    intOf,
    numberOf,
    stackConfigOf,
    str,
} from "../shared/options";

/** What the probe does unless told otherwise. */
export const LEAK_PROBE_DEFAULTS = {
    mode: "concurrent",
    stacks: 8,
    cycles: 5,
    /** The sandbox's stand-in image: it must already be on the nodes, nothing is pulled. */
    image: "swarm-sandbox/standin:2",
    /** Outside the ranges the sandbox and the reference host use. */
    probeSubnet: "10.199.0.0/24",
    portBase: 30080,
    timeoutSec: 180,
    /** What the projection assumes after the change when the stack file does not say. */
    targetSubnet: "10.10.0.0/16",
    removalsPerDay: 1,
    chart: "leak-probe.svg",
} as const;
const D = LEAK_PROBE_DEFAULTS;

export const leakProbeOptions: Options = {
    mode: {
        type: "string",
        arg: "MODES",
        help: `concurrent (docker stack rm, all at once), teardown (our leak-free teardown) or both, comma-separated (default ${D.mode})`,
    },
    stacks: { type: "string", arg: "N", help: `stacks per cycle (default ${D.stacks})` },
    cycles: { type: "string", arg: "N", help: `cycles (default ${D.cycles})` },
    image: {
        type: "string",
        arg: "IMAGE",
        help: `image of the throwaway stacks; must be present on the nodes (default ${D.image})`,
    },
    network: {
        type: "string",
        arg: "NAME",
        help: "measure this existing overlay instead of a throwaway one (its free space is probed every cycle)",
    },
    "probe-subnet": { type: "string", arg: "CIDR", help: `subnet of the throwaway overlay (default ${D.probeSubnet})` },
    "probe-max": {
        type: "string",
        arg: "N",
        help: `most services one measurement may create (default ${DEFAULT_PROBE_MAX})`,
    },
    "port-base": {
        type: "string",
        arg: "PORT",
        help: `first published port of the throwaway stacks (default ${D.portBase})`,
    },
    timeout: { type: "string", arg: "SECONDS", help: `bound on each wait (default ${D.timeoutSec})` },
    proxy: {
        type: "string",
        arg: "NAME",
        help: "network whose exhaustion is projected (default: from --stack-config, else proxy)",
    },
    "target-subnet": {
        type: "string",
        arg: "CIDR",
        help: `subnet projected for after the change (default: from --stack-config, else ${D.targetSubnet})`,
    },
    "removals-per-day": {
        type: "string",
        arg: "N",
        help: `stack removals a day on the host, for the projection (default ${D.removalsPerDay})`,
    },
    chart: { type: "string", arg: "FILE", help: `where to write the SVG chart (default ${D.chart})` },
    "host-scripts": {
        type: "string",
        arg: "DIR",
        help: "folder with stack-teardown.sh (default: the package's host/; on a failure the cleanup falls back to that one)",
    },
    ...STACK_CONFIG,
};

export interface LeakProbeCommandOptions extends LeakProbeSettings {
    /** Absolute path of the SVG chart. */
    chart: string;
}

/** --mode: one mode, a comma-separated list, or both. */
function parseModes(value: string): TeardownMode[] {
    return (value === "both" ? [...TEARDOWN_MODES] : value.split(",")).map((m) =>
        checkChoice("--mode", m, TEARDOWN_MODES),
    );
}

export function parseLeakProbe(v: Values): LeakProbeCommandOptions {
    const cfg = stackConfigOf(v);
    const modes = parseModes(str(v, "mode") ?? D.mode);
    const network = str(v, "network");
    const settings: LeakProbeSettings = {
        modes,
        stacks: intOf(v, "stacks", D.stacks, 1, 50),
        cycles: intOf(v, "cycles", D.cycles, 1, 1000),
        image: str(v, "image") ?? D.image,
        network: network === undefined ? undefined : checkName("--network", network),
        probeSubnet: checkCidr("--probe-subnet", str(v, "probe-subnet") ?? D.probeSubnet),
        probeMax: parseProbeMax(v),
        portBase: intOf(v, "port-base", D.portBase, 1024, 65000),
        timeoutSec: intOf(v, "timeout", D.timeoutSec, 5, 3600),
        proxyName: checkName("--proxy", str(v, "proxy") ?? cfg?.network.name ?? DEFAULT_NETWORK),
        targetSubnet: checkCidr("--target-subnet", str(v, "target-subnet") ?? cfg?.network.subnet ?? D.targetSubnet),
        removalsPerDay: numberOf(v, "removals-per-day", D.removalsPerDay, 0, 100000),
        hostScripts: resolve(str(v, "host-scripts") ?? hostScriptsDir()),
    };
    // The image reaches `docker stack deploy` inside a compose file: a reference's characters only.
    if (/[^A-Za-z0-9_./:@-]/.test(settings.image)) {
        throw new CliError(
            `--image: ${JSON.stringify(settings.image)} is not an image reference (letters, digits, _ . / : @ -)`,
        );
    }
    return { ...settings, chart: resolve(str(v, "chart") ?? D.chart) };
}

export async function runLeakProbeCommand(o: LeakProbeCommandOptions, common: Common, io: Io): Promise<number> {
    const { chart, ...settings } = o;
    const { engine, info, version, progress, dockerHost } = await connect(common, "leak-probe");
    const report = await runLeakProbe(engine, {
        ...settings,
        localNodeId: info.Swarm?.NodeID,
        apiVersion: version.ApiVersion,
        progress,
        dockerHost,
    });
    writeFileSync(chart, leakChart(report));
    report.chart = chart;
    emit(io, common, report, renderLeak(report));
    return EXIT_OK;
}

const leakProbe: Command<LeakProbeCommandOptions> = {
    summary:
        "deploy and remove throwaway stacks in cycles; addresses leaked per cycle, projected exhaustion, SVG chart",
    options: leakProbeOptions,
    parse: parseLeakProbe,
    run: runLeakProbeCommand,
};

export const leakProbeCommand = command(leakProbe);
