// The weekly upgrade's Step-0 safety net. Plain `docker network prune` on a manager removes EVERY unused
// swarm network, an idle `proxy` included (measured), so this prune is our own: it never removes a network
// named in the protected list NOR one labelled owner=swarm-proxy — two independent exclusions, because
// the reference host creates `proxy` without the label and a renamed network would slip past the name.
// A docker restart rebuilds the IP allocator (reclaiming leaked addresses); it runs only when VIP failures
// were found and only when asked for.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
    type EngineContainer,
    type EngineNetwork,
    type EngineService,
    serviceNetworkTargets,
    swarmRole,
} from "../../src/docker";
import type { Engine } from "../../src/engine";
import { CliError, errorMessage } from "../shared/errors";
import { type LogSource, type VipFailure, findVipFailures } from "../shared/vip-failure-log";
import type { Progress } from "../shared/progress";
import { type StaleVxlan, describeStaleVxlan, findStaleVxlan, staleVxlanFix } from "../../src/staleVxlan";
import { childEnv, failureDetail } from "../shared/child-process";
import { hostScriptsDir } from "../shared/package-root";

const execFileP = promisify(execFile);

export const OWNER_LABEL = "owner";
export const OWNER_VALUE = "swarm-proxy";
/** Networks dockerd itself owns; `docker network prune` leaves them too. */
const BUILTIN = new Set(["bridge", "host", "none", "docker_gwbridge", "ingress"]);

export type Verdict = { action: "remove"; reason: string } | { action: "keep"; reason: string };

export interface NetworkDecision {
    name: string;
    id: string;
    driver: string;
    scope: string;
    verdict: Verdict;
}

/**
 * Pure: what a prune would do with each network. `protectedNames` and the owner label each protect a
 * network on their own; in-use is judged from services (by spec and VIP) and running containers.
 */
export function planPrune(
    networks: EngineNetwork[],
    services: EngineService[],
    containers: EngineContainer[],
    protectedNames: string[],
): NetworkDecision[] {
    const used = new Map<string, string>();
    for (const s of services) {
        for (const t of serviceNetworkTargets(s)) {
            used.set(t, `service ${s.Spec.Name}`);
        }
        for (const v of s.Endpoint?.VirtualIPs ?? []) {
            used.set(v.NetworkID, `service ${s.Spec.Name}`);
        }
    }
    for (const c of containers) {
        for (const [name, n] of Object.entries(c.NetworkSettings?.Networks ?? {})) {
            const who = `container ${(c.Names?.[0] ?? c.Id).replace(/^\//, "")}`;
            used.set(name, who);
            if (n.NetworkID) {
                used.set(n.NetworkID, who);
            }
        }
    }
    const protectedSet = new Set(protectedNames);
    return networks
        .map((n): NetworkDecision => {
            const base = { name: n.Name, id: n.Id, driver: n.Driver, scope: n.Scope };
            if (protectedSet.has(n.Name)) {
                return { ...base, verdict: { action: "keep", reason: "protected by name" } };
            }
            if (n.Labels?.[OWNER_LABEL] === OWNER_VALUE) {
                return {
                    ...base,
                    verdict: { action: "keep", reason: `protected by label ${OWNER_LABEL}=${OWNER_VALUE}` },
                };
            }
            if (BUILTIN.has(n.Name) || n.Ingress === true) {
                return { ...base, verdict: { action: "keep", reason: "dockerd's own network" } };
            }
            const user = used.get(n.Id) ?? used.get(n.Name);
            if (user) {
                return { ...base, verdict: { action: "keep", reason: `in use by ${user}` } };
            }
            return { ...base, verdict: { action: "remove", reason: "unused" } };
        })
        .sort((a, b) => a.name.localeCompare(b.name));
}

