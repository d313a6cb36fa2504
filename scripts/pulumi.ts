// Runs the real Pulumi CLI on THIS project (Pulumi.yaml and index.ts in the repository root) on a machine
// where the Node.js language host cannot be built: index.ts runs in this process and is served to the CLI
// inline (`--client`), and the CLI finds the stand-in command provider on PATH (test/engine/command-provider/,
// a test stand-in for the real `pulumi-resource-command`). For the sandbox and the demo; production runs use
// the real CLI, language host and provider.
//
//   ./scripts/node.sh npx ts-node --transpile-only scripts/pulumi.ts <pulumi args>
//
// `up`/`update`/`preview`/`pre` (and `refresh`, `destroy` with `--run-program`) get the program served;
// every other command (stack, config, login, ...) runs the CLI as is. The caller's environment is passed on
// (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, SWARM_PROXY_MAINTENANCE, DOCKER_HOST, ...); plugin download
// and the update check are off. The exit code is the CLI's.
import * as child_process from "child_process";
import * as path from "path";
import { enginePath, programFromModule, repoRoot, toolchainBin, withLanguageServer } from "../test/engine/inline";

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
  const cli = path.join(toolchainBin(), "pulumi");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: enginePath(),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
  delete env.PULUMI_IGNORE_AMBIENT_PLUGINS; // the plugins are found on PATH
  if (!needsProgram(args)) return (await run(cli, args, env)).code;
  const program = programFromModule(path.join(repoRoot, "index.ts"));
  const r = await withLanguageServer(program, (address) =>
    run(cli, [`--client=${address}`, "--exec-kind", "auto.inline", ...args], env));
  return r.code;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`scripts/pulumi.ts: ${e.message}`);
    process.exit(1);
  },
);
