// No silent skip under CI, in any tier: every tier's mocha config forbids pending tests under CI (any CI value but
// empty or false), every skip in the tiers goes through notRun, and the multinode tier run in a child process (mocha,
// its own config) on a machine without the real command provider (an empty plugin cache) fails naming the provider
// under CI=true, whether or not a plugin mirror is set; outside CI it says what did not run and why, and skips. It
// stops before any sandbox starts.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { notRun, underCi } from "../../harness/ci";
import { assertSelectedEngine } from "../../harness/docker";
import { root } from "./sandbox";

function multinodeWithoutPlugins(env: NodeJS.ProcessEnv): { code: number | null; out: string } {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-ci-skips-"));
    try {
        const r = spawnSync(
            path.join(root, "node_modules", ".bin", "mocha"),
            ["--config", path.join(root, "test", "multinode", ".mocharc.cjs")],
            {
                cwd: root,
                encoding: "utf8",
                timeout: 120_000,
                env: { ...env, PULUMI_HOME: home, SWARM_PROXY_REQUIRE_REAL_PLUGINS: "" },
            },
        );
        return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
    } finally {
        fs.rmSync(home, { recursive: true, force: true });
    }
}

/** Every tier's mocha config, relative to the root: test/TIER/.mocharc.cjs and the matrix's swarm-tier cases. */
function tierConfigs(): string[] {
    const tiers = fs.readdirSync(path.join(root, "test"), { withFileTypes: true }).filter((d) => d.isDirectory());
    const found = tiers.flatMap((d) =>
        fs
            .readdirSync(path.join(root, "test", d.name))
            .filter((f) => f.endsWith("mocharc.cjs"))
            .map((f) => `test/${d.name}/${f}`),
    );
    return found.sort();
}

/** The tiers' configs as mocha loads them, in a node of their own with `env` (each reads CI when it loads). */
function loadConfigs(configs: string[], env: NodeJS.ProcessEnv): Record<string, Record<string, unknown>> {
    const script = `const out = {}; for (const c of ${JSON.stringify(configs)}) out[c] = require("./" + c); console.log(JSON.stringify(out));`;
    const clean = { ...process.env };
    delete clean.CI;
    const r = spawnSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8", env: { ...clean, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
}

/** The TypeScript files under a folder of tests. */
function testFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) return d.name === "fixtures" ? [] : testFiles(p);
        return d.name.endsWith(".ts") ? [p] : [];
    });
}

