// The classifier of the prober's failures (harness/outage.ts) that bench:outage and the engine tier share: traefik's
// restarts from its own container events, each with its parts, and every other failure the routes' own.
import * as assert from "node:assert/strict";
import {
    assertRestarts,
    assertRoutePromises,
    classifyFailures,
    type ContainerEvent,
    entryPort,
    entryService,
    type EngineEvent,
    type Failure,
    labelSwitches,
    parseEngineEvents,
    parseEvents,
    restartFigures,
    restartsOf,
    drainingRoutes,
    ownFailureBound,
    routeDrains,
    SANDBOX_POLL_SECONDS,
    sandboxBounds,
    type StackEntry,
} from "../../harness/outage";
import type { Sample } from "../../harness/prober";
import type { EngineService } from "../../src/docker";

const ev = (time: number, action: string, container: string): ContainerEvent => ({ time, action, container });
const sample = (sent: number, ok: boolean, done = sent + 5): Sample => ({ sent, done, ok, detail: ok ? "200" : "x" });
const fail = (route: string, sent: number, done = sent + 5): Failure => ({ ...sample(sent, false, done), route });
/** One route answering every 100 ms from `from` to `to` except in [downFrom, downTo). */
const probe = (from: number, to: number, downFrom: number, downTo: number): Sample[] => {
    const out: Sample[] = [];
    for (let t = from; t < to; t += 100) out.push(sample(t, t < downFrom || t >= downTo));
    return out;
};
/** The sandbox's traefik's first read after its start, ms: poll 1 s + throttle 0.25 s + margin 0.5 s. */
const FIRST_READ = sandboxBounds().firstReadMs;
/** traefik restarted stop-first: old container a signalled at 1000, exits at 1400, b starts at 2000. */
const RESTART = [ev(1000, "kill", "a"), ev(1400, "die", "a"), ev(2000, "start", "b")];

describe("traefik's restarts from its container events", () => {
    it("a stop-first restart: stop, exit, start, and the first request routed after the start", () => {
        const restarts = restartsOf(RESTART, probe(0, 5000, 1000, 2600), 5000);
        assert.deepEqual(restarts, [
            {
                stop: 1000,
                stopped: 1400,
                start: 2000,
                firstRoute: 2600,
                firstRouteAnswered: 2605,
                listening: 2000,
                until: 2605,
            },
        ]);
        assert.deepEqual(restartFigures(restarts[0]), {
            gapSeconds: 1.6,
            stopSeconds: 0.4,
            startSeconds: 0.6,
            firstRouteSeconds: 0.6,
        });
    });

    it("a stop begins at the first signal: a request that failed before it is the routes' own", () => {
        // traefik answers until its signal (the swarm's 2 s before it are served); a failure before it is ours,
        // e.g. a label switched under the old traefik.
        const restarts = restartsOf(RESTART, probe(-2000, 5000, -800, 2600), 5000);
        assert.deepEqual(restarts, [
            {
                stop: 1000,
                stopped: 1400,
                start: 2000,
                firstRoute: 2600,
                firstRouteAnswered: 2605,
                listening: 2000,
                until: 2605,
            },
        ]);
        const { traefik, own } = classifyFailures([fail("r", -800), fail("r", 500), fail("r", 1500)], restarts);
        assert.deepEqual(
            own.map((f) => f.sent),
            [-800, 500],
        );
        assert.equal(traefik.length, 1);
    });

    it("a successful request sent before the new start is not its first route", () => {
        const samples = [sample(1900, true), sample(2100, false), sample(2200, true)];
        assert.equal(restartsOf(RESTART, samples, 3000)[0].firstRoute, 2200);
    });

    it("a start-first replacement (the new container starts before the old one stops) is no restart", () => {
        const events = [ev(500, "start", "b"), ev(1000, "kill", "a"), ev(1200, "die", "a")];
        assert.deepEqual(restartsOf(events, probe(0, 3000, 3000, 3000), 3000), []);
    });

    it("a crash (die with no signal) is a restart from the exit", () => {
        const events = [ev(1000, "die", "a"), ev(1500, "start", "b")];
        assert.deepEqual(restartsOf(events, probe(0, 3000, 1000, 1800), 3000), [
            {
                stop: 1000,
                stopped: 1000,
                start: 1500,
                firstRoute: 1800,
                firstRouteAnswered: 1805,
                listening: 1500,
                until: 1805,
            },
        ]);
    });

    it("a stop with no start after it lasts to the end of probing, without a first route", () => {
        const r = restartsOf([ev(1000, "kill", "a"), ev(1100, "die", "a")], probe(0, 2000, 1000, 2000), 2000);
        assert.deepEqual(r, [{ stop: 1000, stopped: 1100, start: 2000, until: 2000 + FIRST_READ }]);
        assert.equal(restartFigures(r[0]).firstRouteSeconds, null);
    });

    it("two restarts in a run are two spans", () => {
        const events = [...RESTART, ev(6000, "kill", "b"), ev(6300, "die", "b"), ev(6500, "start", "c")];
        const r = restartsOf(events, [...probe(0, 5000, 1000, 2600), ...probe(5000, 9000, 6000, 7000)], 9000);
        assert.deepEqual(
            r.map((x) => [x.stop, x.firstRoute]),
            [
                [1000, 2600],
                [6000, 7000],
            ],
        );
    });
});

