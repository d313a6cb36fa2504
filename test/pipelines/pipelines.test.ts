// The pipelines tier: .drone.yml's exec pipelines run by Drone's own exec runner (`drone-runner-exec exec`,
// ../shared/drone beside the checkout, or SWARM_PROXY_DRONE_RUNNER), each build a fresh clone of the commit
// under test, against a sandbox swarm of its own, with the real Pulumi CLI and plugins.
//
// The runner hands a step only PATH, USER, DRONE_* and what the runner's config adds; this tier plays the host:
// PATH holds its installed pulumi and Node 22, and `--environ` carries what a Drone server's runner gets from
// DRONE_RUNNER_ENVIRON (DOCKER_HOST, PULUMI_HOME, the stack and where its config file lives on the host, where
// the reports go, the npm cache). The secrets (passphrase, the file:// backend in a temp dir) go through
// `--secrets`, as a server hands them over. The operator's adoption run comes first, outside CI (README's
// quick start); then the pipelines: drift clean, drift after an out-of-band `docker stack rm`, the
// pull-request preview without and with secrets, the maintenance promoted elsewhere and to `maintenance`.
import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import type { DriftReport } from "../../cli/drift/report";
import { PulumiProject, realPlugins, repoRoot } from "../../harness/engine/pulumi";
import {
    atFront,
    docker,
    networkSubnet,
    out,
    runningTasks,
    sandboxConfig,
    seededSandbox,
} from "../../harness/engine/swarm-fixture";
import { type Sandbox, sandboxDownSync } from "../../harness/sandbox";
import { notRun } from "../../harness/ci";

const SANDBOX = process.env.SWARM_PIPELINES_SANDBOX ?? "pipelines-tier";
const STACK = "pipelines";
const BIG_SUBNET = "10.10.0.0/16";

/** The runner: SWARM_PROXY_DRONE_RUNNER (the binary, or its .gz), else ../shared/drone beside the checkout. */
function runnerSource(): { path?: string; why: string } {
    const fromEnv = process.env.SWARM_PROXY_DRONE_RUNNER;
    if (fromEnv) return existsSync(fromEnv) ? { path: fromEnv, why: "" } : { why: `${fromEnv} does not exist` };
    const dir = resolve(repoRoot, "..", "shared", "drone");
    const gz = join(dir, "drone-runner-exec.gz");
    if (!existsSync(dir)) return { why: `${dir} does not exist (set SWARM_PROXY_DRONE_RUNNER to the runner)` };
    if (!existsSync(gz)) return { why: `${dir} holds no drone-runner-exec.gz` };
    return { path: gz, why: "" };
}

/** The runner unpacked into dir (a .gz is checked against the SHA256SUMS beside it first). */
function unpackRunner(src: string, dir: string): string {
    if (!src.endsWith(".gz")) return src;
    const data = readFileSync(src);
    const sums = join(src, "..", "SHA256SUMS");
    assert.ok(existsSync(sums), `${sums} is missing: the runner cannot be verified`);
    const want = readFileSync(sums, "utf8")
        .split("\n")
        .map((l) => l.trim().split(/\s+\*?/))
        .find(([, f]) => f === "drone-runner-exec.gz")?.[0];
    const got = createHash("sha256").update(data).digest("hex");
    assert.equal(got, want, `${src}: checksum mismatch with ${sums}`);
    const bin = join(dir, "drone-runner-exec");
    writeFileSync(bin, gunzipSync(data), { mode: 0o755 });
    return bin;
}

interface Build {
    code: number | null;
    log: string;
    seconds: number;
}

const timings: string[] = [];

