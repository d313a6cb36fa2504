// Whose fault a failed request is, from evidence: traefik's restarts as its own containers record them (the Engine
// API's container events of the entry point's service: the old task's stop, the new task's start) and the first
// request traefik routes after each start. One classifier for bench:outage and the engine tier: a failure in flight
// during a restart's span is traefik's; any other, however many routes it hits at once and however long, is the
// routes' own (an all-routes outage with no restart behind it is a defect of ours, e.g. a label or network switch).
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import type { Engine } from "../src/engine";
import type { EngineService } from "../src/docker";
import { PROBE_INTERVAL_MS, type Sample } from "./prober";

/** One event of the entry point's service, time in ms since the epoch (the event's timeNano). */
export interface ContainerEvent {
    time: number;
    /** A container's kill (a signal sent: the swarm stops the task), die (its process exited) or start. */
    action: string;
    /** The container's ID. */
    container: string;
}

/** A restart of the entry point: its old container's stop (first signal), its exit, the new one's start, the
 *  first request routed after it (sent; undefined: none came before the probing ended) and when its answer came. */
export interface Restart {
    stop: number;
    /** The first connection the entry point refused within one probe tick before dockerd recorded the signal,
     *  when one did (see restartsOf): the stop's evidence from the probe, ahead of the engine's record of it. */
    refused?: number;
    stopped: number;
    start: number;
    firstRoute?: number;
    firstRouteAnswered?: number;
    /** The first request sent after the new container's start whose connection was not refused or reset (an
     *  answer of any status, or one that timed out once connected): the new traefik's entry point listens from
     *  then on. Before it, connections are refused: the process is still starting. */
    listening?: number;
    /** Where the restart's span ends: the first routed answer, or traefik's first read (Bounds.firstReadMs) after
     *  its entry point listens (or after its container's start, when it never did), whichever comes first. A
     *  failure sent after it is a route's own. */
    until: number;
}

export interface RestartFigures {
    /** stop → first route: what users see. */
    gapSeconds: number;
    /** first signal → the old container's exit: traefik's own stop (its grace time, and its stop grace period
     *  when it does not exit by itself). */
    stopSeconds: number;
    /** exit → the new container's start (the swarm scheduling and starting the new task). */
    startSeconds: number;
    /** start → first request routed (traefik's start-up and its provider's first read of the swarm). */
    firstRouteSeconds: number | null;
}

export type Failure = Sample & { route: string };

const round = (ms: number) => Math.round(ms / 100) / 10;

/** traefik's poll interval in the sandbox (sandbox/stacks/traefik.yml: --providers.swarm.refreshSeconds). */
export const SANDBOX_POLL_SECONDS = 1;
/** traefik's provider throttle in the sandbox (sandbox/stacks/traefik.yml: --providers.providersThrottleDuration). */
export const SANDBOX_THROTTLE_SECONDS = 0.25;
/** traefik's stop grace period in the sandbox (sandbox/stacks/traefik.yml: stop_grace_period). */
export const SANDBOX_STOP_GRACE_SECONDS = 2;

/**
 * What bounds a restart's span, from the entry point's settings and the probe's:
 * - tickMs: the prober's interval. A refused connection opens the span only within one tick before dockerd's
 *   record of the signal (the record lags the signal by a few ms; one tick is the probe's own resolution).
 * - firstReadMs: traefik's first read of the swarm once its entry point listens (poll interval, throttle and a
 *   margin). The span closes at the first routed answer or firstReadMs after the new traefik's first accepted
 *   connection (its container's start when it accepted none), whichever is first: a new traefik that routes
 *   nothing (a wrong label or network on every service) cannot hide its routes' failures up to the next restart.
 *   The process's own start-up before it listens is traefik's: connections are refused then, nothing listens
 *   (seen on a loaded machine: the first route 2.5 s after the container's start).
 * - gapMs: the most a restart may keep users waiting, from its signal to its first route: the stop grace period
 *   (traefik is killed at its end), the swarm's start of the new task (measured 0.8 to 2.4 s, 20.10 slowest,
 *   bounded at 3 s) and the first read.
 */