describe("the failures' classifier", () => {
    const restarts = restartsOf(RESTART, probe(0, 5000, 1000, 2600), 5000);

    it("a failure in flight during a restart's span is traefik's; a timeout sent before the signal is the route's own", () => {
        // Sent at 950, before the signal at 1000, unanswered until 1950: a hang is how a label switched under the
        // old traefik shows (traefik answers, or refuses, once its entry point closes; it does not hang).
        const hang = fail("a.test", 950, 1950);
        hang.detail = "no answer within 1000 ms";
        const { traefik, own } = classifyFailures([hang, fail("b.test", 1500), fail("a.test", 2500)], restarts);
        assert.deepEqual(
            traefik.map((f) => f.sent),
            [1500, 2500],
        );
        assert.deepEqual(
            own.map((f) => f.sent),
            [950],
        );
    });

    it("every route dead between two restarts: the first restart's span closes at its first read, the rest is the routes' own", () => {
        // The new traefik routes nothing (a wrong label or network on every service) until the second restart's
        // new container: its first routed answer, after the second restart, must not stretch the first span.
        const events = [...RESTART, ev(10_000, "kill", "b"), ev(10_400, "die", "b"), ev(11_000, "start", "c")];
        const routes = ["a.test", "b.test", "c.test"];
        const samples = [...probe(0, 1000, 2000, 2000), ...probe(1000, 14_000, 1000, 11_600)];
        const failures = routes.flatMap((route) => probe(1000, 11_600, 1000, 11_600).map((x) => ({ ...x, route })));
        const r = restartsOf(events, samples, 14_000);
        assert.deepEqual(
            r.map((x) => [x.firstRoute, x.until]),
            [
                [11_600, 2000 + FIRST_READ],
                [11_600, 11_605],
            ],
        );
        const { own } = classifyFailures(failures, r);
        // Sent after 3750 and before the second signal at 10 000 (3800 to 9900): 62 ticks on each of the routes.
        assert.equal(own.length, 3 * 62);
        assert.ok(own.every((f) => f.sent > 2000 + FIRST_READ && f.sent < 10_000));
        assert.throws(() => assertRestarts(r, 2), /restart 1 routed no request within its first read \(1\.75 s\)/);
    });

    it("a refusal, then seconds of timeouts on every route before the signal: the routes' own", () => {
        const refused = { sent: -2000, done: -2000, ok: false, detail: "connect ECONNREFUSED 198.18.0.1:80" };
        const timeouts = ["a.test", "b.test"].flatMap((route) =>
            Array.from({ length: 29 }, (_, i) => ({
                route,
                sent: -1900 + i * 100,
                done: -900 + i * 100,
                ok: false,
                detail: "no answer within 1000 ms",
            })),
        );
        const samples = [refused, ...timeouts, ...probe(1100, 5000, 0, 2600)];
        const [r] = restartsOf(RESTART, samples, 5000);
        assert.equal(r.refused, undefined);
        const { traefik, own } = classifyFailures([{ ...refused, route: "a.test" }, ...timeouts], [r]);
        assert.deepEqual(traefik, []);
        assert.equal(own.length, 1 + 58);
    });

    it("a refusal more than one probe tick before dockerd's record, with nothing accepted after it, is the route's own", () => {
        const refused = { sent: 850, done: 851, ok: false, detail: "connect ECONNREFUSED 198.18.0.1:80" };
        const [r] = restartsOf(RESTART, [refused, ...probe(1100, 5000, 0, 2600)], 5000);
        assert.equal(r.refused, undefined);
        assert.deepEqual(classifyFailures([{ ...refused, route: "a.test" }], [r]).traefik, []);
    });

    it("a refusal sent in the tick before the signal and met after it is traefik's: the connection met the closed entry point", () => {
        const late = {
            sent: 960,
            done: 1003,
            ok: false,
            detail: "connect ECONNREFUSED 198.18.0.1:80",
            route: "a.test",
        };
        const timeout = { ...late, detail: "no answer within 1000 ms", done: 1960 };
        const { traefik, own } = classifyFailures([late, timeout], restarts);
        assert.deepEqual(traefik, [late]);
        assert.deepEqual(own, [timeout]);
    });

    it("the new traefik's first read counts from its entry point's first accepted connection: refusals before it are its start-up", () => {
        // Started at 2000, refusing connections until 4000 (a loaded machine), routing at 4600.
        const refusing = probe(2000, 4000, 2000, 4000).map((x) => ({
            ...x,
            detail: "connect ECONNREFUSED 198.18.0.1:80",
        }));
        const samples = [...probe(0, 1000, 2000, 2000), ...refusing, ...probe(4000, 8000, 4000, 4600)];
        const [r] = restartsOf(RESTART, samples, 8000);
        assert.equal(r.listening, 4000);
        assert.equal(r.until, 4605);
        assertRestarts([r], 1);
        const { own } = classifyFailures(
            [...refusing, ...probe(4000, 4600, 4000, 4600)].map((x) => ({ ...x, route: "a.test" })),
            [r],
        );
        assert.deepEqual(own, []);
        // Listening from 4000 but failing (no route yet) and routing only at 6000: the span ends at 5750.
        const late = [...probe(0, 1000, 2000, 2000), ...refusing, ...probe(4000, 8000, 4000, 6000)];
        const [l] = restartsOf(RESTART, late, 8000);
        assert.equal(l.until, 4000 + FIRST_READ);
        const lateFailures = late.filter((x) => !x.ok).map((x) => ({ ...x, route: "a.test" }));
        assert.throws(
            () => assertRestarts([l], 1, lateFailures),
            /first route 2 s after; the routes got connect ECONNREFUSED, x from its start/,
        );
    });

    it("a span closes at the new start plus traefik's first read when no request is routed before it", () => {
        // The first routed answer comes 3 s after the start: the failures after start + first read are the routes'.
        const [r] = restartsOf(RESTART, probe(0, 8000, 1000, 5000), 8000);
        assert.equal(r.firstRoute, 5000);
        assert.equal(r.until, 2000 + FIRST_READ);
        const { own } = classifyFailures([fail("a.test", 3700), fail("a.test", 3800), fail("a.test", 4900)], [r]);
        assert.deepEqual(
            own.map((f) => f.sent),
            [3800, 4900],
        );
    });

    it("a failure before the stop or sent after the first routed request's answer is the route's own", () => {
        const { traefik, own } = classifyFailures([fail("a.test", 800, 900), fail("b.test", 2606)], restarts);
        assert.deepEqual(traefik, []);
        assert.deepEqual(
            own.map((f) => `${f.route} ${f.sent}`),
            ["a.test 800", "b.test 2606"],
        );
    });

    it("a failure sent in the same millisecond as the first routed request (one tick) is traefik's", () => {
        // The first routed request was sent at 2600 and answered at 2605: a request of another route sent at 2600
        // met traefik before its routes were in place (a 404 from it).
        const { traefik, own } = classifyFailures([fail("b.test", 2600, 2602)], restarts);
        assert.deepEqual(own, []);
        assert.equal(traefik.length, 1);
    });

    it("a long outage of every route with no traefik restart behind it is the routes' own", () => {
        const routes = ["a.test", "b.test", "c.test"];
        const failures = routes.flatMap((route) => Array.from({ length: 80 }, (_, i) => fail(route, 10_000 + i * 100)));
        const { traefik, own } = classifyFailures(failures, restarts);
        assert.equal(traefik.length, 0);
        assert.equal(own.length, 240);
        // Without any restart at all, too.
        assert.equal(classifyFailures(failures, []).own.length, 240);
    });

    it("a connection refused just before dockerd recorded the signal is the stop's, from the probe's evidence", () => {
        // dockerd records the kill after containerd delivered it: the entry point closed at 997, the record is at
        // 1000 (seen on dockerd 29.0: 3 ms). Other routes' requests of the same tick were accepted before it closed.
        const refused = { sent: 997, done: 997, ok: false, detail: "connect ECONNREFUSED 198.18.0.1:80" };
        const tick = [{ ...refused }, { sent: 997, done: 1002, ok: true, detail: "200" }];
        const samples = [...probe(0, 997, 2000, 2000), ...tick, ...probe(1100, 5000, 0, 2600)];
        const [r] = restartsOf(RESTART, samples, 5000);
        assert.equal(r.refused, 997);
        assert.equal(restartFigures(r).gapSeconds, 1.6);
        const { traefik, own } = classifyFailures([{ ...refused, route: "a.test" }], [r]);
        assert.deepEqual(own, []);
        assert.equal(traefik.length, 1);
        // A connection in the listener's queue when it closed is reset: the same evidence.
        const reset = { ...refused, detail: "socket hang up" };
        assert.equal(restartsOf(RESTART, [...samples.filter((s) => s !== tick[0]), reset], 5000)[0].refused, 997);
    });

    it("a refused connection that the entry point accepted again after, or a failure that is no refusal, is the route's own", () => {
        const early = { sent: 900, done: 901, ok: false, detail: "connect ECONNREFUSED 198.18.0.1:80" };
        const late502 = { sent: 995, done: 999, ok: false, detail: "502 Bad Gateway" };
        // 950 was accepted (a 404 from traefik is an answer too): the entry point was open after the refusal at 900.
        const samples = [early, { sent: 950, done: 952, ok: false, detail: "404 page not found" }, late502];
        const [r] = restartsOf(RESTART, [...samples, ...probe(1100, 5000, 0, 2600)], 5000);
        assert.equal(r.refused, undefined);
        const { own } = classifyFailures(
            [early, late502].map((f) => ({ ...f, route: "a.test" })),
            [r],
        );
        assert.deepEqual(
            own.map((f) => f.sent),
            [900, 995],
        );
    });

    it("a stop with no start: every failure after it is traefik's", () => {
        const open = restartsOf([ev(1000, "kill", "a")], probe(0, 3000, 1000, 3000), 3000);
        assert.deepEqual(classifyFailures([fail("a.test", 2900)], open).own, []);
    });
});

