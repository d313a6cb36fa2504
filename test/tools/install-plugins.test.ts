// scripts/install-plugins.sh in a child process, as the toolchain script and CI run it: a plugin mirror's
// checksums are checked before anything is installed (a tampered archive installs nothing and is named), the
// providers go through `pulumi plugin install --file` and the language host beside the CLI, a second run
// only looks, and without a mirror a failed download is a loud fallback (fatal when real plugins are required).
// The mirrors here are small archives made by the test, with a stand-in `pulumi` that installs from them the
// way the CLI does; with SWARM_PROXY_PLUGIN_MIRROR set and the toolchain's CLI built, the real plugins are
// installed into a throwaway plugin cache too.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { root } from "./sandbox";
import { notRun } from "../../harness/ci";

const script = path.join(root, "scripts", "install-plugins.sh");

interface PackageJson {
    version: string;
    pulumi?: { version?: string };
    dependencies: Record<string, string>;
}
const packageJson = (file: string) => JSON.parse(fs.readFileSync(path.join(root, file), "utf8")) as PackageJson;
/** The versions the script installs: the CLI's pin, and the plugin version each provider package declares. */
const cliVersion = packageJson("package.json").dependencies["@pulumi/pulumi"];
const providerVersion = (name: string) => {
    const j = packageJson(`node_modules/@pulumi/${name}/package.json`);
    return (j.pulumi?.version ?? j.version).replace(/^v/, "");
};
const VERSIONS = { command: providerVersion("command"), docker: providerVersion("docker") };
const ARCH = os.arch() === "arm64" ? "arm64" : "amd64";
const hostArchive = `pulumi-language-nodejs-v${cliVersion}-linux-${ARCH}.tar.gz`;
const providerArchive = (name: "command" | "docker") =>
    `pulumi-resource-${name}-v${VERSIONS[name]}-linux-${ARCH}.tar.gz`;

interface Fixture {
    dir: string;
    mirror: string;
    home: string;
    bin: string;
}

