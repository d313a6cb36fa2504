// The program and the tools on a swarm of three nodes (one manager, two workers, each its own dockerd in its own
// network namespace), with the manager reached over real SSH (Debian's sshd in the manager's namespace, a key
// made for the test): the real Pulumi CLI with the real plugins where installed (the harness says which), the CLI
// through its bin. Each `it` continues from the state the previous one left: three nodes → one count of addresses
// → a worker refused → adopt over SSH → a redeploy over SSH → the change over SSH → a wrong host key → no key
// anywhere → a worker stopped in the middle of the teardown → a worker joining during the window → rolling → a
// worker stopped in the middle of the rolling move → a stale vxlan interface on a worker.
import * as assert from "node:assert";
import * as child_process from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { notRun } from "../../harness/ci";
import {
    leaveStaleVxlan,
    leftTemporaryNetworkArgs,
    multiNodeUp,
    type MultiNode,
    runStaleVxlanFix,
    sandboxNode,
    type Ssh,
    sshDown,
    sshUp,
    STALE_VXLAN,
    staleVxlanStops,
    VNI_FORMAT,
    workerDockerd,
} from "../../harness/engine/multinode";
import { enginePlugins, type PulumiProject, repoRoot, type RunResult } from "../../harness/engine/pulumi";
import type { Plugins } from "../../harness/engine/plugins";
import {
    assertOnEither,
    docker,
    linesOf,
    networkId,
    networkSubnet,
    out,
    type ProgramState,
    runningTasks,
    sandboxConfig,
    serviceNetworks,
    stackGone,
    stackNames,
    swarmProject,
    taskAddresses,
    type TimedEvent,
    upWithEvents,
    type RawStackConfig,
} from "../../harness/engine/swarm-fixture";
import { sandboxDownSync, sandboxSeedSync } from "../../harness/sandbox";
import { ipInCidr } from "../../harness/swarm";
import { waitFor } from "../../harness/wait";
import { runBin } from "../tools/bin";

const SANDBOX = process.env.SWARM_MULTINODE_SANDBOX ?? "spx-multinode";
const NEW_SUBNET = "10.10.0.0/16";
/** Where this tier's program installs the host scripts (over SSH, on the manager: this machine's filesystem). */
const SCRIPTS = `/var/lib/swarm-proxy/${SANDBOX}/host`;
const FAULT_SUBNET = "10.11.0.0/16";
const ROLLING_SUBNET = "10.12.0.0/16";
const WORKER_DOWN_SUBNET = "10.13.0.0/16";
const STALE_SUBNET = "10.14.0.0/16";
/** The stale-vxlan case's temporary network, made before the move so that its VNI is known. */
const STALE_TEMP_SUBNET = "10.15.0.0/20";
/** Short, so a move that waits on the stopped worker gives up in seconds. */
const MOVE_SECONDS = 40;
/** Short, so the stopped worker's fault ends in seconds: the teardown's bounded wait. */
const TEARDOWN_SECONDS = 40;

/** The engine starts deleting something: the teardown of the maintenance is under way. */
function isDelete(e: TimedEvent): boolean {
    return /^(delete|delete-replaced|discard)$/.test(e.resourcePreEvent?.metadata.op ?? "");
}

/** What a run said: the preview's diagnostics (its stdout is JSON) and the plain output. */
function said(r: RunResult & { json?: { diagnostics?: { message: string }[] } }): string {
    return [...(r.json?.diagnostics ?? []).map((d) => d.message), r.stdout, r.stderr].join("\n");
}

/** Running tasks as "node hostname" → count, over the whole swarm (the manager's view). */
function tasksPerNode(): Map<string, number> {
    const services = docker(["service", "ls", "-q"]).split("\n").filter(Boolean);
    const per = new Map<string, number>();
    if (services.length === 0) return per;
    for (const node of docker([
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Node}} {{.CurrentState}}",
        ...services,
    ]).split("\n")) {
        const [name, state] = node.split(" ");
        if (state === "Running") per.set(name, (per.get(name) ?? 0) + 1);
    }
    return per;
}