describe("pipelines: .drone.yml's exec pipelines through drone-runner-exec (real Pulumi, sandbox swarm)", function () {
    let sb: Sandbox | undefined;
    let p: PulumiProject;
    let tmp: string;
    let runner: string;
    let pipelineFile: string;
    let repoUrl: string;
    let branch: string;
    let sha: string;
    let reports: string;
    let stackFile: string;

    /** One build: `drone-runner-exec exec` on one pipeline of the committed .drone.yml. */
    async function build(label: string, stage: string, flags: string[], secrets = true): Promise<Build> {
        const environ: Record<string, string> = {
            DOCKER_HOST: sb!.env.DOCKER_HOST,
            SANDBOX_DOCKER_SOCKET: sb!.env.SANDBOX_DOCKER_SOCKET,
            PULUMI_HOME: p.homeDir,
            SWARM_PROXY_STACK: STACK,
            SWARM_PROXY_STACK_CONFIG: stackFile,
            SWARM_PROXY_REPORT_DIR: reports,
            SWARM_PROXY_DRIFT_ARGS: `--log-file ${sb!.env.SANDBOX_DOCKERD_LOG}`,
            npm_config_cache: process.env.npm_config_cache ?? join(homedir(), ".npm"),
        };
        const args = [
            "exec",
            join(tmp, "builds"),
            pipelineFile,
            "--stage-name",
            stage,
            "--repo-http",
            repoUrl,
            "--commit-target",
            branch,
            "--commit-after",
            sha,
            ...flags,
            ...Object.entries(environ).flatMap(([k, v]) => ["--environ", `${k}=${v}`]),
        ];
        if (secrets) {
            args.push("--secrets", `pulumi_config_passphrase=${p.env.PULUMI_CONFIG_PASSPHRASE}`);
            args.push("--secrets", `pulumi_backend_url=${p.env.PULUMI_BACKEND_URL}`);
        }
        // The host's PATH: its installed pulumi (with the language host beside it) and Node 22 first.
        const env = { PATH: p.env.PATH ?? "", USER: process.env.USER ?? "root", HOME: process.env.HOME ?? "/root" };
        const t0 = Date.now();
        const { code, log } = await new Promise<{ code: number | null; log: string }>((done) => {
            const child = spawn(runner, args, { cwd: tmp, env, stdio: ["ignore", "pipe", "pipe"] });
            let log = "";
            child.stdout.on("data", (d: Buffer) => (log += d.toString()));
            child.stderr.on("data", (d: Buffer) => (log += d.toString()));
            child.on("close", (c) => done({ code: c, log }));
        });
        const seconds = (Date.now() - t0) / 1000;
        writeFileSync(join(tmp, `${label.replace(/\W+/g, "-")}.log`), log);
        const line = `${label}: ${stage}, exit ${code}, ${seconds.toFixed(1)} s`;
        timings.push(line);
        console.log(`      build ${line}`);
        return { code, log, seconds };
    }

    const show = (b: Build): string => `exit ${b.code}\n--- build log (tail)\n${b.log.slice(-8000)}`;
    /** The lines a step printed: the runner prefixes each with [step:N]. */
    const stepLines = (b: Build, step: string): string[] =>
        b.log
            .split("\n")
            .filter((l) => l.startsWith(`[${step}:`))
            .map((l) => l.replace(/^\[[^\]]*:\d+\] ?/, ""));
    const ran = (b: Build, step: string): boolean => stepLines(b, step).length > 0;

    const readReport = (): DriftReport =>
        JSON.parse(readFileSync(join(reports, "drift-report.json"), "utf8")) as DriftReport;

    function servicesRunning(): void {
        const lines = docker(["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]).split("\n").filter(Boolean);
        assert.ok(lines.length >= 7, lines.join("\n"));
        for (const l of lines) {
            const m = /^(\S+) (\d+)\/(\d+)/.exec(l);
            assert.ok(m && m[2] === m[3] && m[2] !== "0", `not every task runs: ${l}`);
        }
    }

    before(async function () {
        const src = runnerSource();
        if (!src.path) {
            if (process.env.SWARM_PROXY_DRONE_RUNNER) throw new Error(`SWARM_PROXY_DRONE_RUNNER: ${src.why}`);
            // Under CI a tier that did not run must not count as passed: mocha counts a skip as one.
            console.log(`      ${notRun("pipelines tier", `no Drone exec runner: ${src.why}`)}`);
            this.skip();
        }
        realPlugins("pipelines");
        tmp = mkdtempSync(join(tmpdir(), "spx-pipelines-"));
        mkdirSync(join(tmp, "builds"));
        reports = join(tmp, "reports");
        mkdirSync(reports);
        runner = unpackRunner(src.path!, tmp);

        // The commit under test, as Drone clones it: committed content only.
        sha = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
        pipelineFile = join(tmp, "drone.yml");
        writeFileSync(
            pipelineFile,
            execFileSync("git", ["show", `${sha}:.drone.yml`], { cwd: repoRoot, encoding: "utf8" }),
        );
        branch = execFileSync("git", ["rev-parse", "--abbrev-ref", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
        repoUrl = `file://${repoRoot}`;
        if (branch === "HEAD") {
            // A detached checkout: the runner fetches a branch, so the commit is pushed to a bare copy's main.
            const bare = join(tmp, "repo.git");
            execFileSync("git", ["init", "-q", "--bare", bare]);
            execFileSync("git", ["push", "-q", bare, `${sha}:refs/heads/main`], { cwd: repoRoot });
            repoUrl = `file://${bare}`;
            branch = "main";
        }
        const dirty = execFileSync("git", ["status", "--porcelain", "--", ".drone.yml", "scripts/drone-env.sh"], {
            cwd: repoRoot,
            encoding: "utf8",
        });
        if (dirty)
            console.log(`      note: the builds run the commit ${sha.slice(0, 12)}, not these changes:\n${dirty}`);

        // The operator's adoption run (README's quick start), on the host, before any pipeline: the live
        // subnet and network ID. The stack file stays on the host; the runner's environ names it.
        const raw = sandboxConfig();
        sb = seededSandbox(SANDBOX, raw);
        raw.rebuild = {}; // the sandbox's module stand-in would pin the subnet
        raw.connection = { mode: "local", scriptsDir: join(tmp, "host-scripts") };
        // The compose files stay in the repository (sandbox/stacks/): the state records them relative to the project,
        // so each build's fresh clone (a new folder every build) deploys the same stacks as the operator's checkout.
        for (const s of raw.stacks as { compose?: string }[]) {
            assert.ok(s.compose === undefined || s.compose.startsWith("sandbox/stacks/"), String(s.compose));
        }
        p = await PulumiProject.create({ repo: true, stack: STACK, env: sb.env });
        p.writeConfig(atFront(raw, sb.env));
        stackFile = join(p.projectDir, `Pulumi.${STACK}.yaml`);
        const adopt = await p.up();
        assert.equal(adopt.code, 0, `adoption: ${out(adopt)}`);
        const rm = await p.run(["config", "rm", "--path", "swarm-proxy:network.adoptId"]);
        assert.equal(rm.code, 0, rm.stderr);
    });

    after(() => {
        if (timings.length > 0) console.log(`      pipeline builds:\n${timings.map((t) => `        ${t}`).join("\n")}`);
        p?.cleanup();
        if (tmp && !process.env.SWARM_PIPELINES_KEEP) rmSync(tmp, { recursive: true, force: true });
        if (sb && !process.env.SWARM_PIPELINES_KEEP) sandboxDownSync(sb.name);
    });

    it("drift as the cron job, on the converged sandbox: the build passes, the reports are where the pipeline says, the host's tools are used", async () => {
        const b = await build("drift (warm cron, end to end)", "drift", [
            "--build-event",
            "cron",
            "--build-cron",
            "drift",
        ]);
        assert.equal(b.code, 0, show(b));
        console.log(`      warm cron drift run, end to end: ${b.seconds.toFixed(1)} s`);
        const env = stepLines(b, "drift").join("\n");
        assert.match(env, /drone-env: pulumi: using the host's \S+ \(v3\.\d+\.\d+\)/, show(b));
        assert.match(env, /drone-env: pulumi plugins: using the host's /, show(b));
        assert.match(env, /drone-env: stack pipelines: config from /, show(b));
        assert.doesNotMatch(b.log, /BUILDING|INSTALLING/, "a warm host builds nothing");
        const r = readReport();
        assert.equal(r.result, "clean", JSON.stringify(r.findings, null, 2));
        assert.match(readFileSync(join(reports, "drift-report.md"), "utf8"), /\S/);
        assert.ok(ran(b, "report"), "the report step prints the Markdown report into the build log");
    });

    it("drift as the cron job again, in a fresh clone of its own: clean twice in a row, and no report names a build's workspace", async () => {
        const b = await build("drift (cron, second build)", "drift", [
            "--build-event",
            "cron",
            "--build-cron",
            "drift",
        ]);
        assert.equal(b.code, 0, show(b));
        const r = readReport();
        assert.equal(r.result, "clean", JSON.stringify(r.findings, null, 2));
        const workspaces = join(tmp, "builds");
        for (const f of ["drift-report.json", "drift-report.md"]) {
            assert.ok(!readFileSync(join(reports, f), "utf8").includes(workspaces), `${f} names a build's workspace`);
        }
    });

    it("drift as the cron job after an out-of-band `docker stack rm drone`: the build fails, the report names stack-missing and its fix", async () => {
        docker(["stack", "rm", "drone"]);
        for (let i = 0; i < 240 && docker(["service", "ls", "-q", "--filter", "name=drone_"]) !== ""; i++) {
            execFileSync("sleep", ["0.5"]);
        }
        const b = await build("drift after docker stack rm drone", "drift", [
            "--build-event",
            "cron",
            "--build-cron",
            "drift",
        ]);
        assert.equal(b.code, 1, show(b));
        const r = readReport();
        assert.equal(r.result, "drift");
        const f = r.findings.find((x) => x.kind === "stack-missing");
        assert.ok(f, JSON.stringify(r.findings, null, 2));
        assert.equal(f.subject, "drone");
        assert.match((f.fix ?? []).join("\n"), /SWARM_PROXY_REDEPLOY=drone pulumi up --yes --target /);
        // The fix runs from the operator's checkout: it names the stack, and no folder of the build's own.
        for (const c of f.fix ?? []) {
            assert.ok(!c.includes(join(tmp, "builds")) && !c.includes("--cwd"), c);
            assert.match(c, /--stack pipelines/);
        }
        const md = readFileSync(join(reports, "drift-report.md"), "utf8");
        assert.match(md, /stack-missing/);
        assert.match(md, /SWARM_PROXY_REDEPLOY=drone pulumi up/);
        assert.match(stepLines(b, "report").join("\n"), /stack-missing/, "the report reaches the build log");
        // The operator runs the named fix from the host's own project folder (the build's clone is gone).
        const urn = (await p.resources()).find((x) => x.urn.endsWith("::drone-stack"))?.urn;
        assert.ok(urn);
        const fix = await p.up(["--target", urn, "--target-dependents"], { SWARM_PROXY_REDEPLOY: "drone" });
        assert.equal(fix.code, 0, fix.stderr.slice(-3000));
        servicesRunning();
    });

    it("maintenance promoted to maintenance after the first checkout's `up`, on a converged host: nothing deployed, no task restarted", async () => {
        const tasks = runningTasks();
        const b = await build("maintenance on a converged host", "maintenance", [
            "--build-event",
            "promote",
            "--build-target",
            "maintenance",
        ]);
        assert.equal(b.code, 0, show(b));
        for (const step of ["pulumi preview", "pulumi up in the window"]) {
            // Pulumi's summary: every resource unchanged, nothing to create, update, replace or delete.
            assert.match(stepLines(b, step).join("\n"), /Resources:\s+\d+ unchanged\s*$/m, `${step}:\n${show(b)}`);
        }
        assert.equal(readReport().result, "clean");
        assert.deepEqual(runningTasks(), tasks, "the maintenance build restarted tasks");
    });

    it("preview: a pull request ends early and passes (Drone hides the secrets from it, even when set); the push build shows the network's replacement for the /16", async () => {
        for (const [label, secrets] of [
            ["preview, pull request without secrets", false],
            ["preview, pull request with the secrets set", true],
        ] as const) {
            const b = await build(label, "preview", ["--build-event", "pull_request"], secrets);
            assert.equal(b.code, 0, show(b));
            assert.match(stepLines(b, "secrets").join("\n"), /Drone hides secrets from pull requests; no preview here/);
            assert.ok(!ran(b, "install") && !ran(b, "pulumi preview"), show(b));
        }

        const set = await p.run(["config", "set", "--path", "swarm-proxy:network.subnet", BIG_SUBNET]);
        assert.equal(set.code, 0, set.stderr);
        const before = networkSubnet("proxy");
        const tasks = runningTasks();
        const b = await build("preview, push with secrets", "preview", ["--build-event", "push"]);
        assert.equal(b.code, 0, show(b));
        const out = stepLines(b, "pulumi preview").join("\n");
        assert.match(out, /\+-docker:index\/network:Network: \(replace\)/, show(b));
        assert.match(out, /\+\+docker:index\/network:Network: \(create-replacement\)/, show(b));
        assert.match(out, /10\.10\.0\.0\/16/, show(b));
        assert.equal(networkSubnet("proxy"), before, "a preview changes nothing");
        assert.deepEqual(runningTasks(), tasks, "a preview restarts nothing");
    });

    it("maintenance promoted to another target does nothing disruptive", async () => {
        const tasks = runningTasks();
        const subnet = networkSubnet("proxy");
        const b = await build("maintenance, promoted to production", "maintenance", [
            "--build-event",
            "promote",
            "--build-target",
            "production",
        ]);
        assert.equal(b.code, 0, show(b));
        assert.match(stepLines(b, "target").join("\n"), /the maintenance runs only on promotion to maintenance/);
        for (const step of ["install", "pulumi preview", "pulumi up in the window", "drift"]) {
            assert.ok(!ran(b, step), `${step} ran:\n${show(b)}`);
        }
        assert.equal(networkSubnet("proxy"), subnet);
        assert.deepEqual(runningTasks(), tasks);
    });

    it("maintenance promoted to maintenance: preview, pulumi up in the window, drift clean; the sandbox ends at the /16 with every service running", async () => {
        const b = await build("maintenance, promoted to maintenance", "maintenance", [
            "--build-event",
            "promote",
            "--build-target",
            "maintenance",
        ]);
        assert.equal(b.code, 0, show(b));
        for (const step of ["pulumi preview", "pulumi up in the window", "drift", "report"]) {
            assert.ok(ran(b, step), `${step} did not run:\n${show(b)}`);
        }
        assert.match(stepLines(b, "pulumi preview").join("\n"), /\(replace\)|\+-/);
        assert.equal(readReport().result, "clean");
        assert.equal(networkSubnet("proxy"), BIG_SUBNET);
        servicesRunning();
    });
});
