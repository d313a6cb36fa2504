// A `pulumi up` that was killed (SIGKILL to its process group: a CI runner's timeout, a lost SSH session) leaves
// the stack locked and operations pending in its state. Every `pulumi up` then fails until `pulumi cancel`, so the
// drift check names the killed run as one finding with the steps that converge, instead of findings whose fixes
// fail on the lock. A lock whose process still runs on this host is a run in progress, not drift. The parses and
// the rules are pure; reading the lock files and the processes is below them.
import { readFileSync, readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { execFileP, failureDetail } from "../shared/child-process";
import { CliError, errorMessage } from "../shared/errors";
import type { Progress } from "../shared/progress";
import { WINDOW_HOOK } from "../../src/project";
import type { Finding } from "./findings";
import { type FixContext, remedy } from "./remedies";

/** A lock file of Pulumi's file backend (pkg/backend/diy/lock.go lockContent), and where it lies. */
export interface StackLock {
    file: string;
    pid: number;
    username: string;
    hostname: string;
    timestamp: string;
}

/** One of the state's `pending_operations`: what the engine had started and not seen finish. */
export interface PendingOperation {
    urn: string;
    /** The resource's name: the URN's last part (drone-stack, proxy-network, ...). */
    name: string;
    type: string;
    /** creating, updating, deleting, reading, importing. */
    op: string;
    /** Its delete runs only in the maintenance window: the state records the window's hook with it. */
    windowGuarded: boolean;
}

/** Who holds a lock: a process that runs on this host, one that is gone, or one on another host (unknowable here). */
export type LockHolder = "running" | "gone" | "elsewhere";

/** Pure: a lock file's JSON; anything else is one error naming the file. */
export function parseLock(text: string, file: string): StackLock {
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new CliError(`${file}: not a Pulumi lock file (not JSON: ${errorMessage(e)})`);
    }
    const d = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
    if (!Number.isSafeInteger(d.pid) || typeof d.hostname !== "string") {
        throw new CliError(`${file}: not a Pulumi lock file (expected {pid, username, hostname, timestamp})`);
    }
    return {
        file,
        pid: d.pid as number,
        username: typeof d.username === "string" ? d.username : "?",
        hostname: d.hostname,
        timestamp: typeof d.timestamp === "string" ? d.timestamp : "?",
    };
}

/** Pure: the `pending_operations` of `pulumi stack export`'s document (none when it has none). */
export function parsePendingOperations(doc: unknown): PendingOperation[] {
    const deployment = (doc as { deployment?: { pending_operations?: unknown } } | null)?.deployment;
    const ops = Array.isArray(deployment?.pending_operations) ? deployment.pending_operations : [];
    const out: PendingOperation[] = [];
    for (const o of ops as {
        resource?: { urn?: unknown; type?: unknown; resourceHooks?: unknown };
        type?: unknown;
    }[]) {
        const urn = typeof o.resource?.urn === "string" ? o.resource.urn : undefined;
        if (urn === undefined) continue;
        out.push({
            urn,
            name: urn.split("::").pop() ?? urn,
            type: typeof o.resource?.type === "string" ? o.resource.type : "?",
            op: typeof o.type === "string" ? o.type : "?",
            windowGuarded: Object.values(
                typeof o.resource?.resourceHooks === "object" && o.resource.resourceHooks !== null
                    ? o.resource.resourceHooks
                    : {},
            ).some((names) => Array.isArray(names) && names.includes(WINDOW_HOOK)),
        });
    }
    return out;
}

/**
 * Pure: who holds the lock. A pid is only meaningful on the host that wrote it; there, a process that is gone, or
 * whose pid now belongs to something that is not pulumi (the pid was reused, or the process is a zombie: its
 * command line is empty), no longer runs the update.
 */
export function lockHolder(
    lock: StackLock,
    here: { hostname: string; commandLine: (pid: number) => string | undefined },
): LockHolder {
    if (lock.hostname !== here.hostname) return "elsewhere";
    const cmd = here.commandLine(lock.pid);
    return cmd !== undefined && /(^|\/)pulumi(\s|$)/.test(cmd) ? "running" : "gone";
}

