// The program's real components (buildProgram, as index.ts runs it) driven by the real Pulumi CLI on a sandbox
// swarm of their own, seeded with the reference host's before state. The command resources are served by the
// stand-in command provider (command-provider/), since the real one cannot be built here.
// Each `it` continues from the state the previous one left (adopt → change → maintenance → failure → drift).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PulumiProject, repoRoot } from "../../harness/engine/pulumi";
import {
  docker, networkId, networkSubnet, ProgramState, runningTasks, sandboxConfig, sandboxDown, sandboxSeed, sandboxUp,
  Sandbox, stackNames, Step, swarmProject, taskAddresses, upWithEvents,
} from "../../harness/engine/swarm-fixture";

const NEW_SUBNET = "10.10.0.0/16";
const SANDBOX = process.env.SWARM_ENGINE_SANDBOX ?? "engine";

function out(r: { stdout: string; stderr: string }): string {
  return `--- stdout (end)\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

function inSubnet(addr: string, cidr: string): boolean {
  const toInt = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const [net, len] = cidr.split("/");
  const size = 2 ** (32 - Number(len));
  const a = toInt(addr.split("/")[0]);
  const n = toInt(net);
  return a >= n && a < n + size;
}

describe("the program on a sandbox swarm (real engine, real components)", function () {
  let sb: Sandbox | undefined;
  let p: PulumiProject | undefined;
  let liveSubnet = "";
  let tasksBefore: string[] = [];
  const state: ProgramState = { raw: sandboxConfig() };
  const { attached, unattached } = stackNames(state.raw);

  const step = (steps: Step[], name: string, op: string): Step => {
    const s = steps.find((x) => x.name === name && x.op === op);
    assert.ok(s, `no ${op} step of ${name} in ${JSON.stringify(steps.map((x) => `${x.op} ${x.name}`))}`);
    return s;
  };

  before(async function () {
    this.timeout(600_000);
    sb = sandboxUp(SANDBOX);
    // A previous run's leftovers: start from the reference host's before state again.
    if (docker(["stack", "ls", "--format", "{{.Name}}"]) !== "" || docker(["network", "ls", "-q", "--filter", "name=^proxy$"]) !== "") {
      child(["bash", "sandbox/seed.sh", "--remove"]);
    }
    sandboxSeed(sb);
    liveSubnet = networkSubnet("proxy");
    // The README's step 1: the live subnet, the live network's ID to adopt, the host's current module.
    state.raw.network.subnet = liveSubnet;
    state.raw.network.adoptId = networkId("proxy");
    state.raw.rebuild.nixModule = "sandbox/swarm-before.nix";
    p = await swarmProject(sb, state);
  });

  after(function () {
    this.timeout(300_000);
    p?.cleanup();
    if (sb && !process.env.SWARM_ENGINE_KEEP) sandboxDown(sb);
  });

  function child(argv: string[]): void {
    const r = spawnSync(argv[0], argv.slice(1), { cwd: repoRoot, env: { ...process.env, SANDBOX }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  }

  it("adoption: the first up over the running stacks restarts no task; a second preview is clean (exit 0)", async function () {
    tasksBefore = runningTasks();
    assert.ok(tasksBefore.length >= 8, `seeded tasks: ${tasksBefore.join(", ")}`);
    const proxyBefore = networkId("proxy");
    const up = await p!.up();
    assert.strictEqual(up.code, 0, out(up));
    assert.deepStrictEqual(runningTasks(), tasksBefore, "adoption restarted tasks");
    assert.strictEqual(networkId("proxy"), proxyBefore, "adoption recreated proxy");
    const outputs = await p!.outputs();
    assert.strictEqual(outputs.networkId, proxyBefore);
    const clean = await p!.preview(["--expect-no-changes"]);
    assert.strictEqual(clean.code, 0, out(clean));
  });

  it("the subnet change previews as the replacement of proxy and of every attached stack (deletes first), not of backups", async function () {
    // The README's step 2: the new subnet, adoptId dropped, the module that creates the network so.
    state.raw.network.subnet = NEW_SUBNET;
    delete state.raw.network.adoptId;
    state.raw.rebuild.nixModule = "nix/swarm.nix";
    const pre = await p!.preview(["--show-replacement-steps"]);
    assert.strictEqual(pre.code, 0, out(pre));
    const steps = (pre.json.steps ?? []).map((s, i) => ({ i, op: s.op, name: s.urn.split("::").pop()! }));
    const at = (name: string, op: string) => {
      const s = steps.find((x) => x.name === name && x.op === op);
      assert.ok(s, `no ${op} of ${name}: ${JSON.stringify(steps)}`);
      return s.i;
    };
    const netDelete = at("proxy-network", "delete-replaced");
    const netCreate = at("proxy-network", "create-replacement");
    for (const s of attached) {
      assert.ok(at(`${s}-stack`, "delete-replaced") < netDelete, `${s} is deleted before proxy`);
      assert.ok(at(`${s}-stack`, "create-replacement") > netCreate, `${s} is created after proxy`);
    }
    for (const s of unattached) {
      const ops = steps.filter((x) => x.name.startsWith(`${s}-`) && x.op !== "same").map((x) => `${x.op} ${x.name}`);
      assert.deepStrictEqual(ops, [], `${s} is not touched`);
    }
    // The old gate goes last: it is replaced create-before-delete and has nothing to tear down.
    const lastDelete = Math.max(...steps.filter((x) => x.op === "delete-replaced" && x.name !== "gate-quiescent").map((x) => x.i));
    const firstCreate = Math.min(...steps.filter((x) => x.op === "create-replacement").map((x) => x.i));
    // The gate is replaced create-before-delete (it has nothing to tear down), and it must run first.
    const ordered = steps.filter((x) => x.op === "create-replacement" && x.name !== "gate-quiescent");
    assert.ok(ordered.every((x) => x.i > lastDelete), `every create after every delete: ${JSON.stringify(steps)}`);
    assert.ok(firstCreate < lastDelete && steps[firstCreate].name === "gate-quiescent", "the gate is checked before anything is deleted");
    assert.strictEqual(at("rebuild-switch", "create-replacement") > netCreate, true, "the rebuild runs after proxy exists");
  });

  it("up outside the window fails before anything is deleted", async function () {
    const proxyBefore = networkId("proxy");
    state.window = undefined;
    const up = await p!.up();
    assert.notStrictEqual(up.code, 0, out(up));
    assert.match(up.stdout + up.stderr, /maintenance window/);
    assert.deepStrictEqual(runningTasks(), tasksBefore, "a refused run restarted tasks");
    assert.strictEqual(networkId("proxy"), proxyBefore);
    assert.strictEqual(networkSubnet("proxy"), liveSubnet);
  });

  it("inside the window: stacks down together → proxy deleted → created → rebuild → traefik → the rest → healthy in the new subnet", async function () {
    state.window = "open";
    const { run, steps } = await upWithEvents(p!);
    assert.strictEqual(run.code, 0, out(run));
    const done = (name: string, op: string) => {
      const s = step(steps, name, op);
      assert.ok(s.end !== undefined && !s.failed, `${op} ${name} did not complete`);
      return s;
    };
    const netDelete = done("proxy-network", "delete-replaced");
    const netCreate = done("proxy-network", "create-replacement");
    const rebuild = done("rebuild-switch", "create-replacement");
    for (const s of attached) {
      assert.ok(done(`${s}-stack`, "delete-replaced").end! <= netDelete.start, `${s} torn down before proxy is deleted`);
    }
    assert.ok(netDelete.end! <= netCreate.start, "proxy deleted before it is created");
    assert.ok(netCreate.end! <= rebuild.start, "proxy created before the rebuild");
    // Every attached stack is torn down by one delete, side by side, before the stacks' own deletes.
    const together = done("teardown-all", "delete-replaced");
    for (const s of attached) {
      assert.ok(together.end! <= step(steps, `${s}-stack`, "delete-replaced").start, `${s}'s own delete comes after the teardown of all`);
    }
    const traefikDeployed = done("traefik-stack", "create-replacement");
    for (const s of attached) {
      const create = done(`${s}-stack`, "create-replacement");
      assert.ok(rebuild.end! <= create.start, `${s} redeployed after the rebuild`);
      if (s !== "traefik") assert.ok(traefikDeployed.end! <= create.start, `${s} redeployed after traefik's deploy`);
      done(`${s}-health`, "create-replacement");
    }
    // The order as the engine ran it, for the log: seconds after the first step, start → end.
    const t0 = Math.min(...steps.map((x) => x.start));
    const rel = (t?: number) => (t === undefined ? "?" : ((t - t0) / 1000).toFixed(1));
    const shown = steps.filter((x) => x.op !== "same" && x.op !== "replace" && !x.name.startsWith("engine-"));
    console.log(shown.map((x) => `      ${rel(x.start).padStart(5)} → ${rel(x.end).padStart(5)}  ${x.op} ${x.name}`).join("\n"));
    assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
    const addrs = taskAddresses("proxy");
    assert.ok(addrs.length >= attached.length, `addresses on proxy: ${addrs.join(", ")}`);
    for (const a of addrs) assert.ok(inSubnet(a.split(" ")[1], NEW_SUBNET), `task address ${a} outside ${NEW_SUBNET}`);
    const clean = await p!.preview(["--expect-no-changes"]);
    assert.strictEqual(clean.code, 0, out(clean));
  });

  // Command resources have no Read: refresh keeps their state as recorded and never sees a stack removed or
  // changed out of band. The program's own survey (read at every preview) sees the network's subnet, nothing
  // of the stacks. So a drifted stack shows in neither exit code: that is the operator tools' drift report's job.
  it("refresh --preview-only and preview --refresh exit 0 on a clean sandbox, and do not see a stack removed out of band", async function () {
    state.window = undefined;
    const r1 = await p!.refresh(["--preview-only", "--expect-no-changes"]);
    assert.strictEqual(r1.code, 0, out(r1));
    const r2 = await p!.run(["preview", "--refresh", "--expect-no-changes"], { program: true });
    assert.strictEqual(r2.code, 0, out(r2));

    docker(["stack", "rm", "ccci-dashboard"]);
    const r3 = await p!.refresh(["--preview-only", "--expect-no-changes"]);
    assert.strictEqual(r3.code, 0, `refresh cannot see the removed stack: ${out(r3)}`);
    const r4 = await p!.run(["preview", "--refresh", "--expect-no-changes"], { program: true });
    assert.strictEqual(r4.code, 0, `preview --refresh cannot see the removed stack: ${out(r4)}`);
    // Put it back as the program deployed it (what the operator would do after the drift report), once the
    // out-of-band `docker stack rm` has finished: it is asynchronous, and a deploy racing it finds its own
    // network removed under it. The teardown is idempotent and waits until the stack's networks are gone.
    child(["bash", "host/stack-teardown.sh", "ccci-dashboard", "120"]);
    child(["bash", "host/stack-deploy.sh", "ccci-dashboard", path.join(repoRoot, "sandbox/stacks/ccci-dashboard.yml")]);
    child(["bash", "host/stack-health.sh", "ccci-dashboard", "proxy", NEW_SUBNET, "120"]);
  });

  it("a stack whose redeploy fails leaves state consistent; after the fix a rerun converges", async function () {
    // A second replacement (to 10.11.0.0/16, with a module that creates it so) in which ccci-reports' compose
    // file cannot be deployed (it names a network it does not define).
    const dir = fs.mkdtempSync(path.join(p!.dir, "broken-"));
    const nix = path.join(dir, "swarm.nix");
    fs.writeFileSync(nix, fs.readFileSync(path.join(repoRoot, "nix/swarm.nix"), "utf8").replace(/10\.10\.0\.0\/16/g, "10.11.0.0/16"));
    const broken = path.join(dir, "ccci-reports.yml");
    fs.writeFileSync(broken, fs.readFileSync(path.join(repoRoot, "sandbox/stacks/ccci-reports.yml"), "utf8")
      .replace(/networks:\n(\s+)- proxy/, "networks:\n$1- proxy\n$1- undefined-network"));
    const reports = (state.raw.stacks as { name: string; compose: string }[]).find((s) => s.name === "ccci-reports")!;
    const good = reports.compose;
    reports.compose = broken;
    state.raw.network.subnet = "10.11.0.0/16";
    state.raw.rebuild.nixModule = nix;
    state.window = "open";

    const failed = await upWithEvents(p!);
    assert.notStrictEqual(failed.run.code, 0, out(failed.run));
    const failures = failed.steps.filter((x) => x.failed).map((x) => `${x.op} ${x.name}`);
    assert.deepStrictEqual(failures, ["create-replacement ccci-reports-stack"], out(failed.run));
    const exported = JSON.parse((await p!.mustRun(["stack", "export"])).stdout) as {
      deployment: { resources: { urn: string; pendingReplacement?: boolean }[]; pending_operations?: unknown[] };
    };
    assert.deepStrictEqual(exported.deployment.pending_operations ?? [], [], "no operation left pending");
    // The old stack was torn down (delete-before-replace) and its replacement failed: the engine keeps the old
    // entry marked pendingReplacement, so the next run creates it without trying to tear it down again.
    const reportsState = exported.deployment.resources.find((r) => r.urn.endsWith("::ccci-reports-stack"));
    assert.strictEqual(reportsState?.pendingReplacement, true, JSON.stringify(reportsState));
    assert.strictEqual(docker(["stack", "ls", "--format", "{{.Name}}"]).split("\n").includes("ccci-reports"), false);
    const pending = await p!.preview(["--show-replacement-steps"]);
    assert.strictEqual(pending.code, 0, out(pending));
    // Left to do: the failed stack's create, and the replacements the engine did not reach after the failure
    // (health checks, the old gate: commands without a delete). Nothing that tears anything down runs again:
    // no delete of a stack or of the network.
    const left = (pending.json.steps ?? []).filter((s) => s.op !== "same").map((s) => `${s.op} ${s.urn.split("::").pop()}`);
    assert.ok(left.includes("create-replacement ccci-reports-stack"), JSON.stringify(left));
    assert.deepStrictEqual(left.filter((s) => /^(delete|delete-replaced|update) .*(-stack|proxy-network)$/.test(s)), [], JSON.stringify(left));

    reports.compose = good;
    const rerun = await p!.up();
    assert.strictEqual(rerun.code, 0, out(rerun));
    assert.strictEqual(networkSubnet("proxy"), "10.11.0.0/16");
    for (const a of taskAddresses("proxy")) assert.ok(inSubnet(a.split(" ")[1], "10.11.0.0/16"), `task address ${a}`);
    const clean = await p!.preview(["--expect-no-changes"]);
    assert.strictEqual(clean.code, 0, out(clean));
  });
});
