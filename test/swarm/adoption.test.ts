// Adoption: deploying a stack that already runs, with an unchanged compose file, restarts no task.
import * as assert from "node:assert";
import {
    composeFile,
    createProxy,
    docker,
    hostDirect,
    hostOk,
    lines,
    resetSwarm,
    runningTaskIds,
    sleep,
} from "../../harness/swarm";

const subnet = "10.95.0.0/24";
const stacks = ["traefik", "warm-keycloak"];

describe("adoption of running stacks", function () {
    this.timeout(300_000);
    before(resetSwarm);
    after(resetSwarm);

    it("stack-deploy.sh of an unchanged compose file keeps the same task IDs and containers", async () => {
        await createProxy(subnet);
        for (const s of stacks) await hostOk("stack-deploy.sh", [s, composeFile(s)]);
        await Promise.all(stacks.map((s) => hostOk("stack-health.sh", [s, "proxy", subnet, "120"])));
        const tasksBefore = await Promise.all(stacks.map(runningTaskIds));
        const containersBefore = lines(await docker(["ps", "-q", "--no-trunc"])).sort();
        assert.ok(tasksBefore.every((t) => t.length > 0));

        for (const s of stacks) {
            await hostOk("stack-deploy.sh", [s, composeFile(s)]); // as the program runs it: on stdin
            const direct = await hostDirect("stack-deploy.sh", [s, composeFile(s)]);
            assert.strictEqual(direct.code, 0, direct.stderr);
        }
        // A restart would show within seconds: the old task shut down, a new one created.
        await sleep(8_000);
        await Promise.all(stacks.map((s) => hostOk("stack-health.sh", [s, "proxy", subnet, "60"])));
        assert.deepStrictEqual(await Promise.all(stacks.map(runningTaskIds)), tasksBefore);
        assert.deepStrictEqual(lines(await docker(["ps", "-q", "--no-trunc"])).sort(), containersBefore);
    });
});
