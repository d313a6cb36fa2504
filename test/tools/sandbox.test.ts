// The CLI against a real dockerd: the tier's own sandbox instance, seeded with proxy and three of the
// reference host's stacks. Order matters: capacity and drift first on the seeded layout, then the guard's
// log checks, the leak probe, and last the prunes, which take proxy away.
import * as assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CapacityReport } from "../../cli/capacity";
import { DriftReport } from "../../cli/drift";
import { GuardReport } from "../../cli/guard";
import { LeakReport } from "../../cli/leakprobe";
import {
    Sandbox,
    cli,
    converged,
    deployStack,
    docker,
    json,
    networkGone,
    networkNames,
    sandboxDown,
    sandboxUp,
    script,
    waitFor,
} from "./sandbox";

const INSTANCE = "spx-tools-tier";
const STACKS = ["ccci-bridge", "drone", "backups"];
const CONFIG = join(__dirname, "fixtures", "Pulumi.tools.yaml");

describe("tools: against the sandbox's dockerd", function () {
    this.timeout(900_000);
    let sb: Sandbox;
    let tmp: string;
    let bin: string;
    let calls: string;
    const started = new Date();

    before(async () => {
        tmp = mkdtempSync(join(tmpdir(), "spx-tools-"));
        bin = join(tmp, "bin");
        calls = join(tmp, "systemctl.calls");
        mkdirSync(bin);
        writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$@" >> '${calls}'\n`);
        chmodSync(join(bin, "systemctl"), 0o755);
        // A stale instance from an interrupted run would carry its networks and leaks into this one.
        await sandboxDown(INSTANCE);
        sb = await sandboxUp(INSTANCE);
        await docker(sb, ["network", "create", "--driver", "overlay", "--attachable", "--subnet", "10.77.0.0/24", "--label", "owner=swarm-proxy", "proxy"]);
        for (const s of STACKS) {
            await deployStack(sb, s);
        }
        await converged(sb, STACKS);
    });

    after(async () => {
        rmSync(tmp, { recursive: true, force: true });
        await sandboxDown(INSTANCE);
    });

    const failure = (t: Date, svc: string) =>
        `time="${t.toISOString()}" level=error msg="Failed allocation for service ${svc}" error="could not find an available IP while allocating VIP" module=node node.id=abc`;
    const benign = (t: Date) => `time="${t.toISOString()}" level=info msg="Node 1 change state NodeActive --> NodeActive"`;

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
        const r = await cli(sb, ["drift", "--stack-config", CONFIG, "--log-file", sb.log, "--since", new Date().toISOString(), "--json", ...extra]);
        return { code: r.code, report: json<DriftReport>(r) };
    }

    function drifted(r: DriftReport): string[] {
        return r.findings.filter((f) => f.status !== "ok" && f.status !== "skipped").map((f) => `${f.check} ${f.subject}`);
    }

    it("drift: exit 0 on the converged sandbox, with a saved clean preview", async () => {
        const preview = join(tmp, "preview.json");
        writeFileSync(preview, JSON.stringify({ steps: [{ op: "same", urn: "urn:pulumi:sandbox::swarm-proxy::docker:index/network:Network::proxy" }], changeSummary: { same: 1 } }));
        const { code, report } = await drift(["--preview-json", preview, "--markdown-out", join(tmp, "drift.md")]);
        assert.deepEqual(drifted(report), []);
        assert.equal(code, 0);
        assert.equal(report.result, "clean");
        assert.match(readFileSync(join(tmp, "drift.md"), "utf8"), /Result: \*\*CLEAN\*\*/);
        assert.deepEqual(
            report.findings.map((f) => f.check).sort(),
            ["attached", "attached", "capacity", "network", "pulumi", "replicas", "replicas", "replicas", "stack", "stack", "stack", "vip-failures"],
        );
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
        await docker(sb, ["network", "create", "--driver", "overlay", "--attachable", "--subnet", "10.78.0.0/24", "--label", "owner=swarm-proxy", "proxy"]);
        for (const s of ["ccci-bridge", "drone"]) {
            await deployStack(sb, s);
        }
        await converged(sb, STACKS);
        const { code, report } = await drift();
        assert.equal(code, 3);
        assert.deepEqual(drifted(report), ["network proxy"]);
        assert.match(report.findings.find((f) => f.check === "network")?.detail ?? "", /subnet 10.78.0.0\/24, config says 10.77.0.0\/24/);
    });

    it("capacity: exact on a known layout, and the probe agrees", async () => {
        // On proxy now: ccci-bridge_app and drone's app (VIP + 1 task each), plus a dnsrr service with 2 tasks
        // (no VIP), a zero-replica vip service (VIP only) and a standalone container; one node, one load balancer.
        await docker(sb, ["service", "create", "--detach=false", "-q", "--name", "dnsrr2", "--endpoint-mode", "dnsrr", "--replicas", "2", "--network", "proxy", "swarm-sandbox/standin:1"]);
        await docker(sb, ["service", "create", "--detach=true", "-q", "--name", "zero", "--replicas", "0", "--network", "proxy", "swarm-sandbox/standin:1"]);
        await docker(sb, ["run", "-d", "--name", "attached1", "--network", "proxy", "swarm-sandbox/standin:1"]);
        try {
            const r = await cli(sb, ["capacity", "--network", "proxy", "--probe", "--image", "swarm-sandbox/standin:1", "--json"]);
            assert.equal(r.code, 0, r.err);
            const c = json<CapacityReport>(r);
            const u = c.usage;
            assert.deepEqual(
                { vips: u.vips, tasks: u.taskEndpoints, containers: u.containerEndpoints, lb: u.lbEndpoints, inUse: u.inUse, assignable: u.assignable, free: u.free },
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

    it("guard: finds injected failure lines since the given time; the dry run changes nothing", async () => {
        await docker(sb, ["network", "create", "--driver", "overlay", "junk-a"]);
        const log = join(tmp, "injected.log");
        const now = new Date();
        writeFileSync(
            log,
            [benign(now), failure(new Date(now.getTime() - 3 * 3600_000), "old1"), failure(now, "svc1"), failure(now, "svc2"), benign(now)].join("\n"),
        );
        const { code, report } = await guard(["--log-file", log, "--since", "1h", "--restart-docker"]);
        assert.equal(code, 0);
        assert.deepEqual(report.failures.map((f) => f.service), ["svc1", "svc2"]);
        assert.equal(report.mode, "dry-run");
        assert.equal(report.restart.wanted, true);
        assert.equal(report.restart.done, false);
        assert.deepEqual(report.prune.filter((d) => d.verdict.action === "remove").map((d) => d.name), ["junk-a"]);
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
        assert.deepEqual(none.report.prune.filter((d) => d.done === "removed").map((d) => d.name), ["junk-a"]);

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

    it("leak-probe: concurrent `docker stack rm` leaks, our teardown does not", async () => {
        const chart = join(tmp, "leak.svg");
        const r = await cli(sb, [
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
        ]);
        assert.equal(r.code, 0, r.err);
        const rep = json<LeakReport>(r);
        const [concurrent, teardown] = rep.modes;
        assert.equal(concurrent.mode, "concurrent");
        assert.equal(concurrent.free.length, 3);
        assert.ok(concurrent.leaked > 0, `concurrent removal lost ${concurrent.leaked} (free ${concurrent.free.join(" → ")})`);
        assert.equal(teardown.mode, "teardown");
        assert.equal(teardown.leaked, 0, `our teardown lost ${teardown.leaked} (free ${teardown.free.join(" → ")})`);
        assert.ok(rep.rate > 0);
        assert.ok(rep.projections.some((p) => p.network === "proxy" && p.daysToExhaustion !== null), JSON.stringify(rep.projections));
        const svg = readFileSync(chart, "utf8");
        assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
        const left = await networkNames(sb);
        assert.ok(!left.some((n) => n.startsWith("spxlp")), `the probe cleaned up: ${left.join(", ")}`);
    });

    it("guard keeps an idle proxy (by name and by label) while a plain prune removes it", async () => {
        for (const s of ["ccci-bridge", "drone"]) {
            await script(sb, "stack-teardown.sh", [s]);
        }
        // proxy is now idle. keep-by-name has no label; edge has the label but no protected name.
        await docker(sb, ["network", "create", "--driver", "overlay", "keep-by-name"]);
        await docker(sb, ["network", "create", "--driver", "overlay", "--label", "owner=swarm-proxy", "edge"]);
        await docker(sb, ["network", "create", "--driver", "overlay", "junk-b"]);
        const r = await cli(sb, ["guard", "--apply", "--protect", "keep-by-name", "--log-file", sb.log, "--since", "1m", "--json"]);
        assert.equal(r.code, 0, r.err);
        const rep = json<GuardReport>(r);
        const done = rep.prune.filter((d) => d.done === "removed").map((d) => d.name).sort();
        assert.deepEqual(done, ["junk-b"]);
        await waitFor("junk networks to go", 30_000, async () => !(await networkNames(sb)).some((n) => n.startsWith("junk-")));
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
});
