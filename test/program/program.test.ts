// The program under pulumi.runtime.setMocks: which resources it creates, with which links and options.
import * as pulumi from "@pulumi/pulumi";
import * as assert from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseConfig } from "../../config";
import { buildProgram, check, recordedPathMove } from "../../program";
import { HOST_DIR, hostFiles, installer } from "../../src/hostCommand";
import type { HostFacts } from "../../src/hostFacts";
import type { RecordedState } from "../../src/pulumiState";
import { type RawConfig, rawConfig, referenceFacts, ROOT } from "../unit/fixtures";
import { Recorder } from "./harness";

function dependsOnScripts(rec: Recorder, name: string, seen = new Set<string>()): boolean {
    if (seen.has(name)) {
        return false;
    }
    seen.add(name);
    const r = rec.get(name);
    return r.dependsOn.includes("host-install") || r.dependsOn.some((d) => dependsOnScripts(rec, d, seen));
}

const DIR = "/var/lib/swarm-proxy/host";
/** The command line that runs an installed host script, every word quoted. */
const sh = (script: string, ...args: string[]) =>
    ["bash", `${DIR}/${script}.sh`, ...args].map((w) => `'${w}'`).join(" ");
const WINDOW_HOOK = "swarm-proxy-maintenance-window";
const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

const ATTACHED = ["traefik", "drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak"];

/** A second checkout of the project's files in another folder, as every CI build's workspace is, for one suite. */
function cloneFolder(prefix: string): () => string {
    let dir = "";
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
        for (const d of ["sandbox", "nix"]) fs.cpSync(path.join(ROOT, d), path.join(dir, d), { recursive: true });
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return () => dir;
}

async function run(
    opts: {
        mutate?: (c: RawConfig) => void;
        facts?: HostFacts;
        dryRun?: boolean;
        /** No survey: the host is not read. */
        noSurvey?: boolean;
        recorded?: RecordedState;
    } = {},
): Promise<Recorder> {
    const rec = new Recorder();
    pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", opts.dryRun ?? true);
    const raw = rawConfig();
    opts.mutate?.(raw);
    buildProgram({
        config: parseConfig(raw, { baseDir: ROOT }),
        facts: opts.noSurvey ? undefined : (opts.facts ?? referenceFacts()),
        recorded: opts.recorded,
        baseDir: ROOT,
        dryRun: opts.dryRun ?? true,
        transformations: [rec.transformation],
    });
    await rec.settle();
    return rec;
}

/** The program on the reference facts refuses `raw` with `message` before it registers any resource. */
async function refusedBeforeRegistering(raw: RawConfig, message: RegExp, recorded?: RecordedState): Promise<void> {
    const rec = new Recorder();
    pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", true);
    assert.throws(
        () =>
            buildProgram({
                config: parseConfig(raw, { baseDir: ROOT }),
                facts: referenceFacts(),
                recorded,
                baseDir: ROOT,
                dryRun: true,
                transformations: [rec.transformation],
            }),
        message,
    );
    await rec.settle();
    assert.deepStrictEqual(rec.registered, []);
}

