// The redeploy switch the drift report's stack fixes use, without an engine: SWARM_PROXY_REDEPLOY is checked like
// SWARM_PROXY_MAINTENANCE, and only a named stack's commands get the token; the others ignore it.
import * as assert from "node:assert/strict";
import { redeployInput } from "../../components/swarmStack";
import { ConfigError, parseConfig, REDEPLOY_ENV } from "../../config";
import { rawConfig, ROOT } from "../unit/fixtures";

describe("drift: SWARM_PROXY_REDEPLOY", () => {
    const parse = (value: string | undefined) =>
        parseConfig(rawConfig(), { baseDir: ROOT, env: { [REDEPLOY_ENV]: value } });

    it("names configured stacks, comma-separated; unset or empty redeploys nothing and leaves the config as it was", () => {
        assert.deepEqual(parse("drone").redeploy, ["drone"]);
        assert.deepEqual(parse("drone, traefik,drone").redeploy, ["drone", "traefik"]);
        assert.equal("redeploy" in parse(undefined), false);
        assert.equal("redeploy" in parse(""), false);
    });

    it("refuses anything else with one message naming the variable, the value and the known stacks", () => {
        const known = "known stacks: traefik, drone, ccci-bridge, ccci-dashboard, ccci-reports, warm-keycloak, backups";
        assert.throws(
            () => parse("drone,nope"),
            (e: Error) =>
                e instanceof ConfigError &&
                e.message ===
                    `SWARM_PROXY_REDEPLOY: "drone,nope" is not allowed; "nope" is not a configured stack; use configured stack names separated by commas (${known})`,
        );
        assert.throws(
            () => parse("drone,"),
            /SWARM_PROXY_REDEPLOY: "drone," is not allowed; an empty name is not a configured stack/,
        );
        assert.throws(() => parse("$(reboot)"), /SWARM_PROXY_REDEPLOY: "\$\(reboot\)" is not allowed/);
    });

    it("a named stack's commands carry the token on stdin, never in the environment (sshd refuses variables it does not AcceptEnv); the others ignore it", () => {
        const digest = { SWARM_PROXY_COMPOSE_SHA256: "d" };
        assert.deepEqual(redeployInput(digest, "t1"), {
            environment: digest,
            stdin: "t1",
            ignoreChanges: ["environment.SWARM_PROXY_REDEPLOY"],
        });
        assert.deepEqual(redeployInput(undefined, "t1"), {
            environment: undefined,
            stdin: "t1",
            ignoreChanges: ["environment"],
        });
        // Without it nothing changes, also for state whose environment holds a token an earlier release put there.
        assert.deepEqual(redeployInput(digest, undefined), {
            environment: digest,
            stdin: undefined,
            ignoreChanges: ["environment.SWARM_PROXY_REDEPLOY", "stdin"],
        });
        assert.deepEqual(redeployInput(undefined, undefined), {
            environment: undefined,
            stdin: undefined,
            ignoreChanges: ["environment", "stdin"],
        });
    });
});
