// Serving a TypeScript program, run in this process, to the real Pulumi CLI: the CLI is started with
// `--client=<address>` (what the Automation API calls an inline program) and calls back into the
// language-runtime server here. The FALLBACK for a machine without `pulumi-language-nodejs` (plugins.ts), and
// how the harness's own smoke tests serve small programs. Shared by the engine harness (pulumi.ts) and the
// demo's wrapper harness/run-pulumi.ts; also where both find the CLI.
import * as child_process from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";

export const repoRoot = path.resolve(__dirname, "..", "..");

// a program may return no outputs
export type Program = () => Promise<Record<string, unknown> | void>;

/**
 * A program kept as an ordinary Pulumi program file (top-level resources, `export const` outputs, or an
 * async function exported as the module or as its default): each run loads it afresh, as `pulumi up` would
 * run index.ts, and its exports (or the function's result) become the stack outputs. Modules it imports stay cached (they only define things).
 */
export function programFromModule(file: string): Program {
    return async () => {
        const resolved = require.resolve(file);
        delete require.cache[resolved];
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(resolved) as Record<string, unknown> & { default?: unknown };
        // `export = async () => …` (as index.ts does): the module is the program function.
        if (typeof mod === "function") {
            return ((await (mod as () => unknown)()) ?? undefined) as Record<string, unknown> | undefined;
        }
        if (typeof mod.default === "function") {
            return ((await (mod.default as () => unknown)()) ?? undefined) as Record<string, unknown> | undefined;
        }
        const outputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(mod)) if (k !== "default" && k !== "__esModule") outputs[k] = v;
        return outputs;
    };
}

let cachedBin: string | undefined;

/** The directory holding `pulumi` and its plugins (runs the toolchain script once per process; cached). */
export function toolchainBin(): string {
    if (cachedBin) return cachedBin;
    const fromEnv = process.env.SWARM_PROXY_PULUMI_BIN;
    if (fromEnv) {
        cachedBin = fromEnv;
        return cachedBin;
    }
    const out = child_process.execFileSync(path.join(repoRoot, "scripts", "pulumi-toolchain.sh"), [], {
        cwd: repoRoot,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    cachedBin = out.trim().split("\n").pop()!;
    return cachedBin;
}

/**
 * The directory of the STAND-IN `pulumi-resource-command` (harness/engine/command-provider/), put on PATH only
 * on a machine without the real command provider (see plugins.ts).
 */
export const standInProviderBin = path.join(__dirname, "command-provider", "bin");

/** The directory of the `node` running this process (Node >= 22, put first on PATH by scripts/node.sh). */
export function nodeDir(): string {
    return path.dirname(process.execPath);
}

/**
 * PATH for the CLI: the toolchain first, then the stand-in command provider when the real one is missing, then
 * this Node (the language host runs `node` from PATH), then the caller's.
 */
export function enginePath(standInCommand: boolean): string {
    return [toolchainBin(), ...(standInCommand ? [standInProviderBin] : []), nodeDir(), process.env.PATH ?? ""].join(
        path.delimiter,
    );
}

// The language-runtime server the Automation API uses for inline programs. It is internal to @pulumi/pulumi,
// so it is loaded from the same installed copy the program's resources register through.
interface LanguageServerLike {
    onPulumiExit(hasError: boolean): void;
}
type LanguageServerCtor = new (program: Program) => LanguageServerLike & grpc.UntypedServiceImplementation;

/**
 * Serves `program` on a loopback port for as long as `fn` runs; `fn` gets the address to pass as
 * `--client=<address>` (with `--exec-kind auto.inline`) and resolves with the CLI's exit code in `code`.
 */
export async function withLanguageServer<T extends { code: number }>(
    program: Program,
    fn: (address: string) => Promise<T>,
): Promise<T> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { LanguageServer } = require("@pulumi/pulumi/automation/server") as { LanguageServer: LanguageServerCtor };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const langrpc = require("@pulumi/pulumi/proto/language_grpc_pb") as {
        LanguageRuntimeService: grpc.ServiceDefinition;
    };
    const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
    const languageServer = new LanguageServer(program);
    server.addService(langrpc.LanguageRuntimeService, languageServer);
    const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
            e ? reject(e) : resolve(p),
        ),
    );
    let result: T | undefined;
    try {
        result = await fn(`127.0.0.1:${port}`);
        return result;
    } finally {
        try {
            languageServer.onPulumiExit(result?.code !== 0);
        } finally {
            server.forceShutdown();
        }
    }
}
