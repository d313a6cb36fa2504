// .drone.yml's structure: a pull-request preview, a cron drift pipeline on the exec runner, and cron kept
// out of every other pipeline.
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

interface Condition {
    include?: string[];
    exclude?: string[];
}
interface Step {
    name: string;
    image?: string;
    commands?: string[];
    environment?: Record<string, string | { from_secret: string }>;
}
interface Pipeline {
    kind: string;
    type: string;
    name: string;
    trigger?: { event?: string[] | Condition; cron?: string[] | Condition };
    steps: Step[];
}

const file = join(__dirname, "..", "..", ".drone.yml");
const docs = parseAllDocuments(readFileSync(file, "utf8"));
const pipelines = docs.map((d) => {
    assert.deepEqual(d.errors, [], "every document parses");
    return d.toJS() as Pipeline;
});

/** Whether the trigger lets an event through (Drone: a list is an include list). */
function admits(p: Pipeline, event: string): boolean {
    const e = p.trigger?.event;
    if (e === undefined) {
        return true;
    }
    const cond: Condition = Array.isArray(e) ? { include: e } : e;
    if (cond.exclude?.includes(event)) {
        return false;
    }
    return cond.include === undefined || cond.include.includes(event);
}

function commands(p: Pipeline): string[] {
    return p.steps.flatMap((s) => s.commands ?? []);
}

describe("tools: .drone.yml", () => {
    it("holds only well-formed pipelines with unique names and named steps", () => {
        assert.ok(pipelines.length >= 2);
        assert.equal(new Set(pipelines.map((p) => p.name)).size, pipelines.length);
        for (const p of pipelines) {
            assert.equal(p.kind, "pipeline");
            assert.ok(["docker", "exec"].includes(p.type), `${p.name}: type ${p.type}`);
            assert.ok(p.steps.length > 0);
            assert.equal(new Set(p.steps.map((s) => s.name)).size, p.steps.length, `${p.name}: step names unique`);
            for (const s of p.steps) {
                assert.ok((s.commands ?? []).length > 0, `${p.name}/${s.name} runs something`);
                // exec steps run on the host and take no image; docker steps need one.
                assert.equal(s.image === undefined, p.type === "exec", `${p.name}/${s.name}: image only on docker pipelines`);
            }
        }
    });

    it("previews pull requests with the replacement steps shown", () => {
        const pr = pipelines.filter((p) => admits(p, "pull_request") && commands(p).some((c) => c.includes("pulumi preview")));
        assert.equal(pr.length, 1);
        const preview = commands(pr[0]).find((c) => c.includes("pulumi preview"));
        assert.match(preview ?? "", /pulumi preview --diff --show-replacement-steps/);
    });

    it("a pull request without secrets ends the preview early instead of failing", () => {
        const pr = pipelines.find((p) => admits(p, "pull_request") && commands(p).some((c) => c.includes("pulumi preview")));
        const step = pr?.steps.find((s) => (s.commands ?? []).some((c) => c.includes("pulumi preview")));
        const secret = step?.environment?.PULUMI_CONFIG_PASSPHRASE;
        assert.deepEqual(secret, { from_secret: "pulumi_config_passphrase" });
        const guard = (step?.commands ?? []).findIndex((c) => c.includes('-z "$PULUMI_CONFIG_PASSPHRASE"') && c.includes("exit 78"));
        const run = (step?.commands ?? []).findIndex((c) => c.includes("pulumi preview"));
        assert.ok(guard >= 0 && guard < run, "the secret check comes before the preview");
    });

    it("runs drift from cron on the exec runner, and only there", () => {
        const cron = pipelines.filter((p) => admits(p, "cron"));
        assert.equal(cron.length, 1, "exactly one pipeline takes cron events");
        const drift = cron[0];
        assert.equal(drift.type, "exec");
        assert.deepEqual(drift.trigger?.event, ["cron"]);
        assert.ok(Array.isArray(drift.trigger?.cron) && drift.trigger.cron.length > 0, "names its cron job");
        const cmd = commands(drift).find((c) => / drift /.test(c)) ?? "";
        assert.match(cmd, /cli\/bin\.js drift --stack-config \S+ --pulumi-stack \S+/);
        assert.ok(!admits(drift, "push") && !admits(drift, "pull_request"));
    });

    it("excludes cron from every other pipeline explicitly", () => {
        for (const p of pipelines.filter((x) => !admits(x, "cron"))) {
            const e = p.trigger?.event;
            assert.ok(e !== undefined && !Array.isArray(e) && e.exclude?.includes("cron"), `${p.name} excludes cron`);
        }
    });
});