export interface GuardOptions {
    since: Date;
    logSource: LogSource;
    protectedNames: string[];
    apply: boolean;
    restartDocker: boolean;
    unit: string;
    /** Remove a stale vxlan interface on this node (the one whose dockerd the guard talks to). */
    fix: boolean;
    /** That dockerd's exec root and pidfile, when not the defaults (/var/run/docker, /var/run/docker.pid). */
    execRoot?: string;
    pidfile?: string;
    progress: Progress;
}

export interface StaleVxlanReport extends StaleVxlan {
    description: string;
    /** On this node: the guard can run the fix (with --fix); elsewhere the operator runs `fix` there. */
    local: boolean;
    fix: string[];
    done?: "removed" | "failed";
    detail?: string;
}

export interface GuardReport {
    mode: "dry-run" | "apply";
    since: string;
    logSource: LogSource;
    failures: VipFailure[];
    prune: (NetworkDecision & { done?: "removed" | "refused" | "gone"; detail?: string })[];
    restart: { wanted: boolean; reason: string; done: boolean };
    staleVxlan: StaleVxlanReport[];
}

export async function runGuard(engine: Engine, o: GuardOptions): Promise<GuardReport> {
    o.progress.step(`reading dockerd's log (${o.logSource.kind} ${o.logSource.what}) since ${o.since.toISOString()}`);
    const failures = await findVipFailures(o.logSource, o.since);
    const [networks, services, containers] = await Promise.all([
        engine.networks(),
        engine.services(),
        engine.containers(),
    ]);
    const plan = planPrune(networks, services, containers, o.protectedNames);
    const prune: GuardReport["prune"] = plan.map((d) => ({ ...d }));

    if (o.apply) {
        for (const d of prune) {
            if (d.verdict.action !== "remove") {
                continue;
            }
            // Checked again right before the call: the protections must hold even if the plan were wrong.
            const live = networks.find((n) => n.Id === d.id);
            if (o.protectedNames.includes(d.name) || live?.Labels?.[OWNER_LABEL] === OWNER_VALUE) {
                throw new CliError(`refusing to remove protected network ${d.name}`);
            }
            o.progress.step(`removing unused network ${d.name}`);
            const r = await engine.removeNetwork(d.id);
            d.done = r.removed ? "removed" : r.refused === "already gone" ? "gone" : "refused";
            d.detail = r.refused;
        }
    }

    const staleVxlan = await staleVxlanOnNodes(engine, networks, services, o);

    const restart: GuardReport["restart"] = { wanted: false, reason: "", done: false };
    if (failures.length === 0) {
        restart.reason = "no VIP-allocation failures found: no restart needed";
    } else if (!o.restartDocker) {
        restart.wanted = true;
        restart.reason = `${failures.length} VIP-allocation failure(s) found; pass --restart-docker (with --apply) to restart ${o.unit}`;
    } else {
        restart.wanted = true;
        restart.reason = `${failures.length} VIP-allocation failure(s) found: restarting ${o.unit} rebuilds the IP allocator`;
        if (o.apply) {
            o.progress.step(`systemctl restart ${o.unit}`);
            try {
                await execFileP("systemctl", ["restart", o.unit]);
            } catch (e) {
                throw new CliError(`systemctl restart ${o.unit} failed: ${errorMessage(e).split("\n")[0]}`);
            }
            await waitForDockerd(engine, 120_000, o.progress);
            restart.done = true;
        }
    }
    return {
        mode: o.apply ? "apply" : "dry-run",
        since: o.since.toISOString(),
        logSource: o.logSource,
        failures,
        prune,
        restart,
        staleVxlan,
    };
}

/**
 * The nodes that cannot join an overlay because of a stale vxlan interface, each with its fix; with --fix, the fix
 * run on this node (host/vxlan-clear.sh, as root: it refuses when the interface is in use). Another node's is
 * printed for the operator to run there: the guard reaches only its own dockerd's node.
 */
