// Reads the live host at preview time: networks, routes, the swarm's default address pools and the
// addresses in use on the managed network. Every call passes argv to execFile: nothing is spliced into a shell.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT } from "../config";
import {
    type EngineInfo,
    type EngineNetwork,
    type EngineNode,
    type EngineService,
    type EngineTask,
    type Usage,
    countUsage,
    subnetsOf,
    swarmRole,
} from "./docker";
import type { NetworkFact } from "./subnet";

export interface LiveNetwork extends NetworkFact {
    id: string;
    gateways: string[];
    attachable: boolean;
    labels: Record<string, string>;
}

export interface HostFacts {
    networks: LiveNetwork[];
    routes: string[];
    defaultAddressPools: string[];
    /** Addresses in use on the managed network, by name (VIPs, task endpoints, one load balancer per node using it). */
    inUse: Record<string, number>;
    /** How the managed network's figure was made up (absent when the host has no such network yet). */
    usage?: Usage;
}

export type Runner = (argv: string[]) => string;

export function toLiveNetwork(n: EngineNetwork): LiveNetwork {
    const cfgs = n.IPAM?.Config ?? [];
    return {
        name: n.Name,
        id: n.Id,
        driver: n.Driver,
        scope: n.Scope,
        attachable: n.Attachable ?? false,
        labels: n.Labels ?? {},
        subnets: cfgs.map((c) => c.Subnet ?? "").filter((s) => s !== ""),
        gateways: cfgs.map((c) => c.Gateway ?? "").filter((s) => s !== ""),
    };
}

/** Route destinations from `ip -j route` output, as CIDRs (a host route gets /32); the default route is left out. */
export function routesFrom(json: string): string[] {
    const routes = JSON.parse(json) as { dst?: string }[];
    const dsts = routes.map((r) => r.dst ?? "").filter((d) => d !== "" && d !== "default");
    return [...new Set(dsts.map((d) => (d.includes("/") ? d : `${d}/32`)))];
}

/** The host's IPv4 routes in every table (the one route reader of the program and the tools). */
export function readRoutes(run: Runner): string[] {
    return routesFrom(run(["ip", "-j", "-4", "route", "show", "table", "all"]));
}

function lines(text: string): string[] {
    return text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
}

/** `docker inspect`-style JSON of the given IDs, or [] without any (inspect needs at least one). */
function inspectAll<T>(run: Runner, cmd: string[], ids: string[]): T[] {
    return ids.length === 0 ? [] : (JSON.parse(run([...cmd, ...ids])) as T[]);
}

/**
 * Why the program cannot run against this node, or undefined on an active manager. Network create and remove
 * of a swarm network are manager-only (daemon/cluster/networks.go), and so are the service and task reads.
 */
export function managerRefusal(info: EngineInfo, where: string, networkName: string): string | undefined {
    const role = swarmRole(info);
    if (role === "inactive") {
        return (
            `${PROJECT}:connection: the host at ${where} is not in an active swarm (LocalNodeState=${info.Swarm?.LocalNodeState ?? "inactive"}); ` +
            "point the connection at a manager of the swarm that runs the stacks"
        );
    }
    if (role === "worker") {
        return (
            `${PROJECT}:connection: the host at ${where} is a swarm worker (node ${JSON.stringify(info.Name ?? "?")}, ` +
            `ID ${info.Swarm?.NodeID ?? "?"}), not a manager: the swarm network ${JSON.stringify(networkName)} is created and removed ` +
            "only on a manager, and only a manager can read the stacks' services and tasks. Point the connection at a manager " +
            "(`docker node ls --filter role=manager` on any manager lists them). Nothing was changed."
        );
    }
    return undefined;
}

/** The node's `docker info`; throws the refusal unless it is an active swarm manager. */
function requireManager(run: Runner, where: string, networkName: string): EngineInfo {
    const info = JSON.parse(run(["docker", "info", "--format", "{{json .}}"])) as EngineInfo;
    const refusal = managerRefusal(info, where, networkName);
    if (refusal) {
        throw new Error(refusal);
    }
    return info;
}

/**
 * The live host, read through `docker` on the host (a manager) in a fixed number of calls, whatever the number
 * of services: every network, the routes, the default address pools, and what countUsage needs for the managed
 * network — the same count the operator tools make.
 */
