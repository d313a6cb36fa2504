// The Engine API version every client asks for: agreed with the daemon, never pinned. Docker 29.0 refuses any
// request under 1.44 (moby#51186), and a request under the daemon's newest is down-converted. The pure choice
// (src/docker.ts), the Engine's use of it and host/network-move.sh's own, against the fake Engine API, which
// refuses versions outside its range as dockerd does.
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type FakeSwarmSpec, startFakeEngine } from "../../harness/fake-engine";
import { NEWEST_API_VERSION, compareApiVersions, negotiateApiVersion } from "../../src/docker";

const moveScript = path.join(__dirname, "..", "..", "host", "network-move.sh");

describe("Engine API version negotiation", () => {
    it("compares MAJOR.MINOR as numbers", () => {
        assert.ok(compareApiVersions("1.9", "1.41") < 0);
        assert.ok(compareApiVersions("1.52", "1.44") > 0);
        assert.equal(compareApiVersions("1.41", "1.41"), 0);
        assert.ok(compareApiVersions("2.0", "1.99") > 0);
        assert.throws(() => compareApiVersions("v1.41", "1.41"), { message: "not an Engine API version: v1.41" });
    });

    const cases: [string, { Version: string; ApiVersion: string; MinAPIVersion?: string }, string][] = [
        ["Debian's 20.10: its newest", { Version: "20.10.24", ApiVersion: "1.41", MinAPIVersion: "1.12" }, "1.41"],
        ["28.5: its newest", { Version: "28.5.2", ApiVersion: "1.51", MinAPIVersion: "1.24" }, "1.51"],
        [
            "29.0: its newest, above its 1.44 floor",
            { Version: "29.0.0", ApiVersion: "1.52", MinAPIVersion: "1.44" },
            "1.52",
        ],
        ["the newest 29 served", { Version: "29.8.0", ApiVersion: "1.56", MinAPIVersion: "1.40" }, "1.56"],
        ["a newer daemon: capped at ours", { Version: "30.1.0", ApiVersion: "1.60", MinAPIVersion: "1.44" }, "1.56"],
        [
            "a daemon whose floor is past ours: its floor",
            { Version: "31.0.0", ApiVersion: "1.62", MinAPIVersion: "1.58" },
            "1.58",
        ],
        ["no MinAPIVersion given: no floor", { Version: "20.10.24", ApiVersion: "1.41" }, "1.41"],
    ];
    for (const [what, daemon, want] of cases) {
        it(`${what} → ${want}`, () => {
            assert.deepEqual(negotiateApiVersion(daemon), { ok: true, version: want });
        });
    }

    it("the newest the project knows is 1.56 (Docker 29.8, the newest 29 the module proxy serves)", () => {
        assert.equal(NEWEST_API_VERSION, "1.56");
    });

    it("refuses a daemon under 1.41, naming its Docker and API versions; and one that gives no API version", () => {
        assert.deepEqual(negotiateApiVersion({ Version: "19.03.15", ApiVersion: "1.40", MinAPIVersion: "1.12" }), {
            ok: false,
            reason: "dockerd 19.03.15 speaks Engine API 1.40; swarm-proxy needs 1.41 or newer",
        });
        assert.deepEqual(negotiateApiVersion({ Version: "x" }), {
            ok: false,
            reason: "dockerd x gave no usable Engine API version ('')",
        });
    });
});

describe("network-move.sh agrees the Engine API version once per run", () => {
    // A `docker` on PATH for what `network-move.sh back` asks the CLI: proxy and the temporary network, no
    // service; the temporary network goes when removed. The Engine API calls go to the fake.
    function fakeDocker(dir: string): void {
        fs.writeFileSync(
            path.join(dir, "docker"),
            `#!/usr/bin/env bash
d=${JSON.stringify(dir)}
case "$1 $2" in
  "network ls") echo "aaaa proxy"; [ -e "$d/removed" ] || echo "bbbb proxy-tmp" ;;
  "service ls") ;;
  "network inspect") ;;
  "network rm") touch "$d/removed"; echo "$3" ;;
  *) echo "unexpected docker $*" >&2; exit 99 ;;
esac
`,
            { mode: 0o755 },
        );
    }

    interface MoveRun {
        code: number | null;
        err: string;
        /** The version of each Engine API request the script made ("" unversioned), and its path. */
        calls: string[];
        removed: boolean;
    }

    async function moveBack(spec: Partial<FakeSwarmSpec>): Promise<MoveRun> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spx-move-api-"));
        const fake = await startFakeEngine({
            services: 2,
            replicas: 1,
            history: 0,
            nodes: 1,
            subnet: "10.0.1.0/24",
            ...spec,
        });
        try {
            fakeDocker(dir);
            // Not spawnSync: the fake answers the script's curl from this process's event loop.
            const child = spawn("bash", [moveScript, "back", "proxy", "proxy-tmp", "20"], {
                env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}`, DOCKER_HOST: fake.host },
                stdio: ["ignore", "ignore", "pipe"],
            });
            let err = "";
            child.stderr.on("data", (d: Buffer) => (err += d.toString()));
            const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
            const calls = fake.requests.map((r, i) => `${fake.versions[i] || "-"} ${r}`);
            return { code, err, calls, removed: fs.existsSync(path.join(dir, "removed")) };
        } finally {
            await fake.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    it("Docker 29.0 (API 1.52, minimum 1.44): GET /version unversioned, then every call at 1.52", async () => {
        const r = await moveBack({ apiVersion: "1.52" });
        assert.equal(r.code, 0, r.err);
        assert.ok(r.removed, "the temporary network was removed");
        assert.deepEqual(r.calls, ["- GET /version", "1.52 GET /tasks"]);
    });

    it("a daemon newer than the project knows: its own newest (a spec written back whole keeps every field)", async () => {
        const r = await moveBack({ apiVersion: "1.58", dockerVersion: "30.0.0" });
        assert.equal(r.code, 0, r.err);
        assert.deepEqual(r.calls, ["- GET /version", "1.58 GET /tasks"]);
    });

    it("a daemon under 1.41: one error naming its Docker and API versions, and nothing moved or removed", async () => {
        const r = await moveBack({ apiVersion: "1.40", dockerVersion: "19.03.15" });
        assert.equal(r.code, 1);
        assert.equal(
            r.err,
            "network-move: dockerd 19.03.15 speaks Engine API 1.40; the rolling moves need 1.41 or newer\n",
        );
        assert.ok(!r.removed);
        assert.deepEqual(r.calls, ["- GET /version"]);
    });
});
