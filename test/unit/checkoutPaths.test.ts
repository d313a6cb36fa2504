import * as assert from "node:assert/strict";
import { pathOnlyChange, projectPath } from "../../src/checkoutPaths";

const line = (...w: string[]) => w.map((x) => `'${x}'`).join(" ");

describe("checkout paths: what the state records is the same from every checkout", () => {
    it("a file inside the project is recorded relative to it; one outside (a host path) as given", () => {
        assert.equal(projectPath("/work/a", "sandbox/stacks/drone.yml"), "sandbox/stacks/drone.yml");
        assert.equal(projectPath("/work/a", "/work/a/nix/swarm.nix"), "nix/swarm.nix");
        assert.equal(projectPath("/work/a", "./nix/../nix/swarm.nix"), "nix/swarm.nix");
        assert.equal(projectPath("/work/a", "/srv/stacks/drone.yml"), "/srv/stacks/drone.yml");
        assert.equal(projectPath("/work/a", "../stacks/drone.yml"), "/work/stacks/drone.yml");
    });

    it("an absolute path that became the same file's relative path, and nothing else: a path change", () => {
        const old = line("bash", "/d/stack-deploy.sh", "drone", "/tmp/drone-x/src/sandbox/stacks/drone.yml");
        const now = line("bash", "/d/stack-deploy.sh", "drone", "sandbox/stacks/drone.yml");
        const env = { SWARM_PROXY_COMPOSE_SHA256: "ab" };
        assert.deepEqual(
            pathOnlyChange(
                { create: old, update: old, delete: "x", environment: env, triggers: ["proxy", "id"] },
                { create: now, update: now, delete: "x", environment: env, triggers: ["proxy", "id"] },
            ),
            [
                { from: "/tmp/drone-x/src/sandbox/stacks/drone.yml", to: "sandbox/stacks/drone.yml" },
                { from: "/tmp/drone-x/src/sandbox/stacks/drone.yml", to: "sandbox/stacks/drone.yml" },
            ],
        );
        assert.deepEqual(
            pathOnlyChange(
                { environment: { SWARM_PROXY_NIX_MODULE: "/home/op/swarm-proxy/nix/swarm.nix" } },
                { environment: { SWARM_PROXY_NIX_MODULE: "nix/swarm.nix" } },
            ),
            [{ from: "/home/op/swarm-proxy/nix/swarm.nix", to: "nix/swarm.nix" }],
        );
    });

    it("anything else that differs is a real change: another digest, another file, another argument, a new token", () => {
        const old = line("bash", "/d/stack-deploy.sh", "drone", "/c/sandbox/stacks/drone.yml");
        const now = line("bash", "/d/stack-deploy.sh", "drone", "sandbox/stacks/drone.yml");
        const base = { create: old, update: old, environment: { SWARM_PROXY_COMPOSE_SHA256: "ab" } };
        const next = { create: now, update: now, environment: { SWARM_PROXY_COMPOSE_SHA256: "ab" } };
        assert.equal(pathOnlyChange(base, { ...next, environment: { SWARM_PROXY_COMPOSE_SHA256: "cd" } }), undefined);
        const other = line("bash", "/d/stack-deploy.sh", "drone", "sandbox/stacks/other.yml");
        assert.equal(pathOnlyChange(base, { ...next, create: other, update: other }), undefined);
        const renamed = line("bash", "/d/stack-deploy.sh", "drone2", "sandbox/stacks/drone.yml");
        assert.equal(pathOnlyChange(base, { ...next, create: renamed }), undefined);
        assert.equal(pathOnlyChange(base, { ...next, stdin: "2026-01-01T00:00:00Z 1" }), undefined);
        // Nothing differs: no change at all, so nothing to note.
        assert.equal(pathOnlyChange(next, next), undefined);
        // A relative path that became absolute is not the one-time change.
        assert.equal(pathOnlyChange(next, base), undefined);
    });

    it("reads quoted words as the command lines quote them (a quote inside a word)", () => {
        const old = `'bash' '/d/x.sh' 'it'\\''s' '/c/a b/f.yml'`;
        const now = `'bash' '/d/x.sh' 'it'\\''s' 'a b/f.yml'`;
        assert.deepEqual(pathOnlyChange({ create: old }, { create: now }), [{ from: "/c/a b/f.yml", to: "a b/f.yml" }]);
    });
});