export function readHostFacts(run: Runner, where: string, networkName: string): HostFacts {
    const info = requireManager(run, where, networkName);
    const networks = inspectAll<EngineNetwork>(
        run,
        ["docker", "network", "inspect"],
        lines(run(["docker", "network", "ls", "--no-trunc", "--format", "{{.ID}}"])),
    );
    const managed = networks.find((n) => n.Name === networkName && n.Driver === "overlay" && n.Scope === "swarm");
    const inUse: Record<string, number> = {};
    let usage: Usage | undefined;
    if (managed && subnetsOf(managed).length > 0) {
        const [verbose] = JSON.parse(run(["docker", "network", "inspect", "--verbose", managed.Id])) as EngineNetwork[];
        const serviceIds = lines(run(["docker", "service", "ls", "-q"]));
        const services = inspectAll<EngineService>(run, ["docker", "service", "inspect"], serviceIds);
        const taskIds =
            serviceIds.length === 0 ? [] : lines(run(["docker", "service", "ps", "-q", "--no-trunc", ...serviceIds]));
        const tasks = inspectAll<EngineTask>(run, ["docker", "inspect", "--type", "task"], [...new Set(taskIds)]);
        const nodes = inspectAll<EngineNode>(
            run,
            ["docker", "node", "inspect"],
            lines(run(["docker", "node", "ls", "-q"])),
        );
        const apiVersion = run(["docker", "version", "--format", "{{.Server.APIVersion}}"]).trim();
        usage = countUsage({
            network: { ...managed, Status: verbose.Status ?? managed.Status },
            verbose,
            services,
            tasks,
            nodes,
            apiVersion,
            localNodeId: info.Swarm?.NodeID,
        });
        inUse[managed.Name] = usage.inUse;
    }
    return {
        networks: networks.map(toLiveNetwork),
        routes: readRoutes(run),
        defaultAddressPools: info.Swarm?.Cluster?.DefaultAddrPool ?? [],
        inUse,
        usage,
    };
}

/** Runs argv on this machine. */
export const localRunner: Runner = (argv) =>
    execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/**
 * A known_hosts file that pins the configured host key, at a path made from the host and port alone: the Docker
 * provider's ssh options name it, so they stay the same from run to run (a changed pin rewrites the file, not
 * the provider's config). The file holds only the public key.
 */
export function knownHostsFile(host: string, port: number, hostKey: string): string {
    const text = `[${host}]:${port} ${hostKey}\n${host} ${hostKey}\n`;
    const id = createHash("sha256").update(`${host}:${port}`).digest("hex").slice(0, 16);
    const file = path.join(os.tmpdir(), `swarm-proxy-known-hosts-${id}`);
    if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text) {
        fs.writeFileSync(`${file}.${process.pid}`, text, { mode: 0o644 });
        fs.renameSync(`${file}.${process.pid}`, file);
    }
    return file;
}

/** The options every ssh client of the program uses: no prompt, and only the pinned host key is accepted. */
export function sshOptions(host: string, port: number, hostKey: string): string[] {
    return [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        `UserKnownHostsFile=${knownHostsFile(host, port, hostKey)}`,
    ];
}

/**
 * Runs argv on the host over SSH with the operator's agent, checking the pinned host key. The remote side
 * gets each argument single-quoted, because ssh joins its arguments into one remote command line.
 */
export function sshRunner(host: string, port: number, user: string, hostKey: string): Runner {
    const opts = sshOptions(host, port, hostKey);
    return (argv) => {
        try {
            return execFileSync(
                "ssh",
                [...opts, "-p", String(port), "-l", user, "--", host, argv.map(shellQuote).join(" ")],
                { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
            );
        } catch (e) {
            const stderr = String((e as { stderr?: unknown }).stderr ?? "");
            // ssh checks the host key before it authenticates, so nothing ran on the host.
            if (
                /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/.test(
                    stderr,
                )
            ) {
                throw new Error(
                    `${PROJECT}:connection.hostKey: the host key of ${host}:${port} does not match the pinned ` +
                        `${hostKey.split(" ")[0]} key; ssh refused the host before any command ran. Check the host ` +
                        "(`ssh-keyscan -p PORT HOST` from a trusted network) and pin its key.",
                );
            }
            throw e;
        }
    };
}

/** Single-quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}
