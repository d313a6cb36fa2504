// What users see: one request per route through traefik every 100 ms while something runs (a maintenance `up`),
// and per route the failed requests, the longest gap and the total time the route did not answer. A request
// counts as answered only when traefik returned the expected status with the stack's own answer in the body
// (a 404 from traefik, a 502 from a task that is gone, a refused connection or a timeout are failures).
// Requests go only to the sandbox's own addresses (the route's URL, traefik's entry point in the sandbox).
import * as http from "node:http";

export interface Route {
    /** The Host header traefik routes on (the stack's rule), which also names the route in reports. */
    host: string;
    /** traefik's entry point, e.g. http://198.18.x.y/ */
    url: string;
    expectStatus: number;
    /** Text the stack's own answer contains. */
    expectText?: string;
}

export interface Sample {
    /** When the request was sent and when its answer (or failure) came, ms since the epoch. */
    sent: number;
    done: number;
    ok: boolean;
    /** The status, or the error, and the start of the body: what came back. */
    detail: string;
}

export interface RouteFigures {
    route: string;
    requests: number;
    failed: number;
    longestGapSeconds: number;
    unavailableSeconds: number;
}

/** The routes of a stack config (the raw object the program parses): every stack with a `health.http`. */
export function routesOf(stacks: { name: string; health?: { http?: Partial<Route> & { url?: string } } }[]): Route[] {
    return stacks
        .filter((s) => s.health?.http?.url !== undefined && s.health.http.host !== undefined)
        .map((s) => ({
            host: s.health!.http!.host!,
            url: s.health!.http!.url!,
            expectStatus: s.health!.http!.expectStatus ?? 200,
            expectText: s.health!.http!.expectText,
        }));
}

/** One request of a route: whether it answered as the stack does, and what came back. */
export function probeOnce(route: Route, timeoutMs: number): Promise<Sample> {
    const sent = Date.now();
    return new Promise((resolve) => {
        let settled = false;
        const finish = (ok: boolean, detail: string) => {
            if (settled) return;
            settled = true;
            resolve({ sent, done: Date.now(), ok, detail });
        };
        // A fresh connection per request (no keep-alive), as a new user's request would open one.
        const req = http.get(route.url, { headers: { Host: route.host }, agent: false, timeout: timeoutMs }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => {
                if (body.length < 512) body += d;
            });
            res.on("end", () => {
                const ok =
                    res.statusCode === route.expectStatus &&
                    (route.expectText === undefined || body.includes(route.expectText));
                finish(ok, `${res.statusCode} ${body.trim().slice(0, 80)}`);
            });
            res.on("error", (e) => finish(false, e.message));
        });
        req.on("timeout", () => {
            req.destroy(new Error(`no answer within ${timeoutMs} ms`));
        });
        req.on("error", (e) => finish(false, e.message));
    });
}

/**
 * The figures of one route's samples (sorted by send time). A gap starts at the first failed request and ends
 * when the next request that answers was sent; a gap still open at the end lasts until the last failure came back.
 */
export function figuresOf(route: string, samples: Sample[]): RouteFigures {
    const sorted = [...samples].sort((a, b) => a.sent - b.sent);
    let longest = 0;
    let total = 0;
    let gapStart: number | undefined;
    let lastFailure = 0;
    const close = (end: number) => {
        if (gapStart === undefined) return;
        longest = Math.max(longest, end - gapStart);
        total += end - gapStart;
        gapStart = undefined;
    };
    for (const s of sorted) {
        if (s.ok) {
            close(s.sent);
        } else {
            gapStart ??= s.sent;
            lastFailure = Math.max(lastFailure, s.done);
        }
    }
    close(lastFailure);
    const round = (ms: number) => Math.round(ms / 100) / 10;
    return {
        route,
        requests: sorted.length,
        failed: sorted.filter((s) => !s.ok).length,
        longestGapSeconds: round(longest),
        unavailableSeconds: round(total),
    };
}

/** The prober's interval: one request per route every 100 ms. */
export const PROBE_INTERVAL_MS = 100;

/** Sends one request per route every `intervalMs` until stopped; each request may take up to `timeoutMs`. */
export class Prober {
    private readonly samples = new Map<string, Sample[]>();
    private readonly pending = new Set<Promise<void>>();
    private timer: NodeJS.Timeout | undefined;

    constructor(
        readonly routes: Route[],
        private readonly intervalMs = PROBE_INTERVAL_MS,
        private readonly timeoutMs = 1000,
    ) {
        for (const r of routes) this.samples.set(r.host, []);
    }

    start(): this {
        const tick = () => {
            for (const r of this.routes) {
                const p = probeOnce(r, this.timeoutMs).then((s) => {
                    this.samples.get(r.host)!.push(s);
                });
                this.pending.add(p);
                void p.finally(() => this.pending.delete(p));
            }
        };
        tick();
        this.timer = setInterval(tick, this.intervalMs);
        return this;
    }

    /** Stops sending and waits for the requests in flight. */
    async stop(): Promise<Map<string, Sample[]>> {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        await Promise.all([...this.pending]);
        return this.samples;
    }

    figures(): RouteFigures[] {
        return this.routes.map((r) => figuresOf(r.host, this.samples.get(r.host)!));
    }

    /** The failed samples of every route, with the route's host. */
    failures(): (Sample & { route: string })[] {
        return this.routes.flatMap((r) =>
            this.samples
                .get(r.host)!
                .filter((s) => !s.ok)
                .map((s) => ({ ...s, route: r.host })),
        );
    }
}

/** One request per route, for a check after a run: the routes that did not answer as their stack does. */
export async function unanswered(routes: Route[], timeoutMs = 2000): Promise<string[]> {
    const results = await Promise.all(routes.map(async (r) => ({ r, s: await probeOnce(r, timeoutMs) })));
    return results.filter((x) => !x.s.ok).map((x) => `${x.r.host} via ${x.r.url}: ${x.s.detail}`);
}
