// The CLI's pure parts: address counting, leak arithmetic, the chart, log matching, the prune plan, config
// and preview parsing, drift findings and their report, input checks.
import * as assert from "node:assert/strict";
import { type UsageInput, countUsage } from "../../src/docker";
import { escapeXml, lineChartSvg, niceStep } from "../../cli/leak-probe/chart";
import { commandLine } from "../../cli/shared/command-line";
import { liveFindings } from "../../cli/drift/live-checks";
import { parsePreviewJson, previewFindings } from "../../cli/drift/pulumi-preview";
import { type FixContext, autoFixes, renderCommand, withRemedies } from "../../cli/drift/remedies";
import { renderDriftMarkdown, summarize } from "../../cli/drift/report";
import { parseStackExport } from "../../cli/drift/pulumi-state";
import type { EngineNetwork, EngineService, EngineTask } from "../../src/docker";
import { CliError } from "../../cli/shared/errors";
import { planPrune } from "../../cli/guard/safety-net";
import { composeFor, leakStats, project } from "../../cli/leak-probe/leak-report";
import { collectLeftovers, leftoverMessage } from "../../cli/leak-probe/leftovers";
import { VIP_FAILURE, matchVipFailure, scanJournalJson, scanLogText } from "../../cli/shared/vip-failure-log";
import { main, SUBCOMMANDS } from "../../cli/main";
import { findPackageRoot, hostScriptsDir, packageRoot } from "../../cli/shared/package-root";
import { parseStackConfig, readStackConfig, type StackConfig } from "../../cli/shared/stack-file";
import { parseConfig } from "../../config";
import { parse as parseYaml } from "yaml";
import { checkInt, checkName, checkSince } from "../../cli/shared/validate";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { removalCommands } from "./bin";

const NET = "proxyid";

function net(over: Partial<EngineNetwork> = {}): EngineNetwork {
    return {
        Name: "proxy",
        Id: NET,
        Driver: "overlay",
        Scope: "swarm",
        Attachable: true,
        IPAM: { Config: [{ Subnet: "10.77.0.0/24" }] },
        ...over,
    };
}

function svc(
    name: string,
    opts: { vip?: boolean; stack?: string; onProxy?: boolean; running?: number; desired?: number } = {},
): EngineService {
    const onProxy = opts.onProxy ?? true;
    return {
        ID: `id-${name}`,
        Spec: {
            Name: name,
            Labels: opts.stack ? { "com.docker.stack.namespace": opts.stack } : {},
            TaskTemplate: { Networks: onProxy ? [{ Target: NET }] : [{ Target: "other" }] },
        },
        Endpoint: { VirtualIPs: onProxy && opts.vip !== false ? [{ NetworkID: NET, Addr: "10.77.0.2/24" }] : [] },
        ServiceStatus: { RunningTasks: opts.running ?? 1, DesiredTasks: opts.desired ?? 1 },
    };
}

function task(node: string, state: string, netId = NET, addr = "10.77.0.9/24"): EngineTask {
    return {
        ID: `t-${Math.random()}`,
        NodeID: node,
        Status: { State: state },
        NetworksAttachments: [{ Network: { ID: netId }, Addresses: [addr] }],
    };
}

function input(over: Partial<UsageInput>): UsageInput {
    return { network: net(), services: [], tasks: [], nodes: [], apiVersion: "1.41", ...over };
}

describe("tools: capacity counting", () => {
    it("counts the sandbox layout: VIPs, task endpoints, an attached container and the node's load balancer", () => {
        const verbose = net({
            Services: {
                "": {
                    VIP: "<nil>",
                    Tasks: [{ Name: "attached1", EndpointIP: "10.77.0.7", Info: { "Host IP": "127.0.0.1" } }],
                },
            },
            Containers: { "lb-proxy": { Name: "proxy-endpoint" } },
        });
        const u = countUsage(
            input({
                verbose,
                services: [svc("a"), svc("b")],
                tasks: [task("n1", "running"), task("n1", "running")],
                nodes: [{ ID: "n1", Status: { Addr: "127.0.0.1" } }],
                localNodeId: "n1",
            }),
        );
        assert.deepEqual(
            {
                vips: u.vips,
                tasks: u.taskEndpoints,
                containers: u.containerEndpoints,
                lb: u.lbEndpoints,
                inUse: u.inUse,
                free: u.free,
                assignable: u.assignable,
            },
            { vips: 2, tasks: 2, containers: 1, lb: 1, inUse: 6, free: 247, assignable: 253 },
        );
        assert.equal(u.method, "counted");
    });

    const cases: { name: string; in: Partial<UsageInput>; inUse: number; lb: number }[] = [
        {
            name: "a dnsrr service has tasks but no VIP",
            in: { services: [svc("d", { vip: false })], tasks: [task("n1", "running"), task("n1", "running")] },
            inUse: 3,
            lb: 1,
        },
        {
            name: "finished tasks hold no address, pending ones do",
            in: {
                services: [svc("a")],
                tasks: [
                    task("n1", "shutdown"),
                    task("n1", "complete"),
                    task("n1", "failed"),
                    task("n1", "pending"),
                    task("n1", "running"),
                ],
            },
            inUse: 4,
            lb: 1,
        },
        {
            name: "one load balancer per node that runs a task on the network",
            in: { services: [svc("a")], tasks: [task("n1", "running"), task("n2", "running"), task("n3", "running")] },
            inUse: 7,
            lb: 3,
        },
        {
            name: "tasks on other networks do not count",
            in: { services: [svc("x", { onProxy: false })], tasks: [task("n1", "running", "other")] },
            inUse: 0,
            lb: 0,
        },
        {
            name: "a zero-replica vip service takes only its VIP",
            in: { services: [svc("z", { desired: 0, running: 0 })] },
            inUse: 1,
            lb: 0,
        },
        {
            name: "a node with only an attached container still has a load balancer",
            in: {
                verbose: net({ Services: { "": { Tasks: [{ Name: "c1", Info: { "Host IP": "192.0.2.7" } }] } } }),
                nodes: [{ ID: "n7", Status: { Addr: "192.0.2.7" } }],
            },
            inUse: 2,
            lb: 1,
        },
    ];
    for (const c of cases) {
        it(c.name, () => {
            const u = countUsage(input(c.in));
            assert.equal(u.inUse, c.inUse);
            assert.equal(u.lbEndpoints, c.lb);
        });
    }

    it("takes the Engine's IPsInUse (less the 3 reserved) on API >= 1.52", () => {
        const u = countUsage(
            input({
                network: net({
                    Status: { IPAM: { Subnets: { "10.77.0.0/24": { IPsInUse: 20, DynamicIPsAvailable: 233 } } } },
                }),
                services: [svc("a")],
                apiVersion: "1.52",
            }),
        );
        assert.equal(u.method, "ipsInUse");
        assert.equal(u.inUse, 17);
        assert.equal(u.free, 236);
        assert.equal(u.vips, 1, "the count is still reported beside it");
    });

    it("takes the count where the Engine's IPsInUse is below it (dockerd 29 leaves out load balancers and the VIPs of services without tasks)", () => {
        const u = countUsage(
            input({
                network: net({
                    Status: { IPAM: { Subnets: { "10.77.0.0/24": { IPsInUse: 4, DynamicIPsAvailable: 249 } } } },
                }),
                services: [svc("a"), svc("b")],
                apiVersion: "1.56",
            }),
        );
        assert.equal(u.method, "counted");
        assert.equal(u.inUse, 2);
        assert.equal(u.free, 251);
    });

    it("sums every subnet of the network", () => {
        const u = countUsage(
            input({ network: net({ IPAM: { Config: [{ Subnet: "10.77.0.0/24" }, { Subnet: "10.78.0.0/25" }] } }) }),
        );
        assert.equal(u.assignable, 253 + 125);
        assert.equal(u.reserved, 6);
        assert.equal(u.headroom, null);
    });

    it("refuses a network without a subnet, naming it", () => {
        assert.throws(
            () => countUsage(input({ network: net({ IPAM: { Config: [] } }) })),
            /network proxy has no IPAM subnet/,
        );
    });
});

