// `swarm-proxy init`'s planning, pure: the stacks it finds, how each is deployed, the entry point and the routes'
// checks, and the refusals; the written text is read back through config.ts. The deploy kinds it writes, as the
// program turns them into commands, and the recreate refusal for stacks another tool deploys.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { buildInitConfig, type InitInput, ruleHosts, stacksDeployedBy, unitsByStack } from "../../cli/init/init-config";
import { parseInit, readUnits } from "../../cli/init/init-command";
import { parseStackConfig } from "../../cli/shared/stack-file";
import { deployInvocation } from "../../components/swarmStack";
import type { EngineNetwork, EngineService } from "../../src/docker";
import { hostFiles, installer } from "../../src/hostCommand";
import { externalRefusal } from "../../src/plan";
import { ROOT } from "./fixtures";

const NET: EngineNetwork = {
    Name: "proxy",
    Id: "abcdefghijklmnopqrstuvwxy",
    Driver: "overlay",
    Scope: "swarm",
    IPAM: { Config: [{ Subnet: "10.0.1.0/24", Gateway: "10.0.1.1" }] },
};

function svc(stack: string | undefined, name: string, o: { rule?: string } = {}): EngineService {
    return {
        ID: `id-${name}`,
        Spec: {
            Name: stack ? `${stack}_${name}` : name,
            Labels: {
                ...(stack ? { "com.docker.stack.namespace": stack } : {}),
                ...(o.rule ? { "traefik.enable": "true", [`traefik.http.routers.${stack}.rule`]: o.rule } : {}),
            },
            TaskTemplate: { Networks: [{ Target: NET.Id }], ContainerSpec: { Image: "swarm-sandbox/standin:2" } },
        },
    };
}

const SEEDED = ["traefik", "drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak", "backups"];

interface ComposeService {
    image?: string;
    command?: string[];
    ports?: { target: number; published: number; mode?: string }[];
    networks?: string[];
    deploy?: { labels?: Record<string, string> };
}

/** The services the sandbox's seed deploys, as dockerd lists them: from the committed compose files. */
function seed(): EngineService[] {
    return SEEDED.flatMap((stack) => {
        const doc = parse(fs.readFileSync(path.join(ROOT, "sandbox/stacks", `${stack}.yml`), "utf8")) as {
            services: Record<string, ComposeService>;
        };
        return Object.entries(doc.services).map(([name, c]): EngineService => ({
            ID: `id-${stack}-${name}`,
            Spec: {
                Name: `${stack}_${name}`,
                Labels: { ...(c.deploy?.labels ?? {}), "com.docker.stack.namespace": stack },
                TaskTemplate: {
                    Networks: (c.networks ?? []).includes("proxy") ? [{ Target: NET.Id }] : [],
                    ContainerSpec: { Image: c.image, Args: c.command },
                },
                EndpointSpec: {
                    Ports: (c.ports ?? []).map((p) => ({
                        TargetPort: p.target,
                        PublishedPort: p.published,
                        PublishMode: p.mode,
                    })),
                },
            },
        }));
    });
}

function input(over: Partial<InitInput> = {}): InitInput {
    const compose = new Map(
        SEEDED.map((s) => {
            const p = `sandbox/stacks/${s}.yml`;
            return [s, { path: p, text: fs.readFileSync(path.join(ROOT, p), "utf8") }];
        }),
    );
    return {
        file: "Pulumi.seed.yaml",
        pulumiStack: "seed",
        network: NET,
        services: seed(),
        entryUrl: "http://198.19.89.210/",
        compose,
        units: new Map(),
        source: "unix:///var/run/docker.sock",
        ...over,
    };
}

