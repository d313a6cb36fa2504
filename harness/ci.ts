// What a tier does when something it needs is missing (a plugin, a runner, traefik, an engine). Under CI a skip
// would count as a pass that proves nothing, so it fails naming what is missing; outside CI it says what did not
// run and why, and the caller skips.

/** Whether this process runs under CI: `CI` set to anything but empty or `false` (Drone and most CI systems set
 *  `CI=true`, some `CI=1`). The tiers' mocha configs (test/mocharc.cjs) forbid pending tests then. */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
    const ci = env.CI ?? "";
    return ci !== "" && ci !== "false";
}

/**
 * The line for `what` that did not run and why: thrown under CI, returned outside it (the caller prints it and
 * skips).
 */
export function notRun(what: string, reason: string, env: NodeJS.ProcessEnv = process.env): string {
    if (underCi(env)) throw new Error(`${what} cannot run under CI=${env.CI}: ${reason}`);
    return `${what} NOT RUN: ${reason}`;
}
