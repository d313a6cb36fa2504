// The CLI against a real dockerd: the tier's own sandbox instance, seeded with proxy and three of the
// reference host's stacks. Order matters: capacity and drift first on the seeded layout, then the guard's
// log checks, the leak probe, the prunes, which take proxy away, and last the failures of the leak probe (a
// failing teardown, Ctrl-C, dockerd restarting) and of the capacity probe (Ctrl-C, dockerd restarting), each
// followed by a look at what is left on the swarm; the very last stops dockerd for good under a leak probe,
// so that it must print what is left and the command that removes it.
// Every command also runs through the package's bin in a child process, from another folder.
import * as assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { CapacityReport } from "../../cli/shared/overlay-capacity";
import type { DriftReport } from "../../cli/drift/report";
import type { GuardReport } from "../../cli/guard/safety-net";
import type { LeakReport } from "../../cli/leak-probe/leak-report";
import type { SurveyReport } from "../../cli/survey/survey-report";
import { type BinOptions, type BinResult, copyPackage, parsed, removalCommands, runBin } from "./bin";
import { overlayCreateArgs } from "../../harness/docker";
import { type Sandbox, sandboxDown, sandboxUp } from "../../harness/sandbox";
import { waitFor } from "../../harness/wait";
import { cli, converged, deployStack, docker, json, networkGone, networkNames, root, script } from "./sandbox";

const execFileP = promisify(execFile);
const INSTANCE = "spx-tools-tier";
const STACKS = ["ccci-bridge", "drone", "backups"];
const CONFIG = join(__dirname, "fixtures", "Pulumi.tools.yaml");