async function staleVxlanOnNodes(
    engine: Engine,
    networks: EngineNetwork[],
    services: EngineService[],
    o: GuardOptions,
): Promise<StaleVxlanReport[]> {
    const info = await engine.info();
    // Only a manager knows the swarm's tasks and nodes.
    if (swarmRole(info) !== "manager") {
        return [];
    }
    const [tasks, nodes] = await Promise.all([engine.tasks(), engine.nodes()]);
    const here = info.Swarm?.NodeID;
    const out: StaleVxlanReport[] = [];
    for (const s of findStaleVxlan(tasks, networks, nodes, services)) {
        const local = s.nodeId === here;
        const r: StaleVxlanReport = {
            ...s,
            description: describeStaleVxlan(s),
            local,
            // Another node's exec root is its own: the defaults, not this node's.
            fix: staleVxlanFix(
                s,
                local
                    ? { hostDir: hostScriptsDir(), execRoot: o.execRoot, pidfile: o.pidfile }
                    : { hostDir: hostScriptsDir() },
            ),
        };
        if (o.fix && local && s.network) {
            o.progress.step(
                `removing the stale vxlan interface of ${s.network.name} (VNI ${s.network.vni}) on ${s.node}`,
            );
            const args = [`${hostScriptsDir()}/vxlan-clear.sh`, s.network.id, String(s.network.vni)];
            if (o.execRoot !== undefined || o.pidfile !== undefined) {
                args.push(o.execRoot ?? "/var/run/docker", o.pidfile ?? "/var/run/docker.pid");
            }
            try {
                const { stdout } = await execFileP("bash", args, { env: childEnv(engine.host) });
                r.done = "removed";
                r.detail = stdout.trim();
            } catch (e) {
                r.done = "failed";
                r.detail = failureDetail(e);
            }
        }
        out.push(r);
    }
    return out;
}

async function waitForDockerd(engine: Engine, timeoutMs: number, progress: Progress): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    progress.step("waiting for dockerd to answer again");
    while (Date.now() < deadline) {
        if (await engine.ping()) {
            return;
        }
        await new Promise((r) => setTimeout(r, 1000));
    }
    throw new CliError(`dockerd at ${engine.where} did not answer within ${timeoutMs / 1000} s of the restart`);
}

export function renderGuard(r: GuardReport): string {
    const dry = r.mode === "dry-run";
    const lines = [
        `guard (${dry ? "dry run: nothing changed; pass --apply to act" : "applied"}), log ${r.logSource.kind} ${r.logSource.what} since ${r.since}`,
        `VIP-allocation failures: ${r.failures.length}`,
    ];
    for (const f of r.failures.slice(0, 20)) {
        lines.push(`  ${f.time ?? "(no time)"} service ${f.service ?? "?"}`);
    }
    if (r.failures.length > 20) {
        lines.push(`  … and ${r.failures.length - 20} more`);
    }
    lines.push("prune:");
    for (const d of r.prune) {
        const what =
            d.verdict.action === "remove"
                ? dry
                    ? "would remove"
                    : d.done === "removed"
                      ? "removed"
                      : d.done === "gone"
                        ? "already gone"
                        : `kept (dockerd refused: ${d.detail ?? ""})`
                : "keep";
        lines.push(`  ${what.padEnd(12)} ${d.name} (${d.driver}/${d.scope}): ${d.verdict.reason}`);
    }
    lines.push(`stale vxlan interfaces: ${r.staleVxlan.length}`);
    for (const v of r.staleVxlan) {
        lines.push(`  ${v.description}`);
        if (v.done === "removed") {
            lines.push(`    fixed: ${v.detail ?? ""}`);
        } else {
            if (v.done === "failed") {
                lines.push(`    the fix failed: ${v.detail ?? ""}`);
            }
            const who = v.local ? "pass --fix, or run as root on this node" : `run as root on node ${v.node}`;
            lines.push(`    fix (${who}):`, ...v.fix.map((c) => `      ${c}`));
        }
    }
    lines.push(
        `restart: ${r.restart.done ? "done" : dry && r.restart.wanted ? "would restart" : r.restart.wanted ? "needed" : "no"} — ${r.restart.reason}`,
    );
    return lines.join("\n");
}
