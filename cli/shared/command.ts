// What a command is: its options, a parse step that turns the parsed values into one typed object (every
// check of the operator's input, before anything reaches dockerd or a child process), and a run step
// with the effects. main.ts only finds the command and calls it.
import type { EngineInfo, EngineVersion } from "../../src/docker";
import { Engine, envDockerHost } from "../../src/engine";
import { CliError } from "./errors";
import { type Progress, stderrProgress } from "./progress";
import { type Common, type Options, type Values, commonOf } from "./options";

export interface Io {
    out(text: string): void;
    err(text: string): void;
}

export interface Command<O> {
    summary: string;
    options: Options;
    /** Values to typed options; a bad value is one CliError naming the option, the value and what is allowed. */
    parse(v: Values): O;
    /** Resolves to the exit code. */
    run(o: O, common: Common, io: Io): Promise<number>;
}

/** A command with its options type hidden, so commands of different types sit in one table. */
export interface CliCommand {
    summary: string;
    options: Options;
    exec(v: Values, io: Io): Promise<number>;
}

export function command<O>(c: Command<O>): CliCommand {
    return { summary: c.summary, options: c.options, exec: (v, io) => c.run(c.parse(v), commonOf(v), io) };
}

const HOST_FORM = "unix:///path/to/docker.sock or tcp://HOST:PORT";

export function checkDockerHost(key: string, value: string): string {
    if (/^unix:\/\/\/[^\0]+$/.test(value) || /^tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}$/.test(value)) {
        return value;
    }
    throw new CliError(`${key}: ${JSON.stringify(value)} is not ${HOST_FORM}`);
}

/** The dockerd to talk to: --host (checked), else $DOCKER_HOST; undefined is the local socket. */
export function dockerHostOf(common: Common): string | undefined {
    return common.host !== undefined ? checkDockerHost("--host", common.host) : envDockerHost();
}

export interface Connection {
    engine: Engine;
    /** Given to every child process that talks to dockerd, and to the commands the CLI prints. */
    dockerHost: string | undefined;
    info: EngineInfo;
    version: EngineVersion;
    progress: Progress;
}

/** Connects to a swarm manager (every command reads swarm state, which only a manager serves). */
export async function connect(common: Common, name: string): Promise<Connection> {
    const progress = stderrProgress(!common.quiet, name);
    const dockerHost = dockerHostOf(common);
    const engine = new Engine({
        host: dockerHost,
        unreachableHint: "is it running, and is DOCKER_HOST (or --host) right?",
    });
    const base = await engine.requireManager();
    return { engine, dockerHost, progress, ...base };
}

/** The report on stdout: one JSON document with --json, else the text. */
export function emit(io: Io, common: Common, data: unknown, text: string): void {
    io.out(common.json ? `${JSON.stringify(data, null, 2)}\n` : text.endsWith("\n") ? text : `${text}\n`);
}
