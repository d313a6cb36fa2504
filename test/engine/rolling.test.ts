// network.migration: rolling, run by the real Pulumi CLI on a sandbox swarm of its own seeded with the reference
// host's before state: adoption, the preview, the refusal outside the window, a service that cannot start on the
// temporary network (rolled back, proxy as it was), a run interrupted by a dockerd restart in the move out, the
// next by Ctrl-C in the move back, and the run that converges; then the end state the `recreate` strategy leaves,
// and a second migration watched through traefik. Each `it` continues from the state the previous one left.
import * as assert from "node:assert";
import { type ChildProcess, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dirtyTasks } from "../../harness/docker";
import { type PulumiProject, repoRoot } from "../../harness/engine/pulumi";
import {
    adoptChangesNothing,
    assertOnEither,
    docker,
    linesOf,
    networkId,
    networkSubnet,
    out,
    type ProgramState,
    runningTasks,
    sandboxConfig,
    SANDBOX_DRAINING_ROUTES,
    sandboxRoutes,
    seededSandbox,
    serviceNetworks,
    stackNames,
    swarmProject,
    taskAddresses,
    upWithEvents,
} from "../../harness/engine/swarm-fixture";
import {
    assertRestarts,
    assertRoutePromises,
    judge,
    restartMoments,
    type StackEntry,
    watchEntryPoint,
} from "../../harness/outage";
import { Prober, unanswered } from "../../harness/prober";
import { Engine } from "../../src/engine";
import { ipInCidr } from "../../harness/swarm";
import { type Sandbox, sandboxDownSync, sandboxUp } from "../../harness/sandbox";
import { waitFor } from "../../harness/wait";
import { runBin } from "../tools/bin";

const SANDBOX = process.env.SWARM_ROLLING_SANDBOX ?? "rolling";
const NEW_SUBNET = "10.10.0.0/16";
const SECOND_SUBNET = "10.11.0.0/16";
const TEMP = "proxy-rolling";

const networkNames = () => linesOf(docker(["network", "ls", "--format", "{{.Name}}"]));
/** A network's subnet, or undefined while there is no such network (the moves delete and create them). */
const subnetOf = (name: string): string | undefined => {
    try {
        return networkSubnet(name);
    } catch {
        return undefined;
    }
};
const movesLabels = () =>
    linesOf(
        docker([
            "service",
            "inspect",
            "--format",
            '{{.Spec.Name}} {{index .Spec.Labels "traefik.swarm.network"}}{{range $k, $v := .Spec.Labels}} {{$k}}{{end}}',
            ...linesOf(docker(["service", "ls", "-q"])),
        ]),
    ).filter((l) => l.includes("swarm-proxy.rolling") || / proxy-rolling/.test(l));

