// No silent skip under CI: the multinode tier run in a child process (mocha, its own config) on a machine without
// the real command provider (an empty plugin cache). Under CI=true it fails naming the provider, whether or not a
// plugin mirror is set; outside CI it says what did not run and why, and skips. It stops before any sandbox starts.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { notRun, underCi } from "../../harness/ci";
import { root } from "./sandbox";

function multinodeWithoutPlugins(env: NodeJS.ProcessEnv): { code: number | null; out: string } {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-ci-skips-"));
    try {
        const r = spawnSync(
            path.join(root, "node_modules", ".bin", "mocha"),
            ["--config", path.join(root, "test", "multinode", ".mocharc.json")],
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
        assert.equal(underCi({}), false);
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
