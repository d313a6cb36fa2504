// Root hooks: the tier brings up its own sandbox instance and, if it started it, takes it down again.
import { assertSelectedEngine, engineOf } from "../../harness/docker";
import { sandboxDown, sandboxResponds } from "../../harness/sandbox";
import { resetSwarm, sandboxName, swarmSandboxUp } from "../../harness/swarm";

let startedHere = false;

export const mochaHooks = {
    async beforeAll(this: Mocha.Context): Promise<void> {
        this.timeout(900_000);
        startedHere = !(await sandboxResponds(sandboxName));
        await swarmSandboxUp();
        assertSelectedEngine((await engineOf()).version);
        await resetSwarm();
    },
    async afterAll(this: Mocha.Context): Promise<void> {
        this.timeout(300_000);
        try {
            await resetSwarm();
        } finally {
            if (startedHere && process.env.SWARM_TEST_KEEP !== "1") await sandboxDown(sandboxName);
        }
    },
};
