// The CLI end to end against a fake Engine API on a unix socket: figures at 1000 services, a number of API
// calls that does not grow with the services, the API version agreed with the daemon (the fake refuses one
// outside its range as dockerd does), and the errors for a worker, a node outside a swarm, a daemon too old and
// an unreachable dockerd. The bin shim is run as a real process.
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type FakeEngine, startFakeEngine } from "../../harness/fake-engine";
import { main } from "../../cli/main";
import { Engine } from "../../src/engine";
import { copyPackage, runBin } from "./bin";

const execFileP = promisify(execFile);
const bin = join(__dirname, "..", "..", "cli", "bin.js");

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
}

describe("tools: CLI against a fake Engine API", () => {
    const saved = process.env.DOCKER_HOST;
    after(() => {
        if (saved === undefined) delete process.env.DOCKER_HOST;
        else process.env.DOCKER_HOST = saved;
    });

    async function withFake<T>(
        spec: Parameters<typeof startFakeEngine>[0],
        fn: (f: FakeEngine) => Promise<T>,
    ): Promise<T> {
        const f = await startFakeEngine(spec);
        try {
            return await fn(f);
        } finally {
            await f.close();
        }
    }

    it("survey + capacity of a /16 with 1000 services: exact figures, < 2 s, as many API calls as with 10", async () => {
        const calls: number[] = [];
        for (const services of [10, 1000]) {
            await withFake({ services, replicas: 1, history: 2, nodes: 3, subnet: "10.10.0.0/16" }, async (f) => {
                const t0 = Date.now();
                const survey = await run(["survey", "--host", f.host, "--json", "-q", "--subnet", "10.10.0.0/16"]);
                const cap = await run(["capacity", "--host", f.host, "--json", "-q"]);
                const ms = Date.now() - t0;
                assert.equal(survey.code, 0, survey.err);
                assert.equal(cap.code, 0, cap.err);
                const s = JSON.parse(survey.out) as { proxy: { services: string[] }; target: { ok: boolean } };
                assert.equal(s.proxy.services.length, services);
                assert.equal(s.target.ok, true);
                const c = JSON.parse(cap.out) as {
                    usage: { vips: number; taskEndpoints: number; lbEndpoints: number; inUse: number; free: number };
                };
                assert.deepEqual(
                    {
                        vips: c.usage.vips,
                        tasks: c.usage.taskEndpoints,
                        lb: c.usage.lbEndpoints,
                        inUse: c.usage.inUse,
                        free: c.usage.free,
                    },
                    {
                        vips: services,
                        tasks: services,
                        lb: 3,
                        inUse: 2 * services + 3,
                        free: 65533 - (2 * services + 3),
                    },
                );
                assert.ok(ms < 2000, `took ${ms} ms`);
                calls.push(f.requests.length);
            });
        }
        assert.equal(calls[0], calls[1], `API calls at 10 and 1000 services: ${calls.join(", ")}`);
    });

    it("uses the Engine's IPsInUse on API 1.52", async () => {
        await withFake(
            { services: 5, replicas: 2, history: 0, nodes: 2, subnet: "10.10.0.0/16", apiVersion: "1.52" },
            async (f) => {
                const cap = await run(["capacity", "--host", f.host, "--json", "-q"]);
                const c = JSON.parse(cap.out) as { usage: { method: string; inUse: number } };
                assert.deepEqual(c.usage, { ...c.usage, method: "ipsInUse", inUse: 5 + 10 + 2 });
            },
        );
    });

    /** One raw request to the fake, so the test decides the path's version. */
    function get(f: FakeEngine, urlPath: string): Promise<{ status: number; json: Record<string, unknown> }> {
        return new Promise((resolve, reject) => {
            const req = http.request({ socketPath: f.socket, method: "GET", path: urlPath }, (res) => {
                let text = "";
                res.on("data", (d: Buffer) => (text += d.toString()));
                res.on("end", () =>
                    resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
                );
            });
            req.on("error", reject);
            req.end();
        });
    }

    it("speaks a range of API versions and refuses a path outside it as dockerd does (HTTP 400, its words)", async () => {
        const one = { services: 1, replicas: 1, history: 0, nodes: 1, subnet: "10.10.0.0/16" };
        await withFake({ ...one, apiVersion: "1.52" }, async (f) => {
            assert.deepEqual(await get(f, "/version"), {
                status: 200,
                json: { Version: "29.0.0", ApiVersion: "1.52", MinAPIVersion: "1.44" },
            });
            assert.deepEqual(await get(f, "/v1.41/info"), {
                status: 400,
                json: {
                    message:
                        "client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version",
                },
            });
            assert.deepEqual(await get(f, "/v1.53/info"), {
                status: 400,
                json: { message: "client version 1.53 is too new. Maximum supported API version is 1.52" },
            });
            assert.equal((await get(f, "/v1.44/info")).status, 200);
            assert.equal((await get(f, "/v1.52/info")).json.ServerVersion, "29.0.0");
        });
        await withFake(one, async (f) => {
            assert.deepEqual((await get(f, "/version")).json, {
                Version: "20.10.24",
                ApiVersion: "1.41",
                MinAPIVersion: "1.12",
            });
            assert.equal((await get(f, "/v1.24/info")).status, 200);
            assert.equal((await get(f, "/v1.52/info")).status, 400);
        });
        await withFake({ ...one, apiVersion: "1.56", minApiVersion: "1.40" }, async (f) => {
            assert.deepEqual((await get(f, "/version")).json, {
                Version: "29.8.0",
                ApiVersion: "1.56",
                MinAPIVersion: "1.40",
            });
            assert.equal((await get(f, "/v1.41/info")).status, 200);
        });
    });

    it("the Engine agrees the version once (GET /version unversioned), then asks every call at it", async () => {
        const one = { services: 2, replicas: 1, history: 0, nodes: 1, subnet: "10.10.0.0/16" };
        for (const [served, min, want] of [
            ["1.41", undefined, "1.41"],
            ["1.52", undefined, "1.52"],
            ["1.56", "1.40", "1.56"],
            // A daemon newer than the project knows is asked at the newest we know.
            ["1.60", "1.44", "1.56"],
        ] as const) {
            await withFake({ ...one, apiVersion: served, minApiVersion: min, dockerVersion: "x" }, async (f) => {
                const engine = new Engine({ host: f.host });
                await Promise.all([engine.info(), engine.services(), engine.networks()]);
                await engine.requireManager();
                assert.equal(await engine.apiVersion(), want);
                assert.deepEqual(
                    f.requests.map((r, i) => `${f.versions[i] || "-"} ${r}`),
                    [
                        "- GET /version",
                        `${want} GET /info`,
                        `${want} GET /services?status=true`,
                        `${want} GET /networks`,
                        `${want} GET /info`,
                    ],
                    `served ${served}`,
                );
                assert.equal(engine.calls, f.requests.length, "the negotiation is counted, the cached version not");
            });
        }
    });

    it("dockerd replaced under a long-lived Engine by one with another range: the Engine agrees again", async () => {
        // One socket path for both daemons, as a sandbox restarted on another engine keeps it.
        const dir = mkdtempSync(join(tmpdir(), "spx-renegotiate-"));
        const link = join(dir, "docker.sock");
        const one = { services: 1, replicas: 1, history: 0, nodes: 1, subnet: "10.10.0.0/16" };
        try {
            const engine = new Engine({ host: `unix://${link}` });
            await withFake({ ...one, apiVersion: "1.52" }, async (f) => {
                symlinkSync(f.socket, link);
                await engine.info();
                assert.equal(await engine.apiVersion(), "1.52");
            });
            rmSync(link);
            // Let the client see the old daemon's kept-alive connection close, as it would across a restart.
            await new Promise((r) => setTimeout(r, 100));
            await withFake(one, async (f) => {
                symlinkSync(f.socket, link);
                await engine.networks();
                assert.equal(await engine.apiVersion(), "1.41");
                assert.deepEqual(
                    f.requests.map((r, i) => `${f.versions[i] || "-"} ${r}`),
                    ["1.52 GET /networks", "- GET /version", "1.41 GET /networks"],
                );
            });
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a daemon under API 1.41: one error naming its Docker and API versions, from the Engine and the CLI", async () => {
        const old = {
            services: 1,
            replicas: 1,
            history: 0,
            nodes: 1,
            subnet: "10.10.0.0/16",
            apiVersion: "1.40",
            dockerVersion: "19.03.15",
        };
        await withFake(old, async (f) => {
            await assert.rejects(new Engine({ host: f.host }).info(), {
                name: "EngineError",
                message: `dockerd 19.03.15 speaks Engine API 1.40; swarm-proxy needs 1.41 or newer (dockerd at ${f.host})`,
            });
            const r = await run(["capacity", "--host", f.host, "-q"]);
            assert.equal(r.code, 2);
            assert.equal(
                r.err,
                `swarm-proxy capacity: dockerd 19.03.15 speaks Engine API 1.40; swarm-proxy needs 1.41 or newer (dockerd at ${f.host})\n`,
            );
            assert.deepEqual(f.requests, ["GET /version", "GET /version"], "nothing read past the version");
        });
    });

    it("says so when the node is a worker, or not in a swarm", async () => {
        await withFake(
            { services: 1, replicas: 1, history: 0, nodes: 1, subnet: "10.10.0.0/16", role: "worker" },
            async (f) => {
                const r = await run(["capacity", "--host", f.host, "-q"]);
                assert.equal(r.code, 2);
                assert.match(
                    r.err,
                    /^swarm-proxy capacity: dockerd at unix:\/\/\S+ is a swarm worker, not a manager; run this on a swarm manager\n$/,
                );
            },
        );
        await withFake(
            { services: 1, replicas: 1, history: 0, nodes: 1, subnet: "10.10.0.0/16", role: "inactive" },
            async (f) => {
                const r = await run(["survey", "--host", f.host, "-q"]);
                assert.equal(r.code, 2);
                assert.match(
                    r.err,
                    /is not in an active swarm \(LocalNodeState=inactive\); run this on a swarm manager/,
                );
            },
        );
    });

    it("says so when dockerd cannot be reached; drift still prints a report, with exit 2", async () => {
        const r = await run(["capacity", "--host", "unix:///nonexistent/docker.sock", "-q"]);
        assert.equal(r.code, 2);
        assert.match(r.err, /cannot reach dockerd at unix:\/\/\/nonexistent\/docker.sock \(ENOENT\): is it running/);
        const cfg = join(__dirname, "fixtures", "Pulumi.tools.yaml");
        const d = await run([
            "drift",
            "--host",
            "unix:///nonexistent/docker.sock",
            "-q",
            "--stack-config",
            cfg,
            "--no-logs",
            "--json",
        ]);
        assert.equal(d.code, 2);
        const rep = JSON.parse(d.out) as { result: string; findings: { detail: string }[] };
        assert.equal(rep.result, "error");
        assert.match(rep.findings[0].detail, /cannot reach dockerd/);
    });

    it("guard reads the journal through journalctl -o json from the given time", async () => {
        const dir = mkdtempSync(join(tmpdir(), "spx-journal-"));
        const args = join(dir, "args");
        const line = JSON.stringify({
            MESSAGE:
                'level=error msg="Failed allocation for service abc" error="could not find an available IP while allocating VIP"',
            __REALTIME_TIMESTAMP: "1795000000000000",
        });
        writeFileSync(
            join(dir, "journalctl"),
            `#!/bin/sh\necho "$@" > '${args}'\necho '${line}'\necho '{"MESSAGE":"Started docker.service"}'\n`,
        );
        chmodSync(join(dir, "journalctl"), 0o755);
        const path = process.env.PATH;
        process.env.PATH = `${dir}:${path ?? ""}`;
        try {
            await withFake({ services: 2, replicas: 1, history: 0, nodes: 1, subnet: "10.10.0.0/16" }, async (f) => {
                const r = await run([
                    "guard",
                    "--host",
                    f.host,
                    "--json",
                    "-q",
                    "--since",
                    "2026-11-21T10:00:00Z",
                    "--unit",
                    "docker",
                ]);
                assert.equal(r.code, 0, r.err);
                const rep = JSON.parse(r.out) as {
                    mode: string;
                    failures: { service: string }[];
                    restart: { wanted: boolean; done: boolean };
                };
                assert.deepEqual(
                    rep.failures.map((x) => x.service),
                    ["abc"],
                );
                assert.equal(rep.mode, "dry-run");
                assert.deepEqual(rep.restart, { ...rep.restart, wanted: true, done: false });
                assert.equal(
                    readFileSync(args, "utf8").trim(),
                    `-u docker --since @${Date.parse("2026-11-21T10:00:00Z") / 1000} -o json --no-pager -q`,
                );
            });
        } finally {
            process.env.PATH = path;
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the package bin lists the subcommands and passes exit codes through", async function () {
        this.timeout(60000);
        const help = await execFileP(process.execPath, [bin, "--help"]);
        assert.match(
            help.stdout,
            /commands:\n {2}init .*\n {2}survey .*\n {2}capacity .*\n {2}leak-probe .*\n {2}guard .*\n {2}drift /,
        );
        await assert.rejects(
            execFileP(process.execPath, [bin, "capacity", "--host", "unix:///nonexistent/docker.sock", "-q"]),
            (e: { code?: number; stderr?: string }) => {
                assert.equal(e.code, 2);
                assert.match(e.stderr ?? "", /cannot reach dockerd/);
                return true;
            },
        );
    });

    it("the bin works from a fresh clone whose build cache cannot be written (the ts-node fallback), from another folder", async function () {
        this.timeout(60000);
        const clone = copyPackage();
        try {
            // As nobody, the root-owned clone cannot take .cache/: the bin must fall back, not fail.
            const r = await runBin(["capacity", "--host", "unix:///nonexistent/docker.sock", "-q"], {
                cwd: tmpdir(),
                packageDir: clone,
                uid: 65534,
                gid: 65534,
            });
            assert.equal(r.code, 2, r.err);
            assert.equal(r.out, "");
            assert.match(
                r.err,
                /^swarm-proxy capacity: cannot reach dockerd at unix:\/\/\/nonexistent\/docker.sock \(ENOENT\)/,
            );
            assert.ok(!existsSync(join(clone, ".cache")), "nothing was written");
            // As root the same clone builds its cache on the first run and reuses it after.
            const cold = await runBin(["--help"], { cwd: tmpdir(), packageDir: clone });
            assert.equal(cold.code, 0, cold.err);
            assert.ok(existsSync(join(clone, ".cache", "cli-build", "stamp")));
            const warm = await runBin(["--help"], { cwd: tmpdir(), packageDir: clone });
            assert.equal(warm.out, cold.out);
            assert.ok(warm.firstOutputMs < 2000, `warm start took ${warm.firstOutputMs} ms`);
        } finally {
            rmSync(clone, { recursive: true, force: true });
        }
    });
});
