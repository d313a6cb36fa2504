// Smoke test of the engine harness: the built CLI previews, deploys, re-previews clean, detects a change
// and destroys a trivial project, with no plugin download.
import * as assert from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as path from "node:path";
import { PulumiProject, programFromModule, toolchainBin } from "../../harness/engine/pulumi";

// A dynamic-provider resource: served by the pulumi-nodejs plugin the CLI ships, so it needs no provider
// binary of its own.
const echoProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: { value: string }) {
        return { id: `echo-${inputs.value}`, outs: { value: inputs.value } };
    },
    async diff(_id: string, olds: { value: string }, news: { value: string }) {
        return { changes: olds.value !== news.value, replaces: olds.value !== news.value ? ["value"] : [] };
    },
};

class Echo extends pulumi.dynamic.Resource {
    declare readonly value: pulumi.Output<string>;
    constructor(name: string, args: { value: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
        super(echoProvider, name, { value: args.value }, opts);
    }
}

function urnsWith(json: { steps?: { op: string; urn: string }[] }, op: string): string[] {
    return (json.steps ?? []).filter((s) => s.op === op).map((s) => s.urn);
}

describe("engine harness (real pulumi CLI, file:// backend)", () => {
    let cli = "";
    before(() => {
        cli = toolchainBin();
    });

    it("previews, deploys, re-previews clean, sees a change and destroys a dynamic-provider resource", async () => {
        let value = "one";
        const p = await PulumiProject.create({
            program: async () => {
                const e = new Echo("echo", { value });
                return { value: e.value };
            },
        });
        try {
            const pre = await p.preview();
            assert.strictEqual(pre.code, 0, pre.stderr);
            assert.ok(
                urnsWith(pre.json, "create").some((u) => u.endsWith("::echo")),
                JSON.stringify(pre.json.steps),
            );
            assert.strictEqual(pre.json.changeSummary?.create, 2); // the stack and the resource

            const up = await p.up();
            assert.strictEqual(up.code, 0, up.stdout + up.stderr);
            assert.deepStrictEqual(await p.outputs(), { value: "one" });

            const clean = await p.preview(["--expect-no-changes"]);
            assert.strictEqual(clean.code, 0, clean.stdout + clean.stderr);
            assert.deepStrictEqual(
                (clean.json.steps ?? []).filter((s) => s.op !== "same"),
                [],
                "a second preview of an unchanged program proposes no change",
            );

            value = "two";
            const changed = await p.preview(["--expect-no-changes", "--show-replacement-steps"]);
            assert.notStrictEqual(changed.code, 0, "--expect-no-changes fails when there are changes");
            const ops = (changed.json.steps ?? []).filter((s) => s.urn.endsWith("::echo")).map((s) => s.op);
            assert.deepStrictEqual(ops, ["create-replacement", "replace", "delete-replaced"]);

            const down = await p.destroy();
            assert.strictEqual(down.code, 0, down.stdout + down.stderr);
            assert.deepStrictEqual(
                (await p.resources()).filter((r) => r.type !== "pulumi:pulumi:Stack"),
                [],
            );
        } finally {
            p.cleanup();
        }
    });

    it("runs a program file with stack config; a delete-before-replace change previews delete first", async () => {
        const p = await PulumiProject.create({
            program: programFromModule(path.join(__dirname, "fixtures", "echo-project.ts")),
            config: { value: "a" },
        });
        try {
            const up = await p.up();
            assert.strictEqual(up.code, 0, up.stdout + up.stderr);
            assert.deepStrictEqual(await p.outputs(), { value: "a", project: p.name });

            await p.setConfig("value", "b");
            const pre = await p.preview(["--show-replacement-steps"]);
            assert.strictEqual(pre.code, 0, pre.stderr);
            const ops = (pre.json.steps ?? []).filter((s) => s.urn.endsWith("::echo")).map((s) => s.op);
            assert.deepStrictEqual(ops, ["delete-replaced", "replace", "create-replacement"]);
            assert.strictEqual(pre.json.changeSummary?.replace, 1);

            const up2 = await p.up();
            assert.strictEqual(up2.code, 0, up2.stdout + up2.stderr);
            assert.deepStrictEqual(await p.outputs(), { value: "b", project: p.name });
            assert.strictEqual((await p.destroy()).code, 0);
        } finally {
            p.cleanup();
        }
    });

    // Runs with the real provider when the toolchain built one, else with the stand-in (command-provider/).
    it("previews and deploys a command.local.Command with the command provider on PATH", async () => {
        const p = await PulumiProject.create({
            program: async () => {
                const c = new command.local.Command("hello", { create: "printf hello" });
                return { stdout: c.stdout };
            },
        });
        try {
            const pre = await p.preview();
            assert.strictEqual(pre.code, 0, pre.stderr);
            assert.ok(urnsWith(pre.json, "create").some((u) => u.endsWith("::hello")));
            const up = await p.up();
            assert.strictEqual(up.code, 0, up.stdout + up.stderr);
            assert.deepStrictEqual(await p.outputs(), { stdout: "hello" });
            const down = await p.destroy();
            assert.strictEqual(down.code, 0, down.stdout + down.stderr);
        } finally {
            p.cleanup();
        }
    });

    after(() => {
        if (cli) console.log(`    (pulumi from ${cli})`);
    });
});