/** The command line of a process of this host, or undefined when there is none by that pid. */
export function processCommandLine(pid: number): string | undefined {
    try {
        process.kill(pid, 0);
    } catch (e) {
        // EPERM: it exists, under another user.
        if ((e as NodeJS.ErrnoException).code !== "EPERM") return undefined;
    }
    try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
        // No /proc (not Linux): the process exists, and nothing says it is not pulumi.
        return "pulumi";
    }
}

/** Pure: the folders the file backend at `url` keeps this stack's locks in, or undefined for another backend. */
export function lockDirs(url: string, project: string, stack: string): string[] | undefined {
    if (!url.startsWith("file://")) return undefined;
    const root = fileURLToPath(url.replace(/\?.*$/, ""));
    const locks = join(root, ".pulumi", "locks");
    // Project-scoped stacks (organization/<project>/<stack>), and the older layout keyed by the stack alone.
    return [join(locks, "organization", project, stack), join(locks, stack)];
}

/** The stack's locks, found where the CLI itself would look (`pulumi whoami --json` names the backend). */
export async function readLocks(
    stack: string,
    cwd: string,
    progress: Progress,
    env: NodeJS.ProcessEnv,
): Promise<{ backend: string; locks?: StackLock[] }> {
    const args = ["whoami", "--json", "--non-interactive"];
    progress.step(`pulumi ${args.join(" ")}`);
    let backend: string;
    try {
        const { stdout } = await execFileP("pulumi", args, { cwd, env });
        backend = String((JSON.parse(stdout) as { url?: unknown }).url ?? "");
    } catch (e) {
        throw new CliError(`pulumi whoami failed: ${failureDetail(e)}`);
    }
    let project: string;
    try {
        project = String((parse(readFileSync(join(cwd, "Pulumi.yaml"), "utf8")) as { name?: unknown }).name);
    } catch (e) {
        throw new CliError(`${join(cwd, "Pulumi.yaml")}: cannot read the project's name: ${errorMessage(e)}`);
    }
    const dirs = lockDirs(backend, project, stack);
    if (dirs === undefined) return { backend };
    const locks: StackLock[] = [];
    for (const dir of dirs) {
        let names: string[];
        try {
            names = readdirSync(dir).filter((n) => n.endsWith(".json"));
        } catch {
            continue;
        }
        for (const n of names) locks.push(parseLock(readFileSync(join(dir, n), "utf8"), join(dir, n)));
    }
    return { backend, locks };
}

const describeLock = (l: StackLock, holder: LockHolder): string =>
    `locked by ${l.username}@${l.hostname} (pid ${l.pid}) since ${l.timestamp}, ` +
    (holder === "gone"
        ? "a process that no longer runs"
        : holder === "running"
          ? "a pulumi process that still runs on this host"
          : "a process on another host, which this check cannot see");

const NETWORK_TYPE = "docker:index/network:Network";

export interface KilledRunInput {
    stack: string;
    locks: { lock: StackLock; holder: LockHolder }[];
    pending: PendingOperation[];
    /** The stack file's maintenance.windowOpen. */
    windowConfigured: boolean;
    /** network.migration rolling: its run deletes the old network's entry once the network is gone, window or not. */
    rolling: boolean;
    /** What the host looks like now, in the live findings' words. */
    hostNow: string;
}

/** Pure: a run in progress for each lock whose process runs, or may run (on another host). */
export function inProgressFindings(stack: string, locks: { lock: StackLock; holder: LockHolder }[]): Finding[] {
    return locks
        .filter((l) => l.holder !== "gone")
        .map(({ lock, holder }) => ({
            check: "pulumi",
            subject: "lock",
            status: "running",
            kind: "run-in-progress",
            detail: `stack ${stack} is ${describeLock(lock, holder)}`,
            meaning:
                holder === "running"
                    ? "A `pulumi` run is under way: what the other checks would see is its work, so they were not made. " +
                      "Check again once it has ended. Never `pulumi cancel` a run whose process runs: it would run on unlocked."
                    : `The lock was taken on ${lock.hostname}, whose processes this check cannot see, so the other checks ` +
                      `were not made. If no pulumi process ${lock.pid} runs there any more, the run was killed: ` +
                      "`pulumi cancel` there, then check again.",
        }));
}

