// The drift tier: `swarm-proxy drift --pulumi-stack` as users run it (the bin in a child process), over this
// repository's program run by the real Pulumi CLI with the real plugins, on a sandbox swarm of its own. For each
// kind of drift that can be made on the sandbox: drift exits 3 and names the fix, the test runs exactly the
// commands the report names (argv split from the printed line, no shell), and the next drift run exits 0.
// Each `it` continues from the state the previous one left.
import * as assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DriftReport } from "../../cli/drift/report";
import type { Finding } from "../../cli/drift/findings";
import { engineOf, overlayCreateArgs } from "../../harness/docker";
import { PulumiProject, realPlugins, repoRoot } from "../../harness/engine/pulumi";
import {
    atFront,
    docker,
    linesOf,
    type RawStackConfig,
    networkId,
    networkSubnet,
    out,
    runningTasks,
    sandboxConfig,
    seededSandbox,
    serviceNetworks,
    stackGone,
    type Step,
    stepsOf,
    type TimedEvent,
    upWithEvents,
} from "../../harness/engine/swarm-fixture";
import { waitFor } from "../../harness/wait";
import { type Sandbox, sandboxDownSync } from "../../harness/sandbox";
import { apiAtLeast } from "../../src/docker";
import { toRange } from "../../src/subnet";
import { runBin } from "../tools/bin";

const SANDBOX = process.env.SWARM_DRIFT_SANDBOX ?? "drift-tier";
/** Six attached stacks take 13 addresses (6 VIPs, 6 tasks, 1 load balancer): a /28 (13 assignable) is full. */
const SMALL_SUBNET = "10.0.9.0/28";
const BIG_SUBNET = "10.10.0.0/16";
const ATTACHED = ["traefik", "drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak"];

