// What the drift check finds: a finding's status and kind (the kinds are stable names other tools act on),
// and what a finding carries — the detail and, for drift, its meaning and fix.

/** "running": a `pulumi` run holds the stack's lock now; the check says so and looks again after it. */
export type CheckStatus = "ok" | "drift" | "error" | "skipped" | "running";

/**
 * What a finding is, stable for other tools to act on (cli/README.md has the table): "ok", "skipped" and
 * "error" (the check could not be made) for findings that are not drift, one kind per cause for drift.
 */
export type FindingKind =
    | "ok"
    | "skipped"
    | "error"
    | "pulumi-changes"
    | "network-missing"
    | "network-recreated"
    | "network-mismatch"
    | "stack-missing"
    | "stack-unknown"
    | "service-detached"
    | "replicas-down"
    | "capacity-low"
    | "vip-failures"
    | "stale-vxlan"
    | "killed-run"
    | "run-in-progress";

export interface Finding {
    check: "pulumi" | "network" | "stack" | "attached" | "replicas" | "capacity" | "vip-failures" | "vxlan";
    subject: string;
    status: CheckStatus;
    detail: string;
    kind?: FindingKind;
    /** The configured stack the finding is about (stack, attached and replicas checks). */
    stack?: string;
    /** What it means, for a finding that needs attention. */
    meaning?: string;
    /** The exact commands that fix it, in order, for this host and stack. */
    fix?: string[];
    /** The fix takes something down: run it only in the maintenance window (`window` says how). */
    disruptive?: boolean;
    window?: string;
    /** `drift --fix` applies it: it takes nothing down. */
    autoFix?: boolean;
    /** The live network's full ID (network findings). */
    networkId?: string;
}
