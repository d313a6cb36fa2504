// .drone.yml's structure: a pull-request preview, a cron drift pipeline on the exec runner, and cron kept
// out of every other pipeline. What Drone's exec runner cannot show (it ignores `trigger:`, and runs no docker
// pipeline) is checked here; the exec pipelines themselves run in test/pipelines.
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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
    when?: { status?: string[]; event?: string[]; target?: string[] };
}
interface Pipeline {
    kind: string;
    type: string;
    name: string;
    trigger?: { event?: string[] | Condition; cron?: string[] | Condition; target?: string[] | Condition };
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
                assert.equal(
                    s.image === undefined,
                    p.type === "exec",
                    `${p.name}/${s.name}: image only on docker pipelines`,
                );
            }
        }
    });

    it("previews pull requests with the replacement steps shown", () => {
        const pr = pipelines.filter(
            (p) => admits(p, "pull_request") && commands(p).some((c) => c.includes("pulumi preview")),
        );
        assert.equal(pr.length, 1);
        const preview = commands(pr[0]).find((c) => c.includes("pulumi preview"));
        assert.match(preview ?? "", /pulumi preview --diff --show-replacement-steps/);
    });

    it("a pull request without secrets ends the preview early instead of failing, before the install", () => {
        const pr = pipelines.find(
            (p) => admits(p, "pull_request") && commands(p).some((c) => c.includes("pulumi preview")),
        );
        const steps = pr?.steps ?? [];
        const guard = steps.findIndex((s) =>
            (s.commands ?? []).some((c) => c.includes('-z "$PULUMI_CONFIG_PASSPHRASE"') && c.includes("exit 78")),
        );
        assert.equal(guard, 0, "the secret check is the first step");
        assert.deepEqual(steps[0].environment?.PULUMI_CONFIG_PASSPHRASE, { from_secret: "pulumi_config_passphrase" });
        const run = steps.find((s) => (s.commands ?? []).some((c) => c.includes("pulumi preview")));
        assert.deepEqual(run?.environment?.PULUMI_CONFIG_PASSPHRASE, { from_secret: "pulumi_config_passphrase" });
        assert.ok(admits(pr!, "push"), "the merge's push build, which gets the secrets, shows the preview");
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
        assert.doesNotMatch(cmd, /--fix/, "the scheduled check is check-only unless the operator turns --fix on");
        assert.ok(!admits(drift, "push") && !admits(drift, "pull_request"));
    });

    it("runs the maintenance only on promotion to the maintenance target: preview, up with the window open for that step only, drift", () => {
        const promoted = pipelines.filter((p) => admits(p, "promote"));
        assert.deepEqual(
            promoted.map((p) => p.name),
            ["maintenance"],
        );
        const m = promoted[0];
        for (const event of ["push", "pull_request", "cron", "tag", "custom"]) {
            assert.equal(admits(m, event), false, `maintenance runs on ${event}`);
        }
        const target = m.trigger?.target;
        assert.deepEqual(Array.isArray(target) ? target : target?.include, ["maintenance"]);
        assert.equal(m.type, "exec");
        const steps = m.steps.filter((s) => (s.commands ?? []).some((c) => / pulumi (preview|up) | drift /.test(c)));
        const kinds = steps.map((s) => {
            const c = (s.commands ?? []).join("\n");
            return / pulumi preview /.test(c) ? "preview" : / pulumi up /.test(c) ? "up" : "drift";
        });
        assert.deepEqual(kinds, ["preview", "up", "drift"]);
        // The window is open for the `pulumi up` step alone: never set on the pipeline, never on the preview or drift.
        const windowOf = (s: Step) => s.environment?.SWARM_PROXY_MAINTENANCE;
        assert.deepEqual(steps.map(windowOf), [undefined, "open", undefined]);
        assert.match(
            (steps[1].commands ?? []).join("\n"),
            /pulumi up --yes --non-interactive --stack "\$SWARM_PROXY_STACK"/,
        );
        assert.match((steps[2].commands ?? []).join("\n"), /cli\/bin\.js drift --stack-config \S+ --pulumi-stack \S+/);
        for (const s of steps) {
            assert.deepEqual(
                s.environment?.PULUMI_CONFIG_PASSPHRASE,
                { from_secret: "pulumi_config_passphrase" },
                s.name,
            );
        }
        for (const p of pipelines.filter((x) => x.name !== "maintenance")) {
            for (const s of p.steps) {
                assert.equal(windowOf(s), undefined, `${p.name}/${s.name} opens the window`);
                assert.ok(!(s.commands ?? []).some((c) => / pulumi up /.test(c)), `${p.name}/${s.name} runs pulumi up`);
            }
        }
    });

    it("excludes cron from every other pipeline explicitly", () => {
        for (const p of pipelines.filter((x) => !admits(x, "cron"))) {
            const e = p.trigger?.event;
            assert.ok(e !== undefined && !Array.isArray(e) && e.exclude?.includes("cron"), `${p.name} excludes cron`);
        }
    });

    it("exec steps find the host's tools through scripts/drone-env.sh and hardcode no stack", () => {
        for (const p of pipelines.filter((x) => x.type === "exec")) {
            for (const s of p.steps) {
                const cmds = s.commands ?? [];
                const uses = cmds.findIndex((c) => / pulumi | cli\/bin\.js /.test(c));
                if (uses >= 0) {
                    const env = cmds.findIndex((c) => c === ". scripts/drone-env.sh");
                    assert.ok(env >= 0 && env < uses, `${p.name}/${s.name} sources scripts/drone-env.sh first`);
                }
                assert.equal(
                    s.environment?.SWARM_PROXY_STACK,
                    undefined,
                    `${p.name}/${s.name}: the host picks the stack`,
                );
                // Drone substitutes ${VAR} before the shell sees it (unknown names become empty): only $$ escapes.
                for (const c of cmds) assert.doesNotMatch(c, /(^|[^$])\$\{/, `${p.name}/${s.name}: ${c}`);
            }
        }
    });

    it("every drift run writes its reports to SWARM_PROXY_REPORT_DIR and prints them into the build log, drift or not", () => {
        for (const p of pipelines.filter((x) =>
            x.steps.some((s) => (s.commands ?? []).some((c) => / drift /.test(c))),
        )) {
            const cmd = commands(p).find((c) => / drift /.test(c)) ?? "";
            assert.match(cmd, /--markdown-out "\$SWARM_PROXY_REPORT_DIR\/drift-report\.md"/);
            assert.match(cmd, /--json-out "\$SWARM_PROXY_REPORT_DIR\/drift-report\.json"/);
            const last = p.steps[p.steps.length - 1];
            assert.deepEqual(
                last.when?.status,
                ["success", "failure"],
                `${p.name}: the report step runs on failure too`,
            );
            assert.match((last.commands ?? []).join("\n"), /cat .*drift-report\.md/);
        }
    });

    it("the maintenance stops first on any other event or target, and its pulumi up runs only on the maintenance target", () => {
        const m = pipelines.find((p) => p.name === "maintenance");
        const guard = (m?.steps[0].commands ?? []).join("\n");
        assert.match(guard, /"\$DRONE_BUILD_EVENT" != promote/);
        assert.match(guard, /"\$DRONE_DEPLOY_TO" != maintenance/);
        assert.match(guard, /exit 78/);
        const up = m?.steps.find((s) => (s.commands ?? []).some((c) => / pulumi up /.test(c)));
        assert.deepEqual(up?.when?.target, ["maintenance"]);
        assert.deepEqual(up?.when?.event, ["promote"]);
    });
});

