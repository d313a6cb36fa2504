// host/http-probe.sh, the health check through traefik, against a local HTTP server standing in for traefik's
// entry point: the stack's own answer passes; another answer fails naming the stack, the route and what came back.
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { routeServer, type RouteServer } from "./route-server";

const script = path.join(__dirname, "..", "..", "host", "http-probe.sh");

function probe(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
        // No dockerd to ask for the stack's tasks: the failure says so instead of listing them.
        const child = spawn("bash", [script, ...args], { env: { ...process.env, DOCKER_HOST: "unix:///nonexistent" } });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("close", (code) => resolve({ code, out, err }));
    });
}

describe("http-probe.sh (a route through traefik)", () => {
    let server: RouteServer;
    let url = "";
    before(async () => {
        server = await routeServer({ "drone.sandbox.test": "stack drone task drone_app.1.abc\n" });
        url = server.url;
    });
    after(() => server.close());

    it("passes on the stack's own answer, with or without an expected text", async () => {
        const r = await probe([url, "drone.sandbox.test", "200", "5", "drone", "stack drone task"]);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /drone\.sandbox\.test via http:\/\/127\.0\.0\.1:\d+\/: 200/);
        assert.equal((await probe([url, "drone.sandbox.test", "200", "5"])).code, 0);
    });

    it("fails on another stack's answer or traefik's 404, naming the stack, the route and what came back", async () => {
        const other = await probe([url, "drone.sandbox.test", "200", "1", "drone", "stack ccci-bridge task"]);
        assert.equal(other.code, 1);
        assert.match(
            other.err,
            /^http-probe: stack drone: route drone\.sandbox\.test via http:\/\/127\.0\.0\.1:\d+\/ answered '200' with 'stack drone task drone_app\.1\.abc ' ?, expected 200 with 'stack ccci-bridge task', for 1s; its running tasks: none; check which service holds this Host rule and that the stack's tasks are on traefik's network, then run again$/m,
        );
        const unrouted = await probe([url, "nobody.sandbox.test", "200", "1", "nobody", "stack nobody"]);
        assert.equal(unrouted.code, 1);
        assert.match(unrouted.err, /answered '404' with '404 page not found '/);
    });

    it("refuses a URL that is not http(s), before any request", async () => {
        const r = await probe(["ftp://127.0.0.1/", "drone.sandbox.test", "200", "5"]);
        assert.equal(r.code, 1);
        assert.match(r.err, /^http-probe: URL 'ftp:\/\/127\.0\.0\.1\/' is not an http\(s\) URL$/m);
    });
});
