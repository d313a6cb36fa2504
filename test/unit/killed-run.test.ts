// A killed `pulumi up`, as the drift check reads it: the file backend's lock and the state's pending operations
// parsed, who holds a lock (a real process on this host, or one that is gone), and the finding with its steps.
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { Finding } from "../../cli/drift/findings";
import {
    foldIntoKilledRun,
    hostNow,
    inProgressFindings,
    killedRunFindings,
    lockDirs,
    lockHolder,
    parseLock,
    parsePendingOperations,
    processCommandLine,
    type StackLock,
} from "../../cli/drift/killed-run";
import { type FixContext, withRemedies } from "../../cli/drift/remedies";
import { summarize } from "../../cli/drift/report";
import { EXIT_DRIFT, EXIT_RUNNING } from "../../cli/shared/errors";
import { WINDOW_HOOK } from "../../src/project";

const STACK_URN = "urn:pulumi:acc::swarm-proxy::swarm-proxy:index:SwarmStack$command:local:Command::drone-stack";
const HEALTH_URN = "urn:pulumi:acc::swarm-proxy::swarm-proxy:index:SwarmStack$command:local:Command::drone-http";
const NET_URN =
    "urn:pulumi:acc::swarm-proxy::swarm-proxy:index:ProxyNetwork$docker:index/network:Network::proxy-network";

/** What the CLI 3.259 wrote for a `pulumi up` killed in the teardown (keys as `pulumi stack export` prints them). */
const exported = (ops: { urn: string; type: string; op: string; guarded: boolean }[]) => ({
    version: 3,
    deployment: {
        resources: [],
        pending_operations: ops.map((o) => ({
            resource: {
                urn: o.urn,
                type: o.type,
                ...(o.guarded ? { resourceHooks: { before_delete: [WINDOW_HOOK] } } : {}),
            },
            type: o.op,
        })),
    },
});

const lock: StackLock = {
    file: "/state/.pulumi/locks/organization/swarm-proxy/acc/1.json",
    pid: 2405,
    username: "root",
    hostname: "vm",
    timestamp: "2026-12-06T23:40:00Z",
};

const ctx: FixContext = {
    pulumiStack: "acc",
    stackFile: "Pulumi.acc.yaml",
    hostScripts: "host",
    logArgs: [],
    since: new Date("2026-12-06T00:00:00Z"),
    attachedStacks: ["drone"],
    networkName: "proxy",
};

