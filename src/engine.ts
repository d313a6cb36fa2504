// The one reader of the Engine API, used by the program at preview and by the operator tools alike: dockerode
// underneath, typed to the fields we read, with every failure turned into one operator-facing message
// (dockerd unreachable, not a swarm manager, API error). It reaches dockerd through a socket or TCP address,
// or over SSH as the docker CLI does (`ssh HOST docker system dial-stdio`, the system ssh client, checking
// the pinned host key).
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import Docker from "dockerode";
import {
    type EngineContainer,
    type EngineInfo,
    type EngineNetwork,
    type EngineNode,
    type EngineService,
    type EngineTask,
    type EngineVersion,
    type SwarmInfo,
    type UsageInput,
    isVersionRefusal,
    negotiateApiVersion,
    swarmRole,
} from "./docker";
import { HostKeyError, type SshTarget, sshDialer } from "./ssh";

/** An error meant for the operator: its message is printed as is, without a stack trace. */
export class EngineError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "EngineError";
    }
}

function errorText(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

export interface ServiceSpecInput {
    Name: string;
    Labels: Record<string, string>;
    TaskTemplate: { ContainerSpec: { Image: string; Command?: string[] }; Networks: { Target: string }[] };
    Mode: { Replicated: { Replicas: number } };
    EndpointSpec: { Mode: "vip" | "dnsrr" };
}

interface DockerodeError {
    statusCode?: number;
    code?: string;
    json?: { message?: string } | null;
    message?: string;
}

function asDockerodeError(e: unknown): DockerodeError {
    return typeof e === "object" && e !== null ? (e as DockerodeError) : { message: String(e) };
}

const UNREACHABLE = new Set([
    "ECONNREFUSED",
    "ENOENT",
    "EACCES",
    "ECONNRESET",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "ENOTFOUND",
    "EPIPE",
]);

/** The Engine's own message for an API error, or undefined for a transport failure. */
export function apiMessage(e: unknown): string | undefined {
    const d = asDockerodeError(e);
    if (d.statusCode === undefined) {
        return undefined;
    }
    return d.json?.message ?? d.message ?? `HTTP ${d.statusCode}`;
}

export function apiStatus(e: unknown): number | undefined {
    return asDockerodeError(e).statusCode;
}

/** dockerd's refusal of a request's API version (moby's API version middleware: HTTP 400). */
export function versionRefused(e: unknown): boolean {
    return isVersionRefusal(apiStatus(e), apiMessage(e) ?? "");
}

/** $DOCKER_HOST when set: the dockerd the docker CLI would talk to, and the CLI's default. */
export function envDockerHost(env: NodeJS.ProcessEnv = process.env): string | undefined {
    return env.DOCKER_HOST !== undefined && env.DOCKER_HOST !== "" ? env.DOCKER_HOST : undefined;
}

export function describeDockerHost(host: string | undefined = envDockerHost()): string {
    return host ?? "unix:///var/run/docker.sock";
}

/**
 * dockerode's connection to `host`, every key given: docker-modem fills the keys left out from this process's
 * DOCKER_HOST, which must not decide which dockerd a command talks to. TLS as the docker CLI decides it
 * (DOCKER_TLS_VERIFY=1 or port 2376, certificates from DOCKER_CERT_PATH), so a child `docker` and the
 * Engine reach the same dockerd the same way.
 */
export function connectionOptions(host: string, env: NodeJS.ProcessEnv = process.env): Docker.DockerOptions {
    const socket = /^unix:\/\/(\/.+)$/.exec(host);
    if (socket) {
        return { socketPath: socket[1], host: undefined, port: undefined, protocol: "http" };
    }
    const tcp = /^tcp:\/\/([^:/]+):(\d+)$/.exec(host);
    if (!tcp) {
        // ssh://, npipe:// and the like only come from $DOCKER_HOST (--host takes the two forms above), where
        // docker-modem reads them itself.
        return {};
    }
    const certs = env.DOCKER_CERT_PATH;
    return {
        socketPath: undefined,
        host: tcp[1],
        port: tcp[2],
        protocol: env.DOCKER_TLS_VERIFY === "1" || tcp[2] === "2376" ? "https" : "http",
        ...(certs !== undefined && certs !== ""
            ? {
                  ca: readFileSync(join(certs, "ca.pem")),
                  cert: readFileSync(join(certs, "cert.pem")),
                  key: readFileSync(join(certs, "key.pem")),
              }
            : {}),
    };
}

export interface EngineOptions {
    /** unix:// or tcp:// address; undefined: the local socket, found as the docker CLI finds it. */
    host?: string;
    /** dockerd on the host at the other end of SSH (then `host` is not used). */
    ssh?: SshTarget;
    timeoutMs?: number;
    /** What to check when dockerd cannot be reached, for the message. */
    unreachableHint?: string;
}

export class Engine {
    readonly docker: Docker;
    /** The unix:// or tcp:// address, when dockerd is reached that way (for commands the operator can paste). */
    readonly host: string | undefined;
    /** Where dockerd is, for messages. */
    readonly where: string;
    /**
     * Engine API calls made, so the benchmark can show the count does not grow with the services. The version
     * negotiation is one of them, made once per Engine (by its first call).
     */
    calls = 0;
    private readonly unreachableHint: string;
    /** The daemon's unversioned GET /version, once the negotiation has succeeded (a failure is tried again). */
    private negotiated: Promise<EngineVersion> | undefined;

    constructor(o: EngineOptions = {}) {
        const timeout = o.timeoutMs ?? 60_000;
        this.unreachableHint = o.unreachableHint ?? "is it running, and is DOCKER_HOST right?";
        if (o.ssh) {
            const target = o.ssh;
            this.host = undefined;
            this.where = `ssh ${target.user}@${target.host}:${target.port}`;
            // A new ssh per request, closed with it (no keep-alive): nothing is left running after a read.
            const agent = new http.Agent({ keepAlive: false });
            const dial = sshDialer(target, ["docker", "system", "dial-stdio"]);
            (agent as unknown as { createConnection: () => unknown }).createConnection = dial;
            // The host name is only the HTTP Host header: the connection is the ssh child's stdio.
            // The typings omit the agent option, which docker-modem passes to every request.
            const options = { protocol: "http", host: "docker", port: 80, socketPath: undefined, agent, timeout };
            this.docker = new Docker(options as Docker.DockerOptions);
        } else {
            this.host = o.host ?? envDockerHost();
            this.where = describeDockerHost(this.host);
            this.docker = new Docker({ ...(this.host === undefined ? {} : connectionOptions(this.host)), timeout });
        }
    }

    /** docker-modem's `version`, which its dial() puts in front of every path; its typings omit the field. */
    private get modem(): { version?: string } {
        return this.docker.modem as unknown as { version?: string };
    }

    /**
     * Asks the daemon once which Engine API versions it speaks (GET /version, which dockerd serves unversioned),
     * then prefixes every later path with the newest both sides know: docker-modem puts `version` in front of
     * each path. No pinned version: Docker 29.0 refuses anything under 1.44, and a version under the daemon's
     * newest has the daemon down-convert what it returns (moby's API version middleware).
     */
    private negotiate(): Promise<EngineVersion> {
        if (this.negotiated === undefined) {
            const attempt = (async () => {
                this.calls++;
                this.modem.version = undefined;
                let daemon: EngineVersion;
                try {
                    daemon = (await this.docker.version()) as EngineVersion;
                } catch (e) {
                    throw this.translate("version", e);
                }
                const n = negotiateApiVersion(daemon);
                if (!n.ok) {
                    throw new EngineError(`${n.reason} (dockerd at ${this.where})`);
                }
                this.modem.version = `v${n.version}`;
                return daemon;
            })();
            // A failed negotiation (dockerd down, restarting) is not kept: the next call asks again.
            attempt.catch(() => {
                if (this.negotiated === attempt) this.negotiated = undefined;
            });
            this.negotiated = attempt;
        }
        return this.negotiated;
    }

    /** The Engine API version every call uses (e.g. "1.52"), negotiated on first use. */
    async apiVersion(): Promise<string> {
        await this.negotiate();
        return (this.modem.version ?? "").replace(/^v/, "");
    }

    private async call<T>(what: string, fn: () => Promise<unknown>): Promise<T> {
        for (let attempt = 1; ; attempt++) {
            await this.negotiate();
            this.calls++;
            try {
                return (await fn()) as T;
            } catch (e) {
                // dockerd replaced under a long-lived Engine by one with another API range refuses the version
                // agreed with the old one: agree again, once.
                if (attempt === 1 && versionRefused(e)) {
                    this.negotiated = undefined;
                    continue;
                }
                throw this.translate(what, e);
            }
        }
    }

    translate(what: string, e: unknown): Error {
        if (e instanceof EngineError || e instanceof HostKeyError) {
            return e;
        }
        const d = asDockerodeError(e);
        if (d.statusCode === undefined) {
            if (d.code !== undefined && UNREACHABLE.has(d.code)) {
                return new EngineError(`cannot reach dockerd at ${this.where} (${d.code}): ${this.unreachableHint}`);
            }
            return new EngineError(`${what}: talking to dockerd at ${this.where} failed: ${errorText(e)}`);
        }
        const msg = apiMessage(e) ?? "";
        if (d.statusCode === 503 && /not a swarm manager|not part of a swarm/i.test(msg)) {
            return new EngineError(`${what}: ${msg.trim()} (dockerd at ${this.where}); run this on a swarm manager`);
        }
        return new EngineError(`${what}: dockerd answered ${d.statusCode}: ${msg.trim()}`);
    }

    info(): Promise<EngineInfo> {
        return this.call("info", () => this.docker.info());
    }

    /** The daemon's GET /version, as read by the negotiation (a daemon's versions do not change under it). */
    version(): Promise<EngineVersion> {
        return this.negotiate();
    }

    swarm(): Promise<SwarmInfo> {
        return this.call("swarm inspect", () => this.docker.swarmInspect());
    }

    networks(): Promise<EngineNetwork[]> {
        return this.call("network list", () => this.docker.listNetworks());
    }

    /** verbose adds Services/Peers (on a manager, for a network this node takes part in). */
    network(idOrName: string, verbose = false): Promise<EngineNetwork> {
        const opts = verbose ? { verbose: true, scope: "swarm" } : {};
        // The typings omit inspect's query options (verbose, scope), which dockerode passes through.
        const n = this.docker.getNetwork(idOrName) as unknown as { inspect(o: object): Promise<unknown> };
        return this.call(`network inspect ${idOrName}`, () => n.inspect(opts));
    }

    /** The network, or undefined when there is none by that name or ID. */
    async findNetwork(idOrName: string): Promise<EngineNetwork | undefined> {
        const all = await this.networks();
        return all.find((n) => n.Name === idOrName) ?? all.find((n) => n.Id === idOrName);
    }

    services(filters?: Record<string, string[]>): Promise<EngineService[]> {
        const opts: { status: boolean; filters?: string } = { status: true };
        if (filters) {
            opts.filters = JSON.stringify(filters);
        }
        return this.call("service list", () => this.docker.listServices(opts));
    }

    tasks(filters?: Record<string, string[]>): Promise<EngineTask[]> {
        return this.call("task list", () => this.docker.listTasks(filters ? { filters: JSON.stringify(filters) } : {}));
    }

    nodes(): Promise<EngineNode[]> {
        return this.call("node list", () => this.docker.listNodes());
    }

    containers(): Promise<EngineContainer[]> {
        return this.call("container list", () => this.docker.listContainers({ all: false }));
    }

    createService(spec: ServiceSpecInput): Promise<{ ID?: string; id?: string }> {
        return this.call(`service create ${spec.Name}`, () => this.docker.createService(spec));
    }

    async removeService(id: string): Promise<void> {
        await this.call(`service rm ${id}`, () => this.docker.getService(id).remove());
    }

    async createNetwork(spec: {
        Name: string;
        Driver: string;
        Attachable: boolean;
        Labels: Record<string, string>;
        IPAM: { Config: { Subnet: string }[] };
    }): Promise<string> {
        const n = await this.call<{ id: string }>(`network create ${spec.Name}`, () =>
            this.docker.createNetwork({ ...spec, CheckDuplicate: true }),
        );
        return n.id;
    }

    /** Removes a network; resolves to the Engine's refusal message instead of throwing when it is refused. */
    async removeNetwork(id: string): Promise<{ removed: boolean; refused?: string }> {
        await this.negotiate();
        this.calls++;
        try {
            await this.docker.getNetwork(id).remove();
            return { removed: true };
        } catch (e) {
            const status = apiStatus(e);
            if (status === 404) {
                return { removed: false, refused: "already gone" };
            }
            if (status !== undefined && status >= 400 && status < 600 && status !== 503) {
                return { removed: false, refused: (apiMessage(e) ?? "").trim() };
            }
            throw this.translate(`network rm ${id}`, e);
        }
    }

    async ping(): Promise<boolean> {
        try {
            await this.docker.ping();
            return true;
        } catch {
            return false;
        }
    }

    /**
     * Fails with one clear message unless dockerd answers and this node is an active swarm manager:
     * every subcommand reads swarm state, which only a manager serves.
     */
    async requireManager(): Promise<{ info: EngineInfo; version: EngineVersion }> {
        const info = await this.info();
        const role = swarmRole(info);
        if (role === "inactive") {
            throw new EngineError(
                `dockerd at ${this.where} is not in an active swarm (LocalNodeState=${info.Swarm?.LocalNodeState ?? "inactive"}${
                    info.Swarm?.Error ? `: ${info.Swarm.Error}` : ""
                }); run this on a swarm manager`,
            );
        }
        if (role === "worker") {
            throw new EngineError(
                `dockerd at ${this.where} is a swarm worker, not a manager; run this on a swarm manager`,
            );
        }
        const version = await this.version();
        return { info, version };
    }
}

/** What the caller has read already, so it is not read twice. */
export interface Prefetched {
    services?: EngineService[];
    apiVersion?: string;
}

/**
 * The verbose inspect of an overlay, by its name: dockerd (29.8, measured) answers an inspect by full ID from the
 * node's own copy of the network, with the node's IPAM figure (its own endpoints: no VIPs, and none of the
 * addresses leaked by concurrent `docker stack rm`), and one by name (scope swarm) with the swarm leader's
 * allocator's figure, which holds every allocated address, leaked ones too. A name that is not unique (dockerd:
 * "ambiguous") or that now names another network falls back to the ID.
 */
async function inspectForStatus(engine: Engine, network: EngineNetwork): Promise<EngineNetwork> {
    try {
        const byName = await engine.network(network.Name, true);
        if (byName.Id === network.Id) return byName;
    } catch {
        // ambiguous, or gone meanwhile: the ID says which network was meant
    }
    return engine.network(network.Id, true);
}

/**
 * Reads what countUsage needs for one overlay (found in the network list) in a fixed number of calls whatever
 * the number of services: verbose inspect, services, tasks, nodes and the API version. The one read behind
 * the preview's figure and `swarm-proxy capacity`'s.
 */
export async function readUsage(
    engine: Engine,
    network: EngineNetwork,
    localNodeId: string | undefined,
    pre: Prefetched = {},
): Promise<UsageInput> {
    const [verbose, services, tasks, nodes, apiVersion] = await Promise.all([
        inspectForStatus(engine, network),
        pre.services ? Promise.resolve(pre.services) : engine.services(),
        engine.tasks(),
        engine.nodes(),
        pre.apiVersion ? Promise.resolve(pre.apiVersion) : engine.version().then((v) => v.ApiVersion),
    ]);
    // The list view lacks Status; the inspect view has it on engines that report IPsInUse.
    return {
        network: { ...network, Status: verbose.Status ?? network.Status },
        verbose,
        services,
        tasks,
        nodes,
        apiVersion,
        localNodeId,
    };
}