describe("tools: leak arithmetic and projection", () => {
    it("derives leaks per cycle, the total and the rate per removal", () => {
        assert.deepEqual(leakStats([125, 121, 117], 4), {
            leakedPerCycle: [4, 4],
            leaked: 8,
            removals: 8,
            perRemoval: 1,
        });
        assert.deepEqual(leakStats([125, 125, 125], 4), {
            leakedPerCycle: [0, 0],
            leaked: 0,
            removals: 8,
            perRemoval: 0,
        });
        assert.deepEqual(leakStats([125], 4), { leakedPerCycle: [], leaked: 0, removals: 0, perRemoval: 0 });
    });

    it("projects removals and days to exhaustion; none when nothing leaks", () => {
        assert.deepEqual(project("proxy", "10.0.1.0/24", 247, 0.6, 2), {
            network: "proxy",
            subnet: "10.0.1.0/24",
            free: 247,
            removalsToExhaustion: 411,
            daysToExhaustion: 205.5,
        });
        assert.equal(project("proxy", "10.10.0.0/16", 65000, 0, 1).daysToExhaustion, null);
    });

    it("writes a compose file that pairs the external network with a stack network and publishes a port", () => {
        const doc = parse(composeFor("swarm-sandbox/standin:2", "spx-net", 30081)) as {
            services: { app: { networks: string[]; ports: { published: number }[] } };
            networks: Record<string, { external?: boolean; name?: string; driver?: string }>;
        };
        assert.deepEqual(doc.services.app.networks, ["probe", "internal"]);
        assert.equal(doc.services.app.ports[0].published, 30081);
        assert.deepEqual(doc.networks.probe, { external: true, name: "spx-net" });
        assert.equal(doc.networks.internal.driver, "overlay");
    });
});

describe("tools: what a failed leak probe leaves", () => {
    const p = "spxlpab12cd";
    const stackNet = (name: string, stack: string) =>
        net({ Name: name, Id: `id-${name}`, Labels: { "com.docker.stack.namespace": stack } });

    it("finds this run's stacks (services and networks) and throwaway overlays by name, nothing else", () => {
        const left = collectLeftovers(
            p,
            [
                svc(`${p}t1_app`, { stack: `${p}t1` }),
                svc(`${p}t0_app`, { stack: `${p}t0` }),
                svc("spxlpfffffft0_app", { stack: "spxlpfffffft0" }),
                svc("drone_app", { stack: "drone" }),
            ],
            [
                stackNet(`${p}t0_internal`, `${p}t0`),
                net({ Name: `${p}t-net`, Id: "x" }),
                net(),
                stackNet("spxlpfffffft0_internal", "spxlpfffffft0"),
            ],
        );
        assert.deepEqual(left, {
            stacks: [
                { name: `${p}t0`, services: [`${p}t0_app`], networks: [`${p}t0_internal`] },
                { name: `${p}t1`, services: [`${p}t1_app`], networks: [] },
            ],
            networks: [`${p}t-net`],
        });
    });

    it("prints exactly what is left and the one command that removes it", () => {
        const left = collectLeftovers(
            p,
            [svc(`${p}t0_app`, { stack: `${p}t0` })],
            [stackNet(`${p}t0_internal`, `${p}t0`), net({ Name: `${p}t-net`, Id: "x" })],
        );
        assert.equal(
            leftoverMessage(left, "/opt/swarm-proxy/host/stack-teardown.sh"),
            `left on the swarm: stack ${p}t0 (service ${p}t0_app, network ${p}t0_internal), network ${p}t-net\n` +
                `remove it with: bash /opt/swarm-proxy/host/stack-teardown.sh ${p}t0 && docker network rm ${p}t-net`,
        );
        assert.equal(
            leftoverMessage(
                {
                    stacks: [{ name: `${p}c0`, services: [], networks: [] }],
                    networks: [],
                    unverified: "cannot reach dockerd",
                },
                "/h/stack-teardown.sh",
            ),
            `could not check what is left (cannot reach dockerd); this run created, and may have left: stack ${p}c0\nremove it with: bash /h/stack-teardown.sh ${p}c0`,
        );
        assert.equal(
            leftoverMessage(left, "/opt/swarm proxy/host/stack-teardown.sh", "unix:///run/s.sock").split("\n")[1],
            `remove it with: env DOCKER_HOST=unix:///run/s.sock bash '/opt/swarm proxy/host/stack-teardown.sh' ${p}t0 && env DOCKER_HOST=unix:///run/s.sock docker network rm ${p}t-net`,
        );
    });
});

