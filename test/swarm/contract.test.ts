// The host-script contract of host/README.md: argument checks before anything is touched, exit codes,
// idempotence, the quiescence gate, the deploy unit restart, network adoption and refusal.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import {
    composeFile,
    createProxy,
    docker,
    hostDirect,
    hostOk,
    hostInstalled,
    listServices,
    networkId,
    resetSwarm,
    tmpDir,
} from "../../harness/swarm";

const subnet = "10.94.0.0/24";

describe("host script contract", function () {
    this.timeout(300_000);
    before(resetSwarm);
    after(resetSwarm);

    const hostile = ["bad name", "-rf", "$(touch /tmp/swarm-proxy-pwned)", "a;b", ""];
    const calls: [string, (bad: string) => string[]][] = [
        ["stack-deploy.sh", (b) => [b, composeFile("drone")]],
        ["stack-teardown.sh", (b) => [b]],
        ["stack-health.sh", (b) => [b, "proxy", subnet]],
        ["stack-restart-unit.sh", (b) => ["drone", b]],
        ["network-ensure.sh", (b) => [b, subnet, ""]],
        ["network-remove.sh", (b) => [b]],
        ["gate-quiescent.sh", (b) => ["ok", b]],
    ];
    for (const [script, args] of calls) {
        it(`${script} rejects invalid names with one message, touching nothing`, async () => {
            const servicesBefore = await listServices();
            for (const bad of hostile) {
                const r = await hostInstalled(script, args(bad));
                assert.notStrictEqual(r.code, 0, `${script} accepted '${bad}'`);
                assert.match(r.stderr, /is not a valid name/, `${script} '${bad}': ${r.stderr}`);
                assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr);
            }
            assert.ok(!fs.existsSync("/tmp/swarm-proxy-pwned"));
            assert.deepStrictEqual(await listServices(), servicesBefore);
        });
    }

    it("every script answers a wrong argument count with its usage and exit 2", async () => {
        for (const script of [
            "stack-deploy.sh",
            "stack-teardown.sh",
            "stack-health.sh",
            "stack-restart-unit.sh",
            "network-ensure.sh",
            "network-remove.sh",
        ]) {
            const r = await hostDirect(script, []);
            assert.strictEqual(r.code, 2, `${script}: ${r.stderr}`);
            assert.match(r.stderr, /usage:/);
        }
    });

    it("network-ensure.sh checks CIDR and gateway, creates, adopts the same subnet and refuses another", async () => {
        for (const [sub, gw, msg] of [
            ["10.94.0.1/24", "", /not canonical/],
            ["10.94.0.0/33", "", /invalid prefix length/],
            ["10.94.0.0/24", "10.95.0.1", /not inside SUBNET/],
            ["10.94.0.0/24", "", /LABEL 'nokey' is not key=value/],
        ] as [string, string, RegExp][]) {
            const r = await hostInstalled("network-ensure.sh", [
                "proxy",
                sub,
                gw,
                ...(String(msg).includes("LABEL") ? ["nokey"] : []),
            ]);
            assert.strictEqual(r.code, 1);
            assert.match(r.stderr, msg);
        }
        assert.strictEqual(await networkId("proxy"), undefined, "a rejected call created the network");
        const id = (await hostOk("network-ensure.sh", ["proxy", subnet, "10.94.0.1", "owner=swarm-proxy"])).trim();
        const inspect = JSON.parse(await docker(["network", "inspect", "proxy"]))[0];
        assert.strictEqual(inspect.Id, id);
        assert.strictEqual(inspect.Driver, "overlay");
        assert.strictEqual(inspect.Scope, "swarm");
        assert.strictEqual(inspect.Attachable, true);
        // dockerd 29.0 also lists an empty IPRange (no range); later engines leave it out. No range either way.
        const config = (inspect.IPAM.Config as { IPRange?: string }[]).map(({ IPRange, ...c }) => {
            assert.ok(!IPRange, `an IP range ${IPRange}`);
            return c;
        });
        assert.deepStrictEqual(config, [{ Subnet: subnet, Gateway: "10.94.0.1" }]);
        assert.deepStrictEqual(inspect.Labels, { owner: "swarm-proxy" });
        assert.strictEqual((await hostOk("network-ensure.sh", ["proxy", subnet, "", "owner=swarm-proxy"])).trim(), id);
        const other = await hostInstalled("network-ensure.sh", ["proxy", "10.93.0.0/24", ""]);
        assert.strictEqual(other.code, 1);
        assert.match(other.stderr, /exists with subnet '10.94.0.0\/24' \(wanted 10.93.0.0\/24\)/);
        // An overlapping create "succeeds" with an empty driver (moby/swarmkit#2398): detected and undone.
        const overlap = await hostInstalled("network-ensure.sh", ["proxy-overlap", subnet, ""]);
        assert.strictEqual(overlap.code, 1);
        assert.match(overlap.stderr, /swarmkit#2398|overlap/);
        assert.strictEqual(await networkId("proxy-overlap"), undefined);
        await hostOk("network-remove.sh", ["proxy"]);
    });

    it("gate-quiescent.sh passes on the allow-list and names the stacks beyond it", async () => {
        await createProxy(subnet);
        for (const s of ["drone", "backups"]) await hostOk("stack-deploy.sh", [s, composeFile(s)]);
        assert.strictEqual((await hostInstalled("gate-quiescent.sh", ["drone", "backups", "traefik"])).code, 0);
        const r = await hostInstalled("gate-quiescent.sh", ["drone"]);
        assert.strictEqual(r.code, 1);
        assert.match(
            r.stderr,
            /stacks beyond the allow-list run: backups; wait until they are done, or add them to maintenance.allowStacks, then run again$/m,
        );
        await Promise.all(["drone", "backups"].map((s) => hostOk("stack-teardown.sh", [s])));
        const empty = await hostInstalled("gate-quiescent.sh", []);
        assert.strictEqual(empty.code, 0, empty.stderr);
    });

    it("stack-restart-unit.sh restarts the unit and waits for the stack's services; a failing unit is named", async () => {
        // No systemd here: a stand-in systemctl that, like the host's deploy-* oneshots, deploys the stack.
        const bin = tmpDir("fake-systemctl-");
        const fake = path.join(bin, "systemctl");
        fs.writeFileSync(
            fake,
            [
                "#!/usr/bin/env bash",
                "set -euo pipefail",
                '[ "$1" = restart ] || exit 3',
                'case "$2" in deploy-drone) exec docker stack deploy -c "$FAKE_COMPOSE" drone >/dev/null 2>&1 ;; *) exit 1 ;; esac',
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        const env = { PATH: `${bin}:${process.env.PATH ?? ""}`, FAKE_COMPOSE: composeFile("drone") };
        try {
            await createProxy(subnet).catch(() => undefined);
            const ok = await hostInstalled("stack-restart-unit.sh", ["drone", "deploy-drone", "60"], 120_000, env);
            assert.strictEqual(ok.code, 0, ok.stderr);
            assert.strictEqual((await listServices("com.docker.stack.namespace=drone")).length, 1);
            const bad = await hostInstalled("stack-restart-unit.sh", ["drone", "deploy-nothing", "5"], 60_000, env);
            assert.strictEqual(bad.code, 1);
            assert.match(bad.stderr, /systemctl restart deploy-nothing failed/);
        } finally {
            fs.rmSync(bin, { recursive: true, force: true });
            await hostOk("stack-teardown.sh", ["drone"]);
        }
    });
});
