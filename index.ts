import * as pulumi from "@pulumi/pulumi";
import { type Config, CONFIG_KEYS, parseConfig, PROJECT } from "./config";
import { buildProgram, type ProgramOutputs } from "./program";
import { Engine } from "./src/engine";
import { readHostFacts } from "./src/hostFacts";
import { localRunner } from "./src/runner";
import { readRecordedState, type RecordedState } from "./src/pulumiState";
import { sshRunner } from "./src/ssh";

/** Reads the Pulumi config of the current stack through config.ts's schema; the SSH key stays a secret Output. */
function readConfig(baseDir: string): { config: Config; sshPrivateKey?: pulumi.Output<string> } {
    const c = new pulumi.Config(PROJECT);
    const raw: Record<string, unknown> = {};
    for (const key of CONFIG_KEYS) {
        const v = c.getObject<unknown>(key);
        if (v !== undefined) {
            raw[key] = v;
        }
    }
    const sshPrivateKey = c.getSecret("sshPrivateKey");
    return {
        config: parseConfig(raw, { baseDir, env: process.env, hasSshPrivateKey: sshPrivateKey !== undefined }),
        sshPrivateKey,
    };
}

/** Pulumi's state of this stack, as the CLI that runs the program exports it. */
function readState(): RecordedState {
    const stack = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    try {
        return readRecordedState(stack, process.cwd());
    } catch (e) {
        const err = e as Error & { stderr?: string };
        throw new Error(
            `reading Pulumi's state of ${stack} (pulumi stack export) failed: ${(err.stderr ?? "").trim() || err.message}. ` +
                "The program compares it with the live network before it registers anything.",
        );
    }
}

/**
 * The program: reads the config, then (with `survey`) the host through the Engine API, the tools' reader,
 * over the configured connection, and builds the resources. Async because the Engine API is; the stack
 * outputs are the returned object's keys.
 */
async function main(): Promise<ProgramOutputs> {
    try {
        const { config, sshPrivateKey } = readConfig(__dirname);
        const c = config.connection;
        const runner = c.mode === "local" ? localRunner : sshRunner(c);
        // Pointed at a worker, the survey stops the program here, at preview, before anything is registered.
        let facts;
        if (config.survey) {
            const engine = new Engine(c.mode === "local" ? {} : { ssh: c });
            const where = c.mode === "local" ? `this machine (DOCKER_HOST=${engine.where})` : engine.where;
            facts = await readHostFacts(engine, runner, where, config.network.name);
        }
        // The state matters where the Docker provider manages a network that is live (is it the one the state
        // holds?) or where no survey read it (what did the state record?).
        const net = config.network;
        const needState =
            net.implementation === "docker" && (!facts || facts.networks.some((n) => n.name === net.name));
        const recorded = needState ? readState() : undefined;
        return buildProgram({
            config,
            facts,
            recorded,
            baseDir: __dirname,
            dryRun: pulumi.runtime.isDryRun(),
            sshPrivateKey,
            runner,
        });
    } catch (e) {
        // A RunError prints its message alone: the operator sees the one sentence that matters. Its stack is
        // never shown, and the language host still formats it for its trace: from inside this async function
        // that took 15-20 s of CPU (source-mapped frames) on every refused preview, so it carries none.
        const refusal = new pulumi.RunError((e as Error).message);
        refusal.stack = refusal.message;
        throw refusal;
    }
}

export = main;
