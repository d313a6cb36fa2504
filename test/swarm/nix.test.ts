// The NixOS module checked by real Nix: its swarm-init unit, evaluated by nix-instantiate and run as the
// sandbox's `nixos-rebuild switch` stand-in runs it, against the sandbox dockerd. And the program's own
// reading of the module (src/nix.ts) agrees with the network the evaluated module creates.
import * as assert from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { findNetworkCreate } from "../../src/nix";
import { createProxy, docker, ipInCidr, repoRoot, resetSwarm, type Result, run, tmpDir } from "../../harness/swarm";

const swarmNix = path.join(repoRoot, "nix", "swarm.nix");
const beforeNix = path.join(repoRoot, "sandbox", "swarm-before.nix");
const rebuildSh = path.join(repoRoot, "sandbox", "nixos-rebuild.sh");

interface Network {
    Id: string;
    Driver: string;
    Scope: string;
    Attachable: boolean;
    Labels: Record<string, string> | null;
    IPAM: { Config: { Subnet: string }[] | null };
}

async function proxy(): Promise<Network | undefined> {
    const r = await run("docker", ["network", "inspect", "--format", "{{json .}}", "proxy"], { timeoutMs: 30_000 });
    if (r.code !== 0) {
        if (/not found/i.test(r.stderr)) return undefined;
        throw new Error(`docker network inspect proxy exited ${r.code}: ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout) as Network;
}

async function proxyOrFail(): Promise<Network> {
    const net = await proxy();
    if (!net) throw new Error("network proxy does not exist");
    return net;
}

const subnets = (net: Network): string[] => (net.IPAM.Config ?? []).map((c) => c.Subnet);

/** `nixos-rebuild switch` on the sandbox: the module's evaluated swarm-init script against its dockerd. */
const rebuild = (module?: string, env?: NodeJS.ProcessEnv): Promise<Result> =>
    run("bash", module === undefined ? [rebuildSh] : [rebuildSh, module], { timeoutMs: 120_000, env });

async function rebuildOk(module?: string, env?: NodeJS.ProcessEnv): Promise<void> {
    const r = await rebuild(module, env);
    assert.strictEqual(r.code, 0, `nixos-rebuild.sh ${module ?? ""} exited ${r.code}: ${r.stderr.trim()}`);
}

async function removeProxy(): Promise<void> {
    if (await proxy()) await docker(["network", "rm", "proxy"]);
}

describe("the NixOS module evaluated by nix-instantiate", function () {
    this.timeout(300_000);
    let tmp: string | undefined;

    before(async () => {
        try {
            execFileSync("nix-instantiate", ["--version"], { stdio: "ignore" });
        } catch {
            // Not a skip: without Nix this tier would silently stop checking the module.
            throw new Error("nix-instantiate is not installed: install nix-bin (bash scripts/install-deps.sh)");
        }
        await resetSwarm();
    });
    afterEach(removeProxy);
    after(async () => {
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
        await resetSwarm();
    });

    it("a module that does not evaluate fails with nix's error and touches nothing", async () => {
        tmp ??= tmpDir("swarm-nix-");
        const broken = path.join(tmp, "no-unit.nix");
        fs.writeFileSync(broken, "{ config, ... }: { }\n");
        const r = await rebuild(broken);
        assert.notStrictEqual(r.code, 0);
        assert.match(r.stderr, /no-unit\.nix does not evaluate \(nix-instantiate exited 1\): error: it defines no /);
        assert.match(r.stderr, /defines no systemd\.services\.swarm-init\.script/);
        assert.strictEqual(await proxy(), undefined);
    });

    it("nix/swarm.nix creates proxy when absent: 10.10.0.0/16, owner=swarm-proxy, overlay, attachable", async () => {
        assert.strictEqual(await proxy(), undefined);
        const r = await rebuild("nix/swarm.nix"); // relative to the repository root, as the stack file names it
        assert.strictEqual(r.code, 0, r.stderr);
        assert.match(r.stderr, /switch: restarting swarm-init of nix\/swarm\.nix/);
        const net = await proxyOrFail();
        assert.deepStrictEqual(subnets(net), ["10.10.0.0/16"]);
        assert.strictEqual(net.Labels?.owner, "swarm-proxy");
        assert.strictEqual(net.Driver, "overlay");
        assert.strictEqual(net.Scope, "swarm");
        assert.strictEqual(net.Attachable, true);
    });

    it("nix/swarm.nix changes nothing when proxy is present and equal", async () => {
        await rebuildOk(swarmNix);
        const before = await proxyOrFail();
        // SWARM_PROXY_NIX_MODULE: how the program's rebuild step names the module.
        await rebuildOk(undefined, { SWARM_PROXY_NIX_MODULE: swarmNix });
        await rebuildOk(swarmNix);
        assert.deepStrictEqual(await proxyOrFail(), before);
    });

    it("nix/swarm.nix fails with its message when proxy is present with another subnet, and leaves it", async () => {
        await createProxy("10.0.9.0/24");
        const before = await proxyOrFail();
        const r = await rebuild(swarmNix);
        assert.strictEqual(r.code, 1, r.stderr);
        assert.match(
            r.stderr,
            /network proxy exists with subnet '10\.0\.9\.0\/24 ', expected 10\.10\.0\.0\/16: run the swarm-proxy maintenance/,
        );
        assert.match(r.stderr, /error: swarm-init of nix\/swarm\.nix exited 1/);
        assert.deepStrictEqual(await proxyOrFail(), before);
    });

    it("sandbox/swarm-before.nix creates proxy without --subnet (the default pool's /24)", async () => {
        await rebuildOk(beforeNix);
        const net = await proxyOrFail();
        const [subnet, ...more] = subnets(net);
        assert.deepStrictEqual(more, []);
        assert.match(subnet, /\/24$/);
        assert.ok(ipInCidr(subnet, "10.0.0.0/8"), `${subnet} is not in the default pool 10.0.0.0/8`);
        assert.strictEqual(net.Driver, "overlay");
        assert.strictEqual(net.Attachable, true);
        await rebuildOk(beforeNix);
        assert.deepStrictEqual(await proxyOrFail(), net);
    });

    it("sandbox/swarm-before.nix leaves an existing proxy alone, whatever its subnet", async () => {
        await createProxy("10.10.0.0/16");
        const before = await proxyOrFail();
        await rebuildOk(beforeNix);
        assert.deepStrictEqual(await proxyOrFail(), before);
    });

    describe("src/nix.ts reads the subnet the evaluated module creates", () => {
        const copyWith = (subnet: string): string => {
            const text = fs.readFileSync(swarmNix, "utf8");
            const changed = text.replaceAll("10.10.0.0/16", subnet);
            assert.notStrictEqual(changed, text);
            tmp ??= tmpDir("swarm-nix-");
            const copy = path.join(tmp, "swarm.nix");
            fs.writeFileSync(copy, changed);
            return copy;
        };
        // undefined: no --subnet, so Docker's default, which the module's text cannot name.
        const cases: [string, () => string, string | undefined][] = [
            ["nix/swarm.nix", () => swarmNix, "10.10.0.0/16"],
            ["a copy of nix/swarm.nix with 10.11.0.0/16", () => copyWith("10.11.0.0/16"), "10.11.0.0/16"],
            ["sandbox/swarm-before.nix", () => beforeNix, undefined],
        ];
        for (const [what, file, expected] of cases) {
            it(`${what}: ${expected ?? "Docker's default /24"}`, async () => {
                const module = file();
                const found = findNetworkCreate(fs.readFileSync(module, "utf8"), "proxy");
                assert.ok(found, `findNetworkCreate found no create line for proxy in ${module}`);
                assert.strictEqual(found.subnet, expected);
                await rebuildOk(module);
                const [live, ...more] = subnets(await proxyOrFail());
                assert.deepStrictEqual(more, []);
                if (found.subnet === undefined) {
                    assert.match(live, /\/24$/);
                } else {
                    assert.strictEqual(live, found.subnet);
                }
            });
        }
    });
});
