// The Engine API as the tools use it: dockerode underneath, typed to the fields we read, with every
// failure turned into one operator-facing message (dockerd unreachable, not a swarm manager, API error).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Docker from "dockerode";
import type {
    EngineContainer,
    EngineInfo,
    EngineNetwork,
    EngineNode,
    EngineService,
    EngineTask,
    EngineVersion,
    SwarmInfo,
} from "../src/docker";
import { swarmRole } from "../src/docker";
import { CliError, errorMessage } from "./errors";

// The Docker object types and their pure helpers live in src/docker.ts, shared with the program.
export * from "../src/docker";

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

/** $DOCKER_HOST when set: the dockerd the docker CLI would talk to, and the CLI's default. */
export function envDockerHost(env: NodeJS.ProcessEnv = process.env): string | undefined {
    return env.DOCKER_HOST !== undefined && env.DOCKER_HOST !== "" ? env.DOCKER_HOST : undefined;
}

export function describeDockerHost(host: string | undefined = envDockerHost()): string {
    return host ?? "unix:///var/run/docker.sock";
}

const HOST_FORM = "unix:///path/to/docker.sock or tcp://HOST:PORT";

export function checkDockerHost(key: string, value: string): string {
    if (/^unix:\/\/\/[^\0]+$/.test(value) || /^tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}$/.test(value)) {
        return value;
    }
    throw new CliError(`${key}: ${JSON.stringify(value)} is not ${HOST_FORM}`);
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

export class Engine {
    readonly docker: Docker;
    /** Where dockerd is, for messages. */
    readonly where: string;
    /** Engine API calls made, so the benchmark can show the count does not grow with the services. */
    calls = 0;

    /** `host` undefined: the local socket, found as the docker CLI finds it. */
    constructor(
        readonly host: string | undefined = envDockerHost(),
        timeoutMs = 60_000,
    ) {
        this.where = describeDockerHost(host);
        this.docker = new Docker({ ...(host === undefined ? {} : connectionOptions(host)), timeout: timeoutMs });
    }

    private async call<T>(what: string, fn: () => Promise<unknown>): Promise<T> {
        this.calls++;
        try {
            return (await fn()) as T;
        } catch (e) {
            throw this.translate(what, e);
        }
    }

    translate(what: string, e: unknown): Error {
        if (e instanceof CliError) {
            return e;
        }
        const d = asDockerodeError(e);
        if (d.statusCode === undefined) {
            if (d.code !== undefined && UNREACHABLE.has(d.code)) {
                return new CliError(
                    `cannot reach dockerd at ${this.where} (${d.code}): is it running, and is DOCKER_HOST (or --host) right?`,
                );
            }
            return new CliError(`${what}: talking to dockerd at ${this.where} failed: ${errorMessage(e)}`);
        }
        const msg = apiMessage(e) ?? "";
        if (d.statusCode === 503 && /not a swarm manager|not part of a swarm/i.test(msg)) {
            return new CliError(`${what}: ${msg.trim()} (dockerd at ${this.where}); run this on a swarm manager`);
        }
        return new CliError(`${what}: dockerd answered ${d.statusCode}: ${msg.trim()}`);
    }

    info(): Promise<EngineInfo> {
        return this.call("info", () => this.docker.info());
    }

    version(): Promise<EngineVersion> {
        return this.call("version", () => this.docker.version());
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
            throw new CliError(
                `dockerd at ${this.where} is not in an active swarm (LocalNodeState=${info.Swarm?.LocalNodeState ?? "inactive"}${
                    info.Swarm?.Error ? `: ${info.Swarm.Error}` : ""
                }); run this on a swarm manager`,
            );
        }
        if (role === "worker") {
            throw new CliError(
                `dockerd at ${this.where} is a swarm worker, not a manager; run this on a swarm manager`,
            );
        }
        const version = await this.version();
        return { info, version };
    }
}