describe("tools: printed removal commands", () => {
    it("quote only what a shell would split, and split back into the same argv arrays", () => {
        const steps = [
            ["bash", "/opt/it's here/host/stack-teardown.sh", "spxlpab12cdt0"],
            ["docker", "network", "rm", "a-net", "b.net"],
        ];
        const line = commandLine(steps, undefined);
        assert.equal(
            line,
            `bash '/opt/it'\\''s here/host/stack-teardown.sh' spxlpab12cdt0 && docker network rm a-net b.net`,
        );
        assert.deepEqual(removalCommands(`remove it with: ${line}\n`), steps);
        assert.deepEqual(
            removalCommands(`remove it with: ${commandLine(steps, "tcp://10.0.0.1:2375")}`),
            steps.map((st) => ["env", "DOCKER_HOST=tcp://10.0.0.1:2375", ...st]),
        );
    });
});

describe("tools: the package root", () => {
    it("is found from package.json upwards, wherever the CLI was compiled to", () => {
        const dir = mkdtempSync(join(tmpdir(), "spx-root-"));
        try {
            writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "swarm-proxy" }));
            mkdirSync(join(dir, "node_modules", "other"), { recursive: true });
            writeFileSync(join(dir, "node_modules", "other", "package.json"), JSON.stringify({ name: "other" }));
            for (const sub of ["cli", ".cache/cli-build/cli", "bin/cli", "node_modules/other"]) {
                mkdirSync(join(dir, sub), { recursive: true });
                assert.equal(findPackageRoot(join(dir, sub)), dir, sub);
            }
            assert.equal(findPackageRoot(tmpdir()), undefined);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
        assert.equal(packageRoot(), join(__dirname, "..", ".."));
        assert.equal(hostScriptsDir(), join(__dirname, "..", "..", "host"));
    });
});

describe("tools: SVG chart", () => {
    it("draws one polyline per series with a point per measurement, escaping labels", () => {
        const svg = lineChartSvg({
            title: "free <addresses> & leaks",
            xLabel: "cycle",
            yLabel: "free",
            series: [
                { label: "docker stack rm", points: [0, 1, 2].map((x) => ({ x, y: 125 - 4 * x })) },
                { label: "our teardown", points: [0, 1, 2].map((x) => ({ x, y: 125 })) },
            ],
        });
        assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
        assert.equal((svg.match(/<circle /g) ?? []).length, 6);
        assert.ok(svg.includes("free &lt;addresses&gt; &amp; leaks"));
        assert.ok(!svg.includes("NaN"));
        assert.ok(svg.trimEnd().endsWith("</svg>"));
    });

    it("picks round tick steps", () => {
        assert.equal(niceStep(10), 2);
        assert.equal(niceStep(250), 50);
        assert.equal(niceStep(0), 1);
        assert.equal(escapeXml(`"a'`), "&quot;a&apos;");
    });
});

describe("tools: VIP-failure log matching", () => {
    const logfmt =
        'time="2026-11-21T16:37:19.635370726Z" level=error msg="Failed allocation for service w5mtuczya4ksckn4c2fe1yiag" error="could not find an available IP while allocating VIP" module=node node.id=saxr3awk1hzn';

    it("reads time and service from dockerd's text log line", () => {
        assert.deepEqual(matchVipFailure(logfmt), {
            time: "2026-11-21T16:37:19.635Z",
            service: "w5mtuczya4ksckn4c2fe1yiag",
            line: logfmt,
        });
    });

    it("reads dockerd's JSON log format too", () => {
        const line = JSON.stringify({
            level: "error",
            msg: "Failed allocation for service abc123",
            error: VIP_FAILURE,
            time: "2026-11-21T10:00:00Z",
        });
        assert.deepEqual(matchVipFailure(line), { time: "2026-11-21T10:00:00.000Z", service: "abc123", line });
    });

    it("ignores other lines, including other allocation errors", () => {
        assert.equal(
            matchVipFailure(
                'time="2026-11-21T16:37:19Z" level=error msg="task allocation failure" error="service x has pending allocations"',
            ),
            undefined,
        );
        assert.equal(matchVipFailure(""), undefined);
    });

    it("keeps failures since the given time, and lines without a readable time", () => {
        const text = [
            logfmt.replace("2026-11-21T16:37:19.635370726Z", "2026-11-20T00:00:00Z"),
            logfmt,
            "Nov 21 16:40:00 host dockerd[1]: could not find an available IP while allocating VIP",
            'time="2026-11-21T16:38:00Z" level=info msg="all good"',
        ].join("\n");
        const found = scanLogText(text, new Date("2026-11-21T00:00:00Z"));
        assert.equal(found.length, 2);
        assert.equal(found[0].time, "2026-11-21T16:37:19.635Z");
        assert.equal(found[1].time, null);
    });

    it("reads journalctl -o json, MESSAGE as text or as bytes", () => {
        const text = [
            JSON.stringify({ MESSAGE: logfmt, __REALTIME_TIMESTAMP: "1795000000000000" }),
            JSON.stringify({
                MESSAGE: [...Buffer.from(`msg="Failed allocation for service zz9" error="${VIP_FAILURE}"`)],
                __REALTIME_TIMESTAMP: "1795000000000000",
            }),
            JSON.stringify({ MESSAGE: "Started docker.service", __REALTIME_TIMESTAMP: "1795000000000000" }),
            "not json",
        ].join("\n");
        const found = scanJournalJson(text);
        assert.equal(found.length, 2);
        assert.equal(found[1].service, "zz9");
        assert.equal(found[1].time, new Date(1795000000000).toISOString());
    });
});

