// Survey + capacity of a /16 at 10, 100 and 1000 services: wall time and Engine API calls (which must not
// grow with the services). Fake Engine API for the sizes; with --real, also a real dockerd (DOCKER_HOST)
// carrying 1000 zero-replica vip services on a throwaway /16.
// Usage: ts-node --transpile-only bench/capacity.ts [--real] [--services N]
import { countUsage } from "../src/docker";
import { gatherUsage } from "../cli/shared/overlay-capacity";
import { Engine, describeDockerHost } from "../src/engine";
import { gatherSurvey } from "../cli/survey/survey-report";
import { startFakeEngine } from "../harness/fake-engine";

interface Figure {
    what: string;
    services: number;
    ms: number;
    calls: number;
    inUse: number;
    expected?: number;
}

async function surveyAndCapacity(
    engine: Engine,
    network: string,
): Promise<{ ms: number; calls: number; inUse: number }> {
    const t0 = process.hrtime.bigint();
    engine.calls = 0;
    const base = await engine.requireManager();
    const { networks, services } = await gatherSurvey(engine, base, {
        proxyName: network,
        targetSubnet: "10.10.0.0/16",
        reserved: [],
    });
    const usage = countUsage(
        await gatherUsage(engine, network, base.info.Swarm?.NodeID, {
            networks,
            services,
            apiVersion: base.version.ApiVersion,
        }),
    );
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { ms, calls: engine.calls, inUse: usage.inUse };
}

async function fakeFigures(sizes: number[], apiVersion: string): Promise<Figure[]> {
    const out: Figure[] = [];
    for (const n of sizes) {
        const fake = await startFakeEngine({
            services: n,
            replicas: 1,
            history: 2,
            nodes: 3,
            subnet: "10.10.0.0/16",
            apiVersion,
        });
        process.env.DOCKER_HOST = fake.host;
        try {
            const engine = new Engine({ host: fake.host });
            await surveyAndCapacity(engine, "proxy"); // warm-up: module loading and the first connection
            const runs = [];
            for (let i = 0; i < 5; i++) {
                runs.push(await surveyAndCapacity(engine, "proxy"));
            }
            const worst = runs.reduce((a, b) => (b.ms > a.ms ? b : a));
            const expected = n + n + Math.min(3, n);
            out.push({
                what: `fake Engine API ${apiVersion}`,
                services: n,
                ms: worst.ms,
                calls: worst.calls,
                inUse: worst.inUse,
                expected,
            });
        } finally {
            await fake.close();
        }
    }
    return out;
}

async function realFigure(count: number): Promise<Figure[]> {
    process.env.DOCKER_HOST = realHost;
    const engine = new Engine({ host: realHost });
    const base = await engine.requireManager();
    const name = "spx-bench-capacity";
    const stale = await engine.findNetwork(name);
    const id =
        stale?.Id ??
        (await engine.createNetwork({
            Name: name,
            Driver: "overlay",
            Attachable: true,
            Labels: { "swarm-proxy.bench": "1" },
            IPAM: { Config: [{ Subnet: "10.198.0.0/16" }] },
        }));
    const label = { label: ["swarm-proxy.bench=1"] };
    const out: Figure[] = [];
    try {
        const have = (await engine.services(label)).length;
        const t0 = Date.now();
        const queue = Array.from({ length: Math.max(0, count - have) }, (_, i) => have + i);
        await Promise.all(
            Array.from({ length: 8 }, async () => {
                for (let i = queue.pop(); i !== undefined; i = queue.pop()) {
                    await engine.createService({
                        Name: `spx-bench-${i}`,
                        Labels: { "swarm-proxy.bench": "1" },
                        TaskTemplate: { ContainerSpec: { Image: "busybox:latest" }, Networks: [{ Target: id }] },
                        Mode: { Replicated: { Replicas: 0 } },
                        EndpointSpec: { Mode: "vip" },
                    });
                }
            }),
        );
        process.stderr.write(`created ${count - have} services in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
        // Wait until the allocator has given every one its VIP, so the count is stable.
        for (let i = 0; i < 100; i++) {
            const u = countUsage(
                await gatherUsage(engine, name, base.info.Swarm?.NodeID, { apiVersion: base.version.ApiVersion }),
            );
            if (u.vips >= count) break;
            await new Promise((r) => setTimeout(r, 200));
        }
        await surveyAndCapacity(engine, name);
        const runs = [];
        for (let i = 0; i < 3; i++) {
            runs.push(await surveyAndCapacity(engine, name));
        }
        const worst = runs.reduce((a, b) => (b.ms > a.ms ? b : a));
        out.push({
            what: `real dockerd ${base.version.Version}`,
            services: count,
            ms: worst.ms,
            calls: worst.calls,
            inUse: worst.inUse,
            expected: count,
        });
    } finally {
        const svcs = await engine.services(label);
        const queue = [...svcs];
        await Promise.all(
            Array.from({ length: 8 }, async () => {
                for (let s = queue.pop(); s; s = queue.pop()) {
                    await engine.removeService(s.ID).catch(() => undefined);
                }
            }),
        );
        for (let i = 0; i < 120; i++) {
            const r = await engine.removeNetwork(id);
            if (r.removed || r.refused === "already gone") break;
            await new Promise((res) => setTimeout(res, 500));
        }
    }
    return out;
}

const realHost = describeDockerHost();

async function main(): Promise<void> {
    const args = process.argv.slice(2);
    const realIdx = args.indexOf("--services");
    const realCount = realIdx >= 0 ? Number(args[realIdx + 1]) : 1000;
    const figures = [...(await fakeFigures([10, 100, 1000], "1.41")), ...(await fakeFigures([1000], "1.52"))];
    if (args.includes("--real")) {
        figures.push(...(await realFigure(realCount)));
    }
    console.log("survey + capacity of a /16 (worst of the timed runs, after one warm-up)");
    console.log("source                      services   time ms   API calls   in use (expected)");
    for (const f of figures) {
        console.log(
            `${f.what.padEnd(27)} ${String(f.services).padStart(8)} ${f.ms.toFixed(1).padStart(9)} ${String(f.calls).padStart(11)}   ${f.inUse} (${f.expected ?? "-"})`,
        );
    }
    const slow = figures.filter((f) => f.services >= 1000 && f.ms >= 2000);
    const callCounts = new Set(figures.filter((f) => f.what.startsWith("fake")).map((f) => f.calls));
    console.log(
        `target: < 2000 ms at 1000 services: ${slow.length === 0 ? "met" : "MISSED"}; API calls constant across sizes: ${callCounts.size === 1 ? "yes" : "NO"}`,
    );
    if (slow.length > 0 || callCounts.size !== 1) {
        process.exitCode = 1;
    }
}

void main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 2;
});
