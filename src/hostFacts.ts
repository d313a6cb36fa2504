// Reads the live host at preview time: networks, routes, the swarm's default address pools and the
// addresses in use on the managed network. Every call passes argv to execFile: nothing is spliced into a shell.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NetworkFact } from "./subnet";

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
    /** Addresses in use on each overlay network, by name (VIPs, task endpoints, load-balancer endpoints). */
    inUse: Record<string, number>;
    stacks: string[];
}

export type Runner = (argv: string[]) => string;

interface InspectedNetwork {
    Name: string;
    Id: string;
    Driver: string;
    Scope: string;
    Attachable?: boolean;
    Labels?: Record<string, string> | null;
    IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] | null };
    Containers?: Record<string, { Name?: string; IPv4Address?: string }> | null;
    Services?: Record<string, { VIP?: string; Tasks?: { EndpointIP?: string }[] | null }> | null;
}

/** Counts endpoint addresses from a verbose network inspect (swarm managers add Services). */
export function countInUse(n: Pick<InspectedNetwork, "Containers" | "Services">): number {
    const addresses = new Set<string>();
    for (const svc of Object.values(n.Services ?? {})) {
        if (svc.VIP) {
            addresses.add(svc.VIP.split("/")[0]);
        }
        for (const t of svc.Tasks ?? []) {
            if (t.EndpointIP) {
                addresses.add(t.EndpointIP.split("/")[0]);
            }
        }
    }
    for (const c of Object.values(n.Containers ?? {})) {
        if (c.IPv4Address) {
            addresses.add(c.IPv4Address.split("/")[0]);
        }
    }
    return addresses.size;
}

export function toLiveNetwork(n: InspectedNetwork): LiveNetwork {
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

/** Route destinations from `ip -j route` output. */
export function routesFrom(json: string): string[] {
    const routes = JSON.parse(json) as { dst?: string }[];
    return routes.map((r) => r.dst ?? "").filter((d) => d !== "" && d !== "default");
}

export function readHostFacts(run: Runner): HostFacts {
    const ids = run(["docker", "network", "ls", "--no-trunc", "--format", "{{.ID}}"]).split("\n").filter((l) => l.trim() !== "");
    const inspected = ids.length === 0 ? [] : (JSON.parse(run(["docker", "network", "inspect", ...ids])) as InspectedNetwork[]);
    const inUse: Record<string, number> = {};
    for (const n of inspected.filter((x) => x.Driver === "overlay" && x.Scope === "swarm" && x.Name !== "ingress")) {
        const [verbose] = JSON.parse(run(["docker", "network", "inspect", "--verbose", n.Id])) as InspectedNetwork[];
        inUse[n.Name] = countInUse(verbose);
    }
    const pools = JSON.parse(run(["docker", "info", "--format", "{{json .Swarm.Cluster.DefaultAddrPool}}"]) || "null") as string[] | null;
    const stacks = run(["docker", "stack", "ls", "--format", "{{.Name}}"]).split("\n").filter((l) => l.trim() !== "");
    return {
        networks: inspected.map(toLiveNetwork),
        routes: [...routesFrom(run(["ip", "-j", "-4", "route", "show", "table", "all"]))],
        defaultAddressPools: pools ?? [],
        inUse,
        stacks,
    };
}

/** Runs argv on this machine. */
export const localRunner: Runner = (argv) => execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/**
 * Runs argv on the host over SSH with the operator's agent, checking the pinned host key. The remote side
 * gets each argument single-quoted, because ssh joins its arguments into one remote command line.
 */
export function sshRunner(host: string, port: number, user: string, hostKey: string): Runner {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-"));
    const knownHosts = path.join(dir, "known_hosts");
    fs.writeFileSync(knownHosts, `[${host}]:${port} ${hostKey}\n${host} ${hostKey}\n`);
    return (argv) =>
        execFileSync("ssh", [
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`,
            "-p", String(port), "-l", user, "--", host, argv.map(shellQuote).join(" "),
        ], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Single-quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}
