// Drives the real Pulumi CLI (built by scripts/pulumi-toolchain.sh) over a throwaway project: a `file://`
// backend and a passphrase in a temp dir, Node 22 first on PATH, no plugin download, no update check, and a
// PULUMI_HOME of its own (its `plugins` is the user's plugin cache, so installed plugins are found).
//
// Two kinds of project:
// - `repo`: this repository's own program (Pulumi.yaml, index.ts and what it imports), with the stack's config
//   written to the project's stack file. Where the real `pulumi-language-nodejs` is installed (plugins.ts) the
//   CLI runs index.ts through it, exactly as an operator's `pulumi up` does; without it, index.ts is loaded in
//   this process and served inline (`--client`), the fallback.
// - `program`: a TypeScript function served inline (the harness's own smoke tests).
import * as child_process from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { enginePath, type Program, programFromModule, repoRoot, toolchainBin, withLanguageServer } from "./inline";
import { describePlugins, findPlugins, pluginCache, type Plugins, requireRealPlugins } from "./plugins";

export { programFromModule, repoRoot, standInProviderBin, toolchainBin } from "./inline";
export type { Program } from "./inline";

let plugins: Plugins | undefined;
let said = false;

/**
 * The plugins this machine has (found once); the first call says, once, which path the engine runs. With
 * SWARM_PROXY_REQUIRE_REAL_PLUGINS=1 every call throws, naming each missing plugin, instead of falling back.
 */
export function enginePlugins(): Plugins {
    plugins ??= findPlugins(toolchainBin());
    if (!said) {
        said = true;
        console.log(`engine: Pulumi CLI ${path.join(toolchainBin(), "pulumi")}; ${describePlugins(plugins)}`);
    }
    requireRealPlugins(plugins);
    return plugins;
}

/**
 * The engine's plugins, every one of them real: a tier whose point is what the real engine and providers do
 * fails here, naming what is missing, rather than run on a stand-in.
 */
export function realPlugins(tier: string): Plugins {
    const plugins = enginePlugins();
    const missing = (["language", "command", "docker"] as const).filter((k) => plugins[k].path === undefined);
    if (missing.length > 0) {
        throw new Error(
            `the ${tier} tier runs only on the real plugins; missing: ${missing.join(", ")} (see TESTING.md, "The Pulumi plugins")`,
        );
    }
    return plugins;
}

/**
 * What the repository's program is made of, copied into a throwaway project directory as an operator's checkout
 * would hold it (a test can then change a file there, as an upgrade of this project would); node_modules is linked.
 */
const PROJECT_FILES = [
    "Pulumi.yaml",
    "index.ts",
    "program.ts",
    "config.ts",
    "src",
    "components",
    "host",
    "nix",
    "sandbox",
    "package.json",
    "tsconfig.json",
];

export interface RunResult {
    args: string[];
    code: number;
    stdout: string;
    stderr: string;
}

/** One step of `pulumi preview --json`. */
export interface PreviewStep {
    op: string;
    urn: string;
    provider?: string;
    diffReasons?: string[];
    replaceReasons?: string[];
    detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }> | null;
    [key: string]: unknown;
}

/** The document `pulumi preview --json` prints. */
export interface PreviewJson {
    steps?: PreviewStep[];
    changeSummary?: Record<string, number>;
    diagnostics?: { message: string; severity: string; urn?: string }[];
    [key: string]: unknown;
}

export interface PreviewResult extends RunResult {
    json: PreviewJson;
}

export interface RunOptions {
    /** The command runs the program (preview and up; refresh/destroy with --run-program). */
    program?: boolean;
    /** Extra environment for this run (the CLI, its language host and providers, and an inline program). */
    env?: Record<string, string>;
    input?: string;
    /** Called with each chunk of the CLI's stdout as it arrives (`up --json` streams engine events). */
    onStdout?: (chunk: Buffer) => void;
    /** Called with the CLI's process once it is started (a test sends it SIGINT, as Ctrl-C would). */
    onSpawn?: (child: child_process.ChildProcess) => void;
    /** The CLI leads a process group of its own, which a test can kill whole, as a CI runner's timeout does. */
    group?: boolean;
}

/** Whether the toolchain provides a binary (e.g. a provider plugin the module proxy may not serve). */
export function hasBinary(name: string): boolean {
    return fs.existsSync(path.join(toolchainBin(), name));
}

export interface ProjectOptions {
    /** Pulumi project name (default: a unique one; the repository's own with `repo`). */
    name?: string;
    /** Stack name (default "test"). */
    stack?: string;
    /** The program: a function that declares resources and may return stack outputs. */
    program?: Program;
    /** Run this repository's own program (index.ts) as `pulumi` does; see the file's header. */
    repo?: boolean;
    /**
     * Called before every run of the program: writes what the run should see (its config, with writeConfig) and
     * returns extra environment for that run (SWARM_PROXY_MAINTENANCE, say).
     */
    // a prepare hook may return nothing
    prepare?: (p: PulumiProject) => Record<string, string> | void;
    /** Stack config, `key: value` (plain) or `{ value, secret: true }`. Namespaced keys like `proj:key` allowed. */
    config?: Record<string, string | { value: string; secret: true }>;
    /** Extra environment for the CLI and the providers it starts. */
    env?: Record<string, string>;
    /** Keep the temp dir after cleanup() (for debugging). Also kept when SWARM_PROXY_KEEP_ENGINE_DIRS is set. */
    keep?: boolean;
}

