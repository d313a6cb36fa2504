// The classifier of the prober's failures (harness/outage.ts) that bench:outage and the engine tier share: traefik's
// restarts from its own container events, each with its parts, and every other failure the routes' own.
import * as assert from "node:assert/strict";
import {
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
    routeDrains,
    SANDBOX_POLL_SECONDS,
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
/** traefik restarted stop-first: old container a signalled at 1000, exits at 1400, b starts at 2000. */
const RESTART = [ev(1000, "kill", "a"), ev(1400, "die", "a"), ev(2000, "start", "b")];

describe("traefik's restarts from its container events", () => {
    it("a stop-first restart: stop, exit, start, and the first request routed after the start", () => {
        const restarts = restartsOf(RESTART, probe(0, 5000, 1000, 2600), 5000);
        assert.deepEqual(restarts, [
            { stop: 1000, stopped: 1400, start: 2000, firstRoute: 2600, firstRouteAnswered: 2605 },
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
            { stop: 1000, stopped: 1400, start: 2000, firstRoute: 2600, firstRouteAnswered: 2605 },
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
            { stop: 1000, stopped: 1000, start: 1500, firstRoute: 1800, firstRouteAnswered: 1805 },
        ]);
    });

    it("a stop with no start after it lasts to the end of probing, without a first route", () => {
        const r = restartsOf([ev(1000, "kill", "a"), ev(1100, "die", "a")], probe(0, 2000, 1000, 2000), 2000);
        assert.deepEqual(r, [{ stop: 1000, stopped: 1100, start: 2000 }]);
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

    it("a failure in flight during a restart's span is traefik's, including one sent just before the stop", () => {
        const { traefik, own } = classifyFailures(
            [fail("a.test", 950, 1100), fail("b.test", 1500), fail("a.test", 2500)],
            restarts,
        );
        assert.deepEqual(
            traefik.map((f) => f.sent),
            [950, 1500, 2500],
        );
        assert.deepEqual(own, []);
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

    it("a route the config names that was not probed fails, naming it (a renamed route cannot pass unchecked)", () => {
        assert.throws(
            () =>
                assertRoutePromises(
                    [],
                    new Map([["dash.test", probe(0, 1000, 0, 0)]]),
                    ["dash.test", "bridge.test"],
                    stacks,
                ),
            /bridge\.test was not probed/,
        );
    });

    it("a route whose service drains fails on any failure of its own; one that stops at once on SIGTERM is counted", () => {
        assert.ok(routeDrains(stacks, "dash.test", SANDBOX_POLL_SECONDS));
        assert.ok(!routeDrains(stacks, "bridge.test", SANDBOX_POLL_SECONDS));
        assert.throws(
            () => assertRoutePromises([fail("dash.test", 500)], probed, ["dash.test", "bridge.test"], stacks),
            /dash\.test drains, and failed outside traefik's restarts/,
        );
        assertRoutePromises([fail("bridge.test", 500)], probed, ["dash.test", "bridge.test"], stacks);
    });
});
