// The rolling moves keep every field `docker stack deploy` wrote, whatever the engine's API version: a stack whose
// compose file sets service-spec fields newer than API 1.41 (a healthcheck's start_interval: 1.44) moves out onto
// a temporary network and back, and its spec still holds them; then a plain `stack deploy` of the same file
// restarts no task. A move written at an older API version than the daemon's goes through the daemon's
// down-conversion, which drops such fields (moby's swarm router: StartInterval below 1.44): the deploy would then
// restart every task. On an engine that predates the field (20.10, API 1.41) the case checks the same with what
// that engine stores, and says the field is not there to keep.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { dirtyTasks } from "../../harness/docker";
import { apiAtLeast } from "../../src/docker";
import { api, createProxy, docker, hostInstalled, hostOk, lines, resetSwarm, tmpDir } from "../../harness/swarm";

const STACK = "fields";
const subnet = "10.96.4.0/24";
const tempSubnet = "10.97.4.0/24";

interface Healthcheck {
    Test?: string[];
    Interval?: number;
    StartPeriod?: number;
    StartInterval?: number;
}
interface ServiceSpec {
    TaskTemplate: { ContainerSpec: { Healthcheck?: Healthcheck } };
}

// interval 5s: an engine without start_interval (20.10) checks first after the interval, and each start-first
// move waits for its new task to be healthy.
const compose = `version: "3.12"
services:
  app:
    image: swarm-sandbox/standin:2
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "exit 0"]
      interval: 5s
      start_period: 20s
      start_interval: 1s
    networks: [proxy]
    deploy:
      replicas: 2
networks:
  proxy:
    external: true
`;

async function healthcheck(): Promise<Healthcheck | undefined> {
    const [svc] = await api<{ Spec: ServiceSpec }[]>(
        "GET",
        `/services?filters=${encodeURIComponent(JSON.stringify({ name: [`${STACK}_app`] }))}`,
    );
    return svc.Spec.TaskTemplate.ContainerSpec.Healthcheck;
}

const running = async () =>
    lines(await docker(["service", "ps", "-q", "--filter", "desired-state=running", `${STACK}_app`])).sort();

describe("network-move.sh keeps the fields stack deploy wrote (any API version)", function () {
    this.timeout(900_000);
    const dir = tmpDir("swarm-proxy-fields-");
    const file = path.join(dir, `${STACK}.yml`);
    before(async () => {
        await resetSwarm();
        await createProxy(subnet);
        fs.writeFileSync(file, compose);
        await hostOk("stack-deploy.sh", [STACK, file]);
        await hostOk("stack-health.sh", [STACK, "proxy", subnet, "180"]);
    });
    after(async () => {
        fs.rmSync(dir, { recursive: true, force: true });
        await resetSwarm();
    });

    it("a stack with a healthcheck's start_interval moves out and back; its spec keeps it and a plain stack deploy restarts nothing", async () => {
        const version = JSON.parse(await docker(["version", "--format", "{{json .Server}}"])) as {
            Version: string;
            ApiVersion: string;
        };
        const stored = await healthcheck();
        const newer = apiAtLeast(version.ApiVersion, 1, 44);
        if (newer) {
            // The case proves something only if the field was there to lose.
            assert.strictEqual(stored?.StartInterval, 1e9, `stack deploy stored ${JSON.stringify(stored)}`);
        } else {
            console.log(
                `      dockerd ${version.Version} speaks API ${version.ApiVersion}: no StartInterval to keep (1.44+); ` +
                    "checking the rest of the spec",
            );
        }
        const out = await hostInstalled(
            "network-move.sh",
            ["out", "proxy", "proxy-rolling", tempSubnet, "10.98.0.0/16", "300", STACK],
            900_000,
        );
        assert.strictEqual(out.code, 0, out.stderr);
        await createProxy(subnet);
        await hostOk("network-move.sh", ["back", "proxy", "proxy-rolling", "300"], 900_000);
        assert.deepStrictEqual(await healthcheck(), stored, "the moves changed the stored healthcheck");
        const tasks = await running();
        await hostOk("stack-deploy.sh", [STACK, file]);
        assert.deepStrictEqual(await dirtyTasks(), [], "a deploy of the compose file changed task specs");
        assert.deepStrictEqual(await running(), tasks, "a deploy of the compose file restarted tasks");
        console.log(
            `      dockerd ${version.Version} (API ${version.ApiVersion}): healthcheck kept ${JSON.stringify(stored)}`,
        );
    });
});