describe("tools: scripts/drone-env.sh (what each exec step sources in the build's clone)", () => {
    const root = join(__dirname, "..", "..");
    let dir: string;
    beforeEach(() => {
        dir = mkdtempSync(join(tmpdir(), "spx-drone-env-"));
        mkdirSync(join(dir, "src"));
        copyFileSync(join(root, "package.json"), join(dir, "src", "package.json"));
        symlinkSync(join(root, "scripts"), join(dir, "src", "scripts"), "dir");
        mkdirSync(join(dir, "bin"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** Sources the script under `set -e` as the runner's step script does, with only PATH and HOME set. */
    const step = (env: Record<string, string>) =>
        spawnSync(
            "bash",
            ["-c", "set -e; . scripts/drone-env.sh; echo STACK=$SWARM_PROXY_STACK REPORTS=$SWARM_PROXY_REPORT_DIR"],
            {
                cwd: join(dir, "src"),
                env: { HOME: join(dir, "home"), ...env },
                encoding: "utf8",
            },
        );
    const pinned = (
        JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> }
    ).dependencies["@pulumi/pulumi"];

    it("uses the host's pulumi, plugins and stack file and says so; the reference host's stack by default", () => {
        writeFileSync(join(dir, "bin", "pulumi"), `#!/bin/sh\necho v${pinned}\n`, { mode: 0o755 });
        mkdirSync(join(dir, "pulumi-home", "plugins"), { recursive: true });
        writeFileSync(join(dir, "host.yaml"), "config: {}\n");
        const path = `${join(dir, "bin")}:${dirname(process.execPath)}:/usr/bin:/bin`;
        const r = step({
            PATH: path,
            PULUMI_HOME: join(dir, "pulumi-home"),
            SWARM_PROXY_STACK: "pipelines",
            SWARM_PROXY_STACK_CONFIG: join(dir, "host.yaml"),
        });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(
            r.stdout,
            new RegExp(`drone-env: pulumi: using the host's \\S+/bin/pulumi \\(v${pinned.replace(/\./g, "\\.")}\\)`),
        );
        assert.match(r.stdout, /drone-env: pulumi plugins: using the host's \S+\/pulumi-home\/plugins \(PULUMI_HOME\)/);
        assert.match(r.stdout, /drone-env: node: using the host's /);
        assert.equal(readFileSync(join(dir, "src", "Pulumi.pipelines.yaml"), "utf8"), "config: {}\n");
        assert.match(r.stdout, new RegExp(`STACK=pipelines REPORTS=${join(dir, "src")}$`, "m"));
        const plain = step({ PATH: path, PULUMI_HOME: join(dir, "pulumi-home") });
        assert.match(plain.stdout, /stack prod: config from the repository's Pulumi\.prod\.yaml/);
        assert.match(plain.stdout, /STACK=prod /);
    });

    it("without the host's pulumi it says, before anything else happens, that it builds it (and the step fails when it cannot)", () => {
        // Only what the scripts need up to the toolchain's own checks: no pulumi, no go, no node.
        for (const tool of ["bash", "sed", "dirname", "cp"]) {
            const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
            symlinkSync(found, join(dir, "bin", tool));
        }
        const r = step({ PATH: join(dir, "bin") });
        assert.match(r.stdout, /drone-env: pulumi: the host has no pulumi v\S+ on PATH: BUILDING it/);
        assert.match(r.stdout, /drone-env: node: no Node >= 22 on the host's PATH/);
        assert.notEqual(r.status, 0, "no go here: the toolchain cannot build, and the step stops");
        assert.doesNotMatch(r.stdout, /STACK=/);
    });
});
