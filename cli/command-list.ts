// Every command, in the order the help lists them.
import { capacityCommand } from "./capacity/capacity-command";
import type { CliCommand } from "./shared/command";
import { driftCommand } from "./drift/drift-command";
import { guardCommand } from "./guard/guard-command";
import { initCommand } from "./init/init-command";
import { leakProbeCommand } from "./leak-probe/leak-probe-command";
import { surveyCommand } from "./survey/survey-command";

export const COMMANDS: Readonly<Record<string, CliCommand>> = {
    init: initCommand,
    survey: surveyCommand,
    capacity: capacityCommand,
    "leak-probe": leakProbeCommand,
    guard: guardCommand,
    drift: driftCommand,
};