/**
 * Pure: the killed run's finding, from locks whose process is gone and the state's pending operations; none when
 * the stack is neither locked nor has pending operations (a live lock is inProgressFindings').
 */
export function killedRunFindings(i: KilledRunInput): Finding[] {
    if (i.locks.length === 0 && i.pending.length === 0) return [];
    const doing =
        i.pending.length > 0
            ? `it was ${i.pending.map((p) => `${p.op} ${p.name}`).join(", ")}`
            : "no operation was pending in the state";
    // The window's hook refuses such a delete outside it: one that was under way ran inside it.
    const deleting = i.pending
        .filter((p) => p.op === "deleting" && p.windowGuarded && !(i.rolling && p.type === NETWORK_TYPE))
        .map((p) => p.name);
    const window =
        deleting.length > 0
            ? `the maintenance window was open (it was deleting ${deleting.join(", ")}, which runs only in the window)`
            : i.windowConfigured
              ? "the maintenance window was open (maintenance.windowOpen is set)"
              : "the state does not say whether the maintenance window was open (no delete was pending)";
    const lock =
        i.locks.length > 0
            ? `; stack ${i.stack} is ${i.locks.map((l) => describeLock(l.lock, "gone")).join("; ")}`
            : "";
    return [
        {
            check: "pulumi",
            subject: i.locks.length > 0 ? "lock" : "pending-operations",
            status: "drift",
            kind: "killed-run",
            detail: `a pulumi run was killed: ${doing}; ${window}${lock}. The host now: ${i.hostNow}`,
        },
    ];
}

/** Pure: what the host looks like now, from the live checks' findings (the network, the stacks down). */
export function hostNow(findings: Finding[], networkName: string): string {
    const net = findings.find((f) => f.check === "network" && f.subject === networkName);
    const network =
        net === undefined
            ? `${networkName} not checked`
            : net.kind === "network-missing"
              ? `${networkName} missing`
              : `${networkName} present (${net.detail})`;
    const down = findings.filter((f) => f.kind === "stack-missing").map((f) => f.subject);
    const short = findings.filter((f) => f.kind === "replicas-down").map((f) => f.subject);
    return [
        network,
        down.length > 0 ? `stacks down: ${down.join(", ")}` : "every configured stack has services",
        ...(short.length > 0 ? [`services short of tasks: ${short.join(", ")}`] : []),
    ].join("; ");
}

/**
 * Pure: with a killed run found, the findings whose fixes run `pulumi` are folded into it: they fail on the lock
 * until `pulumi cancel`, and the rerun in the window plans them again (a pending health check shows as a change to
 * apply, a stack the killed teardown took down as missing). The killed run's finding names how many it holds.
 */
export function foldIntoKilledRun(findings: Finding[], ctx: FixContext): Finding[] {
    const killed = findings.find((f) => f.kind === "killed-run");
    if (killed === undefined) return findings;
    const held = findings.filter(
        (f) => f !== killed && remedy(f, ctx, findings)?.commands.some((c) => c.includes("pulumi")) === true,
    );
    if (held.length === 0) return findings;
    const byKind = new Map<string, string[]>();
    for (const f of held) {
        const names = byKind.get(f.kind ?? "") ?? [];
        byKind.set(f.kind ?? "", [...names, f.subject.split("::").pop() ?? f.subject]);
    }
    const listed = [...byKind].map(([kind, names]) => `${kind} ${names.join(", ")}`).join("; ");
    const note = `; ${held.length} other finding(s) are its unfinished work, planned again by the rerun: ${listed}`;
    return findings.filter((f) => !held.includes(f)).map((f) => (f === killed ? { ...f, detail: f.detail + note } : f));
}

/** This host's name, as Pulumi writes it into a lock (os.Hostname). */
export const thisHost = (): string => hostname();
