// The prober's figures (what bench:outage and the engine tier report as users' outage), and one request
// against a local server: the stack's own answer counts, another answer does not.
import * as assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { figuresOf, probeOnce, type Sample } from "../../harness/prober";
import { routeServer, type RouteServer } from "./route-server";

const at = (sent: number, ok: boolean): Sample => ({ sent, done: sent + 5, ok, detail: ok ? "200" : "502" });

describe("prober figures", () => {
    it("counts requests and failures, the longest gap and the total unavailable time", () => {
        const samples = [
            at(0, true),
            at(100, false),
            at(200, false),
            at(300, true), // gap 100 → 300: 0.2 s
            at(400, true),
            at(500, false), // gap 500 → 1500: 1.0 s
            ...[600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400].map((t) => at(t, false)),
            at(1500, true),
        ];
        assert.deepStrictEqual(figuresOf("drone.sandbox.test", samples), {
            route: "drone.sandbox.test",
            requests: 16,
            failed: 12,
            longestGapSeconds: 1,
            unavailableSeconds: 1.2,
        });
    });

    it("a gap still open at the end lasts until the last failure came back; no failure is no gap", () => {
        assert.deepStrictEqual(figuresOf("r", [at(0, true), at(100, false), at(200, false)]), {
            route: "r",
            requests: 3,
            failed: 2,
            longestGapSeconds: 0.1,
            unavailableSeconds: 0.1,
        });
        assert.deepStrictEqual(figuresOf("r", [at(0, true), at(100, true)]), {
            route: "r",
            requests: 2,
            failed: 0,
            longestGapSeconds: 0,
            unavailableSeconds: 0,
        });
    });
});

describe("probeOnce", () => {
    let server: RouteServer;
    let url = "";
    before(async () => {
        server = await routeServer({ "drone.test": "stack drone task drone_app.1.x\n" });
        url = server.url;
    });
    after(() => server.close());

    it("answers only with the expected status and the stack's own text", async () => {
        const ok = await probeOnce({ host: "drone.test", url, expectStatus: 200, expectText: "stack drone" }, 2000);
        assert.equal(ok.ok, true, ok.detail);
        const other = await probeOnce({ host: "drone.test", url, expectStatus: 200, expectText: "stack ccci" }, 2000);
        assert.equal(other.ok, false);
        const notRouted = await probeOnce({ host: "nobody.test", url, expectStatus: 200 }, 2000);
        assert.equal(notRouted.ok, false);
        assert.match(notRouted.detail, /^404 404 page not found/);
    });

    it("a refused connection is a failure that says so", async () => {
        const closed = http.createServer();
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
        const port = (closed.address() as AddressInfo).port;
        await new Promise<void>((resolve) => closed.close(() => resolve()));
        const s = await probeOnce({ host: "x", url: `http://127.0.0.1:${port}/`, expectStatus: 200 }, 2000);
        assert.equal(s.ok, false);
        assert.match(s.detail, /ECONNREFUSED/);
    });
});
