// host/network-remove.sh against a scripted `docker` that behaves as dockerd did once on a busy machine: right
// after the last container left, Docker's own load-balancer endpoint (named proxy-endpoint) was listed under a key
// other than lb-proxy, and the first removal was refused while it went away. It is no user: waited out, removed.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const script = path.join(__dirname, "..", "..", "host", "network-remove.sh");

/** A `docker` on PATH that answers the calls network-remove.sh makes, from files in DIR. */
function fakeDocker(dir: string, containerName: string, containerIsReal: boolean): void {
    fs.writeFileSync(
        path.join(dir, "docker"),
        `#!/usr/bin/env bash
d=${JSON.stringify(dir)}
case "$1 $2" in
  "network ls") [ -e "$d/removed" ] || echo "0123456789ab proxy" ;;
  "service ls") ;;
  "network inspect") echo "9f8e7d6c5b4a ${containerName}" ;;
  "container inspect") ${containerIsReal ? 'echo "9f8e7d6c5b4a"' : 'echo "Error: No such container: $4" >&2; exit 1'} ;;
  "network rm")
    if [ -e "$d/refused" ]; then touch "$d/removed"; echo "$3"; else touch "$d/refused"; echo "Error response from daemon: error while removing network: network proxy id $3 has active endpoints" >&2; exit 1; fi ;;
  *) echo "unexpected docker $*" >&2; exit 99 ;;
esac
`,
        { mode: 0o755 },
    );
}

function run(containerName: string, containerIsReal: boolean) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spx-netrm-"));
    try {
        fakeDocker(dir, containerName, containerIsReal);
        const r = spawnSync("bash", [script, "proxy", "20"], {
            env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}` },
            encoding: "utf8",
        });
        return { code: r.status, out: r.stdout, err: r.stderr, removed: fs.existsSync(path.join(dir, "removed")) };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("network-remove.sh and Docker's own endpoint", () => {
    it("Docker's load-balancer endpoint under another key is no user: the refused removal is tried again", () => {
        const r = run("proxy-endpoint", false);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /network proxy: removed/);
        assert.ok(r.removed);
    });

    it("a real container, even one named proxy-endpoint, is a user: named, and nothing removed", () => {
        const r = run("proxy-endpoint", true);
        assert.equal(r.code, 1);
        assert.match(
            r.err,
            /^network-remove: network proxy is still in use by: container proxy-endpoint; removed nothing$/m,
        );
        assert.ok(!r.removed);
    });
});
