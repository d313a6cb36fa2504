// The engine matrix's end-to-end case: on the engine SANDBOX_DOCKER names (scripts/test-matrix.sh runs it on 20.10,
// 28.5 and 29.0; the default 29 runs the whole engine tier), the real Pulumi CLI and plugins run this repository's
// program on a sandbox seeded with the reference host's before state: adoption changes nothing; `recreate` to
// 10.10.0.0/16 in the window, watched through traefik (every route answers after, no request fails outside the
// teardown → redeploy span); then `rolling` to 10.11.0.0/16, watched through traefik (traefik's two restarts read
// from its own container events; no route the config names fails outside them); after each, a clean `--expect-no-changes`. The engine's version and API are printed first.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { assertSelectedEngine, engineOf } from "../../harness/docker";
import { type PulumiProject, repoRoot } from "../../harness/engine/pulumi";
import {
    adoptChangesNothing,
    networkSubnet,
    out,
    outageSpan,
    type ProgramState,
    sandboxConfig,
    SANDBOX_DRAINING_ROUTES,
    sandboxRoutes,
    seededSandbox,
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
import { type Sandbox, sandboxDownSync } from "../../harness/sandbox";
import { ipInCidr } from "../../harness/swarm";
import { waitFor } from "../../harness/wait";
import { Engine } from "../../src/engine";

const engineName = process.env.SANDBOX_DOCKER ?? "29";
const SANDBOX = process.env.SWARM_MATRIX_SANDBOX ?? `matrix-${engineName}`;
const RECREATED = "10.10.0.0/16";
const ROLLED = "10.11.0.0/16";

function figures(prober: Prober): string {
    return prober
        .figures()
        .map(
            (f) =>
                `      ${f.route}: ${f.failed}/${f.requests} failed, longest gap ${f.longestGapSeconds} s, unavailable ${f.unavailableSeconds} s`,
        )
        .join("\n");
}

function assertInSubnet(subnet: string): void {
    assert.strictEqual(networkSubnet("proxy"), subnet);
    for (const a of taskAddresses("proxy"))
        assert.ok(ipInCidr(a.split(" ")[1], subnet), `task address ${a} outside ${subnet}`);
}

describe(`the program end to end on engine SANDBOX_DOCKER=${engineName} (real CLI, plugins and traefik)`, () => {
    let sb: Sandbox | undefined;
    let p: PulumiProject | undefined;
    const state: ProgramState = { raw: sandboxConfig() };

    before(async function () {
        this.timeout(900_000);
        sb = seededSandbox(SANDBOX, state.raw);
        const engine = await engineOf();
        console.log(`      engine ${engineName}: dockerd ${engine.version}, Engine API ${engine.api}`);
        assertSelectedEngine(engine.version);
        state.raw.rebuild.nixModule = "sandbox/swarm-before.nix";
        p = await swarmProject(sb, state);
    });

    after(function () {
        this.timeout(300_000);
        p?.cleanup();
        if (sb && !process.env.SWARM_ENGINE_KEEP) sandboxDownSync(sb.name);
    });

    it("adoption changes nothing; a second preview is clean", async () => {
        await adoptChangesNothing(p!);
    });

    it("recreate in the window: every route answers after, none fails outside the teardown → redeploy span", async () => {
        state.raw.network.subnet = RECREATED;
        delete state.raw.network.adoptId;
        state.raw.rebuild.nixModule = "nix/swarm.nix";
        state.window = "open";
        const routes = sandboxRoutes(state.raw, sb!);
        assert.deepStrictEqual(await unanswered(routes), [], "a route did not answer before the maintenance");
        const prober = new Prober(routes).start();
        const { run, steps } = await upWithEvents(p!);
        await prober.stop();
        state.window = undefined;
        assert.strictEqual(run.code, 0, out(run));
        console.log(figures(prober));
        assert.deepStrictEqual(await unanswered(routes), [], "a route does not answer after the maintenance");
        const span = outageSpan(steps, state.raw);
        const outside = prober.failures().filter((f) => f.sent < span.start - 1000 || f.sent > span.end);
        assert.deepStrictEqual(
            outside.map((f) => `${f.route} at ${((f.sent - span.start) / 1000).toFixed(1)} s: ${f.detail}`),
            [],
            `requests failed outside the span (${((span.end - span.start) / 1000).toFixed(1)} s)`,
        );
        console.log(`      outage span ${((span.end - span.start) / 1000).toFixed(1)} s`);
        assertInSubnet(RECREATED);
        const clean = await p!.preview(["--expect-no-changes"]);
        assert.strictEqual(clean.code, 0, out(clean));
    });

    it("rolling in the window: every service moves out and back, no route fails on its own move", async () => {
        state.raw.network.migration = "rolling";
        const switched = await p!.up();
        assert.strictEqual(switched.code, 0, out(switched));
        state.raw.network.subnet = ROLLED;
        const module = fs.readFileSync(path.join(repoRoot, "nix", "swarm.nix"), "utf8");
        fs.writeFileSync(path.join(p!.projectDir, "nix", "swarm-rolled.nix"), module.replaceAll(RECREATED, ROLLED));
        state.raw.rebuild.nixModule = "nix/swarm-rolled.nix";
        state.window = "open";
        const routes = sandboxRoutes(state.raw, sb!);
        await waitFor(
            "every route answering through traefik",
            120_000,
            async () => (await unanswered(routes)).length === 0,
        );
        // Every route the config names, by its host; traefik's restarts from its own container events.
        const configured = (state.raw.stacks as { health?: { http?: { host?: string } } }[])
            .map((s) => s.health?.http?.host)
            .filter((h): h is string => h !== undefined);
        assert.ok(configured.length > 0, "the config names no route");
        const entry = await watchEntryPoint(new Engine(), routes);
        const prober = new Prober(routes).start();
        const { run } = await upWithEvents(p!);
        const samples = await prober.stop();
        const events = entry.stop();
        state.window = undefined;
        assert.strictEqual(run.code, 0, out(run));
        console.log(figures(prober));
        const verdict = judge(prober.failures(), [...samples.values()].flat(), events, Date.now());
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
        assertInSubnet(ROLLED);
        const clean = await p!.preview(["--expect-no-changes"]);
        assert.strictEqual(clean.code, 0, out(clean));
    });
});
