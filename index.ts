import * as pulumi from "@pulumi/pulumi";
import { type Config, CONFIG_KEYS, parseConfig, PROJECT } from "./config";
import { buildProgram, type ProgramOutputs } from "./program";
import { localRunner, readHostFacts, sshRunner } from "./src/hostFacts";

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

function main(): ProgramOutputs {
    try {
        const { config, sshPrivateKey } = readConfig(__dirname);
        const c = config.connection;
        const runner = c.mode === "local" ? localRunner : sshRunner(c.host, c.port, c.user, c.hostKey);
        const where =
            c.mode === "local"
                ? `this machine (DOCKER_HOST=${process.env.DOCKER_HOST || "unix:///var/run/docker.sock"})`
                : `ssh ${c.user}@${c.host}:${c.port}`;
        // Pointed at a worker, the survey stops the program here, at preview, before anything is registered.
        const facts = config.survey ? readHostFacts(runner, where, config.network.name) : undefined;
        return buildProgram({
            config,
            facts,
            baseDir: __dirname,
            dryRun: pulumi.runtime.isDryRun(),
            sshPrivateKey,
            runner,
        });
    } catch (e) {
        // A RunError prints its message alone: the operator sees the one sentence that matters.
        throw new pulumi.RunError((e as Error).message);
    }
}

const out = main();
export const subnet = out.subnet;
export const gateway = out.gateway;
export const assignableAddresses = out.assignableAddresses;
export const insideDefaultPool = out.insideDefaultPool;
export const maintenancePlan = out.maintenancePlan;
export const networkId = out.networkId;