describe("drift: a killed run", () => {
    it("reads the file backend's lock (pkg/backend/diy/lock.go) and refuses anything else naming the file", () => {
        const text = '{"pid":2405,"username":"root","hostname":"vm","timestamp":"2026-12-06T23:40:00.1Z"}';
        assert.deepEqual(parseLock(text, "l.json"), {
            file: "l.json",
            pid: 2405,
            username: "root",
            hostname: "vm",
            timestamp: "2026-12-06T23:40:00.1Z",
        });
        assert.throws(() => parseLock("nope", "l.json"), /^CliError: l\.json: not a Pulumi lock file \(not JSON: /);
        assert.throws(
            () => parseLock('{"pid":"2405","hostname":"vm"}', "l.json"),
            /l\.json: not a Pulumi lock file \(expected \{pid, username, hostname, timestamp\}\)/,
        );
    });

    it("reads the state's pending operations, and whether the window's hook guards each", () => {
        const doc = exported([
            { urn: STACK_URN, type: "command:local:Command", op: "deleting", guarded: true },
            { urn: HEALTH_URN, type: "command:local:Command", op: "creating", guarded: false },
        ]);
        assert.deepEqual(parsePendingOperations(doc), [
            { urn: STACK_URN, name: "drone-stack", type: "command:local:Command", op: "deleting", windowGuarded: true },
            {
                urn: HEALTH_URN,
                name: "drone-http",
                type: "command:local:Command",
                op: "creating",
                windowGuarded: false,
            },
        ]);
        assert.deepEqual(parsePendingOperations({ deployment: { resources: [] } }), []);
        assert.deepEqual(parsePendingOperations(null), []);
    });

    it("finds the locks where the file backend keeps them; another backend has none it can read", () => {
        assert.deepEqual(lockDirs("file:///var/lib/pulumi", "swarm-proxy", "acc"), [
            "/var/lib/pulumi/.pulumi/locks/organization/swarm-proxy/acc",
            "/var/lib/pulumi/.pulumi/locks/acc",
        ]);
        assert.deepEqual(
            lockDirs("file:///var/lib/pulumi?no_fsync=true", "p", "s")?.[0],
            "/var/lib/pulumi/.pulumi/locks/organization/p/s",
        );
        assert.equal(lockDirs("https://api.pulumi.com", "p", "s"), undefined);
        assert.equal(lockDirs("s3://bucket", "p", "s"), undefined);
    });

    it("the live-pid rule: a pulumi process on this host runs; gone, reused or a zombie, it does not; another host is unknowable", () => {
        const at = (cmd: string | undefined) => ({ hostname: "vm", commandLine: () => cmd });
        assert.equal(lockHolder(lock, at("/usr/local/bin/pulumi up --yes --stack acc")), "running");
        assert.equal(lockHolder(lock, at("pulumi preview")), "running");
        assert.equal(lockHolder(lock, at(undefined)), "gone");
        assert.equal(lockHolder(lock, at("/usr/sbin/sshd -D")), "gone", "the pid was reused");
        assert.equal(lockHolder(lock, at("")), "gone", "a zombie has no command line");
        assert.equal(lockHolder(lock, at("/opt/pulumi-language-nodejs")), "gone");
        assert.equal(lockHolder(lock, { hostname: "ci-runner", commandLine: () => undefined }), "elsewhere");
    });

    it("the live-pid rule on real processes: one named pulumi runs until it exits, then is gone", async () => {
        const child = spawn("sleep", ["600"], { argv0: "pulumi", stdio: "ignore" });
        const pid = child.pid!;
        const mine = { ...lock, pid, hostname: "here" };
        const here = { hostname: "here", commandLine: processCommandLine };
        try {
            assert.equal(processCommandLine(pid), "pulumi 600");
            assert.equal(lockHolder(mine, here), "running");
            // This test's own process runs, but it is not pulumi.
            assert.equal(lockHolder({ ...mine, pid: process.pid }, here), "gone");
        } finally {
            const exited = new Promise((r) => child.on("exit", r));
            child.kill("SIGKILL");
            await exited;
        }
        assert.equal(processCommandLine(pid), undefined);
        assert.equal(lockHolder(mine, here), "gone");
    });

    it("a lock whose process runs, or may run on another host, is a run in progress: its own result and exit code", () => {
        const running = inProgressFindings("acc", [{ lock, holder: "running" }]);
        assert.equal(running[0].kind, "run-in-progress");
        assert.equal(
            running[0].detail,
            "stack acc is locked by root@vm (pid 2405) since 2026-12-06T23:40:00Z, a pulumi process that still runs on this host",
        );
        assert.match(running[0].meaning ?? "", /Never `pulumi cancel` a run whose process runs/);
        const elsewhere = inProgressFindings("acc", [{ lock, holder: "elsewhere" }]);
        assert.match(elsewhere[0].detail, /a process on another host, which this check cannot see$/);
        assert.deepEqual(inProgressFindings("acc", [{ lock, holder: "gone" }]), []);
        const r = summarize(running, { generatedAt: "", host: "", stackConfig: "" });
        assert.deepEqual([r.result, r.exitCode], ["running", EXIT_RUNNING]);
        assert.notEqual(EXIT_RUNNING, EXIT_DRIFT);
        // No fix for a run in progress: the remedies add none.
        assert.equal(withRemedies(running, ctx)[0].fix, undefined);
    });

    const teardown = parsePendingOperations(
        exported([{ urn: STACK_URN, type: "command:local:Command", op: "deleting", guarded: true }]),
    );
    const live: Finding[] = [
        { check: "network", subject: "proxy", status: "drift", kind: "network-missing", detail: "network is missing" },
        {
            check: "stack",
            subject: "drone",
            stack: "drone",
            status: "drift",
            kind: "stack-missing",
            detail: "stack has no services (removed?)",
        },
    ];

    it("a lock whose process is gone: what the run was doing, the window, the host now; cancel, then the rerun in the window", () => {
        const [f] = withRemedies(
            killedRunFindings({
                stack: "acc",
                locks: [{ lock, holder: "gone" }],
                pending: teardown,
                windowConfigured: false,
                rolling: false,
                hostNow: hostNow(live, "proxy"),
            }),
            ctx,
        );
        assert.equal(f.kind, "killed-run");
        assert.equal(
            f.detail,
            "a pulumi run was killed: it was deleting drone-stack; the maintenance window was open (it was deleting drone-stack, " +
                "which runs only in the window); stack acc is locked by root@vm (pid 2405) since 2026-12-06T23:40:00Z, a process that " +
                "no longer runs. The host now: proxy missing; stacks down: drone",
        );
        assert.deepEqual(f.fix, [
            "pulumi cancel --yes --stack acc",
            "env SWARM_PROXY_MAINTENANCE=open pulumi up --yes --stack acc",
        ]);
        assert.equal(f.disruptive, true);
        assert.equal(f.autoFix, false);
        assert.match(f.window ?? "", /maintenance window/);
    });

    it("pending operations without a lock (cancelled by hand): no cancel; a create pending says nothing of the window", () => {
        const health = parsePendingOperations(
            exported([{ urn: HEALTH_URN, type: "command:local:Command", op: "creating", guarded: false }]),
        );
        const input = {
            stack: "acc",
            locks: [],
            pending: health,
            windowConfigured: false,
            rolling: false,
            hostNow: "x",
        };
        const [f] = withRemedies(killedRunFindings(input), ctx);
        assert.equal(f.subject, "pending-operations");
        assert.match(
            f.detail,
            /^a pulumi run was killed: it was creating drone-http; the state does not say whether the maintenance window was open \(no delete was pending\)\. The host now: x$/,
        );
        assert.deepEqual(f.fix, ["env SWARM_PROXY_MAINTENANCE=open pulumi up --yes --stack acc"]);
        // With the state read, its pending creates: Pulumi keeps them after the rerun, so a last step drops them.
        const withState = { ...ctx, state: { resources: [], urns: {}, units: {}, pending: health } };
        assert.deepEqual(withRemedies(killedRunFindings(input), withState)[0].fix, [
            "env SWARM_PROXY_MAINTENANCE=open pulumi up --yes --stack acc",
            "pulumi refresh --clear-pending-creates --yes --stack acc",
        ]);
        assert.match(
            killedRunFindings({ ...input, windowConfigured: true })[0].detail,
            /window was open \(maintenance\.windowOpen is set\)/,
        );
        assert.deepEqual(killedRunFindings({ ...input, pending: [] }), []);
        // A rolling run deletes the old network's entry once it is gone, window or not: no evidence of the window.
        const net = parsePendingOperations(
            exported([{ urn: NET_URN, type: "docker:index/network:Network", op: "deleting", guarded: true }]),
        );
        assert.match(killedRunFindings({ ...input, pending: net, rolling: true })[0].detail, /does not say whether/);
        assert.match(
            killedRunFindings({ ...input, pending: net })[0].detail,
            /window was open \(it was deleting proxy-network/,
        );
    });

    it("the findings whose fixes run pulumi (they fail on the lock) fold into it; the others stay", () => {
        const killed = killedRunFindings({
            stack: "acc",
            locks: [{ lock, holder: "gone" }],
            pending: teardown,
            windowConfigured: false,
            rolling: false,
            hostNow: "h",
        });
        const changes: Finding = {
            check: "pulumi",
            subject: HEALTH_URN,
            status: "drift",
            kind: "pulumi-changes",
            detail: "would create",
        };
        const unknown: Finding = {
            check: "stack",
            subject: "intruder",
            stack: "intruder",
            status: "drift",
            kind: "stack-unknown",
            detail: "x",
        };
        const all = foldIntoKilledRun(withRemedies([...killed, ...live, changes, unknown], ctx), ctx);
        assert.deepEqual(
            all.map((f) => `${f.kind} ${f.subject}`),
            ["killed-run lock", "stack-unknown intruder"],
        );
        assert.match(
            all[0].detail,
            /; 3 other finding\(s\) are its unfinished work, planned again by the rerun: network-missing proxy; stack-missing drone; pulumi-changes drone-http$/,
        );
        // Without a killed run nothing folds.
        assert.equal(foldIntoKilledRun(withRemedies([...live, changes], ctx), ctx).length, 3);
    });
});
