// The project's own names that the program, the CLI and src/ share: the Pulumi project (the config namespace
// and the prefix of every operator message) and the environment variables a run reads. config.ts parses the
// stack configuration with them; nothing here reads the config.

export const PROJECT = "swarm-proxy";

/** Environment variable that opens the maintenance window for one run. */
export const WINDOW_ENV = "SWARM_PROXY_MAINTENANCE";

/**
 * The name of the `beforeDelete` hook that keeps deletes inside the window (src/maintenanceWindow.ts). The state
 * records it with each resource it guards: the drift check reads it there.
 */
export const WINDOW_HOOK = "swarm-proxy-maintenance-window";

/** Environment variable naming the stacks that one run redeploys in place (the drift report's fix). */
export const REDEPLOY_ENV = "SWARM_PROXY_REDEPLOY";
