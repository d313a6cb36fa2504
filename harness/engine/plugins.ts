// Which Pulumi plugins this machine has, found the way the Pulumi CLI finds them: a binary on PATH first, then
// one beside the CLI, then the plugin cache (`$PULUMI_HOME/plugins`, by default ~/.pulumi/plugins). The engine
// tier, the demo and bench:outage run the program exactly as an operator's `pulumi` does whenever the real
// language host, command provider and docker provider are there; only for a missing one do they fall back to
// a stand-in (the program served inline, the stand-in command provider, the network as host scripts), and
// they say which path they use; with SWARM_PROXY_REQUIRE_REAL_PLUGINS=1 a missing plugin is an error instead.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot, standInProviderBin } from "./inline";

export interface Plugin {
    kind: "language" | "resource";
    name: string;
    /** The version the project pins (any version for the language host). */
    version?: string;
    /** Where the binary is, or undefined when this machine does not have it. */
    path?: string;
}

export interface Plugins {
    language: Plugin;
    command: Plugin;
    docker: Plugin;
}

/** The directory of the user's plugin cache (what the CLI uses unless PULUMI_HOME says otherwise). */
export function pluginCache(): string {
    return path.join(process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi"), "plugins");
}

function packageVersion(pkg: string): string {
    const file = path.join(repoRoot, "node_modules", pkg, "package.json");
    const j = JSON.parse(fs.readFileSync(file, "utf8")) as { version: string; pulumi?: { version?: string } };
    return (j.pulumi?.version ?? j.version).replace(/^v/, "");
}

function executable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

function onPath(binary: string, skip: string[]): string | undefined {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        if (dir === "" || skip.includes(path.resolve(dir))) continue;
        const file = path.join(dir, binary);
        if (executable(file)) return file;
    }
    return undefined;
}

function inCache(kind: string, name: string, version: string | undefined): string | undefined {
    const cache = pluginCache();
    const binary = `pulumi-${kind}-${name}`;
    const dirs =
        version !== undefined
            ? [`${kind}-${name}-v${version}`]
            : (fs.existsSync(cache) ? fs.readdirSync(cache) : [])
                  .filter((d) => d.startsWith(`${kind}-${name}-v`))
                  .sort()
                  .reverse();
    for (const d of dirs) {
        const file = path.join(cache, d, binary);
        // A `.partial` marker means an install that did not finish: the CLI ignores such a plugin too.
        if (executable(file) && !fs.existsSync(path.join(cache, `${d}.partial`))) return file;
    }
    return undefined;
}

/** The real plugins found on this machine; `cliDir` is where the `pulumi` binary in use lives. */
export function findPlugins(cliDir: string): Plugins {
    const skip = [path.resolve(standInProviderBin)];
    const find = (kind: "language" | "resource", name: string, version?: string): Plugin => {
        const binary = `pulumi-${kind}-${name}`;
        const beside = path.join(cliDir, binary);
        const found = onPath(binary, skip) ?? (executable(beside) ? beside : undefined) ?? inCache(kind, name, version);
        return { kind, name, version, path: found };
    };
    return {
        language: find("language", "nodejs"),
        command: find("resource", "command", packageVersion("@pulumi/command")),
        docker: find("resource", "docker", packageVersion("@pulumi/docker")),
    };
}

/** Which path the engine takes, then one line per plugin: real (and where), or the stand-in used instead. */
export function describePlugins(p: Plugins): string {
    const headline = allReal(p)
        ? "every plugin REAL (as operators run it)"
        : "FALLBACK to stand-ins for what is missing";
    const line = (what: string, plugin: Plugin, fallback: string) =>
        plugin.path ? `  ${what}: REAL ${plugin.path}` : `  ${what}: not installed -> STAND-IN: ${fallback}`;
    return [
        `${headline}:`,
        line("language host pulumi-language-nodejs", p.language, "the program is served to the CLI inline (--client)"),
        line(
            `command provider ${p.command.version}`,
            p.command,
            "test stand-in provider (harness/engine/command-provider)",
        ),
        line(
            `docker provider ${p.docker.version}`,
            p.docker,
            "the network is managed by the host scripts (network.implementation: command)",
        ),
    ].join("\n");
}

/** Whether every plugin an operator runs is real here. */
export function allReal(p: Plugins): boolean {
    return Boolean(p.language.path && p.command.path && p.docker.path);
}

/**
 * With this variable at 1 no tier falls back to a stand-in: a missing plugin is an error instead (CI sets it
 * where it installs the plugins from a mirror, scripts/install-plugins.sh).
 */
export const REQUIRE_REAL_PLUGINS = "SWARM_PROXY_REQUIRE_REAL_PLUGINS";

export function realPluginsRequired(): boolean {
    return process.env[REQUIRE_REAL_PLUGINS] === "1";
}

/** The plugins this machine lacks, each as its binary's name and the version the project pins. */
export function missingPlugins(p: Plugins): string[] {
    return [p.language, p.command, p.docker]
        .filter((x) => !x.path)
        .map((x) => `pulumi-${x.kind}-${x.name}${x.version ? ` ${x.version}` : ""}`);
}

/** Throws, naming each missing plugin, where SWARM_PROXY_REQUIRE_REAL_PLUGINS=1 forbids the stand-ins. */
export function requireRealPlugins(p: Plugins): void {
    const missing = missingPlugins(p);
    if (!realPluginsRequired() || missing.length === 0) return;
    throw new Error(
        `${REQUIRE_REAL_PLUGINS}=1 refuses the stand-ins, and the real Pulumi plugins are not all installed: ` +
            `missing ${missing.join(", ")} (scripts/install-plugins.sh installs them from SWARM_PROXY_PLUGIN_MIRROR)`,
    );
}