export interface Bounds {
    tickMs: number;
    firstReadMs: number;
    gapMs: number;
}

/** The margin on traefik's first read for its own start-up (measured start → first route: 0.1 to 0.7 s). */
const FIRST_READ_MARGIN_SECONDS = 0.5;
/** The swarm's part of a restart, exit → the new task's start (measured 0.8 to 1.0 s on 28.5 and 29, 1.7 to 2.4 s
 *  on 20.10 under the matrix's load). */
const SWARM_START_SECONDS = 3;

/** The sandbox entry point's bounds (its traefik's settings) for a prober ticking every `tickMs`. */
export function sandboxBounds(tickMs: number = PROBE_INTERVAL_MS): Bounds {
    const firstRead = SANDBOX_POLL_SECONDS + SANDBOX_THROTTLE_SECONDS + FIRST_READ_MARGIN_SECONDS;
    return {
        tickMs,
        firstReadMs: firstRead * 1000,
        gapMs: (SANDBOX_STOP_GRACE_SECONDS + SWARM_START_SECONDS + firstRead) * 1000,
    };
}

/**
 * The entry point's restarts: each time the last running container of the service stops and a new one starts.
 * A new container that starts while another still runs (start-first) leaves no gap and is no restart; a stop
 * with no start after it lasts until `end` (start = end), so its failures stay traefik's.
 * A stop begins at the first signal: the swarm's executor takes the old task out of its service binding and waits
 * 2 s (moby's defaultGossipConvergeDelay) before it signals, and traefik answers in those 2 s (its entry point
 * closes at the signal; measured on dockerd 29.0, 20 restarts: the first failed request 0.01 to 0.09 s after it).
 * Requests that fail before the signal are the routes' own: a label switched under the old traefik fails them so.
 * One exception, from evidence: dockerd records the kill only after containerd has delivered the signal (moby's
 * killWithSignal logs the event after task.Kill returns), so traefik can close its entry point a few ms before the
 * record (seen on dockerd 29.0: a connection refused 3 ms before it). A connection the entry point refused (or
 * reset) within one probe tick before the record, with no connection accepted after it up to the record, is the
 * stop's. A refusal followed by an accepted connection, or one earlier than that tick, stays the route's own.
 */
export function restartsOf(
    events: ContainerEvent[],
    samples: Sample[],
    end: number,
    bounds: Bounds = sandboxBounds(),
): Restart[] {
    const running = new Set<string>();
    const stopping = new Map<string, number>();
    const restarts: Omit<Restart, "until">[] = [];
    let down: { stop: number; stopped?: number } | undefined;
    for (const e of [...events].sort((a, b) => a.time - b.time)) {
        if (e.action === "start") {
            running.add(e.container);
            if (down) restarts.push({ stop: down.stop, stopped: down.stopped ?? e.time, start: e.time });
            down = undefined;
        } else if (e.action === "kill" || e.action === "die") {
            // A container stops once: its first kill or die is its stop (it was running, also when it started
            // before we watched), a die after it is its exit.
            const first = !stopping.has(e.container);
            running.delete(e.container);
            if (first) stopping.set(e.container, e.time);
            if (e.action === "die" && down && down.stopped === undefined) down.stopped = e.time;
            // The last running container begins to stop: the entry point goes down from its first signal.
            if (first && running.size === 0 && down === undefined) {
                down = { stop: e.time, stopped: e.action === "die" ? e.time : undefined };
            }
        }
    }
    if (down) restarts.push({ stop: down.stop, stopped: down.stopped ?? end, start: end });
    const routed = samples.filter((s) => s.ok).sort((a, b) => a.sent - b.sent || a.done - b.done);
    const accepted = samples.filter((s) => ANSWERED.test(s.detail));
    const refusedBefore = (stop: number) =>
        samples
            .filter((s) => REFUSED.test(s.detail) && s.done < stop && s.sent >= stop - bounds.tickMs)
            .filter((s) => !accepted.some((a) => a.sent > s.done && a.sent < stop));
    return restarts.map((r) => {
        const refused = earliestSent(refusedBefore(r.stop));
        const first = routed.find((s) => s.sent >= r.start);
        const listening = earliestSent(samples.filter((s) => s.sent >= r.start && !REFUSED.test(s.detail)));
        const until = Math.min(first?.done ?? Infinity, (listening ?? r.start) + bounds.firstReadMs);
        return {
            ...r,
            ...(refused === undefined ? {} : { refused }),
            ...(first ? { firstRoute: first.sent, firstRouteAnswered: first.done } : {}),
            ...(listening === undefined ? {} : { listening }),
            until,
        };
    });
}

