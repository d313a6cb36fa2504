// `swarm-proxy capacity`: addresses assignable, in use, free and headroom on one overlay; --probe measures
// the real free space by allocation, so leaked addresses show as unaccounted.
import { countUsage } from "../../src/docker";
import { type CapacityReport, gatherUsage, probeFree, renderCapacity } from "../shared/overlay-capacity";
import { CliError, EXIT_OK } from "../shared/errors";
import { checkName } from "../shared/validate";
import { type Command, type Io, command, connect, emit } from "../shared/command";
import {
    type Common,
    DEFAULT_NETWORK,
    type Options,
    STACK_CONFIG,
    type Values,
    flag,
    intOf,
    stackConfigOf,
    str,
} from "../shared/options";

/** Services one probe may create: a /24's worth many times over, a /16 only when raised. */
export const DEFAULT_PROBE_MAX = 2048;
/** Probe services are never started: the image is only named. */
export const DEFAULT_PROBE_IMAGE = "busybox:latest";

export const capacityOptions: Options = {
    network: { type: "string", arg: "NAME", help: "overlay to account (default: from --stack-config, else proxy)" },
    probe: {
        type: "boolean",
        help: "also measure free space by allocation (creates and removes zero-replica services)",
    },
    "probe-max": {
        type: "string",
        arg: "N",
        help: `most services the probe may create (default ${DEFAULT_PROBE_MAX})`,
    },
    image: {
        type: "string",
        arg: "IMAGE",
        help: `image named by probe services; never pulled or run (default ${DEFAULT_PROBE_IMAGE})`,
    },
    ...STACK_CONFIG,
};

export interface CapacityOptions {
    network: string;
    probe: boolean;
    probeMax: number;
    image: string;
}

export function parseCapacity(v: Values): CapacityOptions {
    const cfg = stackConfigOf(v);
    const network = checkName("--network", str(v, "network") ?? cfg?.network.name ?? DEFAULT_NETWORK);
    const probeMax = parseProbeMax(v);
    return { network, probe: flag(v, "probe"), probeMax, image: str(v, "image") ?? DEFAULT_PROBE_IMAGE };
}

/** --probe-max, shared with leak-probe: up to the most addresses a /16 could take. */
export function parseProbeMax(v: Values): number {
    return intOf(v, "probe-max", DEFAULT_PROBE_MAX, 1, 70000);
}

export async function runCapacity(o: CapacityOptions, common: Common, io: Io): Promise<number> {
    const { engine, info, version, progress } = await connect(common, "capacity");
    const input = await gatherUsage(engine, o.network, info.Swarm?.NodeID, { apiVersion: version.ApiVersion });
    const usage = countUsage(input);
    const report: CapacityReport = { network: input.network.Name, networkId: input.network.Id, usage };
    if (o.probe) {
        if (usage.free > o.probeMax) {
            throw new CliError(
                `--probe: ${o.network} has about ${usage.free} free addresses, more than --probe-max ${o.probeMax}; raise --probe-max to probe it (it creates that many services)`,
            );
        }
        progress.step(`probing ${o.network}: creating zero-replica services until allocation fails`);
        const p = await probeFree(engine, input.network, { image: o.image, max: o.probeMax, batch: 32, progress });
        report.probe = { ...p, unaccounted: usage.free - p.free };
    }
    emit(io, common, { ...report, apiCalls: engine.calls }, renderCapacity(report));
    return EXIT_OK;
}

const capacity: Command<CapacityOptions> = {
    summary:
        "addresses assignable, in use, free and headroom on proxy (or any overlay); --probe measures real free space",
    options: capacityOptions,
    parse: parseCapacity,
    run: runCapacity,
};

export const capacityCommand = command(capacity);
