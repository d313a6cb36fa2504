// `swarm-proxy init`, through its bin, on a sandbox swarm of its own seeded with the reference host's before state,
// and the config it writes run by the real Pulumi CLI as an operator runs it (the fixture's project: the real
// language host, command and docker providers). First the seed alone: the stacks of the committed sandbox config,
// and an adoption that changes nothing. Then stacks deployed with plain `docker stack deploy` from a folder
// outside the checkout: init writes them `deploy: external`, the adoption changes nothing, `rolling` moves every
// service to the /16, and `recreate` is refused naming them. Each `it` continues from the state the previous left.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { type PulumiProject } from "../../harness/engine/pulumi";
import {
    adoptChangesNothing,
    docker,
    networkId,
    networkSubnet,
    out,
    type ProgramState,
    type RawStackConfig,
    runningTasks,
    sandboxConfig,
    seededSandbox,
    serviceNetworks,
    swarmProject,
    taskAddresses,
} from "../../harness/engine/swarm-fixture";
import { type Sandbox, sandboxDownSync } from "../../harness/sandbox";
import { ipInCidr } from "../../harness/swarm";
import { waitFor } from "../../harness/wait";
import { runBin } from "../tools/bin";

const SANDBOX = process.env.SWARM_INIT_SANDBOX ?? "init";
const NEW_SUBNET = "10.10.0.0/16";
/** Stacks another tool deploys: here plain `docker stack deploy` from a folder outside the checkout. */
const EXTERNAL = ["ext-a", "ext-b", "ext-c"];

/** A stand-in app stack like the seed's drone: one routed service on proxy and on a network of its own. */
function externalCompose(stack: string): string {
    return YAML.stringify({
        version: "3.8",
        services: {
            app: {
                image: "swarm-sandbox/standin:2",
                stop_grace_period: "5s",
                environment: {
                    SANDBOX_STACK: '{{index .Service.Labels "com.docker.stack.namespace"}}',
                    SANDBOX_TASK: "{{.Task.Name}}",
                    SANDBOX_ON_TERM: "drain:3",
                },
                networks: ["proxy", "internal"],
                deploy: {
                    replicas: 1,
                    update_config: { order: "start-first" },
                    labels: {
                        "traefik.enable": "true",
                        [`traefik.http.routers.${stack}.rule`]: `Host(\`${stack}.sandbox.test\`)`,
                        [`traefik.http.routers.${stack}.entrypoints`]: "web",
                        [`traefik.http.services.${stack}.loadbalancer.server.port`]: "80",
                    },
                },
            },
        },
        networks: { proxy: { external: true }, internal: { driver: "overlay" } },
    });
}

/** The config a stack file holds, keys without the project's prefix (as the fixture's state holds it). */
function configOf(file: string): RawStackConfig {
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const raw: RawStackConfig = {};
    for (const [k, v] of Object.entries(doc.config)) raw[k.replace(/^swarm-proxy:/, "")] = v;
    return raw;
}

interface StackView {
    name: string;
    attached: boolean;
    waitsFor: string[];
    host?: string;
    compose?: string;
    deploy?: unknown;
}