/** A failure's kind, for a report: its status or error without the body or the address. */
const detailKind = (f: Failure) => f.detail.replace(/^(\d{3}) .*/, "$1").replace(/ \d+\.\d+\.\d+\.\d+:\d+$/, "");

/** When the first of `samples` was sent; undefined when there are none. */
const earliestSent = (samples: Sample[]): number | undefined =>
    samples.reduce<number | undefined>((min, s) => Math.min(min ?? s.sent, s.sent), undefined);

/** A request the entry point accepted: it answered over HTTP (any status). */
const ANSWERED = /^\d{3}\b/;
/** A request whose connection the entry point refused or reset: nothing listens, or the listener closed with the
 *  connection in its queue. traefik answers a route's own failure over HTTP (a 502, a 404, a 504), never so. */
const REFUSED = /\bECONNREFUSED\b|\bECONNRESET\b|socket hang up/;

/** When the entry point went down for a restart: its first refused connection (always before the signal's record),
 *  or the signal's record. */
const downAt = (r: Restart) => r.refused ?? r.stop;

/** Each restart's parts, in seconds (0.1 s). */
export function restartFigures(r: Restart): RestartFigures {
    return {
        gapSeconds: round((r.firstRoute ?? r.start) - downAt(r)),
        stopSeconds: round(r.stopped - downAt(r)),
        startSeconds: round(r.start - r.stopped),
        firstRouteSeconds: r.firstRoute === undefined ? null : round(r.firstRoute - r.start),
    };
}

/** Each restart's moments, for a report: signal, exit, start, first routed request (sent → answered), as times of day. */
export function restartMoments(restarts: Restart[]): string {
    const t = (ms?: number) => (ms === undefined ? "-" : new Date(ms).toISOString().slice(11, 23));
    return restarts
        .map(
            (r) =>
                `${r.refused === undefined ? "" : `refused ${t(r.refused)}, `}signal ${t(r.stop)}, exit ${t(r.stopped)}, start ${t(r.start)}, ` +
                `${r.listening === undefined ? "" : `listening ${t(r.listening)}, `}first route ${t(r.firstRoute)} → ${t(r.firstRouteAnswered)}, span until ${t(r.until)}`,
        )
        .join("; ");
}

/**
 * Splits failures into those in flight during a restart's span and the routes' own. The span opens when the entry
 * point went down (its signal, or a refusal in the tick before its record) and closes at `until` (the answer to
 * the first routed request, not the request: the prober sends every route's request in the same millisecond, and
 * traefik applies its first configuration of the routes while it handles them, so a request sent with the first
 * routed one can still meet traefik with no route; seen: a 404 "page not found" sent in the same ms as a routed
 * one). A failure sent before the span opens is the route's own however late it ended (a request that hangs
 * across the signal is how a label switched under the old traefik shows), unless it is a refusal or reset that
 * came after the signal, sent within the tick before it: the connection met the closed entry point.
 */
export function classifyFailures(
    failures: Failure[],
    restarts: Restart[],
    bounds: Bounds = sandboxBounds(),
): { traefik: Failure[]; own: Failure[] } {
    const inSpan = (f: Failure) =>
        restarts.some(
            (r) =>
                f.sent <= r.until &&
                (f.sent >= downAt(r) ||
                    (REFUSED.test(f.detail) && f.done >= r.stop && f.sent >= r.stop - bounds.tickMs)),
        );
    return { traefik: failures.filter(inSpan), own: failures.filter((f) => !inSpan(f)) };
}

/** A service as the Engine API lists it, with the ports it publishes. */
type PublishingService = EngineService & {
    Spec: { EndpointSpec?: { Ports?: { PublishedPort?: number }[] | null } | null };
    Endpoint?: { Ports?: { PublishedPort?: number }[] | null } | null;
};