describe("the entry point's service and its events", () => {
    it("is the service that publishes the routes' port, by name", () => {
        const services = [
            { ID: "1", Spec: { Name: "drone_app" } },
            {
                ID: "2",
                Spec: { Name: "traefik_app", EndpointSpec: { Ports: [{ PublishedPort: 80, PublishMode: "host" }] } },
            },
        ] as EngineService[];
        assert.equal(entryService(services, entryPort("http://198.18.0.1/")), "traefik_app");
        assert.equal(entryService(services, entryPort("http://198.18.0.1:8080/")), undefined);
        assert.equal(entryPort("https://x.test/"), 443);
    });

    it("reads container events with their time in ms; other lines and types are skipped", () => {
        const text = [
            JSON.stringify({ Type: "container", Action: "kill", Actor: { ID: "a" }, timeNano: 1_500_000_000 }),
            JSON.stringify({ Type: "container", Action: "exec_start: sh -c x", Actor: { ID: "a" }, timeNano: 2e9 }),
            JSON.stringify({ Type: "network", Action: "connect", Actor: { ID: "n" }, timeNano: 3e9 }),
            JSON.stringify({
                Type: "service",
                Action: "update",
                Actor: { ID: "s", Attributes: { name: "t", "updatestate.new": "updating" } },
                timeNano: 4e9,
            }),
            JSON.stringify({
                Type: "service",
                Action: "update",
                Actor: { ID: "s", Attributes: { name: "t", "updatestate.new": "completed" } },
                timeNano: 5e9,
            }),
            "",
        ].join("\n");
        assert.deepEqual(parseEvents(text), [
            { time: 1500, action: "kill", container: "a" },
            { time: 2000, action: "exec_start", container: "a" },
        ]);
    });
});

