// Outage benchmark (a script, not a timed test): from ONE maintenance `pulumi up` of the real program on a
// sandbox swarm (real CLI and engine, the stand-in command provider), the outage window — first stack teardown
// start → last attached stack healthy — beside its floor: slowest teardown + network delete + network create +
// rebuild + slowest deploy (a stack's deploy start → its health check done). The slowest teardown is measured
// apart, after the maintenance: each attached stack torn down alone, one at a time, so that it is the
// uncontended time of one leak-free teardown (during the `up` they all run side by side).
// Times are when each engine event reached us on `up --json`'s stream (the events themselves carry whole
// seconds only). Usage: npm run bench:outage   (needs root; starts, seeds and stops its own sandbox
// `bench-outage`; BENCH_KEEP=1 keeps it)
import type { PulumiProject } from "../harness/engine/pulumi";
import {
    docker,
    networkId,
    networkSubnet,
    type ProgramState,
    sandboxConfig,
    stackNames,
    type Step,
    swarmProject,
    upWithEvents,
} from "../harness/engine/swarm-fixture";
import { sandboxDownSync, sandboxSeedSync, sandboxUpSync } from "../harness/sandbox";
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const SANDBOX = process.env.BENCH_SANDBOX ?? "bench-outage";
const NEW_SUBNET = "10.10.0.0/16";

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function find(steps: Step[], name: string, op: string): Step & { end: number } {
    const s = steps.find((x) => x.name === name && x.op === op);
    if (!s || s.end === undefined || s.failed) throw new Error(`step ${op} ${name} missing or not completed`);
    return s as Step & { end: number };
}

async function main(): Promise<void> {
    const sb = sandboxUpSync({ name: SANDBOX, exportDockerHost: true });
    let p: PulumiProject | undefined;
    try {
        if (execFileSync("docker", ["stack", "ls", "--format", "{{.Name}}"], { encoding: "utf8" }).trim() !== "") {
            execFileSync("bash", [path.join(__dirname, "..", "sandbox", "seed.sh"), "--remove"], {
                env: { ...process.env, SANDBOX },
                stdio: "inherit",
            });
        }
        sandboxSeedSync(sb);
        const state: ProgramState = { raw: sandboxConfig() };
        state.raw.network.subnet = networkSubnet("proxy");
        state.raw.network.adoptId = networkId("proxy");
        state.raw.rebuild.nixModule = "sandbox/swarm-before.nix";
        const { attached } = stackNames(state.raw);
        p = await swarmProject(sb, state);
        console.error(`adopting ${state.raw.network.subnet} and the running stacks`);
        const adopt = await p.up();
        if (adopt.code !== 0) throw new Error(`adoption failed:\n${adopt.stdout.slice(-3000)}\n${adopt.stderr}`);

        state.raw.network.subnet = NEW_SUBNET;
        delete state.raw.network.adoptId;
        state.raw.rebuild.nixModule = "nix/swarm.nix";
        state.window = "open";
        console.error(`maintenance: proxy → ${NEW_SUBNET}`);
        const t0 = Date.now();
        const { run, steps } = await upWithEvents(p);
        const wall = Date.now() - t0;
        if (run.code !== 0) throw new Error(`maintenance up failed:\n${run.stderr}`);

        const together = find(steps, "teardown-all", "delete-replaced");
        const teardowns = [together, ...attached.map((s) => find(steps, `${s}-stack`, "delete-replaced"))];
        const deploys = attached.map((s) => ({
            stack: s,
            start: find(steps, `${s}-stack`, "create-replacement").start,
            end: find(steps, `${s}-health`, "create-replacement").end,
        }));
        const netDelete = find(steps, "proxy-network", "delete-replaced");
        const netCreate = find(steps, "proxy-network", "create-replacement");
        const rebuild = find(steps, "rebuild-switch", "create-replacement");
        const outageStart = Math.min(...teardowns.map((s) => s.start));
        const outageEnd = Math.max(...deploys.map((d) => d.end));
        const outage = outageEnd - outageStart;
        const alone: { stack: string; ms: number }[] = [];
        for (const s of attached) {
            const t = Date.now();
            execFileSync("bash", [path.join(__dirname, "..", "host", "stack-teardown.sh"), s, "180"], {
                env: { ...process.env, ...sb.env },
                stdio: "ignore",
            });
            alone.push({ stack: s, ms: Date.now() - t });
        }
        const slowestTeardown = Math.max(...alone.map((a) => a.ms));
        const slowestDeploy = Math.max(...deploys.map((d) => d.end - d.start));
        const floor =
            slowestTeardown +
            (netDelete.end - netDelete.start) +
            (netCreate.end - netCreate.start) +
            (rebuild.end - rebuild.start) +
            slowestDeploy;

        const rel = (t: number) => `+${((t - outageStart) / 1000).toFixed(1)}`;
        const nodes = docker(["node", "ls", "-q"]).split("\n").filter(Boolean).length;
        console.log(
            `outage of the maintenance up on sandbox ${SANDBOX} (${nodes} node(s): SANDBOX_NODES; ${attached.length} attached stacks, proxy → ${NEW_SUBNET})`,
        );
        console.log("");
        console.log("timeline (s after the first teardown started: start → end)");
        console.log(
            `  teardown of all attached  ${rel(together.start)} → ${rel(together.end)}  (side by side, one resource)`,
        );
        for (const s of teardowns.slice(1))
            console.log(`  own delete ${s.name.replace(/-stack$/, "").padEnd(14)} ${rel(s.start)} → ${rel(s.end)}`);
        console.log(`  network delete           ${rel(netDelete.start)} → ${rel(netDelete.end)}`);
        console.log(`  network create           ${rel(netCreate.start)} → ${rel(netCreate.end)}`);
        console.log(`  rebuild                  ${rel(rebuild.start)} → ${rel(rebuild.end)}`);
        for (const d of deploys) console.log(`  deploy+health ${d.stack.padEnd(10)} ${rel(d.start)} → ${rel(d.end)}`);
        console.log("");
        console.log(`outage window (first teardown start → last stack healthy): ${secs(outage)}`);
        console.log(
            `floor: slowest teardown ${secs(slowestTeardown)} + network delete ${secs(netDelete.end - netDelete.start)}` +
                ` + network create ${secs(netCreate.end - netCreate.start)} + rebuild ${secs(rebuild.end - rebuild.start)}` +
                ` + slowest deploy ${secs(slowestDeploy)} = ${secs(floor)}`,
        );
        console.log(
            `teardown of one stack alone, after the maintenance: ${alone.map((a) => `${a.stack} ${secs(a.ms)}`).join(", ")}`,
        );
        console.log(`outage / floor: ${(outage / floor).toFixed(2)}  (target ≤ 1.15)`);
        console.log(`whole up (engine start to exit): ${secs(wall)}`);
    } finally {
        p?.cleanup();
        if (!process.env.BENCH_KEEP) sandboxDownSync(SANDBOX);
    }
}

main().catch((e: Error) => {
    console.error(`bench:outage: ${e.message}`);
    process.exit(1);
});