/** The service that publishes the routes' entry point port (traefik), by its name; undefined when none does. */
export function entryService(services: EngineService[], port: number): string | undefined {
    const publishes = (s: PublishingService) =>
        [...(s.Spec.EndpointSpec?.Ports ?? []), ...(s.Endpoint?.Ports ?? [])].some((p) => p.PublishedPort === port);
    return (services as PublishingService[]).find(publishes)?.Spec.Name;
}

/** The port of an http:// or https:// entry point URL. */
export function entryPort(url: string): number {
    const u = new URL(url);
    return u.port !== "" ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}

/** One line of the Engine API's event stream, as far as we read it. */
interface RawEvent {
    Type?: string;
    Action?: string;
    Actor?: { ID?: string; Attributes?: Record<string, string> };
    timeNano?: number;
}

/** The container events in an event stream's text (one JSON object a line); other lines and types are skipped. */
export function parseEvents(text: string): ContainerEvent[] {
    return containerEvents(parseEngineEvents(text));
}

/** The container events among Engine API events, as the restarts are read from them. */
function containerEvents(events: EngineEvent[]): ContainerEvent[] {
    return events.flatMap((e) =>
        e.type === "container" && e.id !== "" ? [{ time: e.time, action: e.action, container: e.id }] : [],
    );
}

/**
 * Watches the container events of one service from now on (subscribed before the caller starts what it
 * measures: dockerd keeps only its last events, and a run restarts many containers); `stop` ends the stream.
 */
export async function watchService(engine: Engine, service: string): Promise<{ stop: () => ContainerEvent[] }> {
    const w = await watchEngine(engine, { type: ["container"], label: [`com.docker.swarm.service.name=${service}`] });
    return { stop: () => containerEvents(w.stop()) };
}

/**
 * Watches the entry point of `routes` (the service publishing their port, found through the Engine API) for the
 * span the caller measures; fails naming the port when no service publishes it (nothing to blame).
 */
export async function watchEntryPoint(
    engine: Engine,
    routes: { url: string }[],
): Promise<{ service: string; stop: () => ContainerEvent[] }> {
    const port = entryPort(routes[0].url);
    const service = entryService(await engine.services(), port);
    if (service === undefined) throw new Error(`no service publishes the routes' entry point port ${port}`);
    const w = await watchService(engine, service);
    return { service, stop: w.stop };
}

/** The verdict on a probed run: traefik's restarts with their parts, and the failures split by whose they are. */
export function judge(
    failures: Failure[],
    samples: Sample[],
    events: ContainerEvent[],
    end: number,
): { restarts: Restart[]; figures: RestartFigures[]; traefik: Failure[]; own: Failure[] } {
    const restarts = restartsOf(events, samples, end);
    return { restarts, figures: restarts.map(restartFigures), ...classifyFailures(failures, restarts) };
}

/** One Engine API event, as the label switch's check reads it: time in ms since the epoch. */
export interface EngineEvent {
    time: number;
    type: string;
    action: string;
    id: string;
    attributes: Record<string, string>;
}

/** The events in an event stream's text (one JSON object a line); other lines are skipped. */
export function parseEngineEvents(text: string): EngineEvent[] {
    return text.split("\n").flatMap((l) => {
        if (!l.trim().startsWith("{")) return [];
        const e = JSON.parse(l) as RawEvent;
        if (e.timeNano === undefined) return [];
        return [
            {
                time: e.timeNano / 1e6,
                type: e.Type ?? "",
                action: (e.Action ?? "").split(":")[0],
                id: e.Actor?.ID ?? "",
                attributes: e.Actor?.Attributes ?? {},
            },
        ];
    });
}

/**
 * Each restart of the entry point's service `entry` in `events` (its old container's first signal up to its new
 * container's start), and every service of `services` whose spec was not written inside it: the moves must switch
 * the others' `traefik.swarm.network` label after the old traefik stopped taking requests and before the new one
 * reads the swarm (which it does after its start). A spec write is a service update event that records no update
 * state (a label change starts no update; an update's progress carries updatestate.new). `margins`: per restart,
 * the ms from the last write to the new container's start.
 */
