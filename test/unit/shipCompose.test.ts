// Over SSH the installer ships the project's compose files beside the host scripts: run as the host runs it.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathOnlyChange, recordedPathNote, shippedComposePath, shippedRelative } from "../../src/checkoutPaths";
import { installer, type ShippedFile } from "../../src/hostCommand";

const file = (rel: string, text: string): ShippedFile => {
    const content = Buffer.from(text);
    return { rel, content, digest: createHash("sha256").update(content).digest("hex") };
};
const line = (...w: string[]) => w.map((x) => `'${x.replace(/'/g, `'\\''`)}'`).join(" ");

describe("compose files shipped over SSH", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "spx-ship-unit-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const install = (shipped: ShippedFile[]) => {
        const r = spawnSync("bash", ["-s", "--", dir], { input: installer(undefined, shipped), encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
    };
    const onHost = (f: ShippedFile) => shippedComposePath(dir, f.rel, f.digest);

    it("writes each file byte for byte at its digest and relative path, names with quotes and $() included", () => {
        const odd = file("stacks/it's $(reboot) a b.yml", "services: {}\n# it's `x` $(y)\n");
        const plain = file("sandbox/stacks/drone.yml", "services:\n  drone: {image: x}\n");
        install([odd, plain, plain]);
        for (const f of [odd, plain]) assert.deepEqual(fs.readFileSync(onHost(f)), f.content);
        assert.equal(fs.statSync(onHost(plain)).mode & 0o777, 0o644);
        const left = spawnSync("find", [dir, "-name", ".*.new"], { encoding: "utf8" }).stdout.trim();
        assert.equal(left, "", "no temporary file is left");
    });

    it("keeps the digests it ships and removes the ones it no longer ships", () => {
        const v1 = file("sandbox/stacks/drone.yml", "v1\n");
        const v2 = file("sandbox/stacks/drone.yml", "v2\n");
        const other = file("sandbox/stacks/traefik.yml", "t\n");
        install([v1, other]);
        install([v2, other]);
        assert.deepEqual(fs.readdirSync(path.join(dir, "compose")).sort(), [v2.digest, other.digest].sort());
        assert.deepEqual(fs.readFileSync(onHost(v2)), v2.content);
    });

    it("ships nothing it cannot name safely: a path outside the project, or a digest that is not the content's", () => {
        assert.throws(() => installer(undefined, [file("../x.yml", "x")]), /only a project-relative path/);
        assert.throws(() => installer(undefined, [file("/srv/x.yml", "x")]), /only a project-relative path/);
        const wrong = { ...file("x.yml", "x"), digest: "0".repeat(64) };
        assert.throws(() => installer(undefined, [wrong]), /"x.yml" \(sha256 0{64}\): only a project-relative path/);
        assert.equal(installer(undefined, []), installer());
    });

    it("a shipped path names its relative path; the move from a host path to it is the one-time path change", () => {
        const d = "a".repeat(64);
        const shipped = shippedComposePath("/var/lib/swarm-proxy/host", "sandbox/stacks/drone.yml", d);
        assert.equal(shipped, `/var/lib/swarm-proxy/host/compose/${d}/sandbox/stacks/drone.yml`);
        assert.equal(shippedRelative(shipped), "sandbox/stacks/drone.yml");
        assert.equal(shippedRelative("/srv/compose/x/drone.yml"), undefined);
        assert.equal(shippedRelative("sandbox/stacks/drone.yml"), undefined);
        const old = line("bash", "/d/stack-deploy.sh", "drone", "/home/op/swarm-proxy/sandbox/stacks/drone.yml");
        const now = line("bash", "/d/stack-deploy.sh", "drone", shipped);
        const changes = pathOnlyChange({ create: old, update: old }, { create: now, update: now });
        assert.deepEqual(changes, [
            { from: "/home/op/swarm-proxy/sandbox/stacks/drone.yml", to: shipped },
            { from: "/home/op/swarm-proxy/sandbox/stacks/drone.yml", to: shipped },
        ]);
        assert.match(recordedPathNote("drone", changes!), /restarts nothing; the project's file is now shipped/);
        // Another file, or the same file with another digest (a changed file), is a real change.
        const other = line("bash", "/d/stack-deploy.sh", "drone", "/home/op/swarm-proxy/sandbox/stacks/other.yml");
        assert.equal(pathOnlyChange({ create: other }, { create: now }), undefined);
        const changed = line("bash", "/d/stack-deploy.sh", "drone", shipped.replace(d, "b".repeat(64)));
        assert.equal(pathOnlyChange({ create: changed }, { create: now }), undefined);
    });
});