/** A printed command split back into argv as a POSIX shell would (plain words and '…' with '\'' only). */
function argvOf(line: string): string[] {
    const words: string[] = [];
    let word: string | undefined;
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === "'") {
            const end = line.indexOf("'", i + 1);
            assert.ok(end > i, `unbalanced quote in ${line}`);
            word = (word ?? "") + line.slice(i + 1, end);
            i = end;
        } else if (c === "\\") {
            word = (word ?? "") + line[++i];
        } else if (c === " ") {
            if (word !== undefined) words.push(word);
            word = undefined;
        } else {
            assert.ok(!/[;|<>()$`"*?&]/.test(c), `not a plain command line (${c}): ${line}`);
            word = (word ?? "") + c;
        }
    }
    if (word !== undefined) words.push(word);
    return words;
}

/** The findings that need attention. */
const attention = (r: DriftReport): Finding[] => r.findings.filter((f) => f.status === "drift" || f.status === "error");

/** Sorted "kind subject" of what needs attention. */
function drifted(r: DriftReport): string[] {
    return attention(r)
        .map((f) => `${f.kind} ${f.subject}`)
        .sort();
}

/**
 * Exactly `expected` needs attention (the "kind subject" of `drifted`, less those `ignore` names); a mismatch
 * fails with each finding's detail and the check's stderr, which say why (an assertion message replaces the diff).
 */
function assertDrifted(r: DriftReport, expected: string[], err = "", ignore: string[] = []): void {
    const found = drifted(r).filter((k) => !ignore.includes(k));
    if (JSON.stringify(found) === JSON.stringify(expected)) return;
    const details = attention(r).map((f) => `  ${f.status} ${f.kind} ${f.subject}: ${f.detail}`);
    assert.fail(`drift found [${found.join(", ")}], expected [${expected.join(", ")}]:\n${details.join("\n")}\n${err}`);
}

describe("drift: each kind detected, its fix named, run, and the next check clean (real engine, sandbox swarm)", () => {
    let sb: Sandbox | undefined;
    let p: PulumiProject;
    let tmp: string;
    let env: NodeJS.ProcessEnv;
    let stackFile: string;
    let since = new Date();
    /** The stack config the tier starts from (adoption). */
    let baseRaw: RawStackConfig;

    const sh = (argv: string[]): string =>
        execFileSync(argv[0], argv.slice(1), {
            cwd: repoRoot,
            env,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });

    /** The CLI through its bin in a child process, from a folder outside the package, as CI runs it. */
    async function drift(extra: string[] = []): Promise<{ code: number | null; report: DriftReport; err: string }> {
        const r = await runBin(
            [
                "drift",
                "--stack-config",
                stackFile,
                "--pulumi-stack",
                p.stack,
                "--pulumi-cwd",
                p.projectDir,
                "--log-file",
                sb!.env.SANDBOX_DOCKERD_LOG,
                "--since",
                since.toISOString(),
                "--json",
                "--markdown-out",
                join(tmp, "drift.md"),
                ...extra,
            ],
            { cwd: tmp, env },
        );
        assert.doesNotMatch(r.err, /unexpected error/, out(r));
        let report: DriftReport;
        try {
            report = JSON.parse(r.out) as DriftReport;
        } catch {
            throw new Error(`drift printed no JSON (exit ${r.code}):\n${out(r)}`);
        }
        return { code: r.code, report, err: r.err };
    }

    /** Runs each command of a finding's fix exactly as printed; every one must succeed. */
    function runFix(f: Finding): void {
        assert.ok(f.fix && f.fix.length > 0, `no fix named for ${f.kind} ${f.subject}`);
        for (const line of f.fix) {
            const argv = argvOf(line);
            const t0 = Date.now();
            // As the operator runs a printed fix: from the checkout (a fix names the host scripts relative to it).
            const r = spawnSync(argv[0], argv.slice(1), {
                cwd: repoRoot,
                env,
                encoding: "utf8",
                maxBuffer: 256 * 1024 * 1024,
            });
            assert.equal(r.status, 0, `${line} exited ${r.status}\n${out(r)}`);
            console.log(
                `      ran (${((Date.now() - t0) / 1000).toFixed(1)} s): ${line.length > 160 ? `${line.slice(0, 157)}...` : line}`,
            );
        }
    }

    async function clean(): Promise<void> {
        const { code, report, err } = await drift();
        assertDrifted(report, [], err);
        assert.equal(code, 0);
        assert.equal(report.result, "clean");
    }

    function only(r: DriftReport, kind: string): Finding {
        const f = r.findings.find((x) => x.kind === kind);
        assert.ok(f, `no ${kind} finding in ${JSON.stringify(drifted(r))}`);
        return f;
    }

    const urnOf = async (name: string): Promise<string> => {
        const r = (await p.resources()).find((x) => x.urn.endsWith(`::${name}`));
        assert.ok(r, `no ${name} in state`);
        return r.urn;
    };

    before(async () => {
        // The point of this tier is what the real engine and providers do with a command resource and the network.
        realPlugins("drift");
        tmp = mkdtempSync(join(tmpdir(), "spx-drift-"));
        const raw = sandboxConfig();
        sb = seededSandbox(SANDBOX, raw, { PROXY_SUBNET: SMALL_SUBNET });
        // No rebuild: the sandbox's module stand-in would pin the subnet; the tier is about the stacks and the network.
        raw.rebuild = {};
        // Scripts of its own: other tiers install theirs in the default folder at the same time.
        raw.connection = { mode: "local", scriptsDir: join(tmp, "host-scripts") };
        p = await PulumiProject.create({ repo: true, env: sb.env });
        baseRaw = atFront(raw, sb.env);
        p.writeConfig(baseRaw);
        stackFile = join(p.projectDir, `Pulumi.${p.stack}.yaml`);
        // `swarm-proxy` on PATH as `npm install` links it, for the fixes that name it.
        const bin = join(tmp, "bin");
        mkdirSync(bin);
        writeFileSync(
            join(bin, "swarm-proxy"),
            `#!/bin/sh\nexec '${process.execPath}' '${join(repoRoot, "cli", "bin.js")}' "$@"\n`,
        );
        chmodSync(join(bin, "swarm-proxy"), 0o755);
        env = { ...p.env, PATH: `${bin}:${p.env.PATH ?? ""}` };
        delete env.SWARM_PROXY_MAINTENANCE;
        delete env.SWARM_PROXY_REDEPLOY;
    });

    after(() => {
        p?.cleanup();
        if (tmp) rmSync(tmp, { recursive: true, force: true });
        if (sb && !process.env.SWARM_DRIFT_KEEP) sandboxDownSync(sb.name);
    });

    it("state made before the redeploy token and with absolute compose paths: each stack's path change is noted, no finding, and restarts nothing; a clone elsewhere then previews clean; routes' expected text then updates the routes' checks only", async () => {
        // The config an older version took: routes checked by their status alone (no expectText yet).
        const older = JSON.parse(JSON.stringify(baseRaw)) as RawStackConfig;
        for (const s of older.stacks as { health?: { http?: { expectText?: string } } }[])
            delete s.health?.http?.expectText;
        p.writeConfig(older);
        const component = join(p.projectDir, "components", "swarmStack.ts");
        copyFileSync(join(__dirname, "fixtures", "swarmStack.before.ts.txt"), component);
        const tasks = runningTasks();
        const up = await p.up();
        assert.equal(up.code, 0, out(up));
        assert.deepEqual(runningTasks(), tasks, "adoption restarted tasks");
        copyFileSync(join(repoRoot, "components", "swarmStack.ts"), component);
        const rm = await p.run(["config", "rm", "--path", "swarm-proxy:network.adoptId"]);
        assert.equal(rm.code, 0, out(rm));
        // The one-time change from absolute paths: each compose stack's deploy updates, and only that; the preview
        // says so per stack, and drift calls none of it a finding.
        const stacks = [
            "traefik",
            "drone",
            "ccci-bridge",
            "ccci-dashboard",
            "ccci-reports",
            "warm-keycloak",
            "backups",
        ];
        const upgrade = await p.preview();
        assert.equal(upgrade.code, 0, out(upgrade));
        const moved = (upgrade.json.steps ?? [])
            .filter((s) => s.op !== "same")
            .map((s) => `${s.op} ${s.urn.split("::").pop()}`);
        assert.deepEqual(moved.sort(), stacks.map((st) => `update ${st}-stack`).sort());
        const notes = (upgrade.json.diagnostics ?? [])
            .map((d) => d.message.trim())
            .filter((m) => m.includes("recorded path changes"));
        for (const st of stacks) {
            const note = notes.find((m) => m.startsWith(`stack ${st}: `));
            assert.ok(note, `no note for ${st}:\n${notes.join("\n")}`);
            assert.ok(note.includes(`${p.projectDir}/sandbox/stacks/${st}.yml -> sandbox/stacks/${st}.yml`), note);
            assert.match(note, /`stack deploy` of an unchanged file restarts nothing$/);
            console.log(`      upgrade preview: ${note}`);
        }
        // The /28 is full by design (the next case's subject; the Engine's own count on API 1.52+ says so from the
        // start): no finding but the pool's, none of the path change.
        const checked = await drift();
        assertDrifted(checked.report, [], checked.err, ["capacity-low proxy"]);
        assert.equal(checked.code, drifted(checked.report).length === 0 ? 0 : 3);
        const recorded = await p.up();
        assert.equal(recorded.code, 0, out(recorded));
        assert.deepEqual(runningTasks(), tasks, "recording the relative paths restarted tasks");
        const pre = await p.preview(["--expect-no-changes"]);
        assert.equal(pre.code, 0, out(pre));
        // A second checkout of the same files in another folder previews clean against this state.
        const clone = mkdtempSync(join(tmpdir(), "spx-drift-clone-"));
        try {
            cpSync(p.projectDir, clone, { recursive: true });
            const there = await p.preview(["--expect-no-changes", "--cwd", clone]);
            console.log(`      a clone in another folder: pulumi preview --expect-no-changes exited ${there.code}`);
            assert.equal(there.code, 0, out(there));
        } finally {
            rmSync(clone, { recursive: true, force: true });
        }
        // Each route's expected text (the stack's own answer) added: the routes' checks update, nothing else.
        const current = JSON.parse(JSON.stringify(baseRaw)) as RawStackConfig;
        delete current.network.adoptId;
        p.writeConfig(current);
        const routes = await p.preview();
        assert.equal(routes.code, 0, out(routes));
        const changed = (routes.json.steps ?? [])
            .filter((s) => s.op !== "same")
            .map((s) => `${s.op} ${s.urn.split("::").pop()}`);
        assert.deepEqual(
            changed.sort(),
            ["ccci-bridge", "ccci-dashboard", "ccci-reports", "drone", "warm-keycloak"].map((s) => `update ${s}-http`),
        );
        const withText = await p.up();
        assert.equal(withText.code, 0, out(withText));
        assert.deepEqual(runningTasks(), tasks, "checking the routes restarted tasks");
        const clean2 = await p.preview(["--expect-no-changes"]);
        assert.equal(clean2.code, 0, out(clean2));
        // A bad SWARM_PROXY_REDEPLOY is one clear error before anything is registered.
        const bad = await p.preview([], { SWARM_PROXY_REDEPLOY: "drone,nope" });
        assert.notEqual(bad.code, 0);
        const said = (bad.json.diagnostics ?? []).map((d) => d.message).join("\n");
        assert.match(
            said,
            /SWARM_PROXY_REDEPLOY: "drone,nope" is not allowed; "nope" is not a configured stack; use configured stack names separated by commas \(known stacks: traefik, drone, ccci-bridge, ccci-dashboard, ccci-reports, warm-keycloak, backups\)/,
        );
    });

    it("the pool running low: exit 3 naming the probe and the maintenance in the window; after them, clean", async () => {
        const { code, report } = await drift();
        assertDrifted(report, ["capacity-low proxy"]);
        assert.equal(code, 3);
        const f = only(report, "capacity-low");
        // The Engine's own figure on API 1.52+ (the swarm allocator's), the count below it: both 13 here.
        const method = apiAtLeast((await engineOf()).api, 1, 52) ? "ipsInUse" : "counted";
        assert.equal(f.detail, `0 of 13 addresses free (13 in use, ${method}); threshold 2`);
        assert.equal(f.disruptive, true);
        assert.equal(f.autoFix, false);
        assert.match(f.window ?? "", /drone build promote <build> maintenance/);
        const dh = `env DOCKER_HOST=${sb!.env.DOCKER_HOST}`;
        const where = `--stack ${p.stack} --cwd ${p.projectDir}`;
        assert.deepEqual(f.fix, [
            `${dh} swarm-proxy capacity --network proxy --probe`,
            `${dh} pulumi config set --path network.subnet ${BIG_SUBNET} ${where}`,
            `${dh} SWARM_PROXY_MAINTENANCE=open pulumi up --yes ${where}`,
        ]);
        assert.match(
            readFileSync(join(tmp, "drift.md"), "utf8"),
            /kind `capacity-low`: Few addresses are left on proxy/,
        );
        runFix(f);
        assert.equal(networkSubnet("proxy"), BIG_SUBNET);
        // The probe logged VIP-allocation failures on purpose: the next check looks from now on.
        since = new Date();
        await clean();
    });

    it("a stack removed (docker stack rm): Pulumi sees nothing; drift names the targeted redeploy; after it, clean", async () => {
        docker(["stack", "rm", "drone"]);
        stackGone("drone");
        const { code, report } = await drift();
        assertDrifted(report, ["stack-missing drone"]);
        assert.equal(code, 3);
        assert.equal(
            report.findings.find((x) => x.check === "pulumi")?.status,
            "ok",
            "the refresh-preview cannot see it",
        );
        const f = only(report, "stack-missing");
        assert.equal(f.disruptive, false);
        assert.equal(f.autoFix, true);
        assert.deepEqual(f.fix, [
            `env DOCKER_HOST=${sb!.env.DOCKER_HOST} SWARM_PROXY_REDEPLOY=drone pulumi up --yes --target '${await urnOf("drone-stack")}' --target-dependents --stack ${p.stack} --cwd ${p.projectDir}`,
        ]);
        const others = runningTasks();
        runFix(f);
        assert.deepEqual(
            runningTasks().filter((t) => !t.startsWith("drone_")),
            others,
            "the redeploy restarted another stack's tasks",
        );
        await clean();
        const pre = await p.preview(["--expect-no-changes"]);
        assert.equal(pre.code, 0, `a later plain run changes nothing: ${out(pre)}`);
    });

    it("--fix redeploys a removed stack, leaves a detached service alone, prints what it did and checks again", async () => {
        docker(["stack", "rm", "ccci-bridge"]);
        stackGone("ccci-bridge");
        const svc = "ccci-dashboard_app";
        docker(["service", "update", "--detach=false", "-q", "--network-rm", "proxy", svc]);
        const dashboard = runningTasks().filter((t) => t.startsWith("ccci-dashboard_"));
        const { code, report } = await drift(["--fix"]);
        assert.equal(code, 3, "the detached service is still drift after --fix");
        assert.equal(report.before?.result, "drift");
        assert.deepEqual(report.before && drifted({ ...report, findings: report.before.findings }), [
            "service-detached ccci-dashboard",
            "stack-missing ccci-bridge",
        ]);
        assert.deepEqual(
            report.applied?.map((a) => `${a.kind} ${a.subject} ${a.exitCode}`),
            ["stack-missing ccci-bridge 0"],
        );
        assert.match(report.applied?.[0].command ?? "", /SWARM_PROXY_REDEPLOY=ccci-bridge pulumi up --yes --target /);
        assertDrifted(report, ["service-detached ccci-dashboard"]);
        assert.deepEqual(
            runningTasks().filter((t) => t.startsWith("ccci-dashboard_")),
            dashboard,
            "--fix touched a running stack",
        );
        const md = readFileSync(join(tmp, "drift.md"), "utf8");
        assert.match(
            md,
            /## Fixed by --fix \(then checked again\)\n\n- done: stack-missing `ccci-bridge`: `env DOCKER_HOST=\S+ SWARM_PROXY_REDEPLOY=ccci-bridge pulumi up/,
        );

        // The detached service: the fix restarts its tasks, so it is named with the window and run by hand.
        const f = only(report, "service-detached");
        assert.equal(f.disruptive, true);
        assert.match(
            f.window ?? "",
            /drone build promote <build> maintenance --param SWARM_PROXY_REDEPLOY=ccci-dashboard/,
        );
        assert.match(
            f.fix?.[0] ?? "",
            /SWARM_PROXY_REDEPLOY=ccci-dashboard pulumi up --yes --target '\S+::ccci-dashboard-stack' --target-dependents/,
        );
        runFix(f);
        await clean();
    });

    it("a service scaled to 0: drift names the redeploy (which --fix may apply); after it, clean", async () => {
        docker(["service", "scale", "--detach=false", "ccci-reports_app=0"]);
        const { code, report } = await drift();
        assertDrifted(report, ["replicas-down ccci-reports_app"]);
        assert.equal(code, 3);
        const f = only(report, "replicas-down");
        assert.equal(f.detail, "0/0 running (scaled to 0)");
        assert.equal(f.autoFix, true);
        assert.match(
            f.fix?.[0] ?? "",
            /SWARM_PROXY_REDEPLOY=ccci-reports pulumi up --yes --target '\S+::ccci-reports-stack' --target-dependents/,
        );
        runFix(f);
        await clean();
    });

    it("a stack the config does not know: drift names the leak-free teardown with the window; after it, clean", async () => {
        sh(["bash", "host/stack-deploy.sh", "intruder", join(repoRoot, "sandbox/stacks/backups.yml")]);
        const { code, report } = await drift(["--fix"]);
        assertDrifted(report, ["stack-unknown intruder"]);
        assert.equal(code, 3);
        assert.deepEqual(report.applied, [], "--fix never tears a running stack down");
        const f = only(report, "stack-unknown");
        assert.equal(f.disruptive, true);
        assert.match(f.meaning ?? "", /add it to swarm-proxy:stacks in .*Pulumi\.test\.yaml/);
        assert.deepEqual(f.fix, [
            // The host scripts relative to the checkout (no folder of the check's own): run from the operator's.
            `env DOCKER_HOST=${sb!.env.DOCKER_HOST} bash host/stack-teardown.sh intruder 180`,
        ]);
        runFix(f);
        await clean();
    });

    it("proxy recreated by hand (same subnet, new ID): drift names the re-adoption, which takes nothing down; after it, clean", async () => {
        const was = networkId("proxy");
        // What a prune of an idle proxy followed by the host's swarm-init does, with the stacks put back by hand.
        sh(["bash", "host/stacks-teardown.sh", "180", ...ATTACHED]);
        sh(["bash", "host/network-remove.sh", "proxy", "120"]);
        docker(overlayCreateArgs("proxy", BIG_SUBNET, { owner: "swarm-proxy" }));
        for (const s of ATTACHED) sh(["bash", "host/stack-deploy.sh", s, join(repoRoot, `sandbox/stacks/${s}.yml`)]);
        for (const s of ATTACHED) sh(["bash", "host/stack-health.sh", s, "proxy", BIG_SUBNET, "120"]);
        const live = networkId("proxy");
        assert.notEqual(live, was);

        const { code, report } = await drift(["--fix"]);
        assert.equal(code, 3);
        assert.deepEqual(report.applied, [], "--fix never touches proxy");
        const f = only(report, "network-recreated");
        assert.match(f.detail, /^recreated out of band: live id \w{12}, Pulumi's state has \w{12}$/);
        // The program refuses to preview from this state (it would replace every stack): that refusal is this
        // finding's cause, reported once, with the state-only fix; no `pulumi up` that would fail is offered.
        assertDrifted(report, ["network-recreated proxy"]);
        assert.ok(!report.findings.some((x) => x.status === "error"), JSON.stringify(report.findings));
        assert.equal(f.disruptive, false);
        const where = `--stack ${p.stack} --cwd ${p.projectDir}`;
        const dh = `env DOCKER_HOST=${sb!.env.DOCKER_HOST}`;
        assert.equal(f.fix!.length, 4, JSON.stringify(f.fix));
        assert.ok(f.fix![0].startsWith(`${dh} pulumi state delete --yes `), f.fix![0]);
        for (const entry of ["proxy-network", "drone-stack", "drone-health", "teardown-all"])
            assert.ok(
                f.fix![0].includes(`'${await urnOf(entry)}'`),
                `${entry} is not deleted from the state: ${f.fix![0]}`,
            );
        assert.deepEqual(f.fix!.slice(1), [
            `${dh} pulumi config set --path network.adoptId ${live} ${where}`,
            `${dh} pulumi up --yes ${where}`,
            `${dh} pulumi config rm --path network.adoptId ${where}`,
        ]);
        // A replacement instead would tear every stack down: the program refuses before registering anything.
        const refused = await p.up(["--replace", await urnOf("proxy-network")]);
        assert.notEqual(refused.code, 0);
        assert.match(
            out(refused),
            /the network "proxy" is live on the host \(ID \w+, subnet [^)]+\), but the state holds another network/,
        );
        const tasks = runningTasks();
        runFix(f);
        assert.equal(networkId("proxy"), live, "the live network was kept");
        assert.deepEqual(runningTasks(), tasks, "the re-adoption restarted a task");
        await clean();
    });

    // Every way back: the old runbook followed by hand, then each way an operator may go on from there. Each path
    // ends after the maintenance: proxy on the configured /16 (the two /16s below in turn), every service on it,
    // a clean preview and a clean drift. Nothing is torn down outside the window, and each message says what to do.
    const TARGETS = ["10.11.0.0/16", BIG_SUBNET];
    let target = 0;
    const config = (args: string[]) =>
        p.mustRun(["config", ...args.slice(0, 2), `swarm-proxy:${args[2]}`, ...args.slice(3)]);
    const currentSubnet = () => networkSubnet("proxy");

    /**
     * `docker stack rm` as a person runs it: it removes the services, then at once the stack's networks, and a
     * network whose tasks are still stopping is refused ("in use by task"); the person runs it again until it goes
     * through (each run removes what is left).
     */
    function stackRmByHand(stack: string): void {
        for (let i = 0; i < 240; i++) {
            const r = spawnSync("docker", ["stack", "rm", stack], { cwd: repoRoot, env, encoding: "utf8" });
            if (r.status === 0) return;
            if (!/is in use by task|has active endpoints/.test(r.stderr)) {
                throw new Error(`docker stack rm ${stack}: ${r.stderr}`);
            }
            spawnSync("sleep", ["0.5"]);
        }
        throw new Error(`docker stack rm ${stack} kept failing: its networks stayed in use`);
    }

    /** The old runbook by hand: every attached stack removed, proxy deleted and created again (no labels, the same
     *  subnet), every stack deployed again. */
    function handRecreate(): string {
        const subnet = currentSubnet();
        const was = networkId("proxy");
        for (const s of ATTACHED) stackRmByHand(s);
        for (const s of ATTACHED) stackGone(s);
        sh(["bash", "host/network-remove.sh", "proxy", "120"]);
        docker(["network", "create", "--driver", "overlay", "--attachable", "--subnet", subnet, "proxy"]);
        for (const s of ATTACHED) sh(["docker", "stack", "deploy", "-c", join(repoRoot, `sandbox/stacks/${s}.yml`), s]);
        for (const s of ATTACHED) sh(["bash", "host/stack-health.sh", s, "proxy", subnet, "120"]);
        const live = networkId("proxy");
        assert.notEqual(live, was);
        return live;
    }

    /** Refused from this state: exit non-zero, one message naming the live network, nothing on the host changed. */
    async function refusedUp(extra: string[], live: string): Promise<string[][]> {
        const before = { tasks: runningTasks(), proxy: networkId("proxy") };
        const up = await p.up(extra);
        assert.notEqual(up.code, 0, out(up));
        const m = new RegExp(`the network "proxy" is live on the host \\(ID ${live}, subnet [^)]+\\), but (.*)`).exec(
            up.stdout + up.stderr,
        );
        assert.ok(m, `no adoption refusal:\n${out(up)}`);
        assert.doesNotMatch(up.stdout + up.stderr, /already exists|FailedPrecondition/);
        assert.deepEqual(
            { tasks: runningTasks(), proxy: networkId("proxy") },
            before,
            "a refused run changed the host",
        );
        console.log(
            `      pulumi up ${extra.join(" ")} refused (exit ${up.code}): ${m[1].slice(0, m[1].indexOf(". From this state"))}`,
        );
        // The steps, as printed after the message: ": 1. pulumi …  2. pulumi …".
        const list = m[1].slice(m[1].indexOf(": 1. pulumi ") + 2).trim();
        return list.split(/ {2}(?=\d+\. pulumi )/).map((x) => argvOf(x.replace(/^\d+\. /, "").trim()));
    }

    /** Runs the program's printed steps as an operator would (in the project, for this stack). */
    async function runSteps(steps: string[][]): Promise<void> {
        for (const [cli, ...args] of steps) {
            assert.equal(cli, "pulumi");
            const r = args[0] === "up" ? await p.up(args.slice(1)) : await p.run(args);
            assert.equal(r.code, 0, `pulumi ${args.join(" ")}\n${out(r)}`);
            console.log(`      ran: pulumi ${args.join(" ").slice(0, 150)}`);
        }
    }

    /** The maintenance to the next /16, then the place every path ends in. */
    async function maintenanceAndConverged(): Promise<void> {
        const to = TARGETS[target++ % TARGETS.length];
        await config(["set", "--path", "network.subnet", to]);
        const up = await p.up([], { SWARM_PROXY_MAINTENANCE: "open" });
        assert.equal(up.code, 0, out(up));
        assert.doesNotMatch(up.stdout + up.stderr, /FailedPrecondition|is in use by/);
        console.log(`      SWARM_PROXY_MAINTENANCE=open pulumi up (network.subnet ${to}): exit ${up.code}`);
        await converged(to);
    }

    /** The place every path ends in: proxy on `to` with every task on it, every service full, a clean preview, drift 0. */
    async function converged(to: string): Promise<void> {
        assert.equal(networkSubnet("proxy"), to);
        for (const line of docker([
            "network",
            "inspect",
            "--verbose",
            "--format",
            "{{range $s, $v := .Services}}{{range $v.Tasks}}{{.EndpointIP}} {{end}}{{end}}",
            "proxy",
        ]).split(/\s+/)) {
            if (line !== "")
                assert.ok(
                    toRange(to)!.contains(toRange(`${line.split("/")[0]}/32`)!),
                    `task address ${line} outside ${to}`,
                );
        }
        const services = docker(["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]).split("\n");
        for (const row of services)
            assert.match(row, /^\S+ (\d+)\/\1/, `not every service runs: ${services.join("; ")}`);
        const pre = await p.preview(["--expect-no-changes"]);
        assert.equal(pre.code, 0, out(pre));
        await clean();
    }

    it("way back 1: hand recreate, `up --refresh` refused (state only dropped), drift names the re-adoption, its fix, then the maintenance", async () => {
        const live = handRecreate();
        await refusedUp(["--refresh"], live);
        const { code, report } = await drift();
        assert.equal(code, 3);
        assertDrifted(report, ["network-recreated proxy"]);
        const f = only(report, "network-recreated");
        assert.ok(f.fix![0].includes("pulumi state delete --yes "), JSON.stringify(f.fix));
        assert.ok(!f.fix![0].includes("proxy-network"), `the refresh dropped proxy-network: ${f.fix![0]}`);
        const tasks = runningTasks();
        runFix(f);
        assert.deepEqual(runningTasks(), tasks, "the re-adoption restarted a task");
        assert.equal(networkId("proxy"), live);
        await clean();
        await maintenanceAndConverged();
    });

    it("way back 2: hand recreate, plain `up` refused, the program's own steps, then the maintenance", async () => {
        const live = handRecreate();
        const steps = await refusedUp([], live);
        assert.deepEqual(
            steps.map((s) => s.slice(0, 3).join(" ")),
            ["pulumi state delete", "pulumi config set", "pulumi up", "pulumi config rm"],
        );
        assert.ok(
            steps[0].some((w) => w.endsWith("::proxy-network")),
            JSON.stringify(steps[0]),
        );
        const tasks = runningTasks();
        await runSteps(steps);
        assert.deepEqual(runningTasks(), tasks, "the re-adoption restarted a task");
        await clean();
        await maintenanceAndConverged();
    });

    it("way back 3: re-import through adoptId with the stacks left in state: refused until they go; `survey: false` then previews clean; the maintenance", async () => {
        const live = handRecreate();
        // What the operator tried: a refresh (which drops the network's entry, its old ID gone), then adopting the
        // live network again by its ID, with the stacks left in state.
        const refresh = await p.refresh();
        assert.equal(refresh.code, 0, out(refresh));
        assert.ok(
            !(await p.resources()).some((r) => r.urn.endsWith("::proxy-network")),
            "the refresh kept proxy-network",
        );
        assert.ok(
            (await p.resources()).some((r) => r.urn.endsWith("::drone-stack")),
            "the stacks are not in state",
        );
        await config(["set", "--path", "network.adoptId", live]);
        const steps = await refusedUp([], live);
        assert.deepEqual(
            steps.map((s) => s.slice(0, 3).join(" ")),
            ["pulumi state delete", "pulumi up", "pulumi config rm"],
            "adoptId is set already: no step sets it again",
        );
        const tasks = runningTasks();
        await runSteps(steps);
        assert.deepEqual(runningTasks(), tasks, "the re-adoption restarted a task");
        await clean();
        // After this adoption the labels and gateway follow the label-less live network: without a survey they
        // follow what the state recorded, and the toggle alone plans nothing.
        await config(["set", "--path", "survey", "false"]);
        const pre = await p.preview(["--expect-no-changes"]);
        assert.equal(pre.code, 0, out(pre));
        await config(["rm", "--path", "survey"]);
        await maintenanceAndConverged();
    });

    it("way back 4: a stack's resource dropped from state by hand while it runs: `up` takes it over in place; the maintenance", async () => {
        await p.mustRun(["state", "delete", "--yes", "--target-dependents", await urnOf("drone-stack")]);
        const tasks = runningTasks();
        const up = await p.up();
        assert.equal(up.code, 0, out(up));
        assert.deepEqual(runningTasks(), tasks, "taking the stack over restarted a task");
        const pre = await p.preview(["--expect-no-changes"]);
        assert.equal(pre.code, 0, out(pre));
        await clean();
        await maintenanceAndConverged();
    });
    // A maintenance killed hard (SIGKILL to the CLI's process group, as a CI runner's timeout or a lost SSH session
    // does) at a moment read from the host and the run's events: the lock and the pending operations it leaves are
    // one finding, whose steps, run as printed, converge.
    const dh = () => `env DOCKER_HOST=${sb!.env.DOCKER_HOST}`;
    const where = () => `--stack ${p.stack} --cwd ${p.projectDir}`;

    /**
     * The maintenance to the next /16 in the window, killed once `moment` holds (polled; `atMoment` runs then,
     * before the kill). Resolves to the target, once the CLI has exited.
     */
    async function killedMaintenance(
        what: string,
        moment: (steps: Step[], to: string) => boolean,
        atMoment: () => Promise<void> = async () => undefined,
    ): Promise<string> {
        // Run alone (--grep), the tier has not adopted the host yet: the first run on a host adopts it, as the README's.
        if (!(await p.resources()).some((r) => r.urn.endsWith("::proxy-network"))) {
            const adopt = await p.up();
            assert.equal(adopt.code, 0, out(adopt));
            await p.mustRun(["config", "rm", "--path", "swarm-proxy:network.adoptId"]);
        }
        const to = TARGETS[target++ % TARGETS.length];
        await config(["set", "--path", "network.subnet", to]);
        since = new Date();
        const events: TimedEvent[] = [];
        let cli: ChildProcess | undefined;
        const run = upWithEvents(
            p,
            [],
            (e) => events.push(e),
            (c) => (cli = c),
            { env: { SWARM_PROXY_MAINTENANCE: "open" }, group: true },
        );
        // The CLI's own exit (its plugins lead process groups of their own and may hold its output open after it).
        const exited = () => cli !== undefined && (cli.exitCode !== null || cli.signalCode !== null);
        await waitFor(what, 600_000, async () => {
            if (exited())
                throw new Error(
                    `the maintenance ended (exit ${cli?.exitCode}) before ${what}:\n${out((await run).run)}`,
                );
            return moment(stepsOf(events), to);
        });
        await atMoment();
        if (exited())
            assert.fail(`the maintenance ended (exit ${cli?.exitCode}) before the kill:\n${out((await run).run)}`);
        const t0 = Date.now();
        process.kill(-cli!.pid!, "SIGKILL");
        const killed = await run;
        assert.equal(killed.run.code, 128, `the CLI was not killed:\n${out(killed.run)}`);
        const last = stepsOf(events)
            .filter((s) => s.end === undefined)
            .map((s) => `${s.op} ${s.name}`);
        console.log(
            `      killed (SIGKILL to its group) at ${what}, ${Date.now() - t0} ms to exit; steps under way: ${last.join(", ")}`,
        );
        return to;
    }

    /** Drift names the killed run alone (what it was doing, the host now); its steps: cancel, the rerun in the window. */
    async function killedRunFinding(doing: RegExp, host: RegExp, creates = false): Promise<Finding> {
        const { code, report, err } = await drift();
        assertDrifted(report, ["killed-run lock"], err);
        assert.equal(code, 3);
        const f = only(report, "killed-run");
        console.log(`      drift exit ${code}: ${f.detail}`);
        assert.match(f.detail, /^a pulumi run was killed: it was /);
        assert.match(f.detail, doing);
        assert.match(f.detail, /locked by \S+@\S+ \(pid \d+\) since \S+, a process that no longer runs/);
        assert.match(f.detail, host);
        assert.deepEqual(f.fix, [
            `${dh()} pulumi cancel --yes ${where()}`,
            `${dh()} SWARM_PROXY_MAINTENANCE=open pulumi up --yes ${where()}`,
            // Pulumi keeps pending creates after the rerun: only a refresh drops them.
            ...(creates ? [`${dh()} pulumi refresh --clear-pending-creates --yes ${where()}`] : []),
        ]);
        assert.equal(f.disruptive, true);
        assert.equal(f.autoFix, false);
        return f;
    }

    /** proxy's subnet, or undefined while there is none (the maintenance deletes and creates it). */
    const subnetNow = (): string | undefined => {
        try {
            return networkSubnet("proxy");
        } catch {
            return undefined;
        }
    };
    const servicesOf = (stack: string) =>
        docker(["service", "ls", "-q", "--filter", `label=com.docker.stack.namespace=${stack}`]);

    it("recreate killed in the teardown: a plain `up` fails on the lock; drift names the killed run (in the window, stacks down), cancel and the rerun in the window converge", async () => {
        const to = await killedMaintenance(
            "the teardown: an attached stack's services gone, proxy not yet on the new subnet",
            (steps, sub) =>
                steps.some((s) => s.name === "teardown-all" || s.name.endsWith("-stack")) &&
                ATTACHED.some((s) => servicesOf(s) === "") &&
                subnetNow() !== sub,
        );
        const locked = await p.up();
        assert.notEqual(locked.code, 0);
        assert.match(out(locked), /the stack is currently locked by 1 lock\(s\)/);
        const f = await killedRunFinding(
            /deleting (teardown-all|\S+-stack).*; the maintenance window was open \(it was deleting /,
            /The host now: proxy (missing|present \(.*\)); stacks down: /,
        );
        runFix(f);
        await converged(to);
    });

    it("recreate killed in the health checks, after the network was recreated: one killed-run finding, not a change per check whose fix fails; its steps converge", async () => {
        const to = await killedMaintenance(
            "the health checks: proxy recreated on the new subnet, a route's check started",
            (steps, sub) =>
                steps.some((s) => /-(http|health)$/.test(s.name) && s.op === "create-replacement") &&
                subnetNow() === sub,
        );
        const f = await killedRunFinding(/creating \S+-(http|health)/, /The host now: proxy present \(overlay /, true);
        assert.match(
            f.detail,
            /other finding\(s\) are its unfinished work, planned again by the rerun: pulumi-changes /,
        );
        runFix(f);
        await converged(to);
    });

    it("rolling killed in the move out: while it runs drift says a run is in progress (exit 4); after the kill, the killed run and its steps converge", async () => {
        await config(["set", "--path", "network.migration", "rolling"]);
        const temp = "proxy-rolling";
        const to = await killedMaintenance(
            `the move out: a service on ${temp}`,
            () => Object.values(serviceNetworks()).some((n) => n.includes(temp)),
            async () => {
                const { code, report, err } = await drift();
                assert.deepEqual(
                    report.findings.map((x) => `${x.status} ${x.kind} ${x.subject}`),
                    ["running run-in-progress lock"],
                    err,
                );
                assert.equal(report.result, "running");
                assert.equal(code, 4);
                assert.match(report.findings[0].detail, /a pulumi process that still runs on this host$/);
                console.log(`      during the run: drift exit ${code}: ${report.findings[0].detail}`);
            },
        );
        const f = await killedRunFinding(/(updating|creating) proxy-move/, /The host now: proxy present/, true);
        runFix(f);
        await converged(to);
        assert.ok(!linesOf(docker(["network", "ls", "--format", "{{.Name}}"])).includes(temp));
    });
});
