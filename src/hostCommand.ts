// Turns "run host script X with these arguments" into a command resource, local or over SSH.
// The scripts travel on stdin as one bundle, so the host needs no checkout of this repository and a
// delete runs exactly the teardown that was stored in state with the resource.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "./hostFacts";

export const HOST_DIR = path.join(__dirname, "..", "host");

export type HostScript =
    | "stack-deploy"
    | "stack-restart-unit"
    | "stack-teardown"
    | "stacks-teardown"
    | "stack-health"
    | "network-ensure"
    | "network-remove"
    | "gate-quiescent"
    | "http-probe"
    | "run";

export interface Invocation {
    script: HostScript;
    args: string[];
}

export type Target =
    | { mode: "local" }
    | { mode: "ssh"; host: string; port: number; user: string; hostKey: string; privateKey: pulumi.Input<string> };

function fnName(script: HostScript): string {
    return `sp_main_${script.replace(/-/g, "_")}`;
}

/** One bash program: lib.sh, then each script as a function, then a dispatcher on the first argument. */
export function bundle(scripts: readonly HostScript[], hostDir: string = HOST_DIR): string {
    const unique = [...new Set(scripts)].sort();
    const parts = ["#!/usr/bin/env bash", fs.readFileSync(path.join(hostDir, "lib.sh"), "utf8")];
    for (const s of unique) {
        parts.push(`${fnName(s)}() {\n${fs.readFileSync(path.join(hostDir, `${s}.sh`), "utf8")}\n}`);
    }
    const cases = unique.map((s) => `  ${s}) ${fnName(s)} "$@" ;;`).join("\n");
    parts.push(`sp_entry=$1\nshift\ncase "$sp_entry" in\n${cases}\n  *) echo "unknown host script: $sp_entry" >&2; exit 2 ;;\nesac`);
    return parts.join("\n");
}

/** The command line that runs one script of the bundle; every argument is single-quoted. */
export function commandLine(inv: Invocation): string {
    return ["bash", "-s", "--", inv.script, ...inv.args].map((w, i) => (i < 4 ? w : shellQuote(w))).join(" ");
}

export interface HostCommandArgs {
    create: Invocation;
    update?: Invocation;
    delete?: Invocation;
    triggers?: pulumi.Input<unknown[]>;
    /** Inputs whose change re-runs `update` (or `create`) in place, such as a compose file's digest. */
    environment?: Record<string, pulumi.Input<string>>;
}

/** A command resource that runs host scripts on the target. */
export function hostCommand(name: string, args: HostCommandArgs, target: Target, opts: pulumi.CustomResourceOptions): command.local.Command | command.remote.Command {
    const invs = [args.create, args.update, args.delete].filter((i): i is Invocation => i !== undefined);
    const common = {
        create: commandLine(args.create),
        update: args.update ? commandLine(args.update) : undefined,
        delete: args.delete ? commandLine(args.delete) : undefined,
        stdin: bundle(invs.map((i) => i.script)),
        triggers: args.triggers,
        addPreviousOutputInEnv: false,
    };
    if (target.mode === "local") {
        return new command.local.Command(name, { ...common, environment: args.environment, interpreter: ["/bin/sh", "-c"] }, opts);
    }
    return new command.remote.Command(name, {
        ...common,
        // sshd may drop variables it does not AcceptEnv; harmless, since they only carry digests whose
        // change is what makes the engine re-run the update.
        environment: args.environment,
        connection: {
            host: target.host,
            port: target.port,
            user: target.user,
            privateKey: pulumi.secret(target.privateKey),
            hostKey: target.hostKey,
        },
    }, { ...opts, additionalSecretOutputs: ["connection"] });
}
