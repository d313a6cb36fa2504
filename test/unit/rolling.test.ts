// The rolling migration's planning: the temporary network's subnet and how each service moves, without mocks.
import * as assert from "node:assert";
import type { EngineService } from "../../src/docker";
import type { LiveNetwork } from "../../src/hostFacts";
import { attachedService, describeMove, ownTemporaryNetwork, restartReason, temporarySubnet } from "../../src/rolling";
import type { SubnetContext } from "../../src/subnet";

const KEY = "swarm-proxy:network.rolling.temporarySubnet";
const net = (name: string, subnet: string) => ({ name, driver: "overlay", scope: "swarm", subnets: [subnet] });
const ctx = (over: Partial<SubnetContext> = {}): SubnetContext => ({
    networks: [net("proxy", "10.0.1.0/24")],
    routes: [],
    reserved: [],
    defaultAddressPools: ["10.0.0.0/8"],
    ...over,
});

function service(over: Record<string, unknown> = {}, endpoint?: unknown): EngineService {
    return {
        ID: "s1",
        Spec: { Name: "web_app", Labels: { "com.docker.stack.namespace": "web" }, ...over },
        Endpoint: endpoint as EngineService["Endpoint"],
    } as EngineService;
}

describe("rolling migration: the temporary subnet", () => {
    it("is the first free /24 from the top of 10.0.0.0/8 when today's use fits twice", () => {
        assert.strictEqual(
            temporarySubnet({ key: KEY, target: "10.10.0.0/16", ctx: ctx(), inUse: 20 }),
            "10.255.255.0/24",
        );
    });

    it("skips networks, routes, reserved ranges and the target itself", () => {
        const c = ctx({
            networks: [net("proxy", "10.0.1.0/24"), net("other", "10.255.255.0/24")],
            routes: ["10.255.254.0/24"],
            reserved: ["10.255.253.0/24"],
        });
        assert.strictEqual(
            temporarySubnet({ key: KEY, target: "10.255.252.0/24", ctx: c, inUse: 20 }),
            "10.255.251.0/24",
        );
    });

    it("counts the network being replaced as a conflict: both exist while the services move", () => {
        const c = ctx({ networks: [net("proxy", "10.255.255.0/24")], replacing: "proxy" });
        assert.strictEqual(temporarySubnet({ key: KEY, target: "10.10.0.0/16", ctx: c, inUse: 20 }), "10.255.254.0/24");
    });

    it("grows past a /24 for more than half a /24 in use", () => {
        assert.strictEqual(
            temporarySubnet({ key: KEY, target: "10.10.0.0/16", ctx: ctx(), inUse: 200 }),
            "10.255.254.0/23",
        );
    });

    it("takes a configured subnet after the same checks, naming the key and the conflict", () => {
        assert.strictEqual(
            temporarySubnet({ key: KEY, subnet: "172.30.0.0/24", target: "10.10.0.0/16", ctx: ctx(), inUse: 20 }),
            "172.30.0.0/24",
        );
        assert.throws(
            () => temporarySubnet({ key: KEY, subnet: "10.10.5.0/24", target: "10.10.0.0/16", ctx: ctx(), inUse: 20 }),
            {
                message:
                    /^swarm-proxy:network\.rolling\.temporarySubnet: 10\.10\.5\.0\/24 overlaps network "the new network" \(10\.10\.0\.0\/16\)/,
            },
        );
        assert.throws(
            () => temporarySubnet({ key: KEY, subnet: "10.0.1.0/24", target: "10.10.0.0/16", ctx: ctx(), inUse: 20 }),
            { message: /overlaps network "proxy" \(10\.0\.1\.0\/24\)/ },
        );
    });
});

describe("rolling migration: how each service moves", () => {
    it("a port published in host mode, or one task per node, restarts once per hop; anything else starts first", () => {
        const host = service({}, { Spec: { Ports: [{ PublishMode: "host", PublishedPort: 80, TargetPort: 80 }] } });
        assert.match(restartReason(host)!, /port 80 is published in host mode/);
        const ingress = service({}, { Spec: { Ports: [{ PublishMode: "ingress", PublishedPort: 8080 }] } });
        assert.strictEqual(restartReason(ingress), undefined);
        const one = service({ TaskTemplate: { Placement: { MaxReplicas: 1 } } });
        assert.match(restartReason(one)!, /one task per node/);
        assert.strictEqual(restartReason(service()), undefined);
    });

    it("the preview's line says the cost and why", () => {
        const traefik = attachedService(
            service({ Name: "traefik_app" }, { Spec: { Ports: [{ PublishMode: "host", PublishedPort: 80 }] } }),
        );
        assert.match(describeMove(traefik), /^traefik_app: one restart per hop \(two in all\), because its port 80/);
        const app = attachedService(service({ TaskTemplate: { ContainerSpec: { StopGracePeriod: 5e9 } } }));
        assert.strictEqual(app.stack, "web");
        assert.match(describeMove(app), /^web_app: start-first, no gap .*\(stop grace 5s\)/);
    });
});

describe("rolling migration: the temporary network's name on the host", () => {
    const NAME_KEY = "swarm-proxy:network.rolling.temporaryName";
    const live = (name: string, labels: Record<string, string> = {}): LiveNetwork => ({
        name,
        driver: "overlay",
        scope: "swarm",
        subnets: ["10.255.255.0/24"],
        id: "0123456789abcdef0123",
        gateways: [],
        attachable: true,
        labels,
    });

    it("no network by that name: nothing to resume, nothing refused", () => {
        assert.strictEqual(ownTemporaryNetwork(NAME_KEY, "proxy-rolling", "proxy", [live("proxy")]), undefined);
    });

    it("this migration's own, left by an interrupted run (its label names the network): resumed", () => {
        const own = live("proxy-rolling", { "swarm-proxy.rolling.temporary-for": "proxy" });
        assert.strictEqual(ownTemporaryNetwork(NAME_KEY, "proxy-rolling", "proxy", [live("proxy"), own]), own);
    });

    it("another network by that name (no label, or another migration's): refused, naming the key and the network", () => {
        for (const labels of [{}, { "swarm-proxy.rolling.temporary-for": "other" }] as Record<string, string>[]) {
            assert.throws(() => ownTemporaryNetwork(NAME_KEY, "backups_net", "proxy", [live("backups_net", labels)]), {
                message:
                    "swarm-proxy:network.rolling.temporaryName: network backups_net already exists on the host " +
                    "(0123456789ab, 10.255.255.0/24) and is not a temporary network of this migration (no label " +
                    "swarm-proxy.rolling.temporary-for=proxy): choose another name, or remove that network",
            });
        }
    });
});