/** "taskID address node" of every running task on `network`, over all nodes. */
function addressesByNode(network: string): { task: string; addr: string; node: string }[] {
    const rows = taskAddresses(network).map((l) => l.split(" "));
    if (rows.length === 0) return [];
    const nodeOf = new Map(
        docker(["inspect", "--type", "task", "--format", "{{.ID}} {{.NodeID}}", ...rows.map((r) => r[0])])
            .split("\n")
            .map((l) => l.split(" ") as [string, string]),
    );
    const names = new Map(
        docker(["node", "ls", "--format", "{{.ID}} {{.Hostname}}"])
            .split("\n")
            .map((l) => l.split(" ") as [string, string]),
    );
    return rows.map(([task, addr]) => ({ task, addr, node: names.get(nodeOf.get(task) ?? "") ?? "?" }));
}

describe("several nodes, and the manager over SSH (real engine, real sshd)", () => {
    let sb: MultiNode | undefined;
    let ssh: Ssh | undefined;
    let p: PulumiProject | undefined;
    let privateKey = "";
    const logs: string[] = [];
    // Filled in `before`, once the plugins are known (the sandbox config depends on them).
    const state: ProgramState = { raw: {} };
    let attached: string[] = [];
    let plugins: Plugins;

    const keep = <R extends RunResult>(r: R): R => {
        logs.push(r.stdout, r.stderr);
        return r;
    };

    before(async function () {
        this.timeout(900_000);
        // With SWARM_PROXY_REQUIRE_REAL_PLUGINS=1 (CI with the plugins installed) a missing plugin throws here.
        plugins = enginePlugins();
        if (plugins.command.path === undefined) {
            // The SSH path is the real command provider's (the stand-in has no SSH): nothing here can run without it.
            // Under CI (with or without a plugin mirror) that is a failure, not a skip.
            console.log(
                notRun(
                    "multinode tier",
                    "the real command provider is not installed " +
                        `(pulumi-resource-command ${plugins.command.version}; scripts/install-plugins.sh installs it ` +
                        "from SWARM_PROXY_PLUGIN_MIRROR)",
                ),
            );
            this.skip();
        }
        state.raw = sandboxConfig();
        attached = stackNames(state.raw).attached;
        sb = multiNodeUp(SANDBOX, 3);
        sandboxSeedSync(sb);
        ssh = sshUp(sb);
        privateKey = fs.readFileSync(ssh.keyFile, "utf8");
        // The reference host's runbook step 1, now over SSH: the live subnet and the live network's ID to adopt.
        state.raw.network.subnet = networkSubnet("proxy");
        state.raw.network.adoptId = networkId("proxy");
        // The rebuild stand-in evaluates a module on this machine; over SSH the host would run nixos-rebuild itself.
        delete state.raw.rebuild;
        state.raw.connection = {
            mode: "ssh",
            host: ssh.host,
            port: ssh.port,
            user: ssh.user,
            hostKey: ssh.hostKey,
            scriptsDir: SCRIPTS,
        };
        for (const s of state.raw.stacks as { compose: string; teardownTimeoutSeconds?: number }[]) {
            s.teardownTimeoutSeconds = TEARDOWN_SECONDS;
            // Over SSH a compose file is named by its path on the host (here the same filesystem).
            s.compose = path.join(repoRoot, s.compose);
        }
        p = await swarmProject(sb, state);
        // The key is a Pulumi secret: set once, its ciphertext then written with the rest of the config each run.
        await p.run(["config", "set", "--secret", "swarm-proxy:sshPrivateKey"], { input: privateKey });
        const file = fs.readFileSync(path.join(p.projectDir, `Pulumi.${p.stack}.yaml`), "utf8");
        const secure = /swarm-proxy:sshPrivateKey:\s*\n\s*secure:\s*(\S+)/.exec(file)?.[1];
        assert.ok(secure, `no secure sshPrivateKey in the stack file:\n${file}`);
        state.raw.sshPrivateKey = { secure };
        Object.assign(p.env, { SSH_AUTH_SOCK: ssh.agentSocket });
    });

    after(function () {
        this.timeout(300_000);
        p?.cleanup();
        if (sb && !process.env.SWARM_MULTINODE_KEEP) {
            sshDown(sb, ssh);
            sandboxDownSync(sb.name);
        }
    });

    it("runs three Ready nodes, with the stacks' tasks on every one of them", () => {
        const nodes = docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"]).split("\n");
        assert.strictEqual(nodes.length, 3, nodes.join("\n"));
        assert.ok(
            nodes.every((n) => n.split(" ")[1] === "Ready"),
            nodes.join("\n"),
        );
        const per = tasksPerNode();
        assert.strictEqual(per.size, 3, `tasks per node: ${JSON.stringify([...per])}`);
        console.log(`      tasks per node: ${[...per].map(([n, c]) => `${n} ${c}`).join(", ")}`);
    });

    it("counts one load-balancer address per node using proxy, the same in `swarm-proxy capacity` and `pulumi preview`", async () => {
        const cap = await runBin(["capacity", "--json", "--network", "proxy"], { cwd: os.tmpdir() });
        assert.strictEqual(cap.code, 0, cap.err);
        const report = JSON.parse(cap.out) as { usage: { lbEndpoints: number; inUse: number; nodesUsing: string[] } };
        assert.strictEqual(report.usage.lbEndpoints, 3, cap.out);
        assert.strictEqual(report.usage.nodesUsing.length, 3, cap.out);
        const pre = keep(await p!.preview());
        assert.strictEqual(pre.code, 0, out(pre));
        const line = (pre.json.diagnostics ?? []).map((d) => d.message).find((m) => m.includes("addresses in use"));
        assert.ok(line, out(pre));
        assert.match(
            line,
            new RegExp(
                `^proxy: ${report.usage.inUse} addresses in use \\(\\d+ VIPs, \\d+ endpoints, 3 load balancers: one per node using it\\)`,
            ),
        );
    });

    it("stops at preview, naming the node's role, when pointed at a worker", async () => {
        const worker: ProgramState = { raw: JSON.parse(JSON.stringify(state.raw)) as RawStackConfig };
        worker.raw.connection = { mode: "local" };
        delete worker.raw.sshPrivateKey;
        const q = await swarmProject({ ...sb!, env: { ...sb!.env, DOCKER_HOST: sb!.workers[0] } }, worker);
        try {
            const r = keep(await q.preview());
            assert.notStrictEqual(r.code, 0, out(r));
            assert.match(
                said(r),
                new RegExp(
                    `the host at this machine \\(DOCKER_HOST=${sb!.workers[0].replace(/[/.]/g, "\\$&")}\\) is a swarm worker \\(node "${SANDBOX}-w1"`,
                ),
            );
            assert.match(said(r), /created and removed only on a manager/);
            assert.strictEqual((await q.resources()).length, 0);
        } finally {
            q.cleanup();
        }
    });

    let tasksBefore: string[] = [];
    it("adopts the live network and stacks over SSH, changing nothing", async () => {
        tasksBefore = runningTasks();
        const proxy = networkId("proxy");
        const r = keep(await p!.up());
        assert.strictEqual(r.code, 0, out(r));
        assert.deepStrictEqual(runningTasks(), tasksBefore, "a task was restarted by the adoption");
        assert.strictEqual(networkId("proxy"), proxy);
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
        // Every command ran over SSH: the state holds remote commands only, and the Docker provider's host is ssh://.
        const res = await p!.resources();
        assert.ok(
            res.some((x) => x.type === "command:remote:Command"),
            res.map((x) => x.type).join(", "),
        );
        assert.ok(!res.some((x) => x.type === "command:local:Command"), res.map((x) => x.type).join(", "));
        if (plugins.docker.path) {
            const prov = res.find((x) => x.type === "pulumi:providers:docker");
            assert.strictEqual(
                (prov?.outputs as { host?: string } | undefined)?.host,
                `ssh://${ssh!.user}@${ssh!.host}:${ssh!.port}`,
            );
        } else {
            console.log(
                notRun(
                    "      the Docker provider's ssh:// check",
                    `the real Docker provider is not installed (pulumi-resource-docker ${plugins.docker.version})`,
                ),
            );
        }
    });

    it("redeploys a stack removed out of band over SSH (SWARM_PROXY_REDEPLOY, with an sshd that accepts no variables), restarting nothing else", async () => {
        const stack = "ccci-reports";
        docker(["stack", "rm", stack]);
        stackGone(stack);
        const others = runningTasks();
        const r = keep(await p!.up([], { SWARM_PROXY_REDEPLOY: stack }));
        assert.strictEqual(r.code, 0, out(r));
        const now = runningTasks();
        assert.ok(
            now.some((t) => t.startsWith(`${stack}_`)),
            `${stack} is not running again: ${now.join(", ")}`,
        );
        assert.deepStrictEqual(
            now.filter((t) => !t.startsWith(`${stack}_`)),
            others,
            "the redeploy restarted another stack's tasks",
        );
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, `a later plain run changes nothing: ${out(clean)}`);
    });

    it("recreates proxy as a /16 over SSH in the window: tasks on the workers too hold addresses in it, and the re-preview is clean", async () => {
        state.raw.network.subnet = NEW_SUBNET;
        delete state.raw.network.adoptId;
        const pre = keep(await p!.preview());
        assert.strictEqual(pre.code, 0, out(pre));
        const replaced = (pre.json.steps ?? [])
            .filter((s) => s.op === "replace" || s.op === "delete-replaced" || s.op === "create-replacement")
            .map((s) => s.urn.split("::").pop());
        for (const st of attached)
            assert.ok(replaced.includes(`${st}-stack`), `${st} is not replaced: ${replaced.join(", ")}`);
        state.window = "open";
        const t0 = Date.now();
        const { run } = await upWithEvents(p!);
        keep(run);
        const seconds = (Date.now() - t0) / 1000;
        state.window = undefined;
        assert.strictEqual(run.code, 0, out(run));
        console.log(`      3-node maintenance over SSH: pulumi up took ${seconds.toFixed(1)} s`);
        assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
        const addrs = addressesByNode("proxy");
        const nodes = new Set(addrs.map((a) => a.node));
        assert.strictEqual(nodes.size, 3, `tasks on proxy by node: ${JSON.stringify(addrs)}`);
        for (const a of addrs)
            assert.ok(ipInCidr(a.addr, NEW_SUBNET), `task ${a.task} on ${a.node} has ${a.addr}, outside ${NEW_SUBNET}`);
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
    });

    it("refuses a wrong pinned host key before any command runs, naming the host", async () => {
        const digest = fs.statSync(path.join(SCRIPTS, "DIGEST")).mtimeMs;
        const wrong = child_process
            .execFileSync(
                "bash",
                [
                    "-c",
                    'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -f "$d/k" && cut -d" " -f1,2 "$d/k.pub" && rm -rf "$d"',
                ],
                { encoding: "utf8" },
            )
            .trim();
        const saved = state.raw.connection.hostKey;
        state.raw.connection.hostKey = wrong;
        try {
            const r = keep(await p!.preview());
            assert.notStrictEqual(r.code, 0, out(r));
            assert.match(
                said(r),
                new RegExp(`host key of ${ssh!.host.replace(/\./g, "\\.")}:${ssh!.port} does not match`),
            );
            // The command provider checks the same pin: without the survey (which would stop first), a command that
            // must run (the scripts' installer, replaced on purpose) meets the mismatch before it runs anything.
            const install = (await p!.resources()).find((x) => x.urn.endsWith("::host-install"));
            assert.ok(install, "no host-install resource in the state");
            state.raw.survey = false;
            state.window = "open";
            const up = keep(await p!.up(["--replace", install.urn, "--target", install.urn]));
            assert.notStrictEqual(up.code, 0, out(up));
            assert.match(said(up), /ssh: handshake failed: ssh: host key mismatch/);
            assert.strictEqual(
                fs.statSync(path.join(SCRIPTS, "DIGEST")).mtimeMs,
                digest,
                "the host scripts were reinstalled",
            );
        } finally {
            state.raw.connection.hostKey = saved;
            delete state.raw.survey;
            state.window = undefined;
        }
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
    });

    it("keeps the private key out of the logs, the state export and every file the program writes", async () => {
        const needle = privateKey.split("\n").find((l) => l.length > 40 && !l.startsWith("-----"))!;
        assert.ok(needle, "the key file has no body line");
        const exported = await p!.run(["stack", "export"]);
        assert.strictEqual(exported.code, 0, out(exported));
        assert.ok(!exported.stdout.includes(needle), "the key is in `pulumi stack export`");
        assert.ok(
            exported.stdout.includes("sshPrivateKey") || exported.stdout.includes("4dabf18193072939515e22adb298388d"),
            "the export shows no secret at all",
        );
        for (const [i, l] of logs.entries()) assert.ok(!l.includes(needle), `the key is in output #${i}`);
        const grep = child_process.spawnSync(
            "grep",
            ["-rlF", "--", needle, p!.stateDir, p!.homeDir, p!.projectDir, SCRIPTS, os.tmpdir()],
            { encoding: "utf8" },
        );
        const hits = grep.stdout
            .split("\n")
            .filter(
                (f) =>
                    f && f !== ssh!.keyFile && !f.startsWith(path.dirname(ssh!.keyFile)) && !f.includes("node_modules"),
            );
        assert.deepStrictEqual(hits, [], "files holding the private key");
    });

    /** The swarm's own account of every service's latest tasks (their nodes, states and errors), for a failed
     *  rerun's message beside its output. */
    const swarmTasks = () =>
        linesOf(docker(["service", "ls", "-q"]))
            .map((svc) =>
                linesOf(
                    docker([
                        "service",
                        "ps",
                        "--no-trunc",
                        "--format",
                        "{{.Name}} {{.Node}} desired {{.DesiredState}}, {{.CurrentState}} {{.Error}}",
                        svc,
                    ]),
                )
                    .slice(0, 6)
                    .join("\n"),
            )
            .join("\n");
    /** A rerun's assertion message: nothing when it passed; its output and the swarm's tasks when it failed. */
    /** A rolling migration ended right: proxy on `subnet`, the temporary network gone, the tasks on proxy on all
     *  three nodes with addresses in `subnet`, and a clean re-preview. */
    const assertRolledOnto = async (subnet: string) => {
        assert.strictEqual(networkSubnet("proxy"), subnet);
        assert.ok(!docker(["network", "ls", "--format", "{{.Name}}"]).split("\n").includes("proxy-rolling"));
        const addrs = await waitFor("tasks on proxy on all three nodes", 120_000, () => {
            const a = addressesByNode("proxy");
            return Promise.resolve(new Set(a.map((x) => x.node)).size === 3 && a);
        });
        for (const a of addrs) assert.ok(ipInCidr(a.addr, subnet), `${a.task} on ${a.node}: ${a.addr}`);
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
    };
    const rerunFailure = (r: RunResult) => (r.code === 0 ? "" : `${out(r)}\n--- tasks\n${swarmTasks()}`);

    it("stops with one error naming the node and its tasks when a worker's dockerd stops in the middle of the teardown; a rerun converges", async () => {
        const proxy = networkId("proxy");
        state.raw.network.subnet = FAULT_SUBNET;
        state.window = "open";
        let stopped = false;
        // The worker dies as the first teardown starts (the engine's first delete), as a crash would.
        const onEvent = (e: TimedEvent) => {
            if (!stopped && isDelete(e)) {
                stopped = true;
                workerDockerd(sb!, "stop", "w1");
            }
        };
        const t0 = Date.now();
        const failed = keep((await upWithEvents(p!, [], onEvent)).run);
        const seconds = (Date.now() - t0) / 1000;
        try {
            assert.ok(stopped, "the up never started a delete");
            assert.notStrictEqual(failed.code, 0, out(failed));
            const text = failed.stdout + failed.stderr;
            assert.match(
                text,
                new RegExp(
                    `after ${TEARDOWN_SECONDS}s these tasks are still in the swarm: on node \\w+ \\(${SANDBOX}-w1, down\\)`,
                ),
            );
            assert.ok(seconds < TEARDOWN_SECONDS + 120, `the wait took ${seconds} s`);
            // Nothing else was removed: proxy is still the /16 of before, with its ID.
            assert.strictEqual(networkId("proxy"), proxy);
            assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
        } finally {
            workerDockerd(sb!, "start", "w1");
        }
        const rerun = keep(await p!.up());
        state.window = undefined;
        assert.strictEqual(rerun.code, 0, rerunFailure(rerun));
        assert.strictEqual(networkSubnet("proxy"), FAULT_SUBNET);
        for (const a of addressesByNode("proxy"))
            assert.ok(ipInCidr(a.addr, FAULT_SUBNET), `${a.task} on ${a.node}: ${a.addr}`);
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
    });

    it("changes nothing of the above when a worker joins during the window", async () => {
        const w2 = sb!.workers[1];
        const id = child_process
            .execFileSync("docker", ["-H", w2, "info", "--format", "{{.Swarm.NodeID}}"], { encoding: "utf8" })
            .trim();
        child_process.execFileSync("docker", ["-H", w2, "swarm", "leave", "--force"], { stdio: "ignore" });
        for (
            let i = 0;
            i < 60 && !docker(["node", "ls", "--format", "{{.ID}} {{.Status}}"]).includes(`${id} Down`);
            i++
        )
            child_process.execFileSync("sleep", ["1"]);
        docker(["node", "rm", "--force", id]);
        const token = docker(["swarm", "join-token", "-q", "worker"]);
        const addr = docker(["info", "--format", "{{.Swarm.NodeAddr}}"]);
        state.raw.network.subnet = NEW_SUBNET;
        state.window = "open";
        let joined = false;
        const onEvent = (e: TimedEvent) => {
            if (!joined && isDelete(e)) {
                joined = true;
                child_process.execFileSync("docker", ["-H", w2, "swarm", "join", "--token", token, `${addr}:2377`], {
                    stdio: "ignore",
                });
            }
        };
        const r = keep((await upWithEvents(p!, [], onEvent)).run);
        state.window = undefined;
        assert.ok(joined, "the up never started a delete");
        assert.strictEqual(r.code, 0, out(r));
        assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
        // The joined worker runs the global stack's task there, with an address in the new subnet.
        let addrs = addressesByNode("proxy");
        for (let i = 0; i < 60 && new Set(addrs.map((a) => a.node)).size < 3; i++) {
            child_process.execFileSync("sleep", ["1"]);
            addrs = addressesByNode("proxy");
        }
        assert.strictEqual(new Set(addrs.map((a) => a.node)).size, 3, JSON.stringify(addrs));
        for (const a of addrs) assert.ok(ipInCidr(a.addr, NEW_SUBNET), `${a.task} on ${a.node}: ${a.addr}`);
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
    });
    it("network.migration rolling over SSH: the global service's tasks on the workers move too, no stack is torn down, and the temporary network goes", async () => {
        state.raw.network.migration = "rolling";
        state.raw.network.subnet = ROLLING_SUBNET;
        const pre = keep(await p!.preview());
        assert.strictEqual(pre.code, 0, out(pre));
        const torn = (pre.json.steps ?? [])
            .filter((s) => /-stack$|teardown-all$/.test(s.urn) && s.op !== "same")
            .map((s) => `${s.op} ${s.urn.split("::").pop()}`);
        assert.deepStrictEqual(torn, [], "a stack changes in the rolling preview");
        const before = addressesByNode("proxy");
        assert.strictEqual(new Set(before.map((a) => a.node)).size, 3, JSON.stringify(before));
        state.window = "open";
        const t0 = Date.now();
        const { run } = await upWithEvents(p!);
        keep(run);
        state.window = undefined;
        assert.strictEqual(run.code, 0, out(run));
        console.log(
            `      3-node rolling migration over SSH: pulumi up took ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        assert.strictEqual(networkSubnet("proxy"), ROLLING_SUBNET);
        assert.ok(!docker(["network", "ls", "--format", "{{.Name}}"]).split("\n").includes("proxy-rolling"));
        const addrs = addressesByNode("proxy");
        assert.strictEqual(
            new Set(addrs.map((a) => a.node)).size,
            3,
            `tasks on proxy by node: ${JSON.stringify(addrs)}`,
        );
        for (const a of addrs) assert.ok(ipInCidr(a.addr, ROLLING_SUBNET), `${a.task} on ${a.node}: ${a.addr}`);
        const clean = keep(await p!.preview(["--expect-no-changes"]));
        assert.strictEqual(clean.code, 0, out(clean));
    });

    it("rolling with a worker's dockerd stopped in the middle of the move out: no service is left on neither network; with the worker back, the rerun converges on every node", async () => {
        state.raw.network.subnet = WORKER_DOWN_SUBNET;
        state.raw.network.rolling = { moveTimeoutSeconds: MOVE_SECONDS };
        const onProxy = Object.entries(serviceNetworks())
            .filter(([, n]) => n.includes("proxy"))
            .map(([svc]) => svc);
        state.window = "open";
        const run = upWithEvents(p!);
        let first: RunResult | undefined;
        try {
            await waitFor("a service on proxy-rolling", 300_000, () =>
                Promise.resolve(Object.values(serviceNetworks()).some((n) => n.includes("proxy-rolling"))),
            );
            workerDockerd(sb!, "stop", "w1");
            first = keep((await run).run);
            assertOnEither(onProxy, ["proxy", "proxy-rolling"], "with w1 stopped");
        } finally {
            workerDockerd(sb!, "start", "w1");
        }
        // The move waits for every task of a service on the temporary network, also one on the stopped worker
        // (a global service has one there for sure): it gives up (after moveTimeoutSeconds, or when the swarm pauses
        // the update), puts that service back, every other one too, and names the service, its tasks not there, and the node that is down.
        assert.notStrictEqual(first.code, 0, out(first));
        const said = first.stdout + first.stderr;
        const stopped = /service \S+ could not move onto network proxy-rolling: [^\\"]*/.exec(said)?.[0];
        assert.ok(stopped, `no service named as stopping the move: ${out(first)}`);
        console.log(`      the run with w1 stopped: ${stopped}`);
        assert.match(stopped, new RegExp(`node\\(s\\) not ready: .*${SANDBOX}-w1 \\(`));
        // The undo onto proxy may stall on the same node and stop too: what it leaves, the rerun resumes from.
        assert.strictEqual(networkSubnet("proxy"), ROLLING_SUBNET);
        delete state.raw.network.rolling;
        let rerun = keep(await p!.up());
        if (rerun.code !== 0) {
            // w1's dockerd stopped while tasks on overlays ran there: it can come back with an overlay's vxlan interface
            // left behind (moby/libnetwork#1765; seen in CI for two stacks' own overlays), and then rejects every task
            // of that overlay, so the move stops on it. That is the one stop accepted: it names the node, the overlay
            // and the fix, and once the printed fix has run on that node, the rerun must converge.
            const stops = staleVxlanStops(rerun.stdout + rerun.stderr);
            assert.ok(
                stops.length > 0,
                `the rerun stopped without naming a stale vxlan interface:\n${rerunFailure(rerun)}`,
            );
            assertOnEither(onProxy, ["proxy", "proxy-rolling"], "after the rerun that stopped");
            for (const stop of stops) {
                console.log(`      the rerun as w1 came back stopped: node ${stop.node}, overlay ${stop.overlay}`);
                console.log(`      the printed fix on ${stop.node}: ${runStaleVxlanFix(sb!, stop).trim()}`);
            }
            await waitFor("every service's tasks running again, every node Ready", 300_000, () =>
                Promise.resolve(
                    linesOf(docker(["node", "ls", "--format", "{{.Status}}"])).every((l) => l === "Ready") &&
                        linesOf(docker(["service", "ls", "--format", "{{.Replicas}}"])).every((l) =>
                            /^(\d+)\/\1\b/.test(l),
                        ),
                ),
            );
            rerun = keep(await p!.up());
        }
        state.window = undefined;
        assert.strictEqual(rerun.code, 0, rerunFailure(rerun));
        // The worker's tasks run again, in the new subnet, with the others'.
        await assertRolledOnto(WORKER_DOWN_SUBNET);
    });

    it("a stale vxlan interface on worker w1 (one left by hand, as a dockerd that stopped without cleaning up leaves it): the rolling move stops naming w1, proxy-rolling with its subnet and the fix; the printed fix run on w1, the rerun converges", async () => {
        state.raw.network.subnet = STALE_SUBNET;
        state.raw.network.rolling = { temporarySubnet: STALE_TEMP_SUBNET, moveTimeoutSeconds: MOVE_SECONDS };
        const onProxy = Object.entries(serviceNetworks())
            .filter(([, n]) => n.includes("proxy"))
            .map(([svc]) => svc);
        // What an interrupted run leaves, and the rerun resumes on: the temporary network, so that its VNI is known
        // before the move; the global service's task on w1 must join it.
        docker(leftTemporaryNetworkArgs(STALE_TEMP_SUBNET));
        const vni = Number(docker(["network", "inspect", "--format", VNI_FORMAT, "proxy-rolling"]));
        leaveStaleVxlan(sandboxNode(sb!, `${SANDBOX}-w1`).pidfile, vni);
        state.window = "open";
        const first = keep(await p!.up());
        assert.notStrictEqual(first.code, 0, out(first));
        const stops = staleVxlanStops(first.stdout + first.stderr);
        assert.deepStrictEqual(
            stops.map((x) => `${x.node} ${x.overlay}`),
            [`${SANDBOX}-w1 proxy-rolling (${STALE_TEMP_SUBNET})`],
            rerunFailure(first),
        );
        assertOnEither(onProxy, ["proxy", "proxy-rolling"], "after the stop");
        assert.strictEqual(networkSubnet("proxy"), WORKER_DOWN_SUBNET);
        const fixed = runStaleVxlanFix(sb!, stops[0]);
        console.log(`      the printed fix on ${stops[0].node}: ${fixed.trim()}`);
        assert.match(fixed, new RegExp(`removed vxlan interface ${STALE_VXLAN} \\(VNI \\d+\\)`));
        const rerun = keep(await p!.up());
        state.window = undefined;
        delete state.raw.network.rolling;
        assert.strictEqual(rerun.code, 0, rerunFailure(rerun));
        await assertRolledOnto(STALE_SUBNET);
    });
});
