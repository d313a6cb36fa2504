// `swarm-proxy init` through its bin against a fake Engine API (ten one-service stacks on proxy): the file it writes
// for stacks it has no compose file or unit for, and the bad input (an unreadable compose folder, a compose file
// whose services are not the live stack's, a name Docker would refuse, an existing file): one message each, exit 2,
// and no file written.
import * as assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { type FakeEngine, startFakeEngine } from "../../harness/fake-engine";
import { runBin } from "./bin";

describe("tools: swarm-proxy init against a fake Engine API", () => {
    let fake: FakeEngine | undefined;
    let cwd = "";

    before(async () => {
        fake = await startFakeEngine({ services: 10, replicas: 1, history: 0, nodes: 1, subnet: "10.0.1.0/24" });
    });
    after(async () => {
        await fake?.close();
    });
    beforeEach(() => {
        cwd = mkdtempSync(join(tmpdir(), "swarm-proxy-init-"));
    });
    afterEach(() => {
        rmSync(cwd, { recursive: true, force: true });
    });

    const init = (args: string[]) =>
        runBin(["init", "-q", ...args], { cwd, env: { ...process.env, DOCKER_HOST: fake!.host } });

    /** Exit 2, the one message on stderr, nothing written in the working folder but what the test put there. */
    async function refused(args: string[], message: string, left: string[] = []): Promise<void> {
        const r = await init(args);
        assert.equal(r.code, 2, r.out + r.err);
        assert.equal(r.err, `swarm-proxy init: ${message}\n`);
        assert.equal(r.out, "");
        assert.deepEqual(readdirSync(cwd).sort(), left);
    }

    it("writes every stack, deploy: external without a compose file or unit, read back as the program reads it", async () => {
        const r = await init(["--stack", "fake", "--unit-dir", cwd]);
        assert.equal(r.code, 0, r.err);
        const doc = parse(readFileSync(join(cwd, "Pulumi.fake.yaml"), "utf8")) as {
            config: Record<string, { name: string; deploy?: string; subnet?: string; migration?: string }[]>;
        };
        const stacks = doc.config["swarm-proxy:stacks"];
        assert.deepEqual(
            stacks.map((s) => s.name),
            Array.from({ length: 10 }, (_, i) => `stack${i}`),
        );
        assert.ok(stacks.every((s) => s.deploy === "external"));
        assert.match(
            r.out,
            /^wrote Pulumi\.fake\.yaml: 10 stacks \(10 on proxy, 10 services\), proxy 10\.0\.1\.0\/24$/m,
        );
        assert.match(r.out, /^ {2}pulumi up --stack fake/m);
    });

    it("an unreadable compose folder: one message, no file", async () => {
        writeFileSync(join(cwd, "not-a-dir"), "");
        await refused(
            ["--stack", "fake", "--compose-dir", join(cwd, "not-a-dir")],
            `--compose-dir: cannot read "${join(cwd, "not-a-dir")}": ENOTDIR: not a directory, scandir '${join(cwd, "not-a-dir")}'; give a readable folder of compose files`,
            ["not-a-dir"],
        );
    });

    it("a compose file whose services differ from the live stack's: one message naming both, no file", async () => {
        mkdirSync(join(cwd, "stacks", "stack3"), { recursive: true });
        writeFileSync(join(cwd, "stacks", "stack3", "compose.yml"), "services:\n  web: {}\n");
        await refused(
            ["--stack", "fake", "--compose-dir", "stacks"],
            "--compose-dir: stacks/stack3/compose.yml does not match the live stack stack3: the file declares stack3_web, " +
                "the stack runs stack3_app3; a file that is not what runs would change the stack at the first deploy. " +
                "Correct the file or move it out of the folder (the stack is then written as the host deploys it), and run init again",
            ["stacks"],
        );
    });

    it("a name Docker would refuse, and an existing file: one message each, nothing written or changed", async () => {
        await refused(
            ["--stack", "prod env"],
            `--stack: "prod env" is not a valid name (letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters)`,
        );
        await refused(
            ["--stack", "fake", "--network=-proxy"],
            `--network: "-proxy" is not a valid name (letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters)`,
        );
        writeFileSync(join(cwd, "Pulumi.fake.yaml"), "config: {}\n");
        await refused(
            ["--stack", "fake"],
            `Pulumi.fake.yaml already exists in ${cwd}; nothing was written. Give --force to replace its config, or another --stack`,
            ["Pulumi.fake.yaml"],
        );
        assert.equal(readFileSync(join(cwd, "Pulumi.fake.yaml"), "utf8"), "config: {}\n");
    });
});