function sh(cmd: string, args: string[], cwd: string): void {
    const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
    assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** An archive holding one executable `name` at its top level, printing `version` when asked. */
function archive(dir: string, file: string, name: string, version: string, extra = ""): void {
    const src = fs.mkdtempSync(path.join(dir, "src-"));
    fs.writeFileSync(path.join(src, name), `#!/bin/sh\necho v${version}\n${extra}`, { mode: 0o755 });
    sh("tar", ["-czf", path.join(dir, file), "-C", src, name], dir);
    fs.rmSync(src, { recursive: true });
}

function sha256(file: string): string {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * A mirror of three small archives and their SHA256SUMS, an empty plugin cache, and a bin dir with a stand-in
 * `pulumi` whose `plugin install resource NAME VERSION --file ARCHIVE` unpacks the archive into the plugin cache
 * as the CLI does, and whose download (no --file) fails, as on a machine offline.
 */
function fixture(): Fixture {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-plugins-"));
    const f = { dir, mirror: path.join(dir, "mirror"), home: path.join(dir, "home"), bin: path.join(dir, "bin") };
    for (const d of [f.mirror, f.home, f.bin]) fs.mkdirSync(d);
    archive(f.mirror, hostArchive, "pulumi-language-nodejs", cliVersion);
    archive(f.mirror, providerArchive("command"), "pulumi-resource-command", VERSIONS.command);
    archive(f.mirror, providerArchive("docker"), "pulumi-resource-docker", VERSIONS.docker);
    const names = [hostArchive, providerArchive("command"), providerArchive("docker")];
    fs.writeFileSync(
        path.join(f.mirror, "SHA256SUMS"),
        names.map((n) => `${sha256(path.join(f.mirror, n))}  ${n}\n`).join(""),
    );
    fs.writeFileSync(
        path.join(f.bin, "pulumi"),
        `#!/usr/bin/env bash
set -euo pipefail
[ "$1 $2 $3" = "plugin install resource" ] || { echo "fake pulumi: unexpected $*" >&2; exit 2; }
[ "\${6:-}" = --file ] || { echo "fake pulumi: no network" >&2; exit 1; }
dir="$PULUMI_HOME/plugins/resource-$4-v$5"
mkdir -p "$dir"
tar -xzf "$7" -C "$dir"
`,
        { mode: 0o755 },
    );
    return f;
}

function run(f: Fixture, env: Record<string, string | undefined>, bin = f.bin) {
    const full: NodeJS.ProcessEnv = { ...process.env, PULUMI_HOME: f.home, ...env };
    for (const k of ["CI", "SWARM_PROXY_REQUIRE_REAL_PLUGINS", "SWARM_PROXY_PLUGIN_MIRROR"])
        if (!(k in env)) delete full[k];
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
    const r = spawnSync("bash", [script, "--bin", bin], { cwd: f.dir, env: full, encoding: "utf8" });
    return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Every file under dir (relative), or [] when it does not exist. */
function files(dir: string): string[] {
    return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]) : [];
}

describe("scripts/install-plugins.sh", () => {
    const made: Fixture[] = [];
    const make = () => {
        const f = fixture();
        made.push(f);
        return f;
    };
    after(() => {
        for (const f of made) fs.rmSync(f.dir, { recursive: true, force: true });
    });

    it("refuses a mirror whose archive does not match SHA256SUMS: one error naming it, nothing installed", () => {
        const f = make();
        // A valid archive, but not the one SHA256SUMS lists (as a tampered or truncated download would be).
        fs.rmSync(path.join(f.mirror, hostArchive));
        archive(f.mirror, hostArchive, "pulumi-language-nodejs", cliVersion, "# tampered\n");
        const r = run(f, { SWARM_PROXY_PLUGIN_MIRROR: f.mirror });
        assert.notEqual(r.code, 0, r.err);
        assert.match(r.err, /checksum mismatch/, r.err);
        assert.ok(r.err.includes(hostArchive), r.err);
        assert.equal(r.err.match(/ERROR/g)?.length, 1, r.err);
        assert.deepEqual(files(path.join(f.home, "plugins")), []);
        assert.deepEqual(fs.readdirSync(f.bin), ["pulumi"]);
        assert.equal(r.out, "");
    });

    it("refuses an archive SHA256SUMS does not list, naming it, nothing installed", () => {
        const f = make();
        const sums = path.join(f.mirror, "SHA256SUMS");
        const lines = fs.readFileSync(sums, "utf8").split("\n");
        fs.writeFileSync(sums, lines.filter((l) => !l.includes(providerArchive("docker"))).join("\n"));
        const r = run(f, { SWARM_PROXY_PLUGIN_MIRROR: f.mirror, CI: "true" });
        assert.equal(r.code, 1, r.err);
        assert.ok(r.err.includes(`${providerArchive("docker")} is not listed`), r.err);
        assert.deepEqual(files(path.join(f.home, "plugins")), []);
        assert.deepEqual(fs.readdirSync(f.bin), ["pulumi"]);
    });

    it("a mirror without a needed archive: a loud fallback for that plugin, fatal under CI=true", () => {
        const f = make();
        fs.rmSync(path.join(f.mirror, providerArchive("docker")));
        const ci = run(f, { SWARM_PROXY_PLUGIN_MIRROR: f.mirror, CI: "true" });
        assert.equal(ci.code, 1, ci.err);
        assert.ok(ci.err.includes(`has no ${providerArchive("docker")}`), ci.err);
        assert.match(ci.err, /CI=true with a plugin mirror/);
        assert.deepEqual(files(path.join(f.home, "plugins")), []);
        const dev = run(f, { SWARM_PROXY_PLUGIN_MIRROR: f.mirror });
        assert.equal(dev.code, 0, dev.err);
        assert.ok(dev.err.includes(`MISSING  pulumi-resource-docker v${VERSIONS.docker}`), dev.err);
        assert.ok(fs.existsSync(path.join(f.home, "plugins", `resource-command-v${VERSIONS.command}`)), dev.err);
    });

    it("installs from a verified mirror (providers into the plugin cache, the language host beside the CLI), then only looks", () => {
        const f = make();
        const r = run(f, { SWARM_PROXY_PLUGIN_MIRROR: f.mirror, CI: "true" });
        assert.equal(r.code, 0, r.err);
        assert.match(r.err, /checksums verified/);
        for (const name of ["command", "docker"] as const) {
            const plugin = path.join(
                f.home,
                "plugins",
                `resource-${name}-v${VERSIONS[name]}`,
                `pulumi-resource-${name}`,
            );
            assert.ok(fs.existsSync(plugin), `${plugin}\n${r.err}`);
        }
        assert.ok(fs.existsSync(path.join(f.bin, "pulumi-language-nodejs")), r.err);
        assert.equal(r.out, "");
        // Installed at the pinned versions: the second run neither checks nor installs anything.
        fs.rmSync(path.join(f.mirror, hostArchive));
        const again = run(f, { SWARM_PROXY_PLUGIN_MIRROR: f.mirror, CI: "true" });
        assert.equal(again.code, 0, again.err);
        assert.match(again.err, /already installed/);
        assert.doesNotMatch(again.err, /checksums verified/);
    });

    it("without a mirror, falls back loudly when the download fails; fatal when real plugins are required", () => {
        const f = make();
        const r = run(f, { SWARM_PROXY_PLUGIN_RETRY_MINUTES: "0" });
        assert.equal(r.code, 0, r.err);
        assert.match(r.err, /THE REAL PULUMI PLUGINS ARE NOT ALL INSTALLED/);
        for (const missing of [
            `pulumi-resource-command v${VERSIONS.command}`,
            `pulumi-resource-docker v${VERSIONS.docker}`,
            `pulumi-language-nodejs v${cliVersion}`,
        ])
            assert.ok(r.err.includes(`MISSING  ${missing}`), r.err);
        const strict = run(f, { SWARM_PROXY_REQUIRE_REAL_PLUGINS: "1" });
        assert.equal(strict.code, 1, strict.err);
        assert.match(strict.err, /ERROR: pulumi-resource-command .*SWARM_PROXY_REQUIRE_REAL_PLUGINS=1/);
    });

    it("installs the real plugins from SWARM_PROXY_PLUGIN_MIRROR with the real CLI, where both are here", function () {
        this.timeout(300_000);
        const mirror = process.env.SWARM_PROXY_PLUGIN_MIRROR;
        const cli = path.join(root, ".tools", `pulumi-v${cliVersion}`, "bin", "pulumi");
        if (!mirror || !fs.existsSync(cli)) {
            console.log(
                `      ${notRun(
                    "the install from the plugin mirror",
                    `needs SWARM_PROXY_PLUGIN_MIRROR (${mirror ?? "unset"}) and the toolchain's CLI (${fs.existsSync(cli) ? "built" : "not built"})`,
                )}`,
            );
            this.skip();
        }
        const f = make();
        fs.rmSync(path.join(f.bin, "pulumi"));
        fs.symlinkSync(cli, path.join(f.bin, "pulumi"));
        const r = run(f, { SWARM_PROXY_PLUGIN_MIRROR: mirror, CI: "true" });
        assert.equal(r.code, 0, r.err);
        const ls = spawnSync(cli, ["plugin", "ls"], {
            env: { ...process.env, PULUMI_HOME: f.home, PULUMI_SKIP_UPDATE_CHECK: "true" },
            encoding: "utf8",
        });
        assert.equal(ls.status, 0, ls.stderr);
        assert.match(
            ls.stdout,
            new RegExp(`command\\s+resource\\s+${VERSIONS.command.replace(/\./g, "\\.")}`),
            ls.stdout,
        );
        assert.match(
            ls.stdout,
            new RegExp(`docker\\s+resource\\s+${VERSIONS.docker.replace(/\./g, "\\.")}`),
            ls.stdout,
        );
        const host = spawnSync(path.join(f.bin, "pulumi-language-nodejs"), ["-version"], { encoding: "utf8" });
        assert.equal(host.stdout.trim(), `v${cliVersion}`);
    });
});