function stacksOf(raw: RawStackConfig): StackView[] {
    return (
        raw.stacks as {
            name: string;
            attached?: boolean;
            waitsFor?: string[];
            compose?: string;
            deploy?: unknown;
            health?: { http?: { host?: string } };
        }[]
    )
        .map((s) => ({
            name: s.name,
            attached: s.attached !== false,
            waitsFor: s.waitsFor ?? [],
            host: s.health?.http?.host,
            compose: s.compose,
            deploy: s.deploy,
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
}

describe("swarm-proxy init on a sandbox swarm, and the config it writes run by the real CLI", () => {
    let sb: Sandbox | undefined;
    let p: PulumiProject | undefined;
    const state: ProgramState = { raw: sandboxConfig() };
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-external-"));

    /** `swarm-proxy init` through the bin, in the project's folder, at the sandbox's dockerd. */
    const init = (args: string[]) =>
        runBin(["init", ...args, "--entry-url", `http://${sb!.env.SANDBOX_FRONT_ADDR}/`], {
            cwd: p!.projectDir,
            env: { ...process.env, ...sb!.env },
        });

    before(async function () {
        this.timeout(600_000);
        sb = seededSandbox(SANDBOX, state.raw);
        p = await swarmProject(sb, state);
    });

    after(function () {
        this.timeout(300_000);
        p?.cleanup();
        fs.rmSync(outside, { recursive: true, force: true });
        if (sb && !process.env.SWARM_ENGINE_KEEP) sandboxDownSync(sb.name);
    });

    it("reference-host seed: init --compose-dir sandbox/stacks writes the committed config's stacks; adoption with it changes nothing, then preview --expect-no-changes is clean", async () => {
        const r = await init(["--stack", "seed", "--compose-dir", "sandbox/stacks"]);
        assert.strictEqual(r.code, 0, out(r));
        const file = path.join(p!.projectDir, "Pulumi.seed.yaml");
        console.log(`init wrote:\n${fs.readFileSync(file, "utf8")}\ninit said:\n${r.out}`);
        const written = configOf(file);
        assert.deepStrictEqual(stacksOf(written), stacksOf(sandboxConfig()));
        assert.strictEqual(written.network.subnet, networkSubnet("proxy"));
        assert.strictEqual(written.network.adoptId, networkId("proxy"));
        assert.match(r.out, /pulumi up --stack seed/);

        state.raw = written;
        const up = await adoptChangesNothing(p!);
        // The adoption's summary, for the record.
        console.log(
            up.stdout
                .split("\n")
                .filter((l) => /^Resources:|created|unchanged|Duration/.test(l.trim()))
                .join("\n"),
        );
    });

    it("stacks deployed from outside the checkout: init writes them deploy: external (and rolling); adopting them changes nothing", async () => {
        for (const s of EXTERNAL) {
            const f = path.join(outside, `${s}.yml`);
            fs.writeFileSync(f, externalCompose(s));
            docker(["stack", "deploy", "--detach=true", "--compose-file", f, s]);
        }
        // init lists a stack by its services: they exist once `docker stack deploy` returned.
        const r = await init(["--stack", "seed", "--compose-dir", "sandbox/stacks", "--subnet", NEW_SUBNET, "--force"]);
        assert.strictEqual(r.code, 0, out(r));
        const written = configOf(path.join(p!.projectDir, "Pulumi.seed.yaml"));
        const views = stacksOf(written);
        for (const s of EXTERNAL) {
            assert.deepStrictEqual(
                views.find((v) => v.name === s),
                {
                    name: s,
                    attached: true,
                    waitsFor: ["traefik"],
                    host: `${s}.sandbox.test`,
                    compose: undefined,
                    deploy: "external",
                },
            );
        }
        assert.strictEqual(written.network.migration, "rolling");
        assert.match(r.out, new RegExp(`pulumi config set --stack seed --path network.subnet ${NEW_SUBNET}`));
        // The external stacks run their replicas before the tasks are compared: the adoption's health checks wait
        // for that too, and a task still starting would be counted as a restart.
        await waitFor("the external stacks' replicas", 180_000, () =>
            Promise.resolve(
                EXTERNAL.every((s) =>
                    /^1\/1/.test(docker(["service", "ls", "--filter", `name=${s}_app`, "--format", "{{.Replicas}}"])),
                ),
            ),
        );
        state.raw = written;
        await adoptChangesNothing(p!);
    });

    it("rolling to the /16: every service that was on proxy ends on it, with its tasks' addresses inside it", async () => {
        const onProxy = Object.entries(serviceNetworks())
            .filter(([, nets]) => nets.includes("proxy"))
            .map(([svc]) => svc)
            .sort();
        assert.ok(
            EXTERNAL.every((s) => onProxy.includes(`${s}_app`)),
            onProxy.join(", "),
        );
        state.raw.network.subnet = NEW_SUBNET;
        delete state.raw.network.adoptId;
        state.window = "open";
        const up = await p!.up();
        assert.strictEqual(up.code, 0, out(up));
        assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
        const after = Object.entries(serviceNetworks())
            .filter(([, nets]) => nets.includes("proxy"))
            .map(([svc]) => svc)
            .sort();
        assert.deepStrictEqual(after, onProxy);
        const addrs = taskAddresses("proxy");
        assert.ok(addrs.length >= onProxy.length, addrs.join(", "));
        const outsideSubnet = addrs.filter((l) => !ipInCidr(l.split(" ")[1].replace(/\/\d+$/, ""), NEW_SUBNET));
        assert.deepStrictEqual(outsideSubnet, []);
        const clean = await p!.preview(["--expect-no-changes"]);
        assert.strictEqual(clean.code, 0, out(clean));
    });

    it("recreate is refused at preview, naming the external stacks, and nothing changes", async () => {
        const before = { tasks: runningTasks(), proxy: networkId("proxy") };
        state.raw.network.migration = "recreate";
        state.raw.network.subnet = "10.11.0.0/16";
        const pre = await p!.preview();
        assert.notStrictEqual(pre.code, 0, out(pre));
        assert.match(
            (pre.json.diagnostics ?? []).map((d) => d.message).join("\n"),
            /"recreate" would tear down the stacks ext-a, ext-b, ext-c with proxy, and they are deploy: external/,
        );
        assert.deepStrictEqual({ tasks: runningTasks(), proxy: networkId("proxy") }, before);
        assert.strictEqual(networkSubnet("proxy"), NEW_SUBNET);
    });
});
