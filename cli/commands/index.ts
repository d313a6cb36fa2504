// Every command, in the order the help lists them.
import { capacityCommand } from "./capacity";
import type { CliCommand } from "../shared/command";
import { driftCommand } from "./drift";
import { guardCommand } from "./guard";
import { leakProbeCommand } from "../leak-probe/leak-probe-command";
import { surveyCommand } from "./survey";

export const COMMANDS: Readonly<Record<string, CliCommand>> = {
    survey: surveyCommand,
    capacity: capacityCommand,
    "leak-probe": leakProbeCommand,
    guard: guardCommand,
    drift: driftCommand,
};