export class PulumiProject {
    readonly dir: string;
    readonly projectDir: string;
    readonly stateDir: string;
    readonly homeDir: string;
    readonly name: string;
    readonly stack: string;
    readonly env: NodeJS.ProcessEnv;
    /** Whether the CLI runs the program through the real language host (else it is served inline). */
    readonly languageHost: boolean;
    program?: Program;
    private readonly keep: boolean;
    // a prepare hook may return nothing
    private readonly prepare?: (p: PulumiProject) => Record<string, string> | void;

    private constructor(opts: ProjectOptions) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-engine-"));
        this.projectDir = path.join(this.dir, "project");
        this.stateDir = path.join(this.dir, "state");
        this.homeDir = path.join(this.dir, "home");
        for (const d of [this.projectDir, this.stateDir, this.homeDir]) fs.mkdirSync(d, { recursive: true });
        this.stack = opts.stack ?? "test";
        this.keep = Boolean(opts.keep || process.env.SWARM_PROXY_KEEP_ENGINE_DIRS);
        this.prepare = opts.prepare;
        const found = enginePlugins();
        // The user's installed plugins, seen through this project's own PULUMI_HOME.
        if (fs.existsSync(pluginCache())) fs.symlinkSync(pluginCache(), path.join(this.homeDir, "plugins"), "dir");
        if (opts.repo) {
            this.name = "swarm-proxy";
            for (const f of PROJECT_FILES)
                fs.cpSync(path.join(repoRoot, f), path.join(this.projectDir, f), { recursive: true });
            fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(this.projectDir, "node_modules"), "dir");
            this.languageHost = found.language.path !== undefined;
            this.program = this.languageHost ? undefined : programFromModule(path.join(this.projectDir, "index.ts"));
        } else {
            if (!opts.program) throw new Error("PulumiProject needs `program` or `repo`");
            this.name =
                opts.name ??
                `engine-${path
                    .basename(this.dir)
                    .replace(/[^A-Za-z0-9-]/g, "")
                    .toLowerCase()}`;
            this.program = opts.program;
            this.languageHost = false;
            // Plugins run with the project as their working directory: let them resolve this repo's packages.
            fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(this.projectDir, "node_modules"), "dir");
            fs.writeFileSync(
                path.join(this.projectDir, "Pulumi.yaml"),
                `name: ${this.name}\nruntime: nodejs\ndescription: engine test project\n`,
            );
        }
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            ...engineEnv(this.stateDir, this.homeDir, found.command.path === undefined),
            ...(opts.env ?? {}),
        };
        delete env.PULUMI_IGNORE_AMBIENT_PLUGINS; // the plugins are found on PATH or in the plugin cache
        delete env.PULUMI_ACCESS_TOKEN;
        this.env = env;
    }

    /** A project with a passphrase-encrypted stack selected and its config set. */
    static async create(opts: ProjectOptions): Promise<PulumiProject> {
        const p = new PulumiProject(opts);
        await p.mustRun(["stack", "init", "--secrets-provider", "passphrase"]); // --stack is added by run()
        for (const [key, v] of Object.entries(opts.config ?? {})) {
            await p.setConfig(key, typeof v === "object" ? v.value : v, typeof v === "object");
        }
        return p;
    }

    /**
     * Runs `pulumi <args> --non-interactive --color never --stack <stack>` in the project dir. With
     * `program: true` the program is served to the CLI for this run (preview and up need it; refresh, destroy,
     * stack and config commands do not). Never throws on a non-zero exit code.
     */
    async run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
        const flags = ["--non-interactive", "--color", "never", "--stack", this.stack];
        const dashes = args.indexOf("--"); // flags go before a `--` that ends them
        const full = dashes < 0 ? [...args, ...flags] : [...args.slice(0, dashes), ...flags, ...args.slice(dashes)];
        const prepared = opts.program && this.prepare ? (this.prepare(this) ?? {}) : {};
        const runEnv = { ...prepared, ...(opts.env ?? {}) };
        const env = { ...this.env, ...runEnv };
        // `--preview-only` refuses to run with `--yes`, which PULUMI_SKIP_CONFIRMATIONS implies.
        if (args.includes("--preview-only")) delete env.PULUMI_SKIP_CONFIRMATIONS;
        if (!opts.program || this.languageHost || !this.program)
            return spawn(this.cli(), full, this.projectDir, env, opts.input, opts.onStdout, opts.onSpawn, opts.group);
        const program = this.program;
        // Inline, the program runs in this process: it sees this run's environment there.
        return withProcessEnv(runEnv, () =>
            withLanguageServer(program, async (address) =>
                spawn(
                    this.cli(),
                    [`--client=${address}`, "--exec-kind", "auto.inline", ...full],
                    this.projectDir,
                    env,
                    opts.input,
                    opts.onStdout,
                    opts.onSpawn,
                    opts.group,
                ),
            ),
        );
    }

    /**
     * Writes the stack's config (`{key: value}`, keys without the project prefix) to the stack's file, as
     * `pulumi config set --path` would, keeping what `stack init` wrote there (the passphrase's salt).
     */
    writeConfig(raw: Record<string, unknown>, namespace = "swarm-proxy"): void {
        const file = path.join(this.projectDir, `Pulumi.${this.stack}.yaml`);
        const doc = (fs.existsSync(file) ? YAML.parse(fs.readFileSync(file, "utf8")) : {}) as Record<
            string,
            unknown
        > | null;
        const config: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(raw)) config[`${namespace}:${k}`] = v;
        fs.writeFileSync(file, YAML.stringify({ ...(doc ?? {}), config }));
    }

    async mustRun(args: string[], opts: RunOptions = {}): Promise<RunResult> {
        const r = await this.run(args, opts);
        if (r.code !== 0) throw new Error(describe(r));
        return r;
    }

    /** `pulumi config set` (plaintext unless `secret`). */
    async setConfig(key: string, value: string, secret = false): Promise<void> {
        await this.mustRun(["config", "set", key, secret ? "--secret" : "--plaintext", "--", value]);
    }

    /** `pulumi preview --json [extra]`, parsed. Does not throw on a non-zero exit code: check `.code`. */
    async preview(extra: string[] = [], env?: Record<string, string>): Promise<PreviewResult> {
        const r = await this.run(["preview", "--json", ...extra], { program: true, env });
        return { ...r, json: parseJson(r) };
    }

    /** `pulumi up --yes --skip-preview [extra]`. Does not throw: check `.code`. */
    up(extra: string[] = [], env?: Record<string, string>): Promise<RunResult> {
        return this.run(["up", "--yes", "--skip-preview", ...extra], { program: true, env });
    }

    /** `pulumi refresh [extra]` (the program is not run by refresh); `--yes` unless `--preview-only` is given. */
    refresh(extra: string[] = []): Promise<RunResult> {
        return this.run(["refresh", ...(extra.includes("--preview-only") ? [] : ["--yes"]), ...extra]);
    }

    destroy(extra: string[] = []): Promise<RunResult> {
        return this.run(["destroy", "--yes", "--skip-preview", ...extra]);
    }

    /** The stack's outputs (`pulumi stack output --json --show-secrets`). */
    async outputs(): Promise<Record<string, unknown>> {
        const r = await this.mustRun(["stack", "output", "--json", "--show-secrets"]);
        return JSON.parse(r.stdout) as Record<string, unknown>;
    }

    /** The checkpoint's resources (`pulumi stack export`). */
    async resources(): Promise<{ urn: string; type: string; id?: string; outputs?: Record<string, unknown> }[]> {
        const r = await this.mustRun(["stack", "export", "--show-secrets"]);
        const doc = JSON.parse(r.stdout) as { deployment?: { resources?: never[] } };
        return doc.deployment?.resources ?? [];
    }

    cli(): string {
        return path.join(toolchainBin(), "pulumi");
    }

    /** Destroys nothing; removes the temp dir (unless kept). Call `destroy()` first for real resources. */
    cleanup(): void {
        if (this.keep) {
            console.error(`engine test dir kept: ${this.dir}`);
            return;
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** Runs fn with extra variables in this process's environment, restoring it afterwards. */
async function withProcessEnv<T>(extra: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    const saved = Object.fromEntries(Object.keys(extra).map((k) => [k, process.env[k]]));
    Object.assign(process.env, extra);
    try {
        return await fn();
    } finally {
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    }
}

/** The environment every CLI run gets (besides the caller's). Exported for the README and the tests. */
export function engineEnv(stateDir: string, homeDir: string, standInCommand: boolean): Record<string, string> {
    return {
        PATH: enginePath(standInCommand),
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_HOME: homeDir,
        PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "engine-test-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_SKIP_CONFIRMATIONS: "true",
    };
}

function describe(r: RunResult): string {
    return `pulumi ${r.args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function parseJson(r: RunResult): PreviewJson {
    const text = r.stdout.trim();
    if (!text) return {};
    try {
        return JSON.parse(text) as PreviewJson;
    } catch {
        // Anything printed before the document (there should be nothing) is skipped.
        const start = text.indexOf("{");
        if (start < 0) throw new Error(`no JSON in the output of ${describe(r)}`);
        return JSON.parse(text.slice(start)) as PreviewJson;
    }
}

export function spawn(
    cmd: string,
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    input?: string,
    onStdout?: (chunk: Buffer) => void,
    onSpawn?: (child: child_process.ChildProcess) => void,
    group = false,
): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = child_process.spawn(cmd, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"], detached: group });
        onSpawn?.(child);
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (d: Buffer) => {
            out.push(d);
            onStdout?.(d);
        });
        child.stderr.on("data", (d: Buffer) => err.push(d));
        child.on("error", reject);
        child.on("close", (code, signal) =>
            resolve({
                args,
                code: code ?? (signal ? 128 : 1),
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
            }),
        );
        child.stdin.end(input ?? "");
    });
}
