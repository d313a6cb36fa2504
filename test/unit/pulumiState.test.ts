// What the program and the drift check read from Pulumi's state, and the stale entries and adoption steps that
// follow when the live network is not the one the state holds (a hand recreate, a refresh that dropped the
// network's entry, a re-import with the stacks left in state).
import * as assert from "node:assert/strict";
import { adoptionRefusal } from "../../program";
import { parseConfig } from "../../config";
import {
    adoptionSteps,
    parseStackExport,
    type RecordedState,
    staleEntries,
    triggersPredate,
} from "../../src/pulumiState";

const OLD = "a".repeat(64);
const LIVE = "b".repeat(64);
const DIGEST = "c".repeat(64);
const urn = (type: string, name: string) => `urn:pulumi:prod::swarm-proxy::${type}::${name}`;
const NET = urn("swarm-proxy:index:ProxyNetwork$docker:index/network:Network", "proxy-network");
const STACK = urn("swarm-proxy:index:SwarmStack$command:local:Command", "drone-stack");
const HEALTH = urn("swarm-proxy:index:SwarmStack$command:local:Command", "drone-health");
const BACKUPS = urn("swarm-proxy:index:SwarmStack$command:local:Command", "backups-stack");
const TEARDOWN = urn("swarm-proxy:index:ParallelTeardown$command:local:Command", "teardown-all");
const REBUILD = urn("swarm-proxy:index:NixosRebuild$command:local:Command", "rebuild-switch");

function exported(withNetwork: boolean): string {
    const res = [
        {
            urn: "urn:pulumi:prod::swarm-proxy::pulumi:pulumi:Stack::swarm-proxy-prod",
            type: "pulumi:pulumi:Stack",
            outputs: { networkId: OLD },
        },
        ...(withNetwork
            ? [
                  {
                      urn: NET,
                      type: "docker:index/network:Network",
                      id: OLD,
                      inputs: {
                          name: "proxy",
                          ipamConfigs: [{ subnet: "10.0.1.0/24", gateway: "10.0.1.1" }],
                          labels: [{ label: "owner", value: "swarm-proxy" }],
                      },
                  },
              ]
            : []),
        {
            urn: REBUILD,
            type: "command:local:Command",
            inputs: { triggers: [OLD, DIGEST] },
            dependencies: withNetwork ? [NET] : [],
        },
        {
            urn: STACK,
            type: "command:local:Command",
            inputs: { triggers: ["proxy", OLD] },
            dependencies: withNetwork ? [NET, REBUILD] : [REBUILD],
            propertyDependencies: withNetwork ? { triggers: [NET] } : {},
        },
        { urn: HEALTH, type: "command:local:Command", inputs: { triggers: ["x", DIGEST] }, dependencies: [STACK] },
        { urn: BACKUPS, type: "command:local:Command", inputs: { triggers: [] }, dependencies: [] },
        { urn: TEARDOWN, type: "command:local:Command", inputs: { triggers: ["proxy", OLD] }, dependencies: [STACK] },
    ];
    return JSON.stringify({ version: 3, deployment: { resources: res } });
}

describe("Pulumi's state", () => {
    it("reads the Docker provider's network as recorded: ID, subnet, gateway, labels", () => {
        const s = parseStackExport(exported(true));
        assert.deepEqual(s.network, {
            urn: NET,
            id: OLD,
            name: "proxy",
            subnet: "10.0.1.0/24",
            gateway: "10.0.1.1",
            labels: { owner: "swarm-proxy" },
        });
        assert.equal(s.networkId, OLD);
        assert.equal(parseStackExport(exported(false)).network, undefined);
    });

    it("the network's entry and what depends on it are stale when the live network has another ID", () => {
        const s = parseStackExport(exported(true));
        assert.deepEqual(staleEntries(s, LIVE, "proxy"), [NET, REBUILD, STACK, HEALTH, TEARDOWN]);
        assert.deepEqual(staleEntries(s, OLD, "proxy"), []);
        assert.deepEqual(staleEntries(s, OLD.slice(0, 12), "proxy"), [], "a short ID is the same network");
    });

    it("with the network's entry dropped (a refresh), the stacks' triggers still name the old network", () => {
        const s = parseStackExport(exported(false));
        assert.deepEqual(staleEntries(s, LIVE, "proxy"), [STACK, HEALTH, TEARDOWN]);
    });

    it("after a rolling migration the stacks' and the teardown's triggers predate the state's network; not before", () => {
        const before = parseStackExport(exported(true));
        assert.equal(triggersPredate(before, "drone-stack", "proxy"), false);
        const moved = parseStackExport(exported(true).replaceAll(`"id":"${OLD}"`, `"id":"${LIVE}"`));
        assert.equal(moved.network?.id, LIVE);
        assert.equal(triggersPredate(moved, "drone-stack", "proxy"), true);
        assert.equal(triggersPredate(moved, "teardown-all", "proxy"), true);
        assert.equal(triggersPredate(moved, "backups-stack", "proxy"), false, "not attached: no network in triggers");
        assert.equal(triggersPredate(parseStackExport(exported(false)), "drone-stack", "proxy"), false);
        assert.equal(triggersPredate(undefined, "drone-stack", "proxy"), false);
    });

    it("adoption steps: the state deletes first, then adoptId, up, and adoptId removed", () => {
        assert.deepEqual(adoptionSteps([STACK, TEARDOWN], LIVE), [
            ["pulumi", "state", "delete", "--yes", STACK, TEARDOWN],
            ["pulumi", "config", "set", "--path", "network.adoptId", LIVE],
            ["pulumi", "up"],
            ["pulumi", "config", "rm", "--path", "network.adoptId"],
        ]);
        assert.equal(adoptionSteps([], LIVE).length, 3);
    });
});

