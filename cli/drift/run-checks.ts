// Drift for scheduled CI: what Pulumi sees (a refresh-preview that must show no changes) plus what it
// cannot see — the stacks are Command resources without Read, so refresh never notices a stack removed
// or a service detached; `proxy` recreated out of band; the address space running low; VIP failures.
import { type Usage, countUsage } from "../../src/docker";
import { type CapacityReport, gatherUsage } from "../shared/overlay-capacity";
import { childEnv } from "../shared/child-process";
import { type MinFree, liveFindings } from "./live-checks";
import { type PreviewSource, previewFindings, readPreview } from "./pulumi-preview";
import { type FixContext, withRemedies } from "./remedies";
import { type DriftReport, summarize } from "./report";
import { staleVxlanFindings } from "./stale-vxlan";
import { type PulumiState, readPulumiState } from "./pulumi-state";
import type { Finding } from "./findings";
import {
    type LockHolder,
    type StackLock,
    foldIntoKilledRun,
    hostNow,
    inProgressFindings,
    killedRunFindings,
    lockHolder,
    processCommandLine,
    readLocks,
    thisHost,
} from "./killed-run";
import type { Engine } from "../../src/engine";
import { recordedNetworkId } from "../../src/pulumiState";
import { errorMessage } from "../shared/errors";
import { type LogSource, type VipFailure, findVipFailures } from "../shared/vip-failure-log";
import type { Progress } from "../shared/progress";
import type { StackConfig } from "../shared/stack-file";

/** The program's refusal to run while the live network is not the one Pulumi's state holds (program.ts). */
const ADOPTION_REFUSAL = /is live on the host \(ID [0-9a-z]+, subnet [^)]*\), but the state/;

export interface DriftOptions {
    config: StackConfig;
    /** What the remedies are computed from; without it findings carry kinds only. */
    fix?: Omit<FixContext, "state">;
    preview: PreviewSource;
    minFree: MinFree;
    logSource?: LogSource;
    since: Date;
    localNodeId?: string;
    apiVersion: string;
    progress: Progress;
    /** The dockerd the check talks to, for the pulumi children (the program's providers and host scripts). */
    dockerHost?: string;
}

export async function runDrift(engine: Engine, o: DriftOptions): Promise<DriftReport> {
    return (await runDriftWithContext(engine, o)).report;
}

/** The check, and what its remedies were computed from (for --fix, which applies exactly those). */
export async function runDriftWithContext(
    engine: Engine,
    o: DriftOptions,
): Promise<{ report: DriftReport; ctx?: FixContext }> {
    const findings: Finding[] = [];
    const meta = {
        generatedAt: new Date().toISOString(),
        host: engine.where,
        stackConfig: o.fix?.stackFile ?? o.config.source,
        fixesFor: o.fix && { pulumiStack: o.fix.pulumiStack, cwd: o.fix.pulumiCwd },
    };
    // Before anything else: a run that holds the lock now is changing what the other checks would look at.
    let locks: { lock: StackLock; holder: LockHolder }[] = [];
    if (o.preview.kind === "run" && o.preview.value !== undefined && o.fix !== undefined) {
        try {
            const here = { hostname: thisHost(), commandLine: processCommandLine };
            const found = await readLocks(
                o.preview.value,
                o.fix.projectDir ?? o.preview.cwd ?? process.cwd(),
                o.progress,
                childEnv(o.dockerHost),
            );
            locks = (found.locks ?? []).map((lock) => ({ lock, holder: lockHolder(lock, here) }));
        } catch (e) {
            findings.push({
                check: "pulumi",
                subject: "lock",
                status: "error",
                kind: "error",
                detail: errorMessage(e),
            });
        }
        const running = inProgressFindings(o.preview.value, locks);
        if (running.length > 0) {
            return { report: summarize([...findings, ...running], meta) };
        }
    }
    try {
        const preview = await readPreview(o.preview, o.progress, childEnv(o.dockerHost));
        findings.push(...previewFindings(preview, "no --preview-json or --pulumi-stack given"));
    } catch (e) {
        findings.push({ check: "pulumi", subject: "preview", status: "error", kind: "error", detail: errorMessage(e) });
    }
    let state: PulumiState | undefined;
    if (o.preview.kind === "run" && o.preview.value !== undefined && o.fix !== undefined) {
        try {
            state = await readPulumiState(
                o.preview.value,
                o.fix.projectDir ?? o.preview.cwd ?? process.cwd(),
                o.progress,
                childEnv(o.dockerHost),
            );
        } catch (e) {
            findings.push({
                check: "pulumi",
                subject: "state",
                status: "error",
                kind: "error",
                detail: errorMessage(e),
            });
        }
    }
    o.progress.step("reading live state");
    const [networks, services] = await Promise.all([engine.networks(), engine.services()]);
    let usage: Usage | undefined;
    let capacity: CapacityReport | undefined;
    const net = networks.find((n) => n.Name === o.config.network.name);
    if (net && net.Driver === "overlay") {
        const input = await gatherUsage(engine, net.Name, o.localNodeId, {
            networks,
            services,
            apiVersion: o.apiVersion,
        });
        usage = countUsage(input);
        capacity = { network: net.Name, networkId: net.Id, usage };
    }
    let failures: VipFailure[] | undefined;
    if (o.logSource) {
        try {
            failures = await findVipFailures(o.logSource, o.since);
        } catch (e) {
            findings.push({
                check: "vip-failures",
                subject: `${o.logSource.kind} ${o.logSource.what}`,
                status: "error",
                kind: "error",
                detail: errorMessage(e),
            });
        }
    } else {
        findings.push({
            check: "vip-failures",
            subject: "logs",
            status: "skipped",
            kind: "skipped",
            detail: "--no-logs given",
        });
    }
    findings.push(
        ...liveFindings({
            config: o.config,
            stateNetworkId: state ? recordedNetworkId(state, o.config.network.name) : undefined,
            networks,
            services,
            usage,
            minFree: o.minFree,
            failures,
            logSource: o.logSource,
        }),
        ...(await staleVxlanFindings(engine, networks, services)),
    );
    if (o.preview.kind === "run" && o.preview.value !== undefined) {
        findings.unshift(
            ...killedRunFindings({
                stack: o.preview.value,
                locks,
                pending: state?.pending ?? [],
                windowConfigured: o.config.config.maintenance.windowOpen,
                rolling: o.config.config.network.migration === "rolling",
                hostNow: hostNow(findings, o.config.network.name),
            }),
        );
    }
    const ctx: FixContext | undefined = o.fix ? { ...o.fix, state } : undefined;
    // The program refuses to preview while the state holds another network than the live one: that refusal is the
    // network-recreated finding's cause, not a second problem (and its fix is that finding's).
    const recreated = findings.some((f) => f.kind === "network-recreated");
    const kept = recreated
        ? findings.filter((f) => !(f.check === "pulumi" && f.status === "error" && ADOPTION_REFUSAL.test(f.detail)))
        : findings;
    const all = ctx ? foldIntoKilledRun(withRemedies(kept, ctx), ctx) : kept;
    return { report: summarize(all, { ...meta, capacity }), ctx };
}