describe("network.migration rolling on a sandbox swarm (real engine, real traefik)", () => {
    let sb: Sandbox | undefined;
    let p: PulumiProject | undefined;
    let liveSubnet = "";
    /** When the rerun after the interruption started: the drift check reads dockerd's log from there. */
    let since = new Date();
    const state: ProgramState = { raw: sandboxConfig() };
    state.raw.network.migration = "rolling";
    const { attached } = stackNames(state.raw);
    const composeOf = (stack: string) =>
        (state.raw.stacks as { name: string; compose?: string }[]).find((s) => s.name === stack)?.compose;

    /** The state's entries of the network (`pulumi stack export`): its ID and whether it is pending deletion. */
    const networkEntries = async (): Promise<{ id?: string; delete: boolean }[]> => {
        const r = await p!.mustRun(["stack", "export"]);
        const doc = JSON.parse(r.stdout) as {
            deployment?: { resources?: { urn: string; id?: string; delete?: boolean }[] };
        };
        return (doc.deployment?.resources ?? [])
            .filter((x) => x.urn.endsWith("::proxy-network"))
            .map((x) => ({ id: x.id, delete: x.delete === true }));
    };

    before(async function () {
        this.timeout(600_000);
        sb = seededSandbox(SANDBOX, state.raw);
        liveSubnet = state.raw.network.subnet as string;
        state.raw.rebuild.nixModule = "sandbox/swarm-before.nix";
        p = await swarmProject(sb, state);
    });

    after(function () {
        this.timeout(300_000);
        p?.cleanup();
        if (sb && !process.env.SWARM_ENGINE_KEEP) sandboxDownSync(sb.name);
    });

    it("adoption with network.migration rolling changes nothing; a second preview is clean", async () => {
        await adoptChangesNothing(p!);
    });

    it("the preview: proxy replaced create-first between the move out and the move back, no stack replaced; it names the temporary network and each service's move", async () => {
        state.raw.network.subnet = NEW_SUBNET;
        delete state.raw.network.adoptId;
        state.raw.rebuild.nixModule = "nix/swarm.nix";
        const pre = await p!.preview(["--show-replacement-steps"]);
        assert.strictEqual(pre.code, 0, out(pre));
        const steps = (pre.json.steps ?? []).map((s) => `${s.op} ${s.urn.split("::").pop()}`);
        const teardowns = steps.filter((s) => /-stack$|teardown-all$/.test(s) && !s.startsWith("same "));
        assert.deepStrictEqual(teardowns, [], `stacks changed: ${steps.join(", ")}`);
        assert.ok(steps.includes("create-replacement proxy-network"), steps.join(", "));
        assert.ok(steps.includes("update proxy-move-out"), steps.join(", "));
        assert.ok(steps.includes("create-replacement proxy-move-back"), steps.join(", "));
        const said = (pre.json.diagnostics ?? []).map((d) => d.message).join("\n");
        assert.match(said, /network\.migration rolling: proxy becomes 10\.10\.0\.0\/16/);
        assert.match(said, new RegExp(`onto ${TEMP} \\(10\\.\\d+\\.\\d+\\.\\d+/\\d+\\)`));
        assert.match(
            said,
            /traefik_ci_commoninternet_net_app: one restart per hop .*port 80 is published in host mode/,
        );
        assert.match(said, /ccci-dashboard_app: start-first/);
    });

    it("the preview refuses a temporary name another network holds, or one Docker reserves, naming the key and the network", async () => {
        // A network by the temporary name that is not this migration's own (no temporary-for label): the move out
        // would stop on it inside the window; the preview says so first.
        docker(["network", "create", "--driver", "overlay", "--subnet", "10.250.0.0/24", TEMP]);
        try {
            const held = await p!.preview();
            assert.notStrictEqual(held.code, 0, out(held));
            assert.match(
                held.stdout + held.stderr,
                new RegExp(
                    `network\\.rolling\\.temporaryName: network ${TEMP} already exists on the host .*10\\.250\\.0\\.0/24`,
                ),
            );
        } finally {
            docker(["network", "rm", TEMP]);
        }
        const rolling = state.raw.network.rolling as Record<string, unknown> | undefined;
        state.raw.network.rolling = { ...(rolling ?? {}), temporaryName: "ingress" };
        try {
            const reserved = await p!.preview();
            assert.notStrictEqual(reserved.code, 0, out(reserved));
            assert.match(
                reserved.stdout + reserved.stderr,
                /network\.rolling\.temporaryName: .*ingress.*Docker reserves/,
            );
        } finally {
            if (rolling === undefined) delete state.raw.network.rolling;
            else state.raw.network.rolling = rolling;
        }
        assert.ok(!networkNames().includes(TEMP));
    });

    it("outside the window, without maintenance.allowRollingOutsideWindow, up refuses before changing anything", async () => {
        const before = { tasks: runningTasks(), proxy: networkId("proxy") };
        state.window = undefined;
        const up = await p!.up();
        assert.notStrictEqual(up.code, 0, out(up));
        assert.match(up.stdout + up.stderr, /allowRollingOutsideWindow/);
        assert.deepStrictEqual({ tasks: runningTasks(), proxy: networkId("proxy") }, before);
        assert.ok(!networkNames().includes(TEMP));
    });

    it("a service whose new task cannot start on the temporary network is put back; proxy stays as it was, no service left off it", async () => {
        state.raw.maintenance = { ...(state.raw.maintenance ?? {}), allowRollingOutsideWindow: true };
        // The new task of a service whose image is gone never starts, and the swarm did not call its update failed
        // within the default 300 s (this case took 324 to 369 s): the move's own deadline puts it back, sooner.
        const rolling = state.raw.network.rolling as Record<string, unknown> | undefined;
        state.raw.network.rolling = { ...(rolling ?? {}), moveTimeoutSeconds: 60 };
        // A service in an allowed stack whose image is gone from the node: its running task stays, a new one cannot start.
        docker(["tag", "swarm-sandbox/standin:2", "swarm-sandbox/standin:doomed"]);
        docker([
            "service",
            "create",
            "--detach=false",
            "--quiet",
            "--name",
            "ccci-reports_doomed",
            "--label",
            "com.docker.stack.namespace=ccci-reports",
            "--container-label",
            "com.docker.stack.namespace=ccci-reports",
            "--network",
            "proxy",
            "swarm-sandbox/standin:doomed",
        ]);
        docker(["image", "rm", "--force", "swarm-sandbox/standin:doomed"]);
        const before = { proxy: networkId("proxy"), networks: serviceNetworks() };
        try {
            const up = await p!.up();
            assert.notStrictEqual(up.code, 0, out(up));
            assert.match(
                up.stdout + up.stderr,
                /service ccci-reports_doomed could not move onto network proxy-rolling/,
            );
            assert.strictEqual(networkId("proxy"), before.proxy);
            assert.strictEqual(networkSubnet("proxy"), liveSubnet);
            assert.deepStrictEqual(serviceNetworks(), before.networks, "a service's networks changed");
            assert.ok(!networkNames().includes(TEMP), "the temporary network is left");
            assert.deepStrictEqual(movesLabels(), [], "labels of the move are left");
        } finally {
            docker(["service", "rm", "ccci-reports_doomed"]);
            if (rolling === undefined) delete state.raw.network.rolling;
            else state.raw.network.rolling = rolling;
        }
    });

    it("outside the window with the key set: a dockerd restart in the move out, then Ctrl-C (SIGINT) in the move back, each stop the run with no service on neither network; the next run resumes and converges", async () => {
        const onProxy = Object.entries(serviceNetworks())
            .filter(([, n]) => n.includes("proxy"))
            .map(([svc]) => svc);
        const onNeither = (when: string): void => assertOnEither(onProxy, ["proxy", TEMP], when);
        const entriesBefore = await networkEntries();
        assert.strictEqual(entriesBefore.length, 1, JSON.stringify(entriesBefore));
        const run = upWithEvents(p!);
        // The moves have begun: the temporary network exists and a service is on it.
        await waitFor(`a service on ${TEMP}`, 300_000, () =>
            Promise.resolve(
                networkNames().includes(TEMP) && Object.values(serviceNetworks()).some((n) => n.includes(TEMP)),
            ),
        );
        await sandboxUp({ name: SANDBOX, restart: true });
        const first = await run;
        assert.notStrictEqual(
            first.run.code,
            0,
            `the run the dockerd restart interrupted succeeded:\n${out(first.run)}`,
        );
        onNeither("after the dockerd restart");

        // The next run resumes the move out, replaces the network and begins the move back: once a service is on
        // the new proxy and still on the temporary network, Ctrl-C.
        let cli: ChildProcess | undefined;
        const second = upWithEvents(p!, [], undefined, (c) => (cli = c));
        const moving = await waitFor("a service on the new proxy and the temporary network", 600_000, () =>
            Promise.resolve(
                subnetOf("proxy") === NEW_SUBNET &&
                    Object.entries(serviceNetworks()).find(([, n]) => n.includes("proxy") && n.includes(TEMP))?.[0],
            ),
        );
        cli!.kill("SIGINT");
        const interrupted = await second;
        console.log(
            `      Ctrl-C while ${moving} was on both networks: the CLI exited ${interrupted.run.code}; ` +
                `the move back ${interrupted.steps.some((x) => x.name === "proxy-move-back" && x.end !== undefined) ? "had completed" : "did not complete"}`,
        );
        // The run stopped: a Ctrl-C that did nothing would let it finish, exit 0 and delete the old entry.
        assert.notStrictEqual(
            interrupted.run.code,
            0,
            `the run Ctrl-C interrupted succeeded:\n${out(interrupted.run)}`,
        );
        onNeither("after Ctrl-C");
        // What the interruption left in state: the old network's entry pending deletion beside the new one (the
        // regression src/pulumiState.ts's reading of pending deletes is for: the rerun must not call it out of band).
        const left = await networkEntries();
        assert.deepStrictEqual(
            left.filter((e) => e.delete),
            [{ id: entriesBefore[0].id, delete: true }],
            `the state's network entries after Ctrl-C: ${JSON.stringify(left)}`,
        );
        assert.strictEqual(left.filter((e) => !e.delete).length, 1, JSON.stringify(left));

        since = new Date();
        const rerun = await p!.up();
        assert.strictEqual(rerun.code, 0, out(rerun));
        const after = await networkEntries();
        assert.deepStrictEqual(after, [{ id: networkId("proxy"), delete: false }], "the rerun left state behind");
    });

    it("the end state is recreate's: proxy the /16 with its labels, every attached service on it, the temporary network and the moves' labels gone", async () => {
        assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
        assert.strictEqual(
            docker(["network", "inspect", "--format", "{{json .Labels}}", "proxy"]),
            '{"owner":"swarm-proxy"}',
        );
        assert.ok(!networkNames().includes(TEMP), `networks: ${networkNames().join(", ")}`);
        assert.deepStrictEqual(movesLabels(), []);
        const nets = serviceNetworks();
        for (const stack of attached) {
            const services = Object.keys(nets).filter((s) => s.startsWith(`${stack}_`));
            assert.ok(
                services.some((s) => nets[s].includes("proxy")),
                `${stack}: ${JSON.stringify(nets)}`,
            );
        }
        for (const a of taskAddresses("proxy"))
            assert.ok(ipInCidr(a.split(" ")[1], NEW_SUBNET), `task address ${a} outside ${NEW_SUBNET}`);
        const clean = await p!.preview(["--expect-no-changes"]);
        assert.strictEqual(clean.code, 0, out(clean));
        // `swarm-proxy drift` through its bin, as scheduled CI runs it: clean.
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-rolling-drift-"));
        const env: NodeJS.ProcessEnv = { ...p!.env };
        delete env.SWARM_PROXY_MAINTENANCE;
        const drift = await runBin(
            [
                "drift",
                "--stack-config",
                path.join(p!.projectDir, `Pulumi.${p!.stack}.yaml`),
                "--pulumi-stack",
                p!.stack,
                "--pulumi-cwd",
                p!.projectDir,
                "--log-file",
                sb!.env.SANDBOX_DOCKERD_LOG,
                "--since",
                since.toISOString(),
                "--json",
            ],
            { cwd: tmp, env },
        );
        fs.rmSync(tmp, { recursive: true, force: true });
        assert.strictEqual(
            drift.code,
            0,
            `drift exit ${drift.code}:\n${drift.out.slice(-3000)}\n${drift.err.slice(-2000)}`,
        );
    });

    it("a plain docker stack deploy of each compose file afterwards restarts no task (the specs are what stack deploy writes)", async () => {
        const before = runningTasks();
        for (const stack of attached) {
            const compose = composeOf(stack);
            if (compose === undefined) continue;
            const r = spawnSync(
                "bash",
                [path.join(repoRoot, "host", "stack-deploy.sh"), stack, path.join(repoRoot, compose)],
                {
                    encoding: "utf8",
                    env: { ...process.env, ...sb!.env },
                },
            );
            assert.strictEqual(r.status, 0, r.stderr);
        }
        // No task replaced yet, and none the swarm would replace: every running task's spec is its service's template.
        assert.deepStrictEqual(await dirtyTasks(), [], "stack deploy changed task specs");
        assert.deepStrictEqual(runningTasks(), before, "stack deploy restarted tasks");
    });

    it("a second migration, watched through traefik: no route fails outside traefik's restarts (read from its own container events), and each route of the config is probed", async () => {
        state.raw.network.subnet = SECOND_SUBNET;
        // The host's module creates the network with the subnet the config wants: a copy of it with the second one.
        const module = fs.readFileSync(path.join(repoRoot, "nix", "swarm.nix"), "utf8");
        assert.ok(module.includes(NEW_SUBNET));
        fs.writeFileSync(
            path.join(p!.projectDir, "nix", "swarm-second.nix"),
            module.replaceAll(NEW_SUBNET, SECOND_SUBNET),
        );
        state.raw.rebuild.nixModule = "nix/swarm-second.nix";
        // Every route the config names (each stack with a health.http), not a list of this test's.
        const configured = (state.raw.stacks as { health?: { http?: { host?: string } } }[])
            .map((s) => s.health?.http?.host)
            .filter((h): h is string => h !== undefined);
        const routes = sandboxRoutes(state.raw, sb!);
        assert.ok(configured.length > 0, "the config names no route");
        assert.deepStrictEqual(
            routes.map((r) => r.host),
            configured,
        );
        await waitFor(
            "every route answering through traefik",
            120_000,
            async () => (await unanswered(routes)).length === 0,
        );
        const entry = await watchEntryPoint(new Engine(), routes);
        const prober = new Prober(routes).start();
        const { run } = await upWithEvents(p!);
        const samples = await prober.stop();
        const events = entry.stop();
        assert.strictEqual(run.code, 0, out(run));
        assert.strictEqual(networkSubnet("proxy"), SECOND_SUBNET);
        const verdict = judge(prober.failures(), [...samples.values()].flat(), events, Date.now());
        console.log(
            prober
                .figures()
                .map(
                    (f) =>
                        `      ${f.route}: ${f.failed}/${f.requests} failed, longest gap ${f.longestGapSeconds} s, unavailable ${f.unavailableSeconds} s`,
                )
                .join("\n"),
        );
        console.log(`      traefik's restarts (${entry.service}): ${JSON.stringify(verdict.figures)}`);
        console.log(`      at ${restartMoments(verdict.restarts)}`);
        // traefik publishes its port in host mode: it moves stop-first, one restart per hop; every service moves
        // twice (out and back).
        assertRestarts(verdict.restarts, 2, prober.failures());
        assertRoutePromises(verdict.own, samples, configured, state.raw.stacks as StackEntry[], {
            moves: 2,
            draining: SANDBOX_DRAINING_ROUTES,
        });
        assert.deepStrictEqual(await unanswered(routes), []);
        const clean = await p!.preview(["--expect-no-changes"]);
        assert.strictEqual(clean.code, 0, out(clean));
    });
    it("back to recreate afterwards: the switch alone only drops the moves' entries (they have no delete) and checks the routes; its next subnet change tears down, recreates and redeploys every attached stack", async () => {
        state.raw.network.migration = "recreate";
        const sw = await p!.preview();
        assert.strictEqual(sw.code, 0, out(sw));
        const changed = (sw.json.steps ?? [])
            .filter((s) => s.op !== "same")
            .map((s) => `${s.op} ${s.urn.split("::").pop()}`);
        // The moves' entries go (they run nothing on delete); each route's check, whose trigger held the subnet
        // under rolling, runs again (a request through traefik). No stack, no network changes.
        const routed = sandboxRoutes(state.raw, sb!).length;
        assert.deepStrictEqual(changed.filter((c) => !/^replace .*-http$/.test(c)).sort(), [
            "delete proxy-move",
            "delete proxy-move-back",
            "delete proxy-move-out",
        ]);
        assert.strictEqual(changed.filter((c) => /^replace .*-http$/.test(c)).length, routed, changed.join(", "));
        const third = "10.12.0.0/16";
        state.raw.network.subnet = third;
        const module = fs.readFileSync(path.join(repoRoot, "nix", "swarm.nix"), "utf8");
        fs.writeFileSync(path.join(p!.projectDir, "nix", "swarm-third.nix"), module.replaceAll(NEW_SUBNET, third));
        state.raw.rebuild.nixModule = "nix/swarm-third.nix";
        state.window = "open";
        const up = await p!.up();
        state.window = undefined;
        assert.strictEqual(up.code, 0, out(up));
        assert.strictEqual(networkSubnet("proxy"), third);
        for (const a of taskAddresses("proxy"))
            assert.ok(ipInCidr(a.split(" ")[1], third), `task address ${a} outside ${third}`);
        const routes = sandboxRoutes(state.raw, sb!);
        assert.deepStrictEqual(await unanswered(routes), []);
        const again = await p!.preview(["--expect-no-changes"]);
        assert.strictEqual(again.code, 0, out(again));
    });
});
