// Teardown's bounded waits and clear errors: what is still attached is named and nothing else is removed;
// a dockerd restart in the middle of a teardown leaves a state that running the teardown again converges.
import * as assert from "node:assert";
import * as fs from "node:fs";
import {
    composeFile,
    createProxy,
    docker,
    hostDirect,
    hostOk,
    hostInstalled,
    image,
    lines,
    listServices,
    listTasks,
    networkId,
    resetSwarm,
    sandboxLog,
    swarmSandboxUp,
} from "../../harness/swarm";
import { waitFor } from "../../harness/wait";

const subnet = "10.98.0.0/24";

describe("teardown errors and recovery", function () {
    this.timeout(600_000);
    beforeEach(resetSwarm);
    after(resetSwarm);

    it("network-remove.sh names what is still attached to proxy and removes nothing", async () => {
        await createProxy(subnet);
        await hostOk("stack-deploy.sh", ["drone", composeFile("drone")]);
        await hostOk("stack-health.sh", ["drone", "proxy", subnet, "120"]);
        const proxyId = await networkId("proxy");

        const withService = await hostInstalled("network-remove.sh", ["proxy", "20"]);
        assert.notStrictEqual(withService.code, 0);
        assert.match(withService.stderr, /drone_ci_commoninternet_net_app/);

        await hostOk("stack-teardown.sh", ["drone", "120"]);
        await docker(["run", "-d", "--name", "foreign-client", "--network", "proxy", image]);
        const blocked = await hostInstalled("network-remove.sh", ["proxy", "20"]);
        assert.strictEqual(blocked.code, 1, `network-remove.sh exited ${blocked.code}: ${blocked.stderr}`);
        assert.match(blocked.stderr, /network proxy is still in use by: container foreign-client; removed nothing/);
        assert.strictEqual(lines(blocked.stderr).length, 1, `more than one line on stderr: ${blocked.stderr}`);
        assert.strictEqual(await networkId("proxy"), proxyId, "proxy was removed or replaced");
        const state = (await docker(["inspect", "--format", "{{.State.Status}}", "foreign-client"])).trim();
        assert.strictEqual(state, "running", "the foreign container was touched");

        await docker(["rm", "-f", "foreign-client"]);
        await hostOk("network-remove.sh", ["proxy", "60"]);
        assert.strictEqual(await networkId("proxy"), undefined);
        // The name is free at once: the same name can be created again right away.
        await hostOk("network-ensure.sh", ["proxy", subnet, "", "owner=swarm-proxy"]);
        const again = await hostDirect("network-remove.sh", ["proxy"]);
        assert.strictEqual(again.code, 0, again.stderr);
        const absent = await hostDirect("network-remove.sh", ["proxy"]);
        assert.strictEqual(absent.code, 0, absent.stderr);
        assert.match(absent.stdout, /absent/);
    });

    it("network-clear.sh, before the network's delete: names what no configured stack owns and tears down nothing; then tears down the configured stacks still attached", async () => {
        await createProxy(subnet);
        await hostOk("stack-deploy.sh", ["drone", composeFile("drone")]);
        await hostOk("stack-health.sh", ["drone", "proxy", subnet, "120"]);
        await docker(["run", "-d", "--name", "foreign-client", "--network", "proxy", image]);
        const blocked = await hostInstalled("network-clear.sh", ["proxy", "120", "drone", "traefik"]);
        assert.strictEqual(blocked.code, 1, `network-clear.sh exited ${blocked.code}: ${blocked.stderr}`);
        assert.match(
            blocked.stderr,
            /^network-clear: network proxy is still in use by container foreign-client, which no configured stack owns: remove them, or add their stacks to swarm-proxy:stacks; nothing was torn down$/m,
        );
        assert.strictEqual(lines(blocked.stderr).length, 1, `more than one line on stderr: ${blocked.stderr}`);
        const drone = "com.docker.stack.namespace=drone";
        assert.strictEqual((await listServices(drone)).length, 1, "drone was torn down");

        // A service of a stack the config does not list is named as such, too.
        const notConfigured = await hostInstalled("network-clear.sh", ["proxy", "120", "traefik"]);
        assert.strictEqual(notConfigured.code, 1);
        assert.match(notConfigured.stderr, /service drone_ci_commoninternet_net_app/);

        await docker(["rm", "-f", "foreign-client"]);
        const cleared = await hostOk("network-clear.sh", ["proxy", "120", "drone", "traefik"]);
        assert.match(cleared, /still attached: stacks drone; tearing them down first/);
        assert.deepStrictEqual(await listServices(drone), [], "drone's services are still there");
        // Nothing attached any more: the network's delete goes through.
        await hostOk("network-remove.sh", ["proxy", "60"]);
        assert.strictEqual(await networkId("proxy"), undefined);
        const absent = await hostOk("network-clear.sh", ["proxy", "120", "drone"]);
        assert.match(absent, /absent, nothing attached/);
    });

    it("stack-health.sh gives up after its timeout, naming the service that does not run", async () => {
        await docker([
            "service",
            "create",
            "-d",
            "-q",
            "--name",
            "broken_app",
            "--label",
            "com.docker.stack.namespace=broken",
            "--constraint",
            "node.labels.nowhere==1",
            image,
        ]);
        const started = Date.now();
        const r = await hostInstalled("stack-health.sh", ["broken", "proxy", subnet, "3"]);
        const took = Date.now() - started;
        assert.strictEqual(r.code, 1);
        assert.match(r.stderr, /stack broken: not healthy after 3s: service broken_app has 0\/1 replicas running/);
        assert.ok(took < 15_000, `stack-health.sh took ${took} ms for a 3 s timeout`);
    });

    it("a dockerd restart in the middle of a teardown: running the teardown again converges", async () => {
        const stacks = ["drone", "ccci-bridge", "warm-keycloak"];
        await createProxy(subnet);
        for (const s of stacks) await hostOk("stack-deploy.sh", [s, composeFile(s)]);
        await Promise.all(stacks.map((s) => hostOk("stack-health.sh", [s, "proxy", subnet, "120"])));

        const finished = new Set<string>();
        const first = Promise.all(
            stacks.map((s) =>
                hostInstalled("stack-teardown.sh", [s, "120"]).then((r) => {
                    finished.add(s);
                    return r;
                }),
            ),
        );
        // Restart as soon as the teardown has begun removing services, before the stacks' networks go.
        await waitFor("the teardown to begin", 30_000, async () =>
            (await listServices("com.docker.stack.namespace=drone")).length === 0 ? true : undefined,
        );
        const logFrom = fs.statSync(sandboxLog()).size;
        // The fault's effect, checked: the restart hit teardowns still running (a restart after they had all
        // finished would prove nothing), and dockerd did go down and come up again (its log from here on shows
        // it shutting down and completing its initialization).
        const runningAtRestart = stacks.filter((s) => !finished.has(s));
        assert.ok(runningAtRestart.length > 0, "every teardown had finished before dockerd was restarted");
        await swarmSandboxUp(true);
        const restartLog = fs.readFileSync(sandboxLog()).subarray(logFrom).toString("utf8");
        assert.match(restartLog, /Daemon shutdown complete|Processing signal 'terminated'/, "dockerd did not stop");
        assert.match(restartLog, /Daemon has completed initialization/, "dockerd did not start again");
        const results = await first;
        for (const [i, r] of results.entries()) {
            console.log(
                `      interrupted teardown of ${stacks[i]}: exit ${r.code} ${r.stderr.trim().split("\n").pop() ?? ""}`,
            );
        }
        console.log(`      running when dockerd restarted: ${runningAtRestart.join(", ")}`);

        for (const s of stacks) {
            const r = await hostInstalled("stack-teardown.sh", [s, "120"]);
            assert.strictEqual(r.code, 0, `second teardown of ${s} exited ${r.code}: ${r.stderr}`);
        }
        for (const s of stacks) {
            assert.deepStrictEqual(await listServices(`com.docker.stack.namespace=${s}`), [], `${s} has services left`);
            const nets = lines(
                await docker(["network", "ls", "-q", "--filter", `label=com.docker.stack.namespace=${s}`]),
            );
            assert.deepStrictEqual(nets, [], `${s} has networks left`);
        }
        assert.deepStrictEqual(await listTasks(), [], "tasks are left");
        await hostOk("network-remove.sh", ["proxy", "60"]);
    });
});