describe("program (mocked engine)", () => {
    for (const implementation of ["command", "docker"] as const) {
        describe(`with the ${implementation} network`, () => {
            let rec: Recorder;
            before(async () => {
                rec = await run({
                    mutate: (c) => {
                        c.network.implementation = implementation;
                    },
                });
            });
            const networkId = implementation === "command" ? "id-of-proxy-network" : "proxy-network-id";

            it("creates the network as an attachable overlay with the subnet, deleted before it is replaced", () => {
                const net = rec.get("proxy-network");
                assert.strictEqual(net.deleteBeforeReplace, true);
                if (implementation === "docker") {
                    assert.strictEqual(net.type, "docker:index/network:Network");
                    assert.strictEqual(net.inputs.driver, "overlay");
                    assert.strictEqual(net.inputs.attachable, true);
                    assert.deepStrictEqual(net.inputs.ipamConfigs, [{ subnet: "10.10.0.0/16", gateway: "10.10.0.1" }]);
                    assert.deepStrictEqual(net.inputs.labels, [{ label: "owner", value: "swarm-proxy" }]);
                } else {
                    assert.strictEqual(
                        net.inputs.create,
                        sh("network-ensure", "proxy", "10.10.0.0/16", "10.10.0.1", "owner=swarm-proxy"),
                    );
                    assert.strictEqual(net.inputs.delete, sh("network-remove", "proxy", "120"));
                    assert.deepStrictEqual(net.inputs.triggers, [
                        "proxy",
                        "10.10.0.0/16",
                        "10.10.0.1",
                        "owner=swarm-proxy",
                    ]);
                }
            });

            it("installs the host scripts first, and every other resource depends on them", () => {
                const order = rec.registered.map((r) => r.name);
                assert.strictEqual(order[0], "host");
                assert.ok(order.indexOf("host-install") < order.indexOf("proxy-network"), order.join(", "));
                assert.deepStrictEqual(rec.get("proxy-network").dependsOn, ["host-install"]);
                for (const r of rec.registered.filter(
                    (x) => x.type.startsWith("command:") || x.type.startsWith("docker:"),
                )) {
                    if (r.name !== "host-install") {
                        assert.ok(dependsOnScripts(rec, r.name), `${r.name} does not depend on the host scripts`);
                    }
                }
                const install = rec.get("host-install");
                assert.strictEqual(install.inputs.create, `bash -s -- '${DIR}'`);
                assert.strictEqual(install.inputs.stdin, installer());
                assert.strictEqual(
                    install.inputs.delete,
                    undefined,
                    "the scripts stay on the host for any later teardown",
                );
            });

            it("no input but the installer's holds a script's text, so a changed script updates that resource alone", () => {
                const libLine = hostFiles()
                    .find((f) => f.name === "lib.sh")!
                    .text.split("\n")
                    .find((l) => l.startsWith("sp_die()"))!;
                for (const r of rec.registered.filter((x) => x.name !== "host-install")) {
                    assert.ok(!JSON.stringify(r.inputs).includes(libLine), `${r.name} carries script text`);
                    assert.strictEqual(r.inputs.stdin, undefined, `${r.name} has stdin`);
                }
            });

            it("binds the maintenance-window hook to every resource whose delete takes something down, and only to those", () => {
                const guarded = rec.registered
                    .filter((r) => rec.get(r.name).beforeDelete.includes(WINDOW_HOOK))
                    .map((r) => r.name)
                    .sort();
                assert.deepStrictEqual(
                    guarded,
                    ["proxy-network", "teardown-all", ...[...ATTACHED, "backups"].map((s) => `${s}-stack`)].sort(),
                );
                for (const r of rec.registered.filter((x) => x.type.startsWith("command:"))) {
                    if (r.inputs.delete !== undefined) {
                        assert.ok(guarded.includes(r.name), `${r.name} has a delete but no window hook`);
                    }
                }
            });

            for (const stack of ATTACHED) {
                it(`${stack}: replaced with the network (an input on its ID), deleted before it comes back`, () => {
                    const s = rec.get(`${stack}-stack`);
                    assert.deepStrictEqual(s.inputs.triggers, ["proxy", networkId]);
                    assert.strictEqual(s.deleteBeforeReplace, true);
                    assert.strictEqual(s.inputs.create, sh("stack-deploy", stack, `sandbox/stacks/${stack}.yml`));
                    assert.strictEqual(s.inputs.delete, sh("stack-teardown", stack, "180"));
                    assert.match(
                        String((s.inputs.environment as Record<string, string>).SWARM_PROXY_COMPOSE_SHA256),
                        /^[0-9a-f]{64}$/,
                    );
                });
                it(`${stack}: comes back after the rebuild, and is checked in the new subnet`, () => {
                    assert.ok(rec.get(`${stack}-stack`).dependsOn.includes("rebuild-switch"));
                    assert.strictEqual(
                        rec.get(`${stack}-health`).inputs.create,
                        sh("stack-health", stack, "proxy", "10.10.0.0/16", "180"),
                    );
                    assert.deepStrictEqual(rec.get(`${stack}-health`).dependsOn, [`${stack}-stack`]);
                });
            }

            it("runs the rebuild after the network exists and re-runs it when the network or the module changes", () => {
                const r = rec.get("rebuild-switch");
                assert.deepStrictEqual(r.dependsOn, ["proxy-network"]);
                assert.strictEqual(r.inputs.create, "'nixos-rebuild' 'switch' </dev/null");
                assert.deepStrictEqual(r.inputs.environment, {
                    SWARM_PROXY_NIX_MODULE: "nix/swarm.nix",
                });
                const triggers = r.inputs.triggers as string[];
                assert.strictEqual(triggers[0], networkId);
                assert.match(triggers[1], /^[0-9a-f]{64}$/);
            });

            it("deploys traefik before the stacks that wait for it", () => {
                assert.ok(!rec.get("traefik-stack").dependsOn.some((d) => ATTACHED.some((a) => d.startsWith(`${a}-`))));
                for (const stack of ATTACHED.slice(1)) {
                    assert.ok(
                        rec.get(`${stack}-stack`).dependsOn.includes("traefik-stack"),
                        `${stack} waits for traefik`,
                    );
                }
                const order = rec.registered.map((r) => r.name);
                assert.ok(order.indexOf("traefik-stack") < order.indexOf("drone-stack"));
            });

            it("tears every attached stack down at once, before their own deletes, when the network is replaced", () => {
                const t = rec.get("teardown-all");
                assert.deepStrictEqual(t.inputs.triggers, ["proxy", networkId]);
                assert.strictEqual(t.deleteBeforeReplace, true);
                // Depending on every attached stack makes the engine delete it before any of them.
                assert.deepStrictEqual(
                    t.dependsOn,
                    ATTACHED.map((s) => `${s}-stack`),
                );
                assert.strictEqual(t.inputs.delete, sh("stacks-teardown", "180", ...ATTACHED));
                assert.strictEqual(t.inputs.create, "true");
            });

            it("leaves backups (not on proxy) out of the replacement and out of the rebuild", () => {
                const b = rec.get("backups-stack");
                assert.deepStrictEqual(b.inputs.triggers, []);
                assert.deepStrictEqual(b.dependsOn, ["host-install"]);
                assert.strictEqual(
                    rec.get("backups-health").inputs.create,
                    sh("stack-health", "backups", "", "", "180"),
                );
            });
        });
    }

    it("adopts the live network by ID with its live subnet, gateway and labels, whatever the config's labels say", async () => {
        const facts = referenceFacts();
        const live = facts.networks.find((n) => n.name === "proxy")!;
        const rec = await run({
            facts,
            mutate: (c) => {
                c.network = {
                    ...c.network,
                    implementation: "docker",
                    subnet: "10.0.1.0/24",
                    adoptId: live.id,
                    labels: { owner: "swarm-proxy" },
                };
                c.rebuild = {};
            },
        });
        const net = rec.get("proxy-network");
        assert.strictEqual(net.import, live.id);
        assert.deepStrictEqual(net.inputs.ipamConfigs, [{ subnet: "10.0.1.0/24", gateway: live.gateways[0] }]);
        assert.deepStrictEqual(
            net.inputs.labels,
            Object.entries(live.labels).map(([label, value]) => ({ label, value })),
        );
        assert.ok(!rec.registered.some((r) => r.name.startsWith("rebuild")));
    });

    it("without a survey, the network keeps what the state recorded for it: `survey: false` alone plans no replacement", async () => {
        const recorded: RecordedState = {
            resources: [],
            urns: {},
            units: {},
            network: { urn: "urn:x", id: "p".repeat(25), subnet: "10.0.1.0/24", gateway: "10.0.1.1", labels: {} },
        };
        const rec = await run({
            noSurvey: true,
            recorded,
            mutate: (c) => {
                c.survey = false;
                c.network = { ...c.network, implementation: "docker", subnet: "10.0.1.0/24" };
                c.rebuild = {};
            },
        });
        const net = rec.get("proxy-network");
        assert.deepStrictEqual(net.inputs.ipamConfigs, [{ subnet: "10.0.1.0/24", gateway: "10.0.1.1" }]);
        assert.deepStrictEqual(net.inputs.labels, []);
        // Without what the state recorded, the config's labels and the window's demand are all the program has.
        assert.equal(
            check({
                config: parseConfig({ ...rawConfig(), survey: false }, { baseDir: ROOT }),
                baseDir: ROOT,
                dryRun: true,
            }).replacing,
            true,
        );
    });

    it("refuses a live network that the state does not hold, naming the state-only adoption, before creating anything", async () => {
        const raw = rawConfig();
        raw.network = { ...raw.network, implementation: "docker", subnet: "10.0.1.0/24" };
        await refusedBeforeRegistering(
            raw,
            /the network "proxy" is live on the host \(ID p{25}, subnet 10\.0\.1\.0\/24\), but the state does not hold it: it was never adopted\. .* 1\. pulumi config set --path network\.adoptId p{25}/,
            { resources: [], urns: {}, units: {} },
        );
    });

    it("refuses an adoptId that is not the live network's, before creating anything", async () => {
        const raw = rawConfig();
        raw.network = { ...raw.network, implementation: "docker", subnet: "10.0.1.0/24", adoptId: "q".repeat(25) };
        await refusedBeforeRegistering(raw, /network\.adoptId: "q{25}" is not the ID of the live network "proxy"/);
    });

    it("probes traefik's routing when a stack has an HTTP check", async () => {
        const rec = await run({
            mutate: (c) => {
                c.stacks[1].health = { http: { url: "http://127.0.0.1/healthz", host: "ci.example" } };
            },
        });
        const probe = rec.get("drone-http");
        assert.strictEqual(
            probe.inputs.create,
            sh("http-probe", "http://127.0.0.1/healthz", "ci.example", "200", "180"),
        );
        assert.deepStrictEqual(probe.dependsOn, ["drone-health"]);
    });

    it("checks the stack's own answer through traefik when the route names an expected text", async () => {
        const rec = await run({
            mutate: (c) => {
                c.stacks[1].health = {
                    http: { url: "http://127.0.0.1/", host: "drone.example", expectText: "stack drone task" },
                };
            },
        });
        assert.strictEqual(
            rec.get("drone-http").inputs.create,
            sh("http-probe", "http://127.0.0.1/", "drone.example", "200", "180", "drone", "stack drone task"),
        );
        assert.ok(!rec.registered.some((r) => r.name === "backups-http"), "a stack without a route has no HTTP check");
    });

    /** The program's preview with `connection.mode: ssh`, run with these environment variables. */
    async function overSsh(env: Record<string, string> = {}): Promise<Recorder> {
        const rec = new Recorder();
        pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", true);
        const raw = rawConfig();
        raw.connection = { mode: "ssh", host: "host.example", user: "deploy", hostKey: "ssh-ed25519 AAAAC3Nz" };
        buildProgram({
            config: parseConfig(raw, { baseDir: ROOT, hasSshPrivateKey: true, env }),
            facts: referenceFacts(),
            baseDir: ROOT,
            dryRun: true,
            sshPrivateKey: pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----"),
            transformations: [rec.transformation],
        });
        await rec.settle();
        return rec;
    }

    it("keeps the SSH private key secret and pins the host key", async () => {
        const rec = await overSsh();
        const s = rec.get("drone-stack");
        assert.strictEqual(s.type, "command:remote:Command");
        // The whole connection travels as a secret: the key inside it never reaches state in the clear.
        const wrapped = s.inputs.connection as Record<string, unknown>;
        assert.strictEqual(wrapped[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
        const conn = wrapped.value as Record<string, unknown>;
        assert.strictEqual(conn.hostKey, "ssh-ed25519 AAAAC3Nz");
        assert.strictEqual(conn.privateKey, "-----BEGIN OPENSSH PRIVATE KEY-----");
        // The compose file is the one shipped beside the scripts, named by its digest and project-relative path: no
        // path of this machine is sent, and no variable (sshd refuses those it does not AcceptEnv).
        const digest = sha256(fs.readFileSync(path.join(ROOT, "sandbox", "stacks", "drone.yml")));
        const shipped = `${DIR}/compose/${digest}/sandbox/stacks/drone.yml`;
        assert.strictEqual(s.inputs.create, sh("stack-deploy", "drone", shipped));
        assert.strictEqual(s.inputs.update, sh("stack-deploy", "drone", shipped));
        assert.strictEqual(s.inputs.environment, undefined);
        assert.deepStrictEqual(rec.get("drone-health").inputs.triggers, ["drone-stack-id", digest]);
    });

    it("over SSH, a redeploy's token is the named stack's stdin, never a variable (sshd refuses those it does not AcceptEnv)", async () => {
        const rec = await overSsh({ SWARM_PROXY_REDEPLOY: "drone" });
        const token = rec.get("drone-stack").inputs.stdin;
        assert.match(String(token), /^\d{4}-\d\d-\d\dT\S+ \d+$/);
        for (const name of ["drone-stack", "drone-health"]) {
            const r = rec.get(name);
            assert.strictEqual(r.inputs.stdin, token, name);
            assert.strictEqual(r.inputs.environment, undefined, name);
            assert.deepStrictEqual(r.ignoreChanges, ["environment"], name);
        }
        for (const name of ["ccci-bridge-stack", "ccci-bridge-health"]) {
            const r = rec.get(name);
            assert.strictEqual(r.inputs.stdin, undefined, name);
            assert.strictEqual(r.inputs.environment, undefined, name);
            assert.deepStrictEqual(r.ignoreChanges, ["environment", "stdin"], name);
        }
    });

    describe("creates no resource at all", () => {
        it("when `up` would replace the network outside the window", async () => {
            const rec = new Recorder();
            pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", false);
            assert.throws(
                () =>
                    buildProgram({
                        config: parseConfig(rawConfig(), { baseDir: ROOT }),
                        facts: referenceFacts(),
                        baseDir: ROOT,
                        dryRun: false,
                        transformations: [rec.transformation],
                    }),
                /runs only in a maintenance window/,
            );
            await rec.settle();
            assert.deepStrictEqual(rec.registered, []);
        });

        const invalid: [string, Record<string, string>, RegExp][] = [
            ["a non-canonical subnet", { network: JSON.stringify({ subnet: "10.10.1.0/16" }) }, /has host bits set/],
            [
                "a stack cycle",
                {
                    stacks: JSON.stringify([
                        { name: "a", compose: "sandbox/stacks/drone.yml", waitsFor: ["b"] },
                        { name: "b", compose: "sandbox/stacks/traefik.yml", waitsFor: ["a"] },
                    ]),
                },
                /cycle: a -> b -> a/,
            ],
            [
                "a stack name with shell metacharacters",
                { stacks: JSON.stringify([{ name: "x;reboot", compose: "sandbox/stacks/drone.yml" }]) },
                /"x;reboot" is not allowed/,
            ],
            [
                "a missing nix module",
                { rebuild: JSON.stringify({ nixModule: "nix/none.nix" }) },
                /"nix\/none.nix" is not a file/,
            ],
            [
                "a subnet that overlaps a reserved range",
                // The host scripts' network: with the Docker provider's and no survey the program reads Pulumi's
                // state with the CLI, which a mocked run has not.
                {
                    network: JSON.stringify({
                        subnet: "10.10.0.0/16",
                        reserved: ["10.0.0.0/8"],
                        implementation: "command",
                    }),
                },
                /overlaps reserved range 10.0.0.0\/8/,
            ],
        ];
        for (const [what, config, message] of invalid) {
            it(`with ${what} (through index.ts)`, async () => {
                const rec = new Recorder();
                pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", true);
                const all: Record<string, string> = {
                    "swarm-proxy:network": JSON.stringify({ subnet: "10.10.0.0/16", implementation: "command" }),
                    "swarm-proxy:stacks": JSON.stringify([{ name: "traefik", compose: "sandbox/stacks/traefik.yml" }]),
                    "swarm-proxy:survey": "false",
                };
                for (const [k, v] of Object.entries(config)) {
                    all[`swarm-proxy:${k}`] = v;
                }
                pulumi.runtime.setAllConfig(all);
                const index = require.resolve("../../index");
                delete require.cache[index];
                // index.ts exports the program as an async function, which the language host loads and calls.
                // eslint-disable-next-line @typescript-eslint/no-require-imports
                const program = require(index) as () => Promise<unknown>;
                await assert.rejects(
                    program(),
                    (e: unknown) => e instanceof pulumi.RunError && message.test(e.message),
                );
                await rec.settle();
                assert.deepStrictEqual(rec.registered, []);
            });
        }
    });
});

describe("network.migration rolling (mocked engine)", () => {
    let rec: Recorder;
    before(async () => {
        rec = await run({
            mutate: (c) => {
                c.network.implementation = "docker";
                c.network.migration = "rolling";
                c.maintenance = { windowOpen: true };
            },
        });
    });

    it("moves out before the network is created, replaces the network create-first, moves back after the rebuild", () => {
        const out = rec.get("proxy-move-out");
        assert.strictEqual(
            out.inputs.create,
            sh(
                "network-move",
                "out",
                "proxy",
                "proxy-rolling",
                "10.255.255.0/24",
                "10.10.0.0/16",
                "300",
                ...ATTACHED,
                "backups",
            ),
        );
        assert.strictEqual(out.inputs.update, out.inputs.create);
        assert.strictEqual(out.inputs.delete, undefined);
        const net = rec.get("proxy-network");
        assert.ok(net.dependsOn.includes("proxy-move-out"), JSON.stringify(net.dependsOn));
        assert.strictEqual(net.deleteBeforeReplace, false);
        const back = rec.get("proxy-move-back");
        assert.strictEqual(back.inputs.create, sh("network-move", "back", "proxy", "proxy-rolling", "300"));
        assert.deepStrictEqual(back.dependsOn.sort(), ["proxy-network", "rebuild-switch"]);
        assert.deepStrictEqual(back.inputs.triggers, ["proxy-network-id"]);
    });

    it("keeps every stack (its recorded network ID in triggers), checks it after the move back, probes its route again", () => {
        for (const stack of ATTACHED) {
            const s = rec.get(`${stack}-stack`);
            assert.ok(s.ignoreChanges?.includes("triggers"), `${stack}: ${JSON.stringify(s.ignoreChanges)}`);
            assert.ok(rec.get(`${stack}-health`).dependsOn.includes("proxy-move-back"));
        }
        assert.ok(!rec.get("backups-stack").ignoreChanges?.includes("triggers"));
        assert.ok(rec.get("teardown-all").ignoreChanges?.includes("triggers"));
    });

    it("refuses outside the window unless maintenance.allowRollingOutsideWindow, before registering anything", async () => {
        await assert.rejects(
            run({
                dryRun: false,
                mutate: (c) => {
                    c.network.implementation = "docker";
                    c.network.migration = "rolling";
                },
            }),
            /network\.migration: rolling.*allowRollingOutsideWindow/s,
        );
        const allowed = await run({
            dryRun: false,
            mutate: (c) => {
                c.network.implementation = "docker";
                c.network.migration = "rolling";
                c.maintenance = { allowRollingOutsideWindow: true };
            },
        });
        assert.ok(allowed.get("proxy-move-out"));
    });

    it("without a change of subnet the moves keep their recorded commands: a temporary subnet picked anew is no change", async () => {
        const adopted = await run({
            facts: (() => {
                const f = referenceFacts();
                f.networks.find((n) => n.name === "proxy")!.subnets = ["10.10.0.0/16"];
                return f;
            })(),
            mutate: (c) => {
                c.network.implementation = "docker";
                c.network.migration = "rolling";
            },
        });
        assert.deepStrictEqual(adopted.get("proxy-move-out").ignoreChanges, ["create", "update"]);
        assert.deepStrictEqual(adopted.get("proxy-move-back").ignoreChanges, ["create", "update"]);
    });
});

describe("the plan drives the resources", () => {
    it("registers the stacks in the plan's waves and tears down exactly the plan's teardown targets, in one resource", async () => {
        // ccci-reports waits for drone: three waves, which the program must follow as the plan states them.
        const mutate = (c: RawConfig) => {
            c.stacks.find((s) => s.name === "ccci-reports")!.waitsFor = ["drone"];
        };
        const raw = rawConfig();
        mutate(raw);
        const plan = check({
            config: parseConfig(raw, { baseDir: ROOT }),
            facts: referenceFacts(),
            baseDir: ROOT,
            dryRun: true,
        }).plan;
        assert.deepStrictEqual(plan.waves, [
            ["traefik", "backups"],
            ["drone", "ccci-bridge", "ccci-dashboard", "warm-keycloak"],
            ["ccci-reports"],
        ]);
        const rec = await run({ mutate });
        const built = rec.registered.filter((r) => r.name.endsWith("-stack")).map((r) => r.name.replace(/-stack$/, ""));
        assert.deepStrictEqual([...built].sort(), [...plan.waves.flat()].sort());
        const teardownSteps = plan.steps.filter((s) => s.action === "teardown");
        assert.strictEqual(teardownSteps.length, 1);
        assert.deepStrictEqual(teardownSteps[0].targets, plan.teardown);
        assert.strictEqual(rec.get("teardown-all").inputs.delete, sh("stacks-teardown", "180", ...plan.teardown));
        const deploys = plan.steps.filter((s) => s.action === "deploy").map((s) => s.targets);
        assert.deepStrictEqual(deploys, [
            ["traefik"],
            ["drone", "ccci-bridge", "ccci-dashboard", "warm-keycloak"],
            ["ccci-reports"],
        ]);
        assert.ok(
            rec.get("ccci-reports-stack").dependsOn.includes("drone-stack"),
            "ccci-reports does not wait for drone",
        );
    });
});

describe("the same checkout anywhere: what the state records does not depend on the checkout's folder", () => {
    /** The command resources' inputs, by name, of the program run from this project folder. */
    async function inputsFrom(baseDir: string, mutate?: (c: RawConfig) => void, recorded?: RecordedState) {
        const rec = new Recorder();
        pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", true);
        const raw = rawConfig();
        mutate?.(raw);
        buildProgram({
            config: parseConfig(raw, { baseDir }),
            facts: referenceFacts(),
            recorded,
            baseDir,
            dryRun: true,
            transformations: [rec.transformation],
        });
        await rec.settle();
        return rec;
    }

    const clone = cloneFolder("spx-clone-");

    it("a clone in another folder registers every resource with the same inputs (compose path and module path relative, with their digests)", async () => {
        const here = await inputsFrom(ROOT);
        const there = await inputsFrom(clone());
        const commands = here.registered.filter((r) => r.type.startsWith("command:"));
        assert.ok(commands.length > 10);
        for (const r of commands) {
            assert.deepStrictEqual(there.get(r.name).inputs, r.inputs, r.name);
            assert.ok(!JSON.stringify(r.inputs).includes(ROOT), `${r.name} names the checkout's folder`);
        }
    });

    it("a changed compose file changes that stack's deploy (its digest) and nothing else", async () => {
        const here = await inputsFrom(ROOT);
        fs.appendFileSync(path.join(clone(), "sandbox", "stacks", "drone.yml"), "# reviewed change\n");
        try {
            const there = await inputsFrom(clone());
            const changed = here.registered
                .filter((r) => JSON.stringify(there.get(r.name).inputs) !== JSON.stringify(r.inputs))
                .map((r) => r.name);
            // The health check carries the digest as a trigger: a changed file is checked again after its deploy.
            assert.deepStrictEqual(changed.sort(), ["drone-health", "drone-stack"]);
        } finally {
            fs.copyFileSync(
                path.join(ROOT, "sandbox", "stacks", "drone.yml"),
                path.join(clone(), "sandbox", "stacks", "drone.yml"),
            );
        }
    });

    /** State as the program recorded it before paths were relative: absolute paths into the first checkout. */
    function recordedBefore(first: string, digests: Record<string, string>, moduleDigest: string): RecordedState {
        const stacks = Object.entries(digests).map(([stack, digest]) => {
            const line = sh("stack-deploy", stack, `${first}/sandbox/stacks/${stack}.yml`);
            return {
                urn: `urn:pulumi:test::swarm-proxy::x::${stack}-stack`,
                name: `${stack}-stack`,
                type: "command:local:Command",
                dependsOn: [],
                triggers: [],
                inputs: { create: line, update: line, environment: { SWARM_PROXY_COMPOSE_SHA256: digest } },
            };
        });
        const rebuild = {
            urn: "urn:pulumi:test::swarm-proxy::x::rebuild-switch",
            name: "rebuild-switch",
            type: "command:local:Command",
            dependsOn: [],
            triggers: ["n".repeat(25), moduleDigest],
            inputs: { environment: { SWARM_PROXY_NIX_MODULE: `${first}/sandbox/swarm-before.nix` } },
        };
        return { resources: [...stacks, rebuild], urns: {}, units: {} };
    }

    it("state with absolute paths from an older version: each unchanged stack's update is named as a path change that restarts nothing; the rebuild keeps its path and does not run", async () => {
        const keep = (c: RawConfig) => {
            c.network.subnet = "10.0.1.0/24";
            c.rebuild = { nixModule: "sandbox/swarm-before.nix", command: ["nixos-rebuild", "switch"] };
        };
        const fresh = await inputsFrom(ROOT, keep);
        const digestOf = (stack: string) =>
            String(
                (fresh.get(`${stack}-stack`).inputs.environment as Record<string, string>).SWARM_PROXY_COMPOSE_SHA256,
            );
        const digests = Object.fromEntries([...ATTACHED, "backups"].map((s) => [s, digestOf(s)]));
        digests.drone = "0".repeat(64); // a file changed since: a real update, not a path change
        const moduleDigest = (fresh.get("rebuild-switch").inputs.triggers as string[])[1];
        const recorded = recordedBefore("/srv/first-checkout", digests, moduleDigest);
        const target = { mode: "local" as const, scriptsDir: DIR };
        for (const stack of [...ATTACHED, "backups"]) {
            const note = recordedPathMove(
                recorded,
                stack,
                { compose: `sandbox/stacks/${stack}.yml`, digest: digestOf(stack) },
                target,
            );
            if (stack === "drone") {
                assert.strictEqual(note, undefined, "a changed file is not a path change");
                continue;
            }
            assert.strictEqual(
                note,
                `stack ${stack}: recorded path changes (/srv/first-checkout/sandbox/stacks/${stack}.yml -> sandbox/stacks/${stack}.yml); ` +
                    "`stack deploy` of an unchanged file restarts nothing",
            );
        }
        const upgraded = await inputsFrom(ROOT, keep, recorded);
        assert.deepStrictEqual(upgraded.get("rebuild-switch").ignoreChanges, ["environment"]);
        // Without such a record (or once the rebuild runs again), the relative path is recorded.
        assert.deepStrictEqual(fresh.get("rebuild-switch").ignoreChanges ?? [], []);
        assert.deepStrictEqual(fresh.get("rebuild-switch").inputs.environment, {
            SWARM_PROXY_NIX_MODULE: "sandbox/swarm-before.nix",
        });
    });
});

describe("over SSH, compose files in the project ship to the host beside the scripts, by content", () => {
    const STACKS = [...ATTACHED, "backups"];

    /** The program's preview over SSH from this project folder; the info lines it logged. */
    async function sshFrom(
        baseDir: string,
        mutate?: (c: RawConfig) => void,
        recorded?: RecordedState,
    ): Promise<{ rec: Recorder; said: string[] }> {
        const rec = new Recorder();
        pulumi.runtime.setMocks(rec.mocks(), "swarm-proxy", "test", true);
        const raw = rawConfig();
        raw.connection = { mode: "ssh", host: "host.example", user: "deploy", hostKey: "ssh-ed25519 AAAAC3Nz" };
        mutate?.(raw);
        const said: string[] = [];
        const info = pulumi.log.info;
        Object.assign(pulumi.log, { info: (m: string) => said.push(m) });
        try {
            buildProgram({
                config: parseConfig(raw, { baseDir, hasSshPrivateKey: true }),
                facts: referenceFacts(),
                recorded,
                baseDir,
                dryRun: true,
                sshPrivateKey: pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----"),
                transformations: [rec.transformation],
            });
            await rec.settle();
        } finally {
            Object.assign(pulumi.log, { info });
        }
        return { rec, said };
    }

    const shippedPath = (stack: string, base = ROOT) =>
        `${DIR}/compose/${sha256(fs.readFileSync(path.join(base, "sandbox", "stacks", `${stack}.yml`)))}/sandbox/stacks/${stack}.yml`;

    const clone = cloneFolder("spx-ssh-clone-");

    it("the installer carries each file's content and writes it where the stack's deploy looks", async () => {
        const { rec } = await sshFrom(ROOT);
        const stdin = String(rec.get("host-install").inputs.stdin);
        assert.notStrictEqual(stdin, installer(), "the installer ships the compose files");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spx-ship-"));
        try {
            const r = spawnSync("bash", ["-s", "--", dir], { input: stdin, encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
            for (const stack of STACKS) {
                const shipped = shippedPath(stack);
                assert.strictEqual(rec.get(`${stack}-stack`).inputs.create, sh("stack-deploy", stack, shipped));
                const onHost = path.join(dir, shipped.slice(DIR.length + 1));
                assert.deepStrictEqual(
                    fs.readFileSync(onHost),
                    fs.readFileSync(path.join(ROOT, "sandbox", "stacks", `${stack}.yml`)),
                    stack,
                );
            }
            // The scripts' bundle and its digest are as without compose files.
            assert.strictEqual(r.stdout.trim(), fs.readFileSync(path.join(dir, "DIGEST"), "utf8").trim());
            for (const f of hostFiles()) assert.strictEqual(fs.readFileSync(path.join(dir, f.name), "utf8"), f.text);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // No other resource carries a file's content.
        const text = fs.readFileSync(path.join(ROOT, "sandbox", "stacks", "drone.yml")).toString("base64");
        for (const r of rec.registered.filter((x) => x.name !== "host-install")) {
            assert.ok(!JSON.stringify(r.inputs).includes(text), `${r.name} carries the compose file`);
        }
    });

    it("an unchanged file gives the same inputs from a clone in another folder", async () => {
        const here = (await sshFrom(ROOT)).rec;
        const there = (await sshFrom(clone())).rec;
        const commands = here.registered.filter((r) => r.type.startsWith("command:"));
        assert.ok(commands.length > 10);
        for (const r of commands) {
            assert.deepStrictEqual(there.get(r.name).inputs, r.inputs, r.name);
            assert.ok(!JSON.stringify(r.inputs).includes(ROOT), `${r.name} names the checkout's folder`);
            assert.ok(!JSON.stringify(r.inputs).includes(clone()), `${r.name} names the clone's folder`);
        }
    });

    it("a changed file changes that stack's deploy, its health check and the installer, and nothing else", async () => {
        const here = (await sshFrom(ROOT)).rec;
        const file = path.join(clone(), "sandbox", "stacks", "drone.yml");
        fs.appendFileSync(file, "# reviewed change\n");
        try {
            const there = (await sshFrom(clone())).rec;
            const changed = here.registered
                .filter((r) => JSON.stringify(there.get(r.name).inputs) !== JSON.stringify(r.inputs))
                .map((r) => r.name);
            assert.deepStrictEqual(changed.sort(), ["drone-health", "drone-stack", "host-install"]);
            assert.strictEqual(
                there.get("drone-stack").inputs.update,
                sh("stack-deploy", "drone", shippedPath("drone", clone())),
            );
            assert.ok(
                String(there.get("host-install").inputs.stdin).includes(fs.readFileSync(file).toString("base64")),
            );
        } finally {
            fs.copyFileSync(path.join(ROOT, "sandbox", "stacks", "drone.yml"), file);
        }
    });

    it("a compose path outside the project stays the host's, as given, and the preview says the host must hold it", async () => {
        const outside = "/srv/stacks/drone.yml";
        const { rec, said } = await sshFrom(ROOT, (c) => {
            const drone = c.stacks.find((s) => s.name === "drone")!;
            drone.compose = outside;
        });
        assert.strictEqual(rec.get("drone-stack").inputs.create, sh("stack-deploy", "drone", outside));
        assert.deepStrictEqual(rec.get("drone-health").inputs.triggers, ["drone-stack-id", ""]);
        assert.ok(!String(rec.get("host-install").inputs.stdin).includes("'drone.yml'"));
        assert.ok(
            said.includes(
                `stack drone: compose ${outside} lies outside the project, so it is not shipped over SSH: ` +
                    `the host must hold ${outside}`,
            ),
            said.join("\n"),
        );
        // Every file inside the project still ships.
        assert.strictEqual(
            rec.get("traefik-stack").inputs.create,
            sh("stack-deploy", "traefik", shippedPath("traefik")),
        );
    });

    it("a compose path inside the project that is not there is refused, naming the key and the host-path way", () => {
        const raw = rawConfig();
        raw.connection = { mode: "ssh", host: "host.example", user: "deploy", hostKey: "ssh-ed25519 AAAAC3Nz" };
        raw.stacks[1].compose = "stacks/none.yml";
        assert.throws(
            () => parseConfig(raw, { baseDir: ROOT, hasSshPrivateKey: true }),
            (e: Error) =>
                e.message.includes('swarm-proxy:stacks[1].compose: "stacks/none.yml" is not a file') &&
                e.message.includes("over SSH a compose file outside the project is a path on the host"),
        );
    });

    /** SSH state from before compose files were shipped: the host's absolute paths, no digest anywhere. */
    function recordedBefore(first: string): RecordedState {
        return {
            resources: STACKS.flatMap((stack) => {
                const line = sh("stack-deploy", stack, `${first}/sandbox/stacks/${stack}.yml`);
                const urn = (n: string) => `urn:pulumi:test::swarm-proxy::x::${n}`;
                return [
                    {
                        urn: urn(`${stack}-stack`),
                        name: `${stack}-stack`,
                        type: "command:remote:Command",
                        dependsOn: [],
                        triggers: [],
                        inputs: { create: line, update: line },
                    },
                    {
                        urn: urn(`${stack}-health`),
                        name: `${stack}-health`,
                        type: "command:remote:Command",
                        dependsOn: [],
                        triggers: [`${stack}-stack-id`, ""],
                        inputs: { triggers: [`${stack}-stack-id`, ""] },
                    },
                ];
            }),
            urns: {},
            units: {},
        };
    }

    it("state from before shipping (absolute host paths inside the project): each stack's update is noted as a path change, and no health check runs again", async () => {
        const { rec, said } = await sshFrom(ROOT, undefined, recordedBefore(ROOT));
        for (const stack of STACKS) {
            assert.ok(
                said.includes(
                    `stack ${stack}: recorded path changes (${ROOT}/sandbox/stacks/${stack}.yml -> ${shippedPath(stack)}); ` +
                        "`stack deploy` of an unchanged file restarts nothing; the project's file is now shipped to " +
                        "the host, the same as the host's file at the old path if that was a copy of it",
                ),
                said.join("\n"),
            );
            assert.deepStrictEqual(rec.get(`${stack}-health`).inputs.triggers, [`${stack}-stack-id`, ""], stack);
        }
        // Recorded with the shipped path and unchanged since: the health check still keeps its trigger.
        const after = recordedBefore(ROOT);
        for (const r of after.resources.filter((x) => x.name.endsWith("-stack"))) {
            const line = sh("stack-deploy", r.name.replace(/-stack$/, ""), shippedPath(r.name.replace(/-stack$/, "")));
            r.inputs = { create: line, update: line };
        }
        const again = await sshFrom(ROOT, undefined, after);
        assert.deepStrictEqual(
            again.said.filter((m) => m.includes("recorded path changes")),
            [],
        );
        assert.deepStrictEqual(again.rec.get("drone-health").inputs.triggers, ["drone-stack-id", ""]);
        // A file changed since: the health check gets the digest, and runs again after the deploy.
        fs.appendFileSync(path.join(clone(), "sandbox", "stacks", "drone.yml"), "# reviewed change\n");
        try {
            const changed = await sshFrom(clone(), undefined, after);
            const digest = sha256(fs.readFileSync(path.join(clone(), "sandbox", "stacks", "drone.yml")));
            assert.deepStrictEqual(changed.rec.get("drone-health").inputs.triggers, ["drone-stack-id", digest]);
            assert.ok(!changed.said.some((m) => m.startsWith("stack drone: recorded path")), changed.said.join("\n"));
        } finally {
            fs.copyFileSync(
                path.join(ROOT, "sandbox", "stacks", "drone.yml"),
                path.join(clone(), "sandbox", "stacks", "drone.yml"),
            );
        }
    });

    it("ships nothing and leaves the installer as it was when no compose file is in the project", async () => {
        const { rec } = await sshFrom(ROOT, (c) => {
            for (const s of c.stacks) s.compose = `/srv/stacks/${String(s.name)}.yml`;
        });
        assert.strictEqual(rec.get("host-install").inputs.stdin, installer(HOST_DIR));
    });
});

describe("stacks the program does not deploy from a compose file or unit (mocked engine)", () => {
    /** drone deployed by another tool, ccci-bridge by the user's own command. */
    const kinds = (c: RawConfig) => {
        delete c.stacks[1].compose;
        c.stacks[1].deploy = "external";
        delete c.stacks[2].compose;
        c.stacks[2].deploy = ["abra", "app", "deploy"];
    };

    it("external: required to run, never torn down (no delete, no window hook); a command: not run by the adoption's create, run by an update", async () => {
        const rec = await run({
            mutate: (c) => {
                kinds(c);
                c.network.implementation = "docker";
                c.network.migration = "rolling";
                c.maintenance = { windowOpen: true };
            },
        });
        const ext = rec.get("drone-stack");
        assert.strictEqual(ext.inputs.create, sh("stack-deploy-command", "drone", "present"));
        assert.strictEqual(ext.inputs.delete, undefined);
        assert.deepStrictEqual(ext.beforeDelete, []);
        const cmd = rec.get("ccci-bridge-stack");
        assert.strictEqual(
            cmd.inputs.create,
            sh("stack-deploy-command", "ccci-bridge", "if-absent", "abra", "app", "deploy"),
        );
        assert.strictEqual(
            cmd.inputs.update,
            sh("stack-deploy-command", "ccci-bridge", "always", "abra", "app", "deploy"),
        );
        assert.strictEqual(cmd.inputs.delete, sh("stack-teardown", "ccci-bridge", "180"));
        assert.deepStrictEqual(cmd.beforeDelete, [WINDOW_HOOK]);
        assert.ok(!String(rec.get("teardown-all").inputs.create ?? "").includes("'drone'"));
        assert.ok(!String(rec.get("teardown-all").inputs.delete ?? "").includes("'drone'"));
        assert.strictEqual(
            rec.get("host-install").inputs.stdin,
            installer(HOST_DIR, [], ["stack-deploy-command"]),
            "the installer carries the script that runs them",
        );
    });

    it("recreate that replaces the network is refused before anything is registered, naming the external stack; rolling is not", async () => {
        const raw = rawConfig();
        kinds(raw);
        raw.maintenance = { windowOpen: true };
        await refusedBeforeRegistering(
            raw,
            /^Error: swarm-proxy:network\.migration: "recreate" would tear down the stack drone with proxy, and it is deploy: external \(another tool deploys it\)/,
        );
        const rolling = await run({
            mutate: (c) => {
                kinds(c);
                c.network.implementation = "docker";
                c.network.migration = "rolling";
                c.maintenance = { windowOpen: true };
            },
        });
        assert.ok(rolling.get("proxy-move-out"));
    });
});