describe("init: the stack config from the live swarm", () => {
    it("the reference host: the committed sandbox config's stacks (names, attached, waitsFor, hosts, compose), accepted by config.ts", () => {
        const r = buildInitConfig(input());
        const written = parseStackConfig(r.text, "Pulumi.seed.yaml", ROOT).config;
        const committed = parseStackConfig(
            fs.readFileSync(path.join(ROOT, "Pulumi.sandbox.yaml"), "utf8"),
            "Pulumi.sandbox.yaml",
            ROOT,
        ).config;
        const view = (stacks: typeof written.stacks) =>
            stacks
                .map((s) => ({
                    name: s.name,
                    compose: s.compose,
                    attached: s.attached,
                    waitsFor: s.waitsFor,
                    host: s.health.http?.host,
                }))
                .sort((a, b) => a.name.localeCompare(b.name));
        assert.deepStrictEqual(view(written.stacks), view(committed.stacks));
        assert.strictEqual(written.network.subnet, "10.0.1.0/24");
        assert.strictEqual(written.network.adoptId, NET.Id);
        assert.strictEqual(written.network.migration, "recreate");
        assert.strictEqual(r.entryPoint, "traefik");
        assert.deepStrictEqual(r.next, [
            ["pulumi", "up", "--stack", "seed"],
            ["pulumi", "config", "set", "--stack", "seed", "--path", "network.subnet", "CIDR"],
        ]);
    });

    it("a stack with neither compose file nor unit is deploy: external, and the network's migration is rolling", () => {
        const i = input({ services: [...seed(), svc("abra-app", "app", { rule: "Host(`a.example.org`)" })] });
        const r = buildInitConfig(i);
        const cfg = parseStackConfig(r.text, "Pulumi.seed.yaml", ROOT).config;
        const app = cfg.stacks.find((s) => s.name === "abra-app");
        assert.deepStrictEqual(
            { deploy: app?.deploy, waitsFor: app?.waitsFor, host: app?.health.http?.host },
            { deploy: "external", waitsFor: ["traefik"], host: "a.example.org" },
        );
        assert.strictEqual(cfg.network.migration, "rolling");
        assert.match(r.text, /# rolling: abra-app is deployed by another tool/);
    });

    it("a stack a systemd unit deploys gets the unit", () => {
        const i = input({ compose: new Map(), units: new Map([["drone", "deploy-drone.service"]]) });
        const cfg = parseStackConfig(buildInitConfig(i).text, "Pulumi.seed.yaml", ROOT).config;
        assert.strictEqual(cfg.stacks.find((s) => s.name === "drone")?.unit, "deploy-drone.service");
        assert.strictEqual(cfg.stacks.find((s) => s.name === "traefik")?.deploy, "external");
    });

    it("services outside any stack are named in the file's header; the target subnet in the subnet's comment", () => {
        const r = buildInitConfig(
            input({ services: [...seed(), svc(undefined, "hand-made")], targetSubnet: "10.10.0.0/16" }),
        );
        assert.deepStrictEqual(r.loose, ["hand-made"]);
        assert.match(r.text, /^# Services on proxy outside any stack \(docker service create\): hand-made\.$/m);
        assert.match(r.text, /pulumi config set --path network.subnet 10\.10\.0\.0\/16 \(checked against this host/);
        assert.deepStrictEqual(r.next[1].slice(-1), ["10.10.0.0/16"]);
    });

    it("refuses a compose file whose services differ from the live stack's, naming both", () => {
        const i = input();
        const compose = new Map(i.compose);
        compose.set("drone", { path: "sandbox/stacks/drone.yml", text: "services:\n  web: {}\n  db: {}\n" });
        assert.throws(
            () => buildInitConfig({ ...i, compose }),
            (e: Error) =>
                e.message.startsWith(
                    "--compose-dir: sandbox/stacks/drone.yml does not match the live stack drone: the file declares drone_db, drone_web, the stack runs drone_ci_commoninternet_net_app;",
                ),
        );
    });

    it("router rules: the hosts of Host(...) matchers, any quoting", () => {
        assert.deepStrictEqual(ruleHosts("Host(`a.test`) || Host(\"b.test\", 'c.test') && PathPrefix(`/x`)"), [
            "a.test",
            "b.test",
            "c.test",
        ]);
        assert.deepStrictEqual(ruleHosts("PathPrefix(`/`)"), []);
    });

    it("units: the stack a unit's `docker stack deploy` line names, in the unit or the script its ExecStart runs", () => {
        assert.deepStrictEqual(stacksDeployedBy("  ${pkgs.docker}/bin/docker stack deploy -c /etc/drone.yml drone\n"), [
            "drone",
        ]);
        assert.deepStrictEqual(stacksDeployedBy('docker stack deploy --compose-file "$f" "reports" || true'), [
            "reports",
        ]);
        assert.deepStrictEqual(stacksDeployedBy("docker stack rm drone"), []);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-units-"));
        try {
            const script = path.join(dir, "deploy-bridge-start");
            fs.writeFileSync(script, "#!/bin/sh\ndocker stack deploy -c /srv/bridge.yml ccci-bridge\n");
            fs.writeFileSync(path.join(dir, "deploy-bridge.service"), `[Service]\nExecStart=${script}\n`);
            fs.writeFileSync(path.join(dir, "other.service"), "[Service]\nExecStart=/bin/true\n");
            assert.deepStrictEqual(
                [...unitsByStack(readUnits([dir, path.join(dir, "missing")]))],
                [["ccci-bridge", "deploy-bridge.service"]],
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("bad input: one message naming the option and the value, before anything is read or written", () => {
        const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-init-"));
        try {
            assert.throws(() => parseInit({}, cwd), /^CliError: --stack is missing/);
            assert.throws(
                () => parseInit({ stack: "a b" }, cwd),
                (e: Error) => e.message.startsWith('--stack: "a b" is not a valid name'),
            );
            assert.throws(
                () => parseInit({ stack: "s", "entry-url": "ftp://x/" }, cwd),
                (e: Error) => e.message.startsWith('--entry-url: "ftp://x/" is not an http(s) URL'),
            );
            assert.throws(
                () => parseInit({ stack: "s", "compose-dir": path.join(cwd, "nope") }, cwd),
                (e: Error) => e.message.startsWith(`--compose-dir: cannot read "${path.join(cwd, "nope")}": ENOENT`),
            );
            fs.writeFileSync(path.join(cwd, "Pulumi.s.yaml"), "config: {}\n");
            assert.throws(() => parseInit({ stack: "s" }, cwd), /Pulumi\.s\.yaml already exists/);
            assert.strictEqual(parseInit({ stack: "s", force: true }, cwd).force, true);
            assert.deepStrictEqual(fs.readdirSync(cwd), ["Pulumi.s.yaml"]);
        } finally {
            fs.rmSync(cwd, { recursive: true, force: true });
        }
    });
});

describe("deploy: external and deploy: [words]", () => {
    it("the commands: external is required to run; a command is not run by an adoption's create, always by an update", () => {
        assert.deepStrictEqual(deployInvocation("app", { external: true }), {
            script: "stack-deploy-command",
            args: ["app", "present"],
        });
        const cmd = { command: ["abra", "app", "deploy"] };
        assert.deepStrictEqual(deployInvocation("app", cmd).args, ["app", "if-absent", "abra", "app", "deploy"]);
        assert.deepStrictEqual(deployInvocation("app", cmd, "update").args, ["app", "always", "abra", "app", "deploy"]);
    });

    it("the script that runs them is installed only for a configuration that has such a stack", () => {
        assert.ok(!hostFiles().some((f) => f.name === "stack-deploy-command.sh"));
        assert.ok(hostFiles(undefined, ["stack-deploy-command"]).some((f) => f.name === "stack-deploy-command.sh"));
        assert.notStrictEqual(installer(undefined, [], ["stack-deploy-command"]), installer());
    });

    it("recreate is refused when it would replace the network with an attached external stack, naming each", () => {
        const stacks = [
            { name: "traefik", attached: true, deploy: "external" },
            { name: "app", attached: true, deploy: "external" },
            { name: "backups", attached: false, deploy: "external" },
            { name: "drone", attached: true },
        ];
        const base = { key: "swarm-proxy:network.migration", networkName: "proxy", stacks };
        assert.strictEqual(
            externalRefusal({ ...base, replacing: true, migration: "recreate" }),
            'swarm-proxy:network.migration: "recreate" would tear down the stacks traefik, app with proxy, and they are ' +
                "deploy: external (another tool deploys them): the program could not bring them back. Use " +
                'network.migration "rolling" (it moves every service and tears nothing down), or give each of them a ' +
                "compose file (compose), a systemd unit (unit) or a deploy command (deploy: [words...])",
        );
        assert.strictEqual(externalRefusal({ ...base, replacing: true, migration: "rolling" }), undefined);
        assert.strictEqual(externalRefusal({ ...base, replacing: false, migration: "recreate" }), undefined);
    });
});

describe("init's file is YAML a reader can edit", () => {
    it("the header and the subnet's comment are comments; the config is under config:", () => {
        const r = buildInitConfig(input());
        const doc = parse(r.text) as { config: Record<string, unknown> };
        assert.deepStrictEqual(Object.keys(doc.config), ["swarm-proxy:network", "swarm-proxy:stacks"]);
        assert.match(r.text, /^# Written by `swarm-proxy init`/);
    });
});