describe("tools: against the sandbox's dockerd", function () {
    this.timeout(900_000);
    let sb: Sandbox;
    let tmp: string;
    let bin: string;
    let calls: string;
    let elsewhere: string;
    const started = new Date();
    const timings: string[] = [];

    /** The bin in a child process, from a folder outside the package, against the sandbox; progress on stderr. */
    async function viaBin(args: string[], o: Partial<BinOptions> = {}): Promise<BinResult> {
        const r = await runBin([...args, "--host", sb.dockerHost], { cwd: elsewhere, ...o });
        timings.push(
            `${o.npx ? "npx swarm-proxy" : "node cli/bin.js"} ${args[0]}: first output ${r.firstOutputMs} ms, exit ${r.code} after ${r.totalMs} ms`,
        );
        assert.doesNotMatch(r.err, /unexpected error/);
        return r;
    }

    /** Stacks, services and networks a leak probe (or a capacity probe) could have left. */
    async function probeLeftovers(): Promise<string[]> {
        const ours = (kind: string, out: string) =>
            out
                .split("\n")
                .filter((n) => n.startsWith("spxlp") || n.startsWith("spx-probe-"))
                .map((n) => `${kind} ${n}`);
        return [
            ...ours("stack", await docker(sb, ["stack", "ls", "--format", "{{.Name}}"])),
            ...ours("service", await docker(sb, ["service", "ls", "--format", "{{.Name}}"])),
            ...ours("network", await docker(sb, ["network", "ls", "--format", "{{.Name}}"])),
        ];
    }

    const smallProbe = [
        "leak-probe",
        "--mode",
        "teardown",
        "--probe-subnet",
        "10.199.0.0/27",
        "--timeout",
        "90",
        "--chart",
    ];

    before(async () => {
        tmp = mkdtempSync(join(tmpdir(), "spx-tools-"));
        bin = join(tmp, "bin");
        calls = join(tmp, "systemctl.calls");
        mkdirSync(bin);
        elsewhere = join(tmp, "elsewhere");
        mkdirSync(elsewhere);
        writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$@" >> '${calls}'\n`);
        chmodSync(join(bin, "systemctl"), 0o755);
        // A stale instance from an interrupted run would carry its networks and leaks into this one.
        await sandboxDown(INSTANCE);
        sb = await sandboxUp({ name: INSTANCE });
        await docker(sb, overlayCreateArgs("proxy", "10.77.0.0/24", { owner: "swarm-proxy" }));
        for (const s of STACKS) {
            await deployStack(sb, s);
        }
        await converged(sb, STACKS);
    });

    after(async () => {
        // The closing note's numbers: each command through the bin, and its time to first output.
        console.log(timings.map((t) => `      ${t}`).join("\n"));
        rmSync(tmp, { recursive: true, force: true });
        await sandboxDown(INSTANCE);
    });

    const failure = (t: Date, svc: string) =>
        `time="${t.toISOString()}" level=error msg="Failed allocation for service ${svc}" error="could not find an available IP while allocating VIP" module=node node.id=abc`;
    const benign = (t: Date) =>
        `time="${t.toISOString()}" level=info msg="Node 1 change state NodeActive --> NodeActive"`;

    async function guard(args: string[]): Promise<{ code: number; report: GuardReport }> {
        // A stand-in systemctl first on PATH records what it was asked: the real dockerd is not restarted here.
        const path = process.env.PATH;
        process.env.PATH = `${bin}:${path ?? ""}`;
        try {
            const r = await cli(sb, ["guard", "--json", ...args]);
            return { code: r.code, report: json<GuardReport>(r) };
        } finally {
            process.env.PATH = path;
        }
    }

    async function drift(extra: string[] = []): Promise<{ code: number; report: DriftReport }> {
        const r = await cli(sb, [
            "drift",
            "--stack-config",
            CONFIG,
            "--log-file",
            sb.log,
            "--since",
            new Date().toISOString(),
            "--json",
            ...extra,
        ]);
        return { code: r.code, report: json<DriftReport>(r) };
    }

    function drifted(r: DriftReport): string[] {
        return r.findings
            .filter((f) => f.status !== "ok" && f.status !== "skipped")
            .map((f) => `${f.check} ${f.subject}`);
    }

    it("drift: exit 0 on the converged sandbox, with a saved clean preview", async () => {
        const preview = join(tmp, "preview.json");
        writeFileSync(
            preview,
            JSON.stringify({
                steps: [{ op: "same", urn: "urn:pulumi:sandbox::swarm-proxy::docker:index/network:Network::proxy" }],
                changeSummary: { same: 1 },
            }),
        );
        const { code, report } = await drift(["--preview-json", preview, "--markdown-out", join(tmp, "drift.md")]);
        assert.deepEqual(drifted(report), []);
        assert.equal(code, 0);
        assert.equal(report.result, "clean");
        assert.match(readFileSync(join(tmp, "drift.md"), "utf8"), /Result: \*\*CLEAN\*\*/);
        assert.deepEqual(report.findings.map((f) => f.check).sort(), [
            "attached",
            "attached",
            "capacity",
            "network",
            "pulumi",
            "replicas",
            "replicas",
            "replicas",
            "stack",
            "stack",
            "stack",
            "vip-failures",
        ]);
    });

    it("bin: survey, drift and guard from another folder, the stack file named relative to the package", async () => {
        const cfg = "test/tools/fixtures/Pulumi.tools.yaml";
        const survey = await viaBin(["survey", "--stack-config", cfg, "--json"]);
        const sr = parsed<SurveyReport>(survey);
        assert.equal(survey.code, sr.target && !sr.target.ok ? 3 : 0, survey.err);
        assert.equal(sr.target?.subnet, "10.77.0.0/24");
        assert.ok(sr.networks.some((n) => n.name === "proxy"));
        assert.match(survey.err, /^(swarm-proxy survey \[[^\n]*\n)*$/, "stderr holds progress lines only");

        const drift = await viaBin([
            "drift",
            "--stack-config",
            cfg,
            "--log-file",
            sb.log,
            "--since",
            new Date().toISOString(),
            "--json",
        ]);
        assert.equal(drift.code, 0, drift.err);
        assert.equal(parsed<DriftReport>(drift).result, "clean");

        const guard = await viaBin(["guard", "--stack-config", cfg, "--log-file", sb.log, "--since", "1m", "--json"]);
        assert.equal(guard.code, 0, guard.err);
        const gr = parsed<GuardReport>(guard);
        assert.equal(gr.mode, "dry-run");
        assert.equal(gr.failures.length, 0);
        assert.match(guard.err, /^(swarm-proxy guard \[[^\n]*\n)*$/);
    });

    it("drift: a service detached from proxy", async () => {
        const svc = "drone_ci_commoninternet_net_app";
        await docker(sb, ["service", "update", "--detach=false", "--network-rm", "proxy", svc]);
        const { code, report } = await drift();
        assert.equal(code, 3);
        assert.deepEqual(drifted(report), ["attached drone"]);
        await docker(sb, ["service", "update", "--detach=false", "--network-add", "proxy", svc]);
        await converged(sb, ["drone"]);
        assert.equal((await drift()).code, 0);
    });

    it("drift: a stack removed", async () => {
        await script(sb, "stack-teardown.sh", ["ccci-bridge"]);
        const { code, report } = await drift();
        assert.equal(code, 3);
        assert.deepEqual(drifted(report), ["stack ccci-bridge"]);
        await deployStack(sb, "ccci-bridge");
        await converged(sb, ["ccci-bridge"]);
    });

    it("drift: proxy recreated out of band with another subnet", async () => {
        for (const s of ["ccci-bridge", "drone"]) {
            await script(sb, "stack-teardown.sh", [s]);
        }
        await docker(sb, ["network", "rm", "proxy"]);
        await networkGone(sb, "proxy");
        await docker(sb, overlayCreateArgs("proxy", "10.78.0.0/24", { owner: "swarm-proxy" }));
        for (const s of ["ccci-bridge", "drone"]) {
            await deployStack(sb, s);
        }
        await converged(sb, STACKS);
        const { code, report } = await drift();
        assert.equal(code, 3);
        assert.deepEqual(drifted(report), ["network proxy"]);
        assert.match(
            report.findings.find((f) => f.check === "network")?.detail ?? "",
            /subnet 10.78.0.0\/24, config says 10.77.0.0\/24/,
        );
    });

    it("capacity: exact on a known layout, and the probe agrees", async () => {
        // On proxy now: ccci-bridge_app and drone's app (VIP + 1 task each), plus a dnsrr service with 2 tasks
        // (no VIP), a zero-replica vip service (VIP only) and a standalone container; one node, one load balancer.
        await docker(sb, [
            "service",
            "create",
            "--detach=false",
            "-q",
            "--name",
            "dnsrr2",
            "--endpoint-mode",
            "dnsrr",
            "--replicas",
            "2",
            "--network",
            "proxy",
            "swarm-sandbox/standin:2",
        ]);
        await docker(sb, [
            "service",
            "create",
            "--detach=true",
            "-q",
            "--name",
            "zero",
            "--replicas",
            "0",
            "--network",
            "proxy",
            "swarm-sandbox/standin:2",
        ]);
        await docker(sb, ["run", "-d", "--name", "attached1", "--network", "proxy", "swarm-sandbox/standin:2"]);
        try {
            const r = await cli(sb, [
                "capacity",
                "--network",
                "proxy",
                "--probe",
                "--image",
                "swarm-sandbox/standin:2",
                "--json",
            ]);
            assert.equal(r.code, 0, r.err);
            const c = json<CapacityReport>(r);
            const u = c.usage;
            assert.deepEqual(
                {
                    vips: u.vips,
                    tasks: u.taskEndpoints,
                    containers: u.containerEndpoints,
                    lb: u.lbEndpoints,
                    inUse: u.inUse,
                    assignable: u.assignable,
                    free: u.free,
                },
                { vips: 3, tasks: 4, containers: 1, lb: 1, inUse: 9, assignable: 253, free: 244 },
            );
            assert.equal(c.probe?.free, 244, "the allocator hands out exactly the counted free addresses");
            assert.equal(c.probe?.unaccounted, 0);
            assert.equal(c.probe?.bounded, false);
            const left = await docker(sb, ["service", "ls", "--format", "{{.Name}}"]);
            assert.ok(!left.includes("spx-probe-"), "the probe removed its services");
        } finally {
            await docker(sb, ["rm", "-f", "attached1"]);
            await docker(sb, ["service", "rm", "dnsrr2", "zero"]);
        }
    });

    it("bin: capacity --probe on a small overlay, exact, and the probe removes its services", async () => {
        await docker(sb, overlayCreateArgs("small", "10.79.0.0/27"));
        try {
            const r = await viaBin([
                "capacity",
                "--network",
                "small",
                "--probe",
                "--image",
                "swarm-sandbox/standin:2",
                "--json",
            ]);
            assert.equal(r.code, 0, r.err);
            const c = parsed<CapacityReport>(r);
            assert.deepEqual(
                {
                    assignable: c.usage.assignable,
                    free: c.usage.free,
                    probed: c.probe?.free,
                    unaccounted: c.probe?.unaccounted,
                },
                {
                    assignable: 29,
                    free: 29,
                    probed: 29,
                    unaccounted: 0,
                },
            );
            assert.match(r.err, /swarm-proxy capacity \[.*\] probe: 29 addresses taken on small \(full\)/);
            assert.deepEqual(await probeLeftovers(), []);
        } finally {
            await docker(sb, ["network", "rm", "small"]);
        }
    });

    it("guard: finds injected failure lines since the given time; the dry run changes nothing", async () => {
        await docker(sb, ["network", "create", "--driver", "overlay", "junk-a"]);
        const log = join(tmp, "injected.log");
        const now = new Date();
        writeFileSync(
            log,
            [
                benign(now),
                failure(new Date(now.getTime() - 3 * 3600_000), "old1"),
                failure(now, "svc1"),
                failure(now, "svc2"),
                benign(now),
            ].join("\n"),
        );
        const { code, report } = await guard(["--log-file", log, "--since", "1h", "--restart-docker"]);
        assert.equal(code, 0);
        assert.deepEqual(
            report.failures.map((f) => f.service),
            ["svc1", "svc2"],
        );
        assert.equal(report.mode, "dry-run");
        assert.equal(report.restart.wanted, true);
        assert.equal(report.restart.done, false);
        assert.deepEqual(
            report.prune.filter((d) => d.verdict.action === "remove").map((d) => d.name),
            ["junk-a"],
        );
        assert.ok((await networkNames(sb)).includes("junk-a"), "a dry run removes nothing");
        assert.ok(!existsSync(calls), "a dry run restarts nothing");
    });

    it("guard: with --apply --restart-docker, restarts dockerd only when failures were found", async () => {
        const quiet = join(tmp, "quiet.log");
        writeFileSync(quiet, [benign(new Date()), benign(new Date())].join("\n"));
        const none = await guard(["--log-file", quiet, "--since", "1h", "--apply", "--restart-docker"]);
        assert.equal(none.report.failures.length, 0);
        assert.equal(none.report.restart.wanted, false);
        assert.ok(!existsSync(calls), "no failures: no restart");
        assert.deepEqual(
            none.report.prune.filter((d) => d.done === "removed").map((d) => d.name),
            ["junk-a"],
        );

        const noisy = join(tmp, "noisy.log");
        writeFileSync(noisy, failure(new Date(), "svc9"));
        const some = await guard(["--log-file", noisy, "--since", "1h", "--apply", "--restart-docker"]);
        assert.equal(some.code, 0);
        assert.equal(some.report.restart.done, true);
        assert.equal(readFileSync(calls, "utf8"), "restart docker\n");
    });

    it("guard: finds the failures dockerd itself logged while the capacity probe filled proxy", async () => {
        const { report } = await guard(["--log-file", sb.log, "--since", started.toISOString()]);
        assert.ok(report.failures.length > 0, "the probe's last service could not get a VIP");
        assert.ok(report.failures.every((f) => f.time !== null && Date.parse(f.time) >= started.getTime()));
    });

    it("leak-probe through `npx swarm-proxy` in a fresh clone (no build cache, no --host-scripts): concurrent `docker stack rm` leaks, our teardown does not", async () => {
        const chart = join(tmp, "leak.svg");
        const clone = copyPackage();
        const r = await viaBin(
            [
                "leak-probe",
                "--mode",
                "both",
                "--stacks",
                "4",
                "--cycles",
                "2",
                "--probe-subnet",
                "10.199.0.0/25",
                "--chart",
                chart,
                "--stack-config",
                CONFIG,
                "--json",
            ],
            { npx: true, cwd: clone },
        ).finally(() => rmSync(clone, { recursive: true, force: true }));
        assert.equal(r.code, 0, r.err);
        const rep = parsed<LeakReport>(r);
        const [concurrent, teardown] = rep.modes;
        assert.equal(concurrent.mode, "concurrent");
        assert.equal(concurrent.free.length, 3);
        assert.ok(
            concurrent.leaked > 0,
            `concurrent removal lost ${concurrent.leaked} (free ${concurrent.free.join(" → ")})`,
        );
        assert.equal(teardown.mode, "teardown");
        assert.equal(teardown.leaked, 0, `our teardown lost ${teardown.leaked} (free ${teardown.free.join(" → ")})`);
        assert.ok(rep.rate > 0);
        assert.ok(
            rep.projections.some((p) => p.network === "proxy" && p.daysToExhaustion !== null),
            JSON.stringify(rep.projections),
        );
        const svg = readFileSync(chart, "utf8");
        assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
        assert.deepEqual(await probeLeftovers(), [], "the probe cleaned up");
    });

    it("guard keeps an idle proxy (by name and by label) while a plain prune removes it", async () => {
        for (const s of ["ccci-bridge", "drone"]) {
            await script(sb, "stack-teardown.sh", [s]);
        }
        // proxy is now idle. keep-by-name has no label; edge has the label but no protected name.
        await docker(sb, ["network", "create", "--driver", "overlay", "keep-by-name"]);
        await docker(sb, ["network", "create", "--driver", "overlay", "--label", "owner=swarm-proxy", "edge"]);
        await docker(sb, ["network", "create", "--driver", "overlay", "junk-b"]);
        const r = await cli(sb, [
            "guard",
            "--apply",
            "--protect",
            "keep-by-name",
            "--log-file",
            sb.log,
            "--since",
            "1m",
            "--json",
        ]);
        assert.equal(r.code, 0, r.err);
        const rep = json<GuardReport>(r);
        const done = rep.prune
            .filter((d) => d.done === "removed")
            .map((d) => d.name)
            .sort();
        assert.deepEqual(done, ["junk-b"]);
        await waitFor(
            "junk networks to go",
            30_000,
            async () => !(await networkNames(sb)).some((n) => n.startsWith("junk-")),
        );
        const afterGuard = await networkNames(sb);
        for (const n of ["proxy", "keep-by-name", "edge", "backups_internal"]) {
            assert.ok(afterGuard.includes(n), `guard kept ${n}`);
        }

        const pruned = await docker(sb, ["network", "prune", "-f"]);
        assert.match(pruned, /Deleted Networks:[\s\S]*\bproxy\b/, "plain prune deletes the idle proxy");
        await networkGone(sb, "proxy");
        const afterPrune = await networkNames(sb);
        assert.ok(!afterPrune.includes("edge") && !afterPrune.includes("keep-by-name"));
    });

    it("leak-probe failure: a teardown that keeps failing; the cleanup falls back to the package's teardown and leaves nothing", async () => {
        const scripts = join(tmp, "failing-host");
        const log = join(tmp, "failing-teardown.calls");
        mkdirSync(scripts);
        writeFileSync(
            join(scripts, "stack-teardown.sh"),
            `#!/usr/bin/env bash\necho "$1" >> '${log}'\necho "injected teardown failure" >&2\nexit 1\n`,
        );
        const r = await viaBin([
            ...smallProbe,
            join(tmp, "f1.svg"),
            "--stacks",
            "2",
            "--cycles",
            "1",
            "--host-scripts",
            scripts,
            "--json",
        ]);
        assert.equal(r.code, 2, r.err);
        assert.equal(r.out, "");
        assert.match(
            r.err,
            /\nswarm-proxy leak-probe: stack-teardown.sh spxlp\w+t[01] failed: injected teardown failure; everything it had created was removed\n$/,
        );
        const tried = readFileSync(log, "utf8").trim().split("\n");
        assert.equal(
            tried.length,
            6,
            `the cycle's two calls, then the given script twice more for both stacks: ${tried.join(", ")}`,
        );
        assert.match(r.err, new RegExp(`cleaning up spxlp\\w+t0, spxlp\\w+t1 \\(${root}/host/stack-teardown.sh\\)`));
        assert.deepEqual(await probeLeftovers(), []);
    });

    it("leak-probe failure: Ctrl-C (SIGINT to the process group) mid-deploy; everything it created is removed", async () => {
        let interrupted = false;
        const r = await viaBin([...smallProbe, join(tmp, "f2.svg"), "--stacks", "3", "--cycles", "3", "--json"], {
            started: (child) => {
                void waitFor("the probe's stacks", 120_000, async () =>
                    (await docker(sb, ["stack", "ls", "--format", "{{.Name}}"])).includes("spxlp"),
                ).then(() => {
                    interrupted = true;
                    process.kill(-(child.pid ?? 0), "SIGINT");
                });
            },
        });
        assert.ok(interrupted);
        assert.equal(r.code, 2, r.err);
        assert.match(r.err, /interrupted: removing what this run created \(stacks and networks named spxlp\w+\*\)/);
        assert.match(
            r.err,
            /\nswarm-proxy leak-probe: leak-probe interrupted; everything it had created was removed\n$/,
        );
        assert.deepEqual(await probeLeftovers(), []);
    });

    it("leak-probe failure: dockerd restarts mid-run; the probe waits for it and removes everything it created", async () => {
        let restarted: Promise<unknown> = Promise.resolve();
        const r = await viaBin([...smallProbe, join(tmp, "f3.svg"), "--stacks", "3", "--cycles", "2", "--json"], {
            started: () => {
                restarted = waitFor("the probe's stacks", 120_000, async () =>
                    (await docker(sb, ["stack", "ls", "--format", "{{.Name}}"])).includes("spxlp"),
                ).then(() => sandboxUp({ name: INSTANCE, restart: true }));
            },
        });
        await restarted;
        if (r.code !== 0) {
            assert.equal(r.code, 2, r.err);
            assert.match(r.err, /; everything it had created was removed\n$/);
        }
        assert.deepEqual(await probeLeftovers(), []);
    });

    /** Runs `capacity --probe` on a throwaway /23 (a probe of several seconds) and calls `during` once its services exist. */
    async function interruptedProbe(during: (child: ChildProcess) => Promise<unknown>): Promise<BinResult> {
        await docker(sb, ["network", "create", "--driver", "overlay", "--subnet", "10.81.0.0/23", "wide"]);
        let injected: Promise<unknown> = Promise.resolve();
        try {
            const r = await viaBin(
                ["capacity", "--network", "wide", "--probe", "--image", "swarm-sandbox/standin:2", "--json"],
                {
                    started: (child) => {
                        injected = waitFor("the probe's services", 30_000, async () =>
                            (await docker(sb, ["service", "ls", "--format", "{{.Name}}"])).includes("spx-probe-"),
                        ).then(() => during(child));
                    },
                },
            );
            await injected;
            return r;
        } finally {
            await networkGoneAfterRm(sb, "wide");
        }
    }

    it("capacity --probe failure: Ctrl-C once its services exist; exit 2 and no spx-probe- service left", async function () {
        this.timeout(60_000);
        const r = await interruptedProbe(async (child) => process.kill(-(child.pid ?? 0), "SIGINT"));
        assert.equal(r.code, 2, r.err);
        assert.equal(r.out, "");
        assert.match(r.err, /probe: interrupted: removing the probe services \(spx-probe-[0-9a-f]{8}-\*\)/);
        assert.match(
            r.err,
            /\nswarm-proxy capacity: probe interrupted; every probe service it had created was removed\n$/,
        );
        assert.deepEqual(await probeLeftovers(), []);
    });

    it("capacity --probe failure: dockerd restarts mid-probe; it waits for dockerd, exits 2 and no spx-probe- service is left", async function () {
        this.timeout(60_000);
        const r = await interruptedProbe(() => sandboxUp({ name: INSTANCE, restart: true }));
        assert.equal(r.code, 2, r.err);
        assert.match(r.err, /probe: waiting for dockerd to remove the probe services/);
        assert.match(r.err, /; every probe service it had created was removed\n$/);
        assert.deepEqual(await probeLeftovers(), []);
    });

    it("leak-probe failure: dockerd stopped and not back; it gives up within its bound, names what is left and a command that removes it", async function () {
        this.timeout(90_000);
        let stopped: Promise<unknown> = Promise.resolve();
        const r = await viaBin(
            [
                "leak-probe",
                "--mode",
                "teardown",
                "--probe-subnet",
                "10.199.0.0/27",
                "--timeout",
                "8",
                "--stacks",
                "1",
                "--cycles",
                "1",
                "--chart",
                join(tmp, "f4.svg"),
                "--json",
            ],
            {
                started: () => {
                    stopped = waitFor("the probe's stacks", 60_000, async () =>
                        (await docker(sb, ["stack", "ls", "--format", "{{.Name}}"])).includes("spxlp"),
                    ).then(() => sandboxDown(INSTANCE, { keepState: true }));
                },
            },
        );
        await stopped;
        try {
            assert.equal(r.code, 2, r.err);
            assert.equal(r.out, "");
            // The cleanup waits up to 3 × --timeout for dockerd, then reports.
            assert.ok(r.totalMs < 60_000, `gave up after ${r.totalMs} ms`);
            assert.match(r.err, /teardown: cleanup: waiting for dockerd/);
            const what =
                /could not check what is left \([^\n]*\); this run created, and may have left: (stack (spxlp[0-9a-f]{6})t0, network \2t-net)\n/.exec(
                    r.err,
                );
            assert.ok(what, r.err);
            const steps = removalCommands(r.err);
            const env = ["env", `DOCKER_HOST=${sb.dockerHost}`];
            assert.deepEqual(steps, [
                [...env, "bash", join(root, "host", "stack-teardown.sh"), `${what[2]}t0`],
                [...env, "docker", "network", "rm", `${what[2]}t-net`],
            ]);
        } finally {
            sb = await sandboxUp({ name: INSTANCE });
        }
        assert.notDeepEqual(await probeLeftovers(), [], "dockerd back: the run's stack and overlay are still there");
        // Without the tier's DOCKER_HOST: the printed line must name the dockerd itself.
        const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "DOCKER_HOST"));
        for (const [cmd, ...args] of removalCommands(r.err)) {
            await execFileP(cmd, args, { env: bare });
        }
        assert.deepEqual(await probeLeftovers(), []);
    });
});

async function networkGoneAfterRm(sb: Sandbox, name: string): Promise<void> {
    if ((await networkNames(sb)).includes(name)) {
        await docker(sb, ["network", "rm", name]);
    }
}
