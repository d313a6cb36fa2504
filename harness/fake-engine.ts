// A fake Engine API on a unix socket, serving a swarm of any size from generated data, so the capacity
// benchmark and the CLI's tests can run at 1000 services without a dockerd. It answers only the reads
// the tools make, counts every request, and can pretend to be a worker or an inactive node. Like dockerd it
// speaks a range of API versions and refuses a versioned path outside it, so a client that pins a version
// fails here as it would on the daemon.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiAtLeast, compareApiVersions } from "../src/docker";

export interface FakeSwarmSpec {
    services: number;
    /** Live tasks per service (each with one address on proxy). */
    replicas: number;
    /** Finished tasks per service kept in the history (they hold no address). */
    history: number;
    nodes: number;
    subnet: string;
    /** The newest API version served (default 1.41); Engine >= 29 (1.52) reports IPsInUse to requests >= 1.52. */
    apiVersion?: string;
    /** The oldest served: default 1.12 (dockerd up to 28) below 1.52, 1.44 from 1.52 (Docker 29.0, moby#51186). */
    minApiVersion?: string;
    /** The Docker version reported; default: the release the project measured at that API version. */
    dockerVersion?: string;
    role?: "manager" | "worker" | "inactive";
}

export interface FakeEngine {
    socket: string;
    host: string;
    /** Every request, "METHOD PATH?QUERY" with the version prefix taken off. */
    requests: string[];
    /** The API version of each request in `requests` ("" for an unversioned one). */
    versions: string[];
    close(): Promise<void>;
}

/** A swarm network's ID as dockerd gives it (25 lower-case alphanumerics): a stack file's adoptId takes no other. */
const PROXY_ID = "proxyid000000000000000000";

/** The Docker release behind each API version the project has run (scripts/docker-build.sh). */
const DOCKER_AT_API: Record<string, string> = {
    "1.41": "20.10.24",
    "1.51": "28.5.2",
    "1.52": "29.0.0",
    "1.56": "29.8.0",
};

/** dockerd's answer to a versioned path outside its range (moby's API version middleware), or undefined. */
export function versionRefusal(requested: string, min: string, max: string): string | undefined {
    if (compareApiVersions(requested, min) < 0) {
        return `client version ${requested} is too old. Minimum supported API version is ${min}, please upgrade your client to a newer version`;
    }
    if (compareApiVersions(requested, max) > 0) {
        return `client version ${requested} is too new. Maximum supported API version is ${max}`;
    }
    return undefined;
}

function ipIn(subnet: string, n: number): string {
    const [base] = subnet.split("/");
    const b = base.split(".").map(Number);
    const v = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) + n;
    return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
}

export function fakeData(spec: FakeSwarmSpec) {
    const prefix = spec.subnet.split("/")[1];
    let next = 2;
    const nodes = Array.from({ length: spec.nodes }, (_, i) => ({
        ID: `node${i}`,
        Description: { Hostname: `host${i}` },
        Status: { State: "ready", Addr: `192.0.2.${i + 10}` },
        Spec: { Role: i === 0 ? "manager" : "worker", Availability: "active" },
    }));
    const services = [];
    const tasks = [];
    for (let s = 0; s < spec.services; s++) {
        const id = `svc${s}`;
        const stack = `stack${s % 50}`;
        services.push({
            ID: id,
            Spec: {
                Name: `${stack}_app${s}`,
                Labels: { "com.docker.stack.namespace": stack },
                Mode: { Replicated: { Replicas: spec.replicas } },
                TaskTemplate: { Networks: [{ Target: PROXY_ID }] },
                EndpointSpec: { Mode: "vip" },
            },
            Endpoint: {
                Spec: { Mode: "vip" },
                VirtualIPs: [{ NetworkID: PROXY_ID, Addr: `${ipIn(spec.subnet, next++)}/${prefix}` }],
            },
            ServiceStatus: { RunningTasks: spec.replicas, DesiredTasks: spec.replicas },
        });
        for (let r = 0; r < spec.replicas + spec.history; r++) {
            const live = r < spec.replicas;
            tasks.push({
                ID: `task${s}x${r}`,
                ServiceID: id,
                NodeID: `node${(s + r) % spec.nodes}`,
                DesiredState: live ? "running" : "shutdown",
                Status: { State: live ? "running" : "shutdown" },
                NetworksAttachments: [
                    {
                        Network: { ID: PROXY_ID, Spec: { Name: "proxy" } },
                        Addresses: live ? [`${ipIn(spec.subnet, next++)}/${prefix}`] : [],
                    },
                ],
            });
        }
    }
    const lbCount = Math.min(spec.nodes, Math.max(1, spec.services * spec.replicas));
    const inUse = spec.services + spec.services * spec.replicas + lbCount;
    const proxy = {
        Name: "proxy",
        Id: PROXY_ID,
        Driver: "overlay",
        Scope: "swarm",
        Attachable: true,
        Labels: { owner: "swarm-proxy" },
        IPAM: { Config: [{ Subnet: spec.subnet, Gateway: ipIn(spec.subnet, 1) }] },
    };
    const networks = [
        {
            Name: "ingress",
            Id: "ingressid",
            Driver: "overlay",
            Scope: "swarm",
            Ingress: true,
            IPAM: { Config: [{ Subnet: "10.0.0.0/24" }] },
        },
        {
            Name: "bridge",
            Id: "bridgeid",
            Driver: "bridge",
            Scope: "local",
            IPAM: { Config: [{ Subnet: "172.17.0.0/16" }] },
        },
        { Name: "host", Id: "hostid", Driver: "host", Scope: "local", IPAM: { Config: [] } },
        proxy,
    ];
    return { nodes, services, tasks, networks, proxy, expectedInUse: inUse };
}

