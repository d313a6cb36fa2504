// Exhaustion and recovery: on a /28 `proxy` the six stacks use every address (a VIP and a task each, plus the
// node's load-balancer endpoint), so one more service ends with its task stuck in `New` and dockerd logs
// "could not find an available IP while allocating VIP" (moby#37338). Recreating `proxy` larger and
// redeploying brings every task up with an address in the new subnet.
import * as assert from "node:assert";
import * as fs from "node:fs";
import {
    composeFile,
    createProxy,
    docker,
    hostOk,
    image,
    ipInCidr,
    listTasks,
    proxyStacks,
    resetSwarm,
    sandboxLog,
    sleep,
} from "../../harness/swarm";
import { waitFor } from "../../harness/wait";

const small = "10.97.0.0/28";
const large = "10.10.0.0/16";
const extras = ["extra-1", "extra-2"];
const vipFailure = "could not find an available IP while allocating VIP";

let extraIds: string[] = [];

async function createExtras(): Promise<void> {
    extraIds = [];
    for (const name of extras) {
        extraIds.push(
            (await docker(["service", "create", "-d", "-q", "--name", name, "--network", "proxy", image])).trim(),
        );
    }
}

/** Tasks of the extra services meant to run; read by service ID so that it also works once they are gone. */
async function extraTasks(): Promise<{ service: string; state: string; addrs: string[] }[]> {
    const tasks = (await listTasks({ "desired-state": ["running"] })).filter((t) => extraIds.includes(t.ServiceID));
    return tasks.map((t) => ({
        service: t.ServiceID,
        state: t.Status.State,
        addrs: (t.NetworksAttachments ?? [])
            .filter((a) => a.Network.Spec.Name === "proxy")
            .flatMap((a) => a.Addresses ?? []),
    }));
}

describe("exhaustion of a small proxy, and recovery on a larger one", function () {
    this.timeout(600_000);
    before(resetSwarm);
    after(resetSwarm);

    it(`on a ${small} proxy, services beyond its size stay in New and dockerd logs the VIP failure`, async () => {
        await createProxy(small);
        for (const s of proxyStacks) await hostOk("stack-deploy.sh", [s, composeFile(s)]);
        await Promise.all(proxyStacks.map((s) => hostOk("stack-health.sh", [s, "proxy", small, "120"])));
        const logStart = fs.statSync(sandboxLog()).size;
        await createExtras();
        // Give the scheduler ample time: a task that could start would be running within a few seconds.
        await sleep(10_000);
        const tasks = await extraTasks();
        assert.strictEqual(
            tasks.length,
            extras.length,
            `expected one task per extra service, got ${JSON.stringify(tasks)}`,
        );
        for (const t of tasks) assert.strictEqual(t.state, "new", `an extra task is ${t.state}, not stuck in new`);
        const log = fs.readFileSync(sandboxLog(), "utf8").slice(logStart);
        assert.ok(log.includes(vipFailure), `dockerd's log has no "${vipFailure}" since the extras were created`);
    });

    it(`after recreating proxy as ${large} and redeploying, every task runs with an address in it`, async () => {
        await Promise.all(proxyStacks.map((s) => hostOk("stack-teardown.sh", [s, "120"])));
        await docker(["service", "rm", ...extras]);
        await waitFor("the extras' tasks to be gone", 60_000, async () =>
            (await listTasks()).some((t) => extraIds.includes(t.ServiceID)) ? undefined : true,
        );
        await hostOk("network-remove.sh", ["proxy", "60"]);
        await hostOk("network-ensure.sh", ["proxy", large, "", "owner=swarm-proxy"]);
        for (const s of proxyStacks) await hostOk("stack-deploy.sh", [s, composeFile(s)]);
        await createExtras();
        await Promise.all(proxyStacks.map((s) => hostOk("stack-health.sh", [s, "proxy", large, "120"])));
        const tasks = await waitFor("the extras to run", 60_000, async () => {
            const t = await extraTasks();
            return t.length === extras.length && t.every((x) => x.state === "running") ? t : undefined;
        });
        for (const t of tasks) {
            assert.ok(t.addrs.length > 0, "an extra task has no address on proxy");
            for (const a of t.addrs) assert.ok(ipInCidr(a, large), `${a} is outside ${large}`);
        }
        // Independent of stack-health.sh: every running task on proxy, read from the API.
        const all = await listTasks({ "desired-state": ["running"] });
        const onProxy = all.filter((t) => (t.NetworksAttachments ?? []).some((a) => a.Network.Spec.Name === "proxy"));
        assert.strictEqual(onProxy.length, proxyStacks.length + extras.length);
        for (const t of onProxy) {
            assert.strictEqual(t.Status.State, "running", `task ${t.ID} is ${t.Status.State}`);
            for (const a of t.NetworksAttachments ?? []) {
                if (a.Network.Spec.Name !== "proxy") continue;
                for (const addr of a.Addresses ?? []) assert.ok(ipInCidr(addr, large), `task ${t.ID} has ${addr}`);
            }
        }
    });
});