describe("the label switch around traefik's restarts, from dockerd's events", () => {
    const c = (time: number, action: string, id: string): EngineEvent => ({
        time,
        type: "container",
        action,
        id,
        attributes: { "com.docker.swarm.service.name": "traefik_app" },
    });
    const write = (time: number, name: string, state?: string): EngineEvent => ({
        time,
        type: "service",
        action: "update",
        id: name,
        attributes: state === undefined ? { name } : { name, "updatestate.new": state },
    });
    const restart = [c(1000, "kill", "a"), c(1400, "die", "a"), c(2000, "start", "b")];

    it("every service's spec written between the old container's signal and the new one's start passes", () => {
        const r = labelSwitches([...restart, write(1200, "x"), write(1300, "y")], "traefik_app", ["x", "y"]);
        assert.deepEqual(r.restarts, [{ signal: 1000, start: 2000 }]);
        assert.deepEqual(r.late, []);
        assert.deepEqual(r.margins, [700]);
    });

    it("a write after the new start, before the signal, or only an update's progress is named", () => {
        const events = [...restart, write(900, "x"), write(2100, "y"), write(1500, "z", "completed")];
        assert.deepEqual(
            labelSwitches(events, "traefik_app", ["x", "y", "z"]).late.map((l) => l.split(":")[0]),
            ["x", "y", "z"],
        );
    });

    it("reads the events' type, action, actor and time", () => {
        const line = JSON.stringify({
            Type: "service",
            Action: "update",
            Actor: { ID: "s", Attributes: { name: "x" } },
            timeNano: 2e9,
        });
        assert.deepEqual(parseEngineEvents(`${line}\nnot json\n`), [
            { time: 2000, type: "service", action: "update", id: "s", attributes: { name: "x" } },
        ]);
    });
});