export function labelSwitches(
    events: EngineEvent[],
    entry: string,
    services: string[],
): { restarts: { signal: number; start: number }[]; late: string[]; margins: number[] } {
    // The entry point's restarts as restartsOf reads them (no probe here: no first route).
    const mine = events.filter((e) => e.attributes["com.docker.swarm.service.name"] === entry);
    const end = Math.max(0, ...events.map((e) => e.time));
    const restarts = restartsOf(containerEvents(mine), [], end).map((r) => ({ signal: r.stop, start: r.start }));
    const writes = (svc: string, r: { signal: number; start: number }) =>
        events
            .filter(
                (e) =>
                    e.type === "service" &&
                    e.action === "update" &&
                    e.attributes.name === svc &&
                    e.attributes["updatestate.new"] === undefined &&
                    e.time >= r.signal &&
                    e.time < r.start,
            )
            .map((e) => e.time);
    const iso = (t: number) => new Date(t).toISOString();
    const late = restarts.flatMap((r) =>
        services
            .filter((svc) => writes(svc, r).length === 0)
            .map(
                (svc) =>
                    `${svc}: no spec write between ${entry}'s signal ${iso(r.signal)} and its start ${iso(r.start)}`,
            ),
    );
    const margins = restarts.map((r) => r.start - Math.max(r.signal, ...services.flatMap((svc) => writes(svc, r))));
    return { restarts, late, margins };
}

/** The Engine API's events matching `filters` from now until `stop` (subscribed before the caller starts what
 *  it checks). */
export async function watchEngine(
    engine: Engine,
    filters: { type: ("container" | "service")[]; label?: string[] },
): Promise<{ stop: () => EngineEvent[] }> {
    const stream = (await engine.docker.getEvents({ filters })) as NodeJS.ReadableStream & {
        destroy(): void;
    };
    const events: EngineEvent[] = [];
    let partial = "";
    stream.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString("utf8")).split("\n");
        partial = lines.pop() ?? "";
        events.push(...parseEngineEvents(lines.join("\n")));
    });
    return {
        stop: () => {
            stream.destroy();
            return events;
        },
    };
}

/** A stack of the program's config, as much of it as says which compose file and route it has. */
export interface StackEntry {
    name: string;
    compose?: string;
    health?: { http?: { host?: string } };
}

/**
 * Whether a route's service keeps it answering through its own move, which is what the rolling migration promises
 * for it (README, "How it works" and "Recreate or rolling"): it can start its new task first (no port published in host mode) and its old
 * task keeps serving after SIGTERM (the stand-in's SANDBOX_ON_TERM `drain:N`) for longer than traefik's poll
 * interval. A service whose old task stops at once can miss up to one poll per move. A route no stack of the
 * config serves, or whose stack has no compose file to read, fails naming it: it cannot be held to either promise.
 */
export function routeDrains(stacks: StackEntry[], route: string, pollSeconds: number): boolean {
    const stack = stacks.find((s) => s.health?.http?.host === route);
    if (stack === undefined) throw new Error(`route ${route}: no stack of the config has it as its health.http.host`);
    if (stack.compose === undefined) throw new Error(`route ${route}: stack ${stack.name} has no compose file to read`);
    const repoRoot = path.resolve(__dirname, "..");
    const doc = YAML.parse(fs.readFileSync(path.join(repoRoot, stack.compose), "utf8")) as {
        services?: Record<string, { environment?: Record<string, string>; ports?: { mode?: string }[] }>;
    };
    if (doc?.services === undefined) throw new Error(`route ${route}: ${stack.compose} has no services`);
    return Object.values(doc.services).some((svc) => {
        const m = /^drain:(\d+)$/.exec(svc.environment?.SANDBOX_ON_TERM ?? "");
        return m !== null && Number(m[1]) > pollSeconds && !(svc.ports ?? []).some((p) => p.mode === "host");
    });
}

/** The routes among `configured` whose services drain (routeDrains), in the config's order. */
export function drainingRoutes(stacks: StackEntry[], configured: string[]): string[] {
    return configured.filter((host) => routeDrains(stacks, host, SANDBOX_POLL_SECONDS));
}

