// The stand-in command provider's Diff and run semantics, checked against what the real provider's source does
// (pulumi/pulumi-command provider/pkg/provider/local: `triggers` is replaceOnChanges, every other input field is
// diffed as an update by infer's default diff, outputs are not inputs; run trims one trailing newline and fails
// with the command's output on a non-zero exit; Delete runs with the state's inputs).
import * as assert from "node:assert";
import {
    checkCommand,
    diffCommand,
    provider,
    runCommand,
    UNKNOWN,
} from "../../harness/engine/command-provider/provider";

const base = {
    create: "echo hi",
    delete: "echo bye",
    stdin: "x",
    triggers: ["proxy", "id1"],
    addPreviousOutputInEnv: false,
};
const state = { ...base, stdout: "hi", stderr: "" };
const URN = "urn:pulumi:test::proj::command:local:Command::c";

describe("stand-in command provider (Diff as the real provider's)", () => {
    it("no change: no diff (outputs in the old state are not compared)", () => {
        assert.deepStrictEqual(diffCommand(state, { ...base }), { changes: false, replaces: [], changed: [] });
    });

    it("a changed trigger replaces", () => {
        const d = diffCommand(state, { ...base, triggers: ["proxy", "id2"] });
        assert.deepStrictEqual([d.changes, d.replaces], [true, ["triggers"]]);
    });

    it("an unknown trigger during preview replaces (the engine's dependent-replacement check relies on it)", () => {
        const d = diffCommand(state, { ...base, triggers: ["proxy", UNKNOWN] });
        assert.deepStrictEqual(d.replaces, ["triggers"]);
        assert.deepStrictEqual(diffCommand(state, { ...base, triggers: UNKNOWN }).replaces, ["triggers"]);
    });

    it("triggers added or removed replace", () => {
        const { triggers: _t, ...noTriggers } = base;
        void _t;
        assert.deepStrictEqual(diffCommand({ ...noTriggers, stdout: "" }, base).replaces, ["triggers"]);
        assert.deepStrictEqual(diffCommand(state, noTriggers).replaces, ["triggers"]);
    });

    for (const [key, value] of [
        ["create", "echo other"],
        ["update", "echo u"],
        ["delete", "true"],
        ["stdin", "y"],
        ["environment", { A: "1" }],
        ["interpreter", ["/bin/bash", "-c"]],
        ["dir", "/tmp"],
    ] as const) {
        it(`a change of ${key} is an update, not a replacement`, () => {
            const d = diffCommand(state, { ...base, [key]: value });
            assert.deepStrictEqual([d.changes, d.replaces, d.changed], [true, [], [key]]);
        });
    }

    it("an unknown non-trigger input is an update", () => {
        const d = diffCommand(state, { ...base, environment: { A: UNKNOWN } });
        assert.deepStrictEqual([d.changes, d.replaces], [true, []]);
    });

    it("environment compares by content, not key order", () => {
        const d = diffCommand(
            { ...state, environment: { A: "1", B: "2" } },
            { ...base, environment: { B: "2", A: "1" } },
        );
        assert.strictEqual(d.changes, false);
    });

    it("check passes inputs through and defaults addPreviousOutputInEnv to true", () => {
        assert.deepStrictEqual(checkCommand({ create: "x" }), { create: "x", addPreviousOutputInEnv: true });
        assert.deepStrictEqual(checkCommand(base), base);
    });
});

describe("stand-in command provider (running commands)", () => {
    it("runs with the interpreter, stdin and environment; trims one trailing newline", async () => {
        const r = await runCommand("bash -s -- a", {
            stdin: 'echo "$1 $X"\necho err >&2\n',
            environment: { X: "y" },
            interpreter: ["/bin/sh", "-c"],
        });
        assert.deepStrictEqual(r, { stdout: "a y", stderr: "err" });
    });

    it("a non-zero exit fails with the command's output in the message", async () => {
        await assert.rejects(
            runCommand("echo nope >&2; exit 3", {}),
            /exit status 3: running "echo nope >&2; exit 3":\nnope/,
        );
    });

    it("update runs update, else create; delete runs the state's delete with the state's environment", async () => {
        const u = await provider.update!("id", URN, state, { create: "echo c" });
        assert.strictEqual(u.outs.stdout, "c");
        const u2 = await provider.update!("id", URN, state, { create: "echo c", update: "echo u" });
        assert.strictEqual(u2.outs.stdout, "u");
        await provider.delete!("id", URN, {
            delete: 'test "$V" = from-state',
            environment: { V: "from-state" },
            stdout: "",
        });
        await assert.rejects(
            provider.delete!("id", URN, { delete: 'test "$V" = from-state', stdout: "" }),
            /exit status 1/,
        );
    });

    it("create returns the inputs and outputs as state and a hex ID after the name", async () => {
        const c = await provider.create!(URN, { create: "printf hello", addPreviousOutputInEnv: true });
        assert.match(c.id, /^c[0-9a-f]{8}$/);
        assert.deepStrictEqual(c.outs, {
            create: "printf hello",
            addPreviousOutputInEnv: true,
            stdout: "hello",
            stderr: "",
        });
    });
});