describe("the routes' promises under rolling, for every route the config names", () => {
    const stacks: StackEntry[] = [
        {
            name: "ccci-dashboard",
            compose: "sandbox/stacks/ccci-dashboard.yml",
            health: { http: { host: "dash.test" } },
        },
        { name: "ccci-bridge", compose: "sandbox/stacks/ccci-bridge.yml", health: { http: { host: "bridge.test" } } },
    ];
    const probed = new Map([
        ["dash.test", probe(0, 1000, 0, 0)],
        ["bridge.test", probe(0, 1000, 0, 0)],
    ]);

    const promised = { moves: 2, draining: ["dash.test"] };
    const both = ["dash.test", "bridge.test"];

    it("a route the config names that was not probed fails, naming it (a renamed route cannot pass unchecked)", () => {
        assert.throws(
            () => assertRoutePromises([], new Map([["dash.test", probe(0, 1000, 0, 0)]]), both, stacks, promised),
            /bridge\.test was not probed/,
        );
    });

    it("a route whose service drains fails on any failure of its own; one that stops at once is held to one poll a move", () => {
        assert.ok(routeDrains(stacks, "dash.test", SANDBOX_POLL_SECONDS));
        assert.ok(!routeDrains(stacks, "bridge.test", SANDBOX_POLL_SECONDS));
        assert.throws(
            () => assertRoutePromises([fail("dash.test", 500)], probed, both, stacks, promised),
            /dash\.test drains, and failed outside traefik's restarts/,
        );
        // Two moves, each up to poll + throttle + margin (1.75 s) at a request every 100 ms: 36 at most.
        assert.equal(ownFailureBound(2), 36);
        const own = (n: number) => Array.from({ length: n }, (_, i) => fail("bridge.test", 500 + i * 100));
        assertRoutePromises(own(36), probed, both, stacks, promised);
        assert.throws(
            () => assertRoutePromises(own(37), probed, both, stacks, promised),
            /bridge\.test stops at once on SIGTERM and failed 37 times on its own over 2 move\(s\), more than one poll a move \(36\)/,
        );
    });

    it("which routes drain is read from the compose files and asserted as a list; a lookup miss fails naming the route", () => {
        assert.deepEqual(drainingRoutes(stacks, both), ["dash.test"]);
        assert.throws(
            () => assertRoutePromises([], probed, both, stacks, { moves: 2, draining: both }),
            /the routes whose services drain, by their compose files/,
        );
        assert.throws(() => routeDrains(stacks, "gone.test", SANDBOX_POLL_SECONDS), /route gone\.test: no stack/);
        const noFile = [{ name: "x", health: { http: { host: "x.test" } } }];
        assert.throws(() => routeDrains(noFile, "x.test", SANDBOX_POLL_SECONDS), /stack x has no compose file/);
    });

    it("traefik's restarts are held to their count, a first route within the first read, and a gap within the bound", () => {
        const ok = restartsOf(RESTART, probe(0, 5000, 1000, 2600), 5000);
        assertRestarts(ok, 1);
        assert.throws(() => assertRestarts(ok, 2), /traefik restarted 1 times, not 2/);
        // Killed at its stop grace period, then a slow start: 8 s from the signal to the first route.
        const slow = [ev(1000, "kill", "a"), ev(3000, "die", "a"), ev(7500, "start", "b")];
        assert.throws(
            () => assertRestarts(restartsOf(slow, probe(0, 12_000, 1000, 8000), 12_000), 1),
            /kept users waiting 7 s, more than 6\.75 s/,
        );
    });
});