describe("the program's adoption refusal", () => {
    const net = (extra: Record<string, unknown> = {}) =>
        parseConfig(
            {
                network: { subnet: "10.0.1.0/24", ...extra },
                stacks: [{ name: "drone", compose: "sandbox/stacks/drone.yml" }],
            },
            { baseDir: `${__dirname}/../..` },
        ).network;
    const empty: RecordedState = { resources: [], urns: {}, units: {} };

    it("a live network the state never held: adopt it (adoptId, up, remove adoptId)", () => {
        const m = adoptionRefusal(net(), { id: LIVE }, ["10.0.1.0/24"], empty);
        assert.ok(m);
        assert.match(
            m,
            /the network "proxy" is live on the host \(ID b{64}, subnet 10.0.1.0\/24\), but the state does not hold it: it was never adopted/,
        );
        assert.match(
            m,
            /1\. pulumi config set --path network.adoptId b{64} {2}2\. pulumi up {2}3\. pulumi config rm --path network.adoptId$/,
        );
        assert.equal(adoptionRefusal(net({ adoptId: LIVE }), { id: LIVE }, ["10.0.1.0/24"], empty), undefined);
    });

    it("dropped by a refresh: the stale entries are deleted from the state first", () => {
        const m = adoptionRefusal(net(), { id: LIVE }, ["10.0.1.0/24"], parseStackExport(exported(false)));
        assert.ok(m);
        assert.match(
            m,
            /its entry was dropped, e\.g\. by a refresh\) and still holds 3 entries tied to the old network/,
        );
        assert.ok(
            m.includes(`1. pulumi state delete --yes '${STACK}' '${HEALTH}' '${TEARDOWN}'  2. pulumi config set`),
            m,
        );
    });

    it("re-imported with the stacks left in state: refused until they are deleted, without a second adoptId step", () => {
        const m = adoptionRefusal(
            net({ adoptId: LIVE }),
            { id: LIVE },
            ["10.0.1.0/24"],
            parseStackExport(exported(false)),
        );
        assert.ok(m);
        assert.ok(!m.includes("config set --path network.adoptId"), m);
        assert.match(m, /2\. pulumi up {2}3\. pulumi config rm --path network.adoptId$/);
    });

    it("recreated out of band (the state holds the old ID); a config on another subnet adopts on the live one first", () => {
        const m = adoptionRefusal(
            net({ subnet: "10.10.0.0/16" }),
            { id: LIVE },
            ["10.0.1.0/24"],
            parseStackExport(exported(true)),
        );
        assert.ok(m);
        assert.match(m, /the state holds another network \(ID a{12}\): it was recreated out of band/);
        assert.match(
            m,
            /3\. pulumi config set --path network.subnet 10.0.1.0\/24 {2}4\. pulumi up {2}5\. pulumi config rm --path network.adoptId {2}6\. pulumi config set --path network.subnet 10.10.0.0\/16$/,
        );
    });

    it("the state holds the live network: nothing to say, even with a stack still tied to an older one", () => {
        const s = parseStackExport(exported(true));
        assert.equal(adoptionRefusal(net(), { id: OLD }, ["10.0.1.0/24"], s), undefined);
        // A maintenance that failed after the network's replacement leaves the old stack's entry pending replacement.
        const pending = { ...s, network: { ...s.network!, id: LIVE } };
        assert.equal(adoptionRefusal(net(), { id: LIVE }, ["10.0.1.0/24"], pending), undefined);
    });
    it("an entry pending deletion (a create-before-delete replacement stopped before the old one's delete) is not what the state holds: no refusal", () => {
        const doc = JSON.parse(exported(true)) as { deployment: { resources: Record<string, unknown>[] } };
        const res = doc.deployment.resources;
        const old = res.find((r) => r.urn === NET)!;
        // As the engine writes it: the new entry where the old one was, the old one after it, marked for deletion.
        res.splice(res.indexOf(old), 1, { ...old, id: LIVE }, { ...old, delete: true });
        const s = parseStackExport(JSON.stringify(doc));
        assert.equal(s.network?.id, LIVE);
        assert.equal(s.resources.filter((r) => r.urn === NET).length, 1);
        assert.equal(adoptionRefusal(net(), { id: LIVE }, ["10.0.1.0/24"], s), undefined);
    });
});