export async function startFakeEngine(spec: FakeSwarmSpec): Promise<FakeEngine> {
    const dir = mkdtempSync(join(tmpdir(), "spx-fake-engine-"));
    const socket = join(dir, "docker.sock");
    const data = fakeData(spec);
    const apiVersion = spec.apiVersion ?? "1.41";
    const minApiVersion = spec.minApiVersion ?? (apiAtLeast(apiVersion, 1, 52) ? "1.44" : "1.12");
    const dockerVersion = spec.dockerVersion ?? DOCKER_AT_API[apiVersion];
    if (dockerVersion === undefined) {
        throw new Error(`fake engine: no Docker release known for API ${apiVersion}; give spec.dockerVersion`);
    }
    const role = spec.role ?? "manager";
    const requests: string[] = [];
    const versions: string[] = [];
    const body = (res: ServerResponse, status: number, value: unknown) => {
        const text = JSON.stringify(value);
        res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
    };
    const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? "/", "http://fake");
        const versioned = /^\/v(\d+\.\d+)(\/.*)$/.exec(url.pathname);
        const path = versioned ? versioned[2] : url.pathname;
        requests.push(`${req.method} ${path}${url.search}`);
        versions.push(versioned ? versioned[1] : "");
        // An unversioned request is served at the newest version, as dockerd does.
        const requested = versioned ? versioned[1] : apiVersion;
        const refusal = versionRefusal(requested, minApiVersion, apiVersion);
        if (refusal !== undefined) {
            body(res, 400, { message: refusal });
            return;
        }
        const managerOnly = () => {
            if (role !== "manager") {
                body(res, 503, {
                    message:
                        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
                });
                return true;
            }
            return false;
        };
        if (path === "/_ping") {
            res.writeHead(200, { "Content-Type": "text/plain" });
            res.end("OK");
        } else if (path === "/info") {
            body(res, 200, {
                ServerVersion: dockerVersion,
                Name: "host0",
                LiveRestoreEnabled: false,
                Swarm: {
                    LocalNodeState: role === "inactive" ? "inactive" : "active",
                    ControlAvailable: role === "manager",
                    NodeID: "node0",
                    Nodes: spec.nodes,
                    Managers: 1,
                    ...(role === "manager" ? { Cluster: { DefaultAddrPool: ["10.0.0.0/8"] } } : {}),
                },
            });
        } else if (path === "/version") {
            body(res, 200, { Version: dockerVersion, ApiVersion: apiVersion, MinAPIVersion: minApiVersion });
        } else if (path === "/swarm") {
            if (!managerOnly()) body(res, 200, { ID: "swarmid", DefaultAddrPool: ["10.0.0.0/8"], SubnetSize: 24 });
        } else if (path === "/networks") {
            body(res, 200, data.networks);
        } else if (path.startsWith("/networks/")) {
            const id = decodeURIComponent(path.slice("/networks/".length));
            const n = data.networks.find((x) => x.Id === id || x.Name === id);
            if (!n) {
                body(res, 404, { message: `network ${id} not found` });
            } else if (n === data.proxy && apiAtLeast(requested, 1, 52)) {
                body(res, 200, {
                    ...n,
                    Status: {
                        IPAM: {
                            Subnets: { [spec.subnet]: { IPsInUse: data.expectedInUse + 3, DynamicIPsAvailable: 0 } },
                        },
                    },
                });
            } else {
                body(res, 200, { ...n, Services: {}, Containers: {} });
            }
        } else if (path === "/services") {
            if (!managerOnly()) body(res, 200, data.services);
        } else if (path === "/tasks") {
            if (!managerOnly()) body(res, 200, data.tasks);
        } else if (path === "/nodes") {
            if (!managerOnly()) body(res, 200, data.nodes);
        } else if (path === "/containers/json") {
            body(res, 200, []);
        } else {
            body(res, 404, { message: `fake engine: ${req.method} ${path} is not served` });
        }
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    return {
        socket,
        host: `unix://${socket}`,
        requests,
        versions,
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => {
                    rmSync(dir, { recursive: true, force: true });
                    resolve();
                });
            }),
    };
}