describe("tools: guard's prune plan", () => {
    const networks: EngineNetwork[] = [
        net({ Name: "proxy", Id: "p", Labels: null }),
        net({ Name: "edge", Id: "e", Labels: { owner: "swarm-proxy" } }),
        net({ Name: "junk", Id: "j" }),
        net({ Name: "used-by-spec", Id: "u1" }),
        net({ Name: "used-by-vip", Id: "u2" }),
        net({ Name: "used-by-container", Id: "u3", Scope: "local", Driver: "bridge" }),
        net({ Name: "ingress", Id: "i", Ingress: true }),
        net({ Name: "bridge", Id: "b", Driver: "bridge", Scope: "local" }),
        net({ Name: "docker_gwbridge", Id: "g", Driver: "bridge", Scope: "local" }),
    ];
    const services: EngineService[] = [
        { ID: "s1", Spec: { Name: "a", TaskTemplate: { Networks: [{ Target: "u1" }] } } },
        { ID: "s2", Spec: { Name: "b" }, Endpoint: { VirtualIPs: [{ NetworkID: "u2", Addr: "10.0.0.2/24" }] } },
    ];
    const containers = [
        { Id: "c1", Names: ["/web"], NetworkSettings: { Networks: { "used-by-container": { NetworkID: "u3" } } } },
    ];

    it("removes only the unused, unprotected network", () => {
        const plan = planPrune(networks, services, containers, ["proxy"]);
        const removed = plan.filter((d) => d.verdict.action === "remove").map((d) => d.name);
        assert.deepEqual(removed, ["junk"]);
        const reason = (n: string) => plan.find((d) => d.name === n)?.verdict.reason;
        assert.equal(reason("proxy"), "protected by name");
        assert.equal(reason("edge"), "protected by label owner=swarm-proxy");
        assert.equal(reason("used-by-spec"), "in use by service a");
        assert.equal(reason("used-by-vip"), "in use by service b");
        assert.equal(reason("used-by-container"), "in use by container web");
        assert.equal(reason("ingress"), "dockerd's own network");
    });

    it("keeps proxy by its label alone and by its name alone", () => {
        const labelled = [net({ Name: "proxy", Id: "p", Labels: { owner: "swarm-proxy" } })];
        assert.equal(planPrune(labelled, [], [], [])[0].verdict.action, "keep");
        const unlabelled = [net({ Name: "proxy", Id: "p", Labels: {} })];
        assert.equal(planPrune(unlabelled, [], [], ["proxy"])[0].verdict.action, "keep");
        assert.equal(
            planPrune(unlabelled, [], [], [])[0].verdict.action,
            "remove",
            "with neither, an idle proxy is prunable: both guards matter",
        );
    });
});

describe("tools: stack config", () => {
    const FIXTURES = join(__dirname, "fixtures");
    const good = `
config:
  swarm-proxy:network:
    name: proxy
    subnet: 10.10.0.0/16
  swarm-proxy:stacks:
    - name: web
      compose: web.yml
    - name: drone
      compose: ci.yml
    - name: backups
      unit: deploy-backups.service
      attached: false
`;
    it("reads the network and the stacks through the program's schema; the services expected on proxy come from the compose files", () => {
        const c = parseStackConfig(good, "Pulumi.sandbox.yaml", FIXTURES);
        assert.deepEqual(c.network, { name: "proxy", subnet: "10.10.0.0/16", reserved: [] });
        assert.deepEqual(c.stacks, [
            { name: "web", attached: ["app"] },
            { name: "drone", attached: ["app"] },
            { name: "backups", attached: false },
        ]);
        assert.strictEqual(c.config.stacks[0].teardownTimeoutSeconds, 180, "the program's defaults apply");
    });

    it("refuses a subnet with host bits, naming the key, the value and the allowed form", () => {
        assert.throws(
            () => parseStackConfig(good.replace("10.10.0.0/16", "10.10.0.1/16"), "f", FIXTURES),
            (e: Error) =>
                e instanceof CliError &&
                e.message.includes("swarm-proxy:network.subnet") &&
                e.message.includes('"10.10.0.1/16"') &&
                e.message.includes("10.10.0.0/16"),
        );
    });

    it("refuses what `pulumi up` refuses, with the program's own message", () => {
        const cases = [
            good.replace("name: drone", "name: 'dr one'"),
            good.replace("- name: web\n      compose: web.yml", "- web"),
            good.replace("attached: false", "attached: [app]"),
            good.replace("compose: ci.yml", "compose: nope.yml"),
        ];
        for (const text of cases) {
            const doc = (parseYaml(text) as { config: Record<string, unknown> }).config;
            const raw = Object.fromEntries(Object.entries(doc).map(([k, v]) => [k.replace(/^swarm-proxy:/, ""), v]));
            let expected = "";
            try {
                parseConfig(raw, { baseDir: FIXTURES });
            } catch (e) {
                expected = (e as Error).message;
            }
            assert.ok(expected !== "", `config.ts accepted ${text}`);
            assert.throws(
                () => parseStackConfig(text, "Pulumi.x.yaml", FIXTURES),
                (e: Error) => e instanceof CliError && e.message === `Pulumi.x.yaml: ${expected}`,
            );
        }
        assert.throws(() => parseStackConfig("foo: 1\n", "f"), /no top-level "config:" map/);
        assert.throws(() => parseStackConfig("config: [", "f"), CliError);
    });

    it("reads every committed stack file and the tools tier's fixture", () => {
        for (const f of ["Pulumi.prod.yaml", "Pulumi.sandbox.yaml", "test/tools/fixtures/Pulumi.tools.yaml"]) {
            assert.ok(readStackConfig(join(__dirname, "..", "..", f)).stacks.length > 0, f);
        }
    });
});

