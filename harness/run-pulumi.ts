// Runs the Pulumi CLI the engine tier uses (scripts/pulumi-toolchain.sh) on THIS project, for the sandbox and
// the demo. Where the real plugins are installed (the Node.js language host, the command and docker providers:
// on PATH or in the plugin cache, harness/engine/plugins.ts), it is plain `pulumi <args>`, as an operator runs
// it. On a machine without them it falls back, and says so once: without the language host index.ts runs in
// this process and is served to the CLI inline (`--client`); without the command provider the CLI finds the
// test stand-in on PATH. With SWARM_PROXY_REQUIRE_REAL_PLUGINS=1 it does not fall back: a missing plugin is an
// error naming it, exit 1.
//
//   ./scripts/node.sh npx ts-node --transpile-only harness/run-pulumi.ts <pulumi args>
//   ./scripts/node.sh npx ts-node --transpile-only harness/run-pulumi.ts --engine-plugins   # which are real, as JSON
//
// The caller's environment is passed on (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, SWARM_PROXY_MAINTENANCE,
// DOCKER_HOST, ...); plugin download and the update check are off. The exit code is the CLI's.
import * as child_process from "node:child_process";
import * as path from "node:path";
import { enginePath, programFromModule, repoRoot, toolchainBin, withLanguageServer } from "./engine/inline";
import { allReal, describePlugins, findPlugins, requireRealPlugins } from "./engine/plugins";

const PROGRAM_COMMANDS = new Set(["up", "update", "preview", "pre"]);

function needsProgram(args: string[]): boolean {
    const cmd = args.find((a) => !a.startsWith("-"));
    if (cmd === undefined) return false;
    return PROGRAM_COMMANDS.has(cmd) || ((cmd === "refresh" || cmd === "destroy") && args.includes("--run-program"));
}

function run(cli: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number }> {
    return new Promise((resolve, reject) => {
        const child = child_process.spawn(cli, args, { cwd: repoRoot, env, stdio: "inherit" });
        child.on("error", reject);
        // Ctrl-C reaches the CLI through the terminal's process group; wait for it to finish cleanly.
        process.on("SIGINT", () => undefined);
        child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1) }));
    });
}

async function main(): Promise<number> {
    const args = process.argv.slice(2);
    const plugins = findPlugins(toolchainBin());
    if (args[0] === "--engine-plugins") {
        console.log(
            JSON.stringify({
                allReal: allReal(plugins),
                language: Boolean(plugins.language.path),
                command: Boolean(plugins.command.path),
                docker: Boolean(plugins.docker.path),
            }),
        );
        return 0;
    }
    // SWARM_PROXY_REQUIRE_REAL_PLUGINS=1: no fallback, an error naming each missing plugin (main's caller exits 1).
    requireRealPlugins(plugins);
    const cli = path.join(toolchainBin(), "pulumi");
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: enginePath(plugins.command.path === undefined),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    delete env.PULUMI_IGNORE_AMBIENT_PLUGINS; // the plugins are found on PATH or in the plugin cache
    if (!needsProgram(args)) return (await run(cli, args, env)).code;
    console.error(`harness/run-pulumi.ts: ${describePlugins(plugins)}`);
    if (plugins.language.path) return (await run(cli, args, env)).code;
    const program = programFromModule(path.join(repoRoot, "index.ts"));
    const r = await withLanguageServer(program, (address) =>
        run(cli, [`--client=${address}`, "--exec-kind", "auto.inline", ...args], env),
    );
    return r.code;
}

main().then(
    (code) => process.exit(code),
    (e: Error) => {
        console.error(`harness/run-pulumi.ts: ${e.message}`);
        process.exit(1);
    },
);