/** The most failed requests of its own a route that stops at once on SIGTERM may have over `moves` moves: one
 *  poll (with the throttle and the first read's margin) per move, at one request a probe tick. */
export function ownFailureBound(moves: number, bounds: Bounds = sandboxBounds()): number {
    return moves * Math.ceil(bounds.firstReadMs / bounds.tickMs);
}

/**
 * Holds each route the config names to what the rolling migration promises it (README, "How it works" and "Recreate or rolling"): it was
 * probed; a route whose service drains has no failure of its own (outside traefik's restarts); one whose old task
 * stops at once on SIGTERM misses at most one traefik poll per move (measured: a 502, then requests to the old
 * address unanswered until the next poll), `moves` moves in all: its own failures are at most ownFailureBound.
 * Which routes drain is read from their compose files and must be `promised.draining`: a route that stopped
 * draining (or a lookup that found nothing) cannot move from the stricter promise to the looser one unsaid.
 */
export function assertRoutePromises(
    own: Failure[],
    samples: Map<string, Sample[]>,
    configured: string[],
    stacks: StackEntry[],
    promised: { moves: number; draining: string[] },
    bounds: Bounds = sandboxBounds(),
): void {
    const { moves } = promised;
    const draining = drainingRoutes(stacks, configured);
    assert.deepStrictEqual(draining, promised.draining, "the routes whose services drain, by their compose files");
    for (const host of configured) {
        assert.ok((samples.get(host) ?? []).length > 0, `${host} was not probed`);
        const mine = own.filter((f) => f.route === host).map((f) => `${new Date(f.sent).toISOString()} ${f.detail}`);
        if (draining.includes(host)) {
            assert.deepStrictEqual(mine, [], `${host} drains, and failed outside traefik's restarts`);
        } else {
            const bound = ownFailureBound(moves, bounds);
            console.log(
                `      ${host} (stops at once on SIGTERM): ${mine.length} failure(s) of its own, at most ${bound}`,
            );
            assert.ok(
                mine.length <= bound,
                `${host} stops at once on SIGTERM and failed ${mine.length} times on its own over ${moves} move(s), ` +
                    `more than one poll a move (${bound}):\n${mine.join("\n")}`,
            );
        }
    }
}

/**
 * Holds traefik's restarts to their figures: exactly `count` of them, each with a first routed request within
 * traefik's first read of its start, and each gap (signal to first route) within the bound. Prints the figures.
 */
export function assertRestarts(
    restarts: Restart[],
    count: number,
    failures: Failure[] = [],
    bounds: Bounds = sandboxBounds(),
): void {
    const figures = restarts.map(restartFigures);
    const moments = restartMoments(restarts);
    assert.strictEqual(restarts.length, count, `traefik restarted ${restarts.length} times, not ${count}: ${moments}`);
    for (const [i, r] of restarts.entries()) {
        const f = figures[i];
        const from = r.listening ?? r.start;
        // What the routes got between the new traefik's start and its first route: the evidence of a failed bound.
        const seen = [
            ...new Set(
                failures.filter((x) => x.sent >= r.start && x.sent < (r.firstRoute ?? Infinity)).map(detailKind),
            ),
        ];
        assert.ok(
            r.firstRoute !== undefined && r.firstRoute - from <= bounds.firstReadMs,
            `traefik's restart ${i + 1} routed no request within its first read (${bounds.firstReadMs / 1000} s) ` +
                `of ${r.listening === undefined ? "its start" : "its entry point's first answer"}: first route ` +
                `${r.firstRoute === undefined ? "none" : `${round(r.firstRoute - from)} s after`}; the routes got ` +
                `${seen.join(", ") || "no failure"} from its start; ${moments}`,
        );
        assert.ok(
            f.gapSeconds * 1000 <= bounds.gapMs,
            `traefik's restart ${i + 1} kept users waiting ${f.gapSeconds} s, more than ${bounds.gapMs / 1000} s ` +
                `(stop grace, the swarm's start and the first read); ${moments}`,
        );
    }
}