describe("no tier skips under CI", function () {
    this.timeout(240_000);
    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base.CI;
    delete base.SWARM_PROXY_PLUGIN_MIRROR;

    it("notRun: under CI=true throws naming what is missing; outside CI returns the NOT RUN line", () => {
        assert.throws(() => notRun("multinode tier", "no command provider", { CI: "true" }), {
            message: "multinode tier cannot run under CI=true: no command provider",
        });
        assert.equal(
            notRun("multinode tier", "no command provider", {}),
            "multinode tier NOT RUN: no command provider",
        );
        assert.equal(underCi({ CI: "true" }), true);
        assert.equal(underCi({ CI: "1" }), true);
        assert.equal(underCi({ CI: "false" }), false);
        assert.equal(underCi({ CI: "" }), false);
        assert.equal(underCi({}), false);
        assert.throws(() => notRun("multinode tier", "no command provider", { CI: "1" }), /cannot run under CI=1/);
    });

    it("every tier's mocha config forbids pending tests under CI, and only there", () => {
        const configs = tierConfigs();
        // Every tier npm runs has its config here, and every config has its tier.
        const scripts = (
            JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
                scripts: Record<string, string>;
            }
        ).scripts;
        const named = Object.values(scripts).flatMap((cmd) =>
            [...cmd.matchAll(/--config ([^\s;]+)/g)].map((m) => m[1]),
        );
        const matrix = fs.readFileSync(path.join(root, "scripts", "test-matrix.sh"), "utf8");
        named.push(...[...matrix.matchAll(/--config ([^\s;]+)/g)].map((m) => m[1]));
        assert.deepEqual([...new Set(named)].sort(), configs);
        for (const [env, forbidden] of [
            [{ CI: "true" }, true],
            [{ CI: "1" }, true],
            [{ CI: "false" }, false],
            [{}, false],
        ] as const) {
            const loaded = loadConfigs(configs, env);
            for (const c of configs) {
                assert.equal(loaded[c]?.["forbid-pending"], forbidden, `${c} with ${JSON.stringify(env)}`);
            }
        }
    });

    it("a pending test fails a tier's run under CI, and is counted pending outside it", () => {
        // The unit tier's config as mocha loads it, with a spec of one pending case (a spec on mocha's command line
        // would be run beside the tier's own, not instead of them).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-pending-"));
        try {
            const spec = path.join(dir, "pending.test.js");
            fs.writeFileSync(spec, 'describe("a tier", () => { it("a pending case"); it("a case", () => {}); });\n');
            const config = path.join(dir, ".mocharc.cjs");
            const unit = path.join(root, "test", "unit", ".mocharc.cjs");
            fs.writeFileSync(
                config,
                `module.exports = { ...require(${JSON.stringify(unit)}), spec: [${JSON.stringify(spec)}] };\n`,
            );
            const mocha = (env: NodeJS.ProcessEnv) =>
                spawnSync(path.join(root, "node_modules", ".bin", "mocha"), ["--config", config], {
                    cwd: root,
                    encoding: "utf8",
                    timeout: 120_000,
                    env,
                });
            const ci = mocha({ ...base, CI: "true" });
            assert.notEqual(ci.status, 0, ci.stdout);
            assert.match(ci.stdout, /Pending test forbidden/);
            const local = mocha(base);
            assert.equal(local.status, 0, local.stdout);
            assert.match(local.stdout, /1 passing[\s\S]*1 pending/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a tier's config that names a spec file that does not exist fails to load", () => {
        const r = spawnSync(
            process.execPath,
            ["-e", 'require("./test/mocharc.cjs")({ spec: ["test/swarm/gone.test.ts", "test/swarm/**/*.test.ts"] })'],
            { cwd: root, encoding: "utf8", timeout: 60_000 },
        );
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /the spec file test\/swarm\/gone\.test\.ts does not exist/);
    });

    it("the engine matrix refuses a blank or unknown engine list before it runs anything, and each row checks its dockerd", () => {
        for (const [engines, said] of [
            ["  ", /names no engine/],
            ["20.10 27", /names '27', not an engine of the matrix/],
        ] as const) {
            const r = spawnSync("bash", [path.join(root, "scripts", "test-matrix.sh")], {
                cwd: root,
                encoding: "utf8",
                timeout: 60_000,
                env: { ...base, SWARM_MATRIX_ENGINES: engines },
            });
            assert.equal(r.status, 2, r.stderr);
            assert.match(r.stderr, said);
            assert.doesNotMatch(r.stderr, /== engine matrix: SANDBOX_DOCKER/);
        }
        assertSelectedEngine("20.10.24+dfsg1", "20.10");
        assertSelectedEngine("29.8.0", "29");
        assertSelectedEngine("29.8.0", undefined);
        assert.throws(
            () => assertSelectedEngine("29.8.0", "20.10"),
            /SANDBOX_DOCKER=20\.10 selects dockerd 20\.10\.x, but the sandbox runs dockerd 29\.8\.0/,
        );
        assert.throws(() => assertSelectedEngine("29.8.0", "29.0"), /runs dockerd 29\.8\.0/);
    });

    it("every skip in the tiers goes through notRun (it throws under CI): no bare this.skip(), it.skip or xit", () => {
        const bare: string[] = [];
        for (const file of testFiles(path.join(root, "test"))) {
            const lines = fs.readFileSync(file, "utf8").split("\n");
            lines.forEach((line, i) => {
                const where = `${path.relative(root, file)}:${i + 1}`;
                if (/^\s*(it|describe)\.skip\(|^\s*x(it|describe)\(/.test(line)) bare.push(`${where}: ${line.trim()}`);
                // The notRun call that says why stands in the few lines before the skip.
                if (
                    /^\s*this\.skip\(\);/.test(line) &&
                    !lines.slice(Math.max(0, i - 12), i).some((l) => l.includes("notRun("))
                )
                    bare.push(`${where}: ${line.trim()}`);
            });
        }
        assert.deepEqual(bare, []);
    });

    it("the multinode tier without the command provider, under CI=true and no plugin mirror: fails naming it", () => {
        const r = multinodeWithoutPlugins({ ...base, CI: "true" });
        assert.notEqual(r.code, 0, r.out);
        assert.match(r.out, /multinode tier cannot run under CI=true: the real command provider is not installed/);
    });

    it("outside CI: says the tier did not run and why, and skips", () => {
        const r = multinodeWithoutPlugins(base);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /multinode tier NOT RUN: the real command provider is not installed/);
        assert.match(r.out, /0 passing[\s\S]*pending/);
    });
});