/** The drift tests' stack file: web and ci on proxy (their compose files), backups off it (a unit). */
function driftConfig(source: string): StackConfig {
    return parseStackConfig(
        `config:
  swarm-proxy:network: {name: proxy, subnet: 10.77.0.0/24}
  swarm-proxy:stacks:
    - {name: web, compose: web.yml}
    - {name: ci, compose: ci.yml}
    - {name: backups, unit: deploy-backups.service, attached: false}
`,
        source,
        join(__dirname, "fixtures"),
    );
}

describe("tools: drift", () => {
    const config = driftConfig("Pulumi.test.yaml");
    const services = [
        svc("web_app", { stack: "web" }),
        svc("ci_app", { stack: "ci" }),
        svc("ci_db", { stack: "ci", onProxy: false }),
        svc("backups_app", { stack: "backups", onProxy: false }),
    ];
    const base = { config, networks: [net()], services, minFree: { percent: 10 } };

    it("is clean on a converged layout", () => {
        const f = liveFindings(base);
        assert.deepEqual(
            f.filter((x) => x.status !== "ok"),
            [],
        );
        assert.equal(summarize(f, { generatedAt: "t", host: "h", stackConfig: "s" }).exitCode, 0);
    });

    it("reports each kind of drift", () => {
        const bad = (f: ReturnType<typeof liveFindings>) =>
            f.filter((x) => x.status === "drift").map((x) => `${x.check} ${x.subject}: ${x.detail}`);
        assert.deepEqual(bad(liveFindings({ ...base, services: services.filter((s) => s.Spec.Name !== "web_app") })), [
            "stack web: stack has no services (removed?)",
        ]);
        assert.deepEqual(
            bad(liveFindings({ ...base, networks: [net({ IPAM: { Config: [{ Subnet: "10.99.0.0/24" }] } })] })),
            ["network proxy: subnet 10.99.0.0/24, config says 10.77.0.0/24"],
        );
        assert.deepEqual(
            bad(
                liveFindings({
                    ...base,
                    services: services.map((s) =>
                        s.Spec.Name === "ci_app" ? svc("ci_app", { stack: "ci", onProxy: false }) : s,
                    ),
                }),
            ),
            ["attached ci: not on proxy: app"],
        );
        assert.deepEqual(
            bad(
                liveFindings({
                    ...base,
                    services: services.map((s) =>
                        s.Spec.Name === "web_app" ? svc("web_app", { stack: "web", running: 0 }) : s,
                    ),
                }),
            ),
            ["replicas web_app: 0/1 running"],
        );
        assert.deepEqual(bad(liveFindings({ ...base, networks: [] })), ["network proxy: network is missing"]);
        const usage = countUsage(input({}));
        assert.deepEqual(bad(liveFindings({ ...base, usage, minFree: { count: 300 } })), [
            "capacity proxy: 253 of 253 addresses free (0 in use, counted); threshold 300",
        ]);
        const failures = [{ time: "2026-11-21T10:00:00.000Z", service: "x", line: "l" }];
        assert.deepEqual(bad(liveFindings({ ...base, failures, logSource: { kind: "file", what: "d.log" } })), [
            `vip-failures file d.log: 1 "could not find an available IP while allocating VIP" line(s), last 2026-11-21T10:00:00.000Z`,
        ]);
    });

    it("reads pulumi preview --json: same steps are clean, others are drift, error diagnostics are errors", () => {
        const clean = parsePreviewJson(
            JSON.stringify({ steps: [{ op: "same", urn: "u1" }], changeSummary: { same: 1 }, diagnostics: [] }),
            "p",
        );
        assert.deepEqual(previewFindings(clean, "")[0].status, "ok");
        const drift = parsePreviewJson(
            JSON.stringify({
                steps: [
                    { op: "same", urn: "u1" },
                    { op: "replace", urn: "urn:pulumi:host::swarm-proxy::docker:index/network:Network::proxy" },
                ],
                diagnostics: [{ severity: "error", message: "boom\n" }],
            }),
            "p",
        );
        const f = previewFindings(drift, "");
        assert.deepEqual(
            f.map((x) => x.status),
            ["error", "drift"],
        );
        assert.equal(summarize(f, { generatedAt: "t", host: "h", stackConfig: "s" }).exitCode, 2);
        assert.equal(summarize([f[1]], { generatedAt: "t", host: "h", stackConfig: "s" }).exitCode, 3);
        assert.deepEqual(parsePreviewJson(JSON.stringify({ changeSummary: { same: 3, update: 2 } }), "p").changes, [
            { op: "update", urn: "2 resource(s)" },
        ]);
        assert.throws(
            () => parsePreviewJson("Previewing update (host)", "saved.json"),
            /saved.json: not the JSON of pulumi preview --json/,
        );
        assert.equal(previewFindings(undefined, "no preview given")[0].status, "skipped");
    });

    it("renders a Markdown report that leads with what needs attention", () => {
        const r = summarize(
            [
                { check: "network", subject: "proxy", status: "ok", detail: "fine" },
                { check: "attached", subject: "ci", status: "drift", detail: "not on proxy: a|b" },
            ],
            { generatedAt: "2026-11-21T00:00:00Z", host: "unix:///x", stackConfig: "Pulumi.host.yaml" },
        );
        const md = renderDriftMarkdown(r);
        assert.match(md, /^# swarm-proxy drift report\n/);
        assert.match(md, /Result: \*\*DRIFT\*\* — 1 of 2 checks need attention \(exit 3\)/);
        assert.match(md, /## Needs attention\n\n- \*\*DRIFT\*\* attached `ci`: not on proxy: a\|b/);
        assert.ok(md.includes("| attached | `ci` | **DRIFT** | not on proxy: a\\|b |"), "pipes in cells are escaped");
    });
});

describe("tools: drift findings carry their kind, meaning and fix", () => {
    const config = driftConfig("Pulumi.prod.yaml");
    const replicated = (s: EngineService, desired: number): EngineService => ({
        ...s,
        Spec: { ...s.Spec, Mode: { Replicated: { Replicas: desired } } },
        ServiceStatus: { RunningTasks: 0, DesiredTasks: desired },
    });
    const services = [
        svc("web_app", { stack: "web" }),
        svc("ci_app", { stack: "ci" }),
        svc("backups_app", { stack: "backups", onProxy: false }),
    ];
    const base = { config, networks: [net()], services, minFree: { percent: 10 } };
    const webUrn = "urn:pulumi:prod::swarm-proxy::swarm-proxy:index:SwarmStack$command:local:Command::web-stack";
    const ciUrn = "urn:pulumi:prod::swarm-proxy::swarm-proxy:index:SwarmStack$command:local:Command::ci-stack";
    const netUrn =
        "urn:pulumi:prod::swarm-proxy::swarm-proxy:index:ProxyNetwork$docker:index/network:Network::proxy-network";
    const ctx: FixContext = {
        pulumiStack: "prod",
        pulumiCwd: "/srv/swarm-proxy",
        stackFile: "/srv/swarm-proxy/Pulumi.prod.yaml",
        hostScripts: "/srv/swarm-proxy/host",
        logArgs: ["--unit", "docker"],
        since: new Date("2026-11-21T00:00:00Z"),
        attachedStacks: ["web", "ci"],
        networkName: "proxy",
        subnet: "10.77.0.0/24",
        state: {
            // The network's entry with the ID recorded at adoption, and the stacks that depend on it.
            resources: [
                {
                    urn: netUrn,
                    name: "proxy-network",
                    type: "docker:index/network:Network",
                    dependsOn: [],
                    triggers: [],
                },
                { urn: webUrn, name: "web-stack", type: "command:local:Command", dependsOn: [netUrn], triggers: [] },
                { urn: ciUrn, name: "ci-stack", type: "command:local:Command", dependsOn: [netUrn], triggers: [] },
            ],
            network: { urn: netUrn, id: "0123456789abcdef0123456789", labels: {} },
            urns: { "web-stack": webUrn, "ci-stack": ciUrn, "proxy-network": netUrn },
            networkId: NET,
            units: { ci: "deploy-ci.service" },
        },
    };
    const bad = (f: ReturnType<typeof withRemedies>) => f.filter((x) => x.status === "drift");
    const where = "--stack prod --cwd /srv/swarm-proxy";

    it("reads the URNs, the network ID and the units from pulumi stack export", () => {
        const state = parseStackExport(
            JSON.stringify({
                deployment: {
                    resources: [
                        {
                            urn: "urn:pulumi:prod::swarm-proxy::pulumi:pulumi:Stack::swarm-proxy-prod",
                            type: "pulumi:pulumi:Stack",
                            outputs: { networkId: "abc" },
                        },
                        {
                            urn: webUrn,
                            type: "command:local:Command",
                            inputs: { create: "'bash' '/h/stack-deploy.sh' 'web' '/x/web.yml'" },
                        },
                        {
                            urn: ciUrn,
                            type: "command:local:Command",
                            inputs: { create: "'bash' '/h/stack-restart-unit.sh' 'ci' 'deploy-ci.service'" },
                        },
                    ],
                },
            }),
        );
        assert.equal(state.networkId, "abc");
        assert.equal(state.urns["web-stack"], webUrn);
        assert.deepEqual(state.units, { ci: "deploy-ci.service" });
        assert.throws(() => parseStackExport("nope"), /pulumi stack export: not JSON/);
    });

    it("a removed stack: the targeted in-place redeploy, safe for --fix; a unit stack also names its unit", () => {
        const f = bad(
            withRemedies(liveFindings({ ...base, services: services.filter((s) => s.Spec.Name !== "web_app") }), ctx),
        );
        assert.deepEqual(
            f.map((x) => [x.kind, x.subject, x.disruptive, x.autoFix]),
            [["stack-missing", "web", false, true]],
        );
        assert.deepEqual(f[0].fix, [
            `env SWARM_PROXY_REDEPLOY=web pulumi up --yes --target '${webUrn}' --target-dependents ${where}`,
        ]);
        assert.match(
            f[0].meaning ?? "",
            /command resource without Read, so `pulumi up` and `pulumi refresh` think it still exists/,
        );
        const unit = bad(
            withRemedies(liveFindings({ ...base, services: services.filter((s) => s.Spec.Name !== "ci_app") }), ctx),
        );
        assert.match(unit[0].meaning ?? "", /`systemctl restart deploy-ci\.service` alone also brings it back/);
        // Without the state (no --pulumi-stack) the redeploy is not narrowed to guessed URNs; with another dockerd it is aimed there.
        const noState = bad(
            withRemedies(liveFindings({ ...base, services: services.filter((s) => s.Spec.Name !== "web_app") }), {
                ...ctx,
                state: undefined,
                dockerHost: "tcp://h:2375",
            }),
        );
        assert.deepEqual(noState[0].fix, [
            `env DOCKER_HOST=tcp://h:2375 SWARM_PROXY_REDEPLOY=web pulumi up --yes ${where}`,
        ]);
    });

    it("scaled to 0, detached, unknown stack: kinds, fixes, and which --fix may apply", () => {
        const scaled = withRemedies(
            liveFindings({
                ...base,
                services: services.map((s) => (s.Spec.Name === "web_app" ? replicated(s, 0) : s)),
            }),
            ctx,
        );
        assert.deepEqual(
            bad(scaled).map((x) => `${x.kind} ${x.subject}: ${x.detail}`),
            ["replicas-down web_app: 0/0 running (scaled to 0)"],
        );
        assert.equal(bad(scaled)[0].autoFix, true);
        const detached = withRemedies(
            liveFindings({
                ...base,
                services: services.map((s) =>
                    s.Spec.Name === "ci_app" ? svc("ci_app", { stack: "ci", onProxy: false }) : s,
                ),
            }),
            ctx,
        );
        const d = bad(detached)[0];
        assert.deepEqual([d.kind, d.disruptive, d.autoFix], ["service-detached", true, false]);
        assert.match(d.window ?? "", /drone build promote <build> maintenance --param SWARM_PROXY_REDEPLOY=ci`/);
        assert.deepEqual(autoFixes(detached, ctx), []);
        // A stack both detached and down is not redeployed by --fix: that would restart the detached service.
        const both = withRemedies(
            liveFindings({
                ...base,
                services: [
                    ...services.filter((s) => s.Spec.Name !== "ci_app"),
                    replicated(svc("ci_app", { stack: "ci", onProxy: false }), 1),
                ],
            }),
            ctx,
        );
        assert.deepEqual(
            bad(both)
                .map((x) => x.kind)
                .sort(),
            ["replicas-down", "service-detached"],
        );
        assert.deepEqual(autoFixes(both, ctx), []);
        const unknown = bad(
            withRemedies(
                liveFindings({ ...base, services: [...services, svc("intruder_app", { stack: "intruder" })] }),
                ctx,
            ),
        );
        assert.deepEqual(
            unknown.map((x) => [x.kind, x.subject, x.detail, x.disruptive, x.autoFix]),
            [["stack-unknown", "intruder", "deployed, but not in the stack config: intruder_app", true, false]],
        );
        assert.deepEqual(unknown[0].fix, ["bash /srv/swarm-proxy/host/stack-teardown.sh intruder 180"]);
    });

    it("proxy recreated (same subnet, another ID): adopted again, nothing torn down; another subnet: the maintenance; never --fix", () => {
        const recreated = bad(
            withRemedies(liveFindings({ ...base, stateNetworkId: "0123456789abcdef0123456789" }), ctx),
        );
        assert.deepEqual(
            recreated.map((x) => `${x.kind}: ${x.detail}`),
            [`network-recreated: recreated out of band: live id ${NET.slice(0, 12)}, Pulumi's state has 0123456789ab`],
        );
        assert.deepEqual(recreated[0].fix, [
            `pulumi state delete --yes '${netUrn}' '${webUrn}' '${ciUrn}' ${where}`,
            `pulumi config set --path network.adoptId ${NET} ${where}`,
            `pulumi up --yes ${where}`,
            `pulumi config rm --path network.adoptId ${where}`,
        ]);
        assert.equal(recreated[0].disruptive, false);
        assert.ok(
            !recreated[0].fix!.some((c) => c.includes("SWARM_PROXY_MAINTENANCE") || c.includes("host/")),
            "no teardown, no window",
        );
        const mismatch = withRemedies(
            liveFindings({ ...base, networks: [net({ IPAM: { Config: [{ Subnet: "10.99.0.0/24" }] } })] }),
            ctx,
        );
        assert.deepEqual(
            bad(mismatch).map((x) => x.kind),
            ["network-mismatch"],
        );
        assert.equal(bad(mismatch)[0].disruptive, true);
        assert.ok(
            bad(mismatch)[0].fix!.some((c) => c.includes("SWARM_PROXY_MAINTENANCE=open pulumi up")),
            "the maintenance, in the window",
        );
        assert.deepEqual(autoFixes([...recreated, ...mismatch], ctx), []);
        assert.deepEqual(
            bad(withRemedies(liveFindings({ ...base, networks: [] }), ctx)).map((x) => x.kind),
            ["network-missing"],
        );
    });

    it("capacity, VIP failures, Pulumi's changes: figures and guard, the window where it takes something down", () => {
        const usage = countUsage(input({}));
        const cap = bad(withRemedies(liveFindings({ ...base, usage, minFree: { count: 300 } }), ctx))[0];
        assert.equal(cap.kind, "capacity-low");
        assert.deepEqual(cap.fix, [
            "swarm-proxy capacity --network proxy --probe",
            `pulumi config set --path network.subnet 10.10.0.0/16 ${where}`,
            `env SWARM_PROXY_MAINTENANCE=open pulumi up --yes ${where}`,
        ]);
        const failures = [{ time: "2026-11-21T10:00:00.000Z", service: "x", line: "l" }];
        const vip = bad(
            withRemedies(liveFindings({ ...base, failures, logSource: { kind: "journal", what: "docker" } }), ctx),
        )[0];
        assert.equal(vip.kind, "vip-failures");
        assert.deepEqual(vip.fix, [
            "swarm-proxy guard --stack-config /srv/swarm-proxy/Pulumi.prod.yaml --unit docker --since 2026-11-21T00:00:00.000Z --apply --restart-docker",
        ]);
        assert.equal(vip.disruptive, true);
        const preview = parsePreviewJson(
            JSON.stringify({
                steps: [
                    { op: "update", urn: "u1" },
                    { op: "replace", urn: "u2" },
                ],
            }),
            "p",
        );
        const changes = withRemedies(previewFindings(preview, ""), ctx);
        assert.deepEqual(
            changes.map((x) => [x.kind, x.disruptive]),
            [
                ["pulumi-changes", false],
                ["pulumi-changes", true],
            ],
        );
        assert.deepEqual(changes[0].fix, [`pulumi preview --diff ${where}`, `pulumi up --yes ${where}`]);
        assert.deepEqual(changes[1].fix, [
            `pulumi preview --diff ${where}`,
            `env SWARM_PROXY_MAINTENANCE=open pulumi up --yes ${where}`,
        ]);
        // Every finding has a kind; errors say what they mean; clean findings carry no fix.
        const clean = withRemedies(liveFindings(base), ctx);
        assert.ok(clean.every((x) => x.kind === "ok" && x.fix === undefined));
        const err = withRemedies([{ check: "pulumi", subject: "preview", status: "error", detail: "boom" }], ctx)[0];
        assert.equal(err.kind, "error");
    });

    it("the Markdown report gives each finding its kind, meaning, fix and window", () => {
        const findings = withRemedies(
            liveFindings({
                ...base,
                services: [
                    ...services.filter((s) => s.Spec.Name !== "web_app"),
                    svc("intruder_app", { stack: "intruder" }),
                ],
            }),
            ctx,
        );
        const md = renderDriftMarkdown(summarize(findings, { generatedAt: "t", host: "h", stackConfig: "s" }));
        assert.ok(
            md.includes(
                "- **DRIFT** stack `web`: stack has no services (removed?)\n  - kind `stack-missing`: The stack is gone",
            ),
            md,
        );
        assert.ok(
            md.includes(
                `  - fix (takes nothing down; \`drift --fix\` applies it):\n    - \`env SWARM_PROXY_REDEPLOY=web pulumi up --yes --target '${webUrn}'`,
            ),
            md,
        );
        assert.ok(
            md.includes(
                "  - fix (**disruptive: maintenance window only**):\n    - `bash /srv/swarm-proxy/host/stack-teardown.sh intruder 180`\n  - window: Run it in the maintenance window",
            ),
            md,
        );
        assert.equal(renderCommand(["env", "A=b c", "x"]), "env 'A=b c' x");
    });
});

describe("tools: input checks and the command line", () => {
    it("checks names, integers and times with one message naming key, value and form", () => {
        assert.equal(checkName("--network", "proxy"), "proxy");
        assert.throws(
            () => checkName("--network", "pro xy;rm"),
            /--network: "pro xy;rm" is not a valid name \(letters, digits/,
        );
        assert.throws(() => checkInt("--stacks", "8x", 1, 50), /--stacks: "8x" is not an integer from 1 to 50/);
        const now = new Date("2026-11-21T12:00:00Z");
        assert.equal(checkSince("--since", "90m", now).toISOString(), "2026-11-21T10:30:00.000Z");
        assert.equal(checkSince("--since", "2026-11-20T00:00:00Z").toISOString(), "2026-11-20T00:00:00.000Z");
        assert.throws(() => checkSince("--since", "yesterday"), /--since: "yesterday" is not an ISO 8601 time/);
    });

    async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
        let out = "";
        let err = "";
        const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t) });
        return { code, out, err };
    }

    it("--help lists every subcommand; each has --json", async () => {
        const r = await run(["--help"]);
        assert.equal(r.code, 0);
        for (const c of ["init", "survey", "capacity", "leak-probe", "guard", "drift"]) {
            assert.match(r.out, new RegExp(`^  ${c} `, "m"));
        }
        assert.deepEqual(SUBCOMMANDS, ["init", "survey", "capacity", "leak-probe", "guard", "drift"]);
        for (const c of SUBCOMMANDS) {
            const h = await run([c, "--help"]);
            assert.equal(h.code, 0);
            assert.match(h.out, /--json/);
        }
    });

    it("fails with exit 2 and one message on an unknown command, an unknown flag and a bad value", async () => {
        const unknown = await run(["frobnicate"]);
        assert.equal(unknown.code, 2);
        assert.match(unknown.err, /unknown command "frobnicate"; commands: init, survey, capacity/);
        const flag = await run(["capacity", "--nope"]);
        assert.equal(flag.code, 2);
        assert.match(flag.err, /swarm-proxy capacity: Unknown option '--nope'/);
        const subnet = await run(["survey", "--subnet", "10.10.0.1/16"]);
        assert.equal(subnet.code, 2);
        assert.match(subnet.err, /--subnet: "10.10.0.1\/16" has host bits set; use 10.10.0.0\/16/);
        const host = await run(["survey", "--host", "http://x"]);
        assert.match(host.err, /--host: "http:\/\/x" is not unix:\/\/\/path\/to\/docker.sock or tcp:\/\/HOST:PORT/);
        const mode = await run(["leak-probe", "--mode", "sideways"]);
        assert.match(mode.err, /--mode: "sideways" is not one of concurrent, teardown/);
        const drift = await run(["drift"]);
        assert.match(drift.err, /--stack-config: required for drift/);
        for (const bad of ["101%", "-1", "ten", "5.5"]) {
            const minFree = await run(["drift", "--stack-config", "Pulumi.prod.yaml", `--min-free=${bad}`]);
            assert.equal(minFree.code, 2);
            assert.ok(
                minFree.err.includes(
                    `--min-free: "${bad}" is not a count of addresses (0 to 1073741824) or a share of the assignable ones (0% to 100%, e.g. 10%)`,
                ),
                minFree.err,
            );
        }
    });
});
