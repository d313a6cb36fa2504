// Drift's side of "the same checkout anywhere": a recorded path that changes from absolute to relative is no
// finding, and the fixes it prints name no folder of the check's own (a CI build's workspace) unless the operator
// gave one.
import * as assert from "node:assert/strict";
import { checkoutRelative } from "../../cli/drift/drift-command";
import type { Finding } from "../../cli/drift/findings";
import { parsePreviewJson, previewFindings } from "../../cli/drift/pulumi-preview";
import { type FixContext, withRemedies } from "../../cli/drift/remedies";
import { renderDriftMarkdown, summarize } from "../../cli/drift/report";

const URN = "urn:pulumi:prod::swarm-proxy::swarm-proxy:index:SwarmStack$command:local:Command::drone-stack";
const line = (file: string) => `'bash' '/var/lib/swarm-proxy/host/stack-deploy.sh' 'drone' '${file}'`;
const state = (file: string, digest: string) => ({
    inputs: { create: line(file), update: line(file), environment: { SWARM_PROXY_COMPOSE_SHA256: digest } },
});

/** The output of `pulumi preview --json`: the steps, and the summary that counts a path change as an update. */
function preview(...steps: { op: string; [key: string]: unknown }[]): string {
    const changeSummary: Record<string, number> = { same: 30 };
    for (const s of steps) changeSummary[s.op] = (changeSummary[s.op] ?? 0) + 1;
    return JSON.stringify({ steps, changeSummary, diagnostics: [] });
}

describe("drift: the same checkout anywhere", () => {
    it("an update that only records an absolute compose path as the same file's relative path is no finding", () => {
        const p = parsePreviewJson(
            preview({
                op: "update",
                urn: URN,
                oldState: state("/tmp/drone-x/drone/src/sandbox/stacks/drone.yml", "ab"),
                newState: state("sandbox/stacks/drone.yml", "ab"),
            }),
            "pulumi preview",
        );
        assert.deepEqual(p.changes, []);
        const f = previewFindings(p, "");
        assert.equal(f.length, 1);
        assert.equal(f[0].status, "ok");
        assert.equal(
            f[0].detail,
            "stack drone: recorded path changes (/tmp/drone-x/drone/src/sandbox/stacks/drone.yml -> sandbox/stacks/drone.yml); " +
                "`stack deploy` of an unchanged file restarts nothing; the next `pulumi up` records it",
        );
    });

    it("a changed compose file (another digest) is still drift, path change or not", () => {
        const p = parsePreviewJson(
            preview({
                op: "update",
                urn: URN,
                oldState: state("/srv/checkout/sandbox/stacks/drone.yml", "ab"),
                newState: state("sandbox/stacks/drone.yml", "cd"),
            }),
            "pulumi preview",
        );
        assert.deepEqual(p.changes, [{ op: "update", urn: URN }]);
        assert.deepEqual(p.pathChanges, []);
        assert.equal(previewFindings(p, "")[0].status, "drift");
    });

    const ctx: FixContext = {
        pulumiStack: "prod",
        projectDir: "/tmp/drone-x/drone/src",
        stackFile: "Pulumi.prod.yaml",
        hostScripts: "host",
        logArgs: [],
        since: new Date("2026-11-21T00:00:00Z"),
        attachedStacks: ["drone"],
        networkName: "proxy",
        subnet: "10.10.0.0/16",
    };
    const findings: Finding[] = [
        { check: "stack", subject: "drone", status: "drift", kind: "stack-missing", detail: "gone" },
        { check: "stack", subject: "extra", status: "drift", kind: "stack-unknown", detail: "x" },
        { check: "pulumi", subject: URN, status: "drift", kind: "pulumi-changes", detail: "would update" },
    ];

    it("the fixes name the stack and the command, no folder of the check's own, and `--cwd` only when the operator gave one", () => {
        const fixes = withRemedies(findings, ctx).flatMap((f) => f.fix ?? []);
        assert.ok(fixes.length >= 4, fixes.join("\n"));
        for (const c of fixes) {
            assert.doesNotMatch(c, /drone-x|--cwd/, c);
        }
        assert.ok(fixes.includes("env SWARM_PROXY_REDEPLOY=drone pulumi up --yes --stack prod"), fixes.join("\n"));
        assert.ok(fixes.includes("bash host/stack-teardown.sh extra 180"), fixes.join("\n"));
        const given = withRemedies(findings, { ...ctx, pulumiCwd: "/srv/swarm-proxy" }).flatMap((f) => f.fix ?? []);
        assert.ok(given.includes("env SWARM_PROXY_REDEPLOY=drone pulumi up --yes --stack prod --cwd /srv/swarm-proxy"));
    });

    it("the report says which stack (and folder, when given) the fixes are for", () => {
        const meta = { generatedAt: "now", host: "unix:///var/run/docker.sock", stackConfig: "Pulumi.prod.yaml" };
        const md = renderDriftMarkdown(summarize(findings, { ...meta, fixesFor: { pulumiStack: "prod" } }));
        assert.match(md, /- fixes: for Pulumi stack `prod`, run from your swarm-proxy checkout's folder/);
        const md2 = renderDriftMarkdown(
            summarize(findings, { ...meta, fixesFor: { pulumiStack: "prod", cwd: "/srv/swarm-proxy" } }),
        );
        assert.match(md2, /- fixes: for Pulumi stack `prod`, project folder `\/srv\/swarm-proxy`/);
    });

    it("files of the checkout are printed relative to it; others as given", () => {
        assert.equal(checkoutRelative("/tmp/b/src/Pulumi.prod.yaml", "/tmp/b/src"), "Pulumi.prod.yaml");
        assert.equal(checkoutRelative("/tmp/b/src/host", "/tmp/b/src"), "host");
        assert.equal(
            checkoutRelative("/etc/swarm-proxy/Pulumi.prod.yaml", "/tmp/b/src"),
            "/etc/swarm-proxy/Pulumi.prod.yaml",
        );
    });
});
