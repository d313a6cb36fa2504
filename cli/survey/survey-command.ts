// `swarm-proxy survey`: the live host survey and whether the target subnet conflicts (exit 3 when it does).
import { EXIT_DRIFT, EXIT_OK } from "../shared/errors";
import { gatherSurvey, renderSurvey } from "./survey-report";
import { checkName, checkCidr } from "../shared/validate";
import { type Command, type Io, command, connect, emit } from "../shared/command";
import {
    type Common,
    DEFAULT_NETWORK,
    type Options,
    STACK_CONFIG,
    type Values,
    stackConfigOf,
    str,
    strs,
} from "../shared/options";

export const surveyOptions: Options = {
    network: { type: "string", arg: "NAME", help: "the shared overlay (default: from --stack-config, else proxy)" },
    subnet: { type: "string", arg: "CIDR", help: "target subnet to check (default: from --stack-config)" },
    reserve: { type: "string", multiple: true, arg: "CIDR", help: "a range kept for other uses (repeatable)" },
    ...STACK_CONFIG,
};

export interface SurveyOptions {
    proxyName: string;
    /** Nothing is checked for conflicts without one. */
    targetSubnet?: string;
    reserved: string[];
}

/** The flags first, then the stack file, then the defaults. */
export function parseSurvey(v: Values): SurveyOptions {
    const cfg = stackConfigOf(v);
    const subnet = str(v, "subnet");
    const targetSubnet = subnet !== undefined ? checkCidr("--subnet", subnet) : cfg?.network.subnet;
    const reserved = [...strs(v, "reserve").map((r) => checkCidr("--reserve", r)), ...(cfg?.network.reserved ?? [])];
    const proxyName = checkName("--network", str(v, "network") ?? cfg?.network.name ?? DEFAULT_NETWORK);
    return { proxyName, targetSubnet, reserved };
}

export async function runSurvey(o: SurveyOptions, common: Common, io: Io): Promise<number> {
    const { engine, info, version } = await connect(common, "survey");
    const { report } = await gatherSurvey(engine, { info, version }, o);
    emit(io, common, report, renderSurvey(report));
    return report.target && !report.target.ok ? EXIT_DRIFT : EXIT_OK;
}

const survey: Command<SurveyOptions> = {
    summary: "live host survey: networks, routes, what is on proxy, daemon facts, target subnet conflicts",
    options: surveyOptions,
    parse: parseSurvey,
    run: runSurvey,
};

export const surveyCommand = command(survey);
