// The leak-free teardown: deploy/teardown cycles of stacks that are on `proxy` and on a network of their own
// leave the free address count of `proxy` exactly as it was, while `docker stack rm` of the same stacks at
// once, on the same engine, loses addresses (moby/swarmkit#3230).
import * as assert from "node:assert";
import { commandLine } from "../../src/hostCommand";
import {
    createAnchor,
    createProxy,
    deployStacks,
    installedScripts,
    probeCapacity,
    proxyStacks,
    resetSwarm,
    run,
    stackTasks,
    teardownOurs,
    teardownStackRm,
} from "../../harness/swarm";

const subnet = "10.96.0.0/25";
const probeLimit = 128;
const cycles = Number(process.env.SWARM_TEST_LEAK_CYCLES ?? 3);

describe("teardown leaks no address", function () {
    this.timeout(900_000);
    before(async () => {
        await resetSwarm();
        await createProxy(subnet);
        await createAnchor("proxy");
    });
    after(resetSwarm);

    let ours = { before: 0, after: 0 };

    it(`stack-teardown.sh: ${cycles} cycles of ${proxyStacks.length} stacks at once lose nothing`, async () => {
        const before = await probeCapacity("proxy", probeLimit);
        for (let i = 0; i < cycles; i++) {
            await deployStacks(proxyStacks, "proxy", subnet);
            await teardownOurs(proxyStacks);
        }
        const after = await probeCapacity("proxy", probeLimit);
        ours = { before, after };
        assert.ok(before > 100, `the probe found only ${before} free addresses on ${subnet}`);
        assert.strictEqual(after, before, `free addresses on proxy went from ${before} to ${after}`);
    });

    it(`the program's parallel teardown (stacks-teardown as the program installs and runs it) loses nothing either`, async () => {
        const before = await probeCapacity("proxy", probeLimit);
        for (let i = 0; i < cycles; i++) {
            await deployStacks(proxyStacks, "proxy", subnet);
            const inv = { script: "stacks-teardown" as const, args: ["180", ...proxyStacks] };
            const r = await run("/bin/sh", ["-c", commandLine(installedScripts(), inv)], { timeoutMs: 300_000 });
            assert.strictEqual(r.code, 0, r.stderr);
            for (const st of proxyStacks) {
                assert.deepStrictEqual(await stackTasks(st), [], `${st} still has tasks`);
            }
        }
        const after = await probeCapacity("proxy", probeLimit);
        ours = { before, after };
        assert.strictEqual(after, before, `free addresses on proxy went from ${before} to ${after}`);
    });

    it(`docker stack rm of the same stacks at once loses addresses on the same engine`, async () => {
        const before = await probeCapacity("proxy", probeLimit);
        assert.ok(ours.after === 0 || before === ours.after, "nothing ran between the two measurements");
        for (let i = 0; i < cycles; i++) {
            await deployStacks(proxyStacks, "proxy", subnet);
            await teardownStackRm(proxyStacks);
        }
        const after = await probeCapacity("proxy", probeLimit);
        console.log(
            `      concurrent docker stack rm: ${before} -> ${after} free (${before - after} lost in ${cycles * proxyStacks.length} removals)`,
        );
        assert.ok(
            after < before,
            `concurrent docker stack rm lost nothing (${before} -> ${after}): the control shows no leak`,
        );
    });
});
