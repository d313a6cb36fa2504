// Turns "run host script X with these arguments" into a command resource, local or over SSH.
//
// The scripts live on the host, in one directory (connection.scriptsDir) that a single resource keeps up to
// date (HostScripts: its stdin is the installer below). Every other resource runs `bash DIR/SCRIPT.sh ARG...`:
// its inputs never contain a script's text, so editing a script changes only the resource that carries them,
// never one that deploys, tears down or rebuilds (pulumi-command re-runs `create` on any input change). A
// delete runs the teardown installed on the host, the newest one the program delivered. Over SSH the same
// installer ships the project's compose files (by content: an unchanged file leaves its input as it was).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { SHIPPED_COMPOSE_DIR } from "./checkoutPaths";
import { shellQuote } from "./ssh";

export const HOST_DIR = path.join(__dirname, "..", "host");

export type HostScript =
    | "stack-deploy"
    | "stack-restart-unit"
    | "stack-deploy-command"
    | "stack-teardown"
    | "stacks-teardown"
    | "stack-health"
    | "network-ensure"
    | "network-remove"
    | "network-clear"
    | "network-move"
    | "gate-quiescent"
    | "http-probe";

export interface Invocation {
    script: HostScript;
    args: string[];
}

export type Target =
    | { mode: "local"; scriptsDir: string }
    | {
          mode: "ssh";
          scriptsDir: string;
          host: string;
          port: number;
          user: string;
          hostKey: string;
          privateKey: pulumi.Input<string>;
      };

/**
 * Scripts installed only for a configuration that runs them: the installer's text is an input of the scripts'
 * resource, so a script every configuration got would update that resource on every host that upgrades.
 */
export const OPTIONAL_SCRIPTS: readonly HostScript[] = ["stack-deploy-command"];

/**
 * The files the installer puts on the host: lib.sh and every script beside it but the optional ones not asked
 * for, sorted by name.
 */
export function hostFiles(
    hostDir: string = HOST_DIR,
    optional: readonly HostScript[] = [],
): { name: string; text: string }[] {
    const left = OPTIONAL_SCRIPTS.filter((o) => !optional.includes(o)).map((o) => `${o}.sh`);
    return fs
        .readdirSync(hostDir)
        .filter((f) => f.endsWith(".sh") && !left.includes(f))
        .sort()
        .map((name) => ({ name, text: fs.readFileSync(path.join(hostDir, name), "utf8") }));
}

/** A compose file of the project shipped to the host (over SSH): its project-relative path, digest and content. */
export interface ShippedFile {
    rel: string;
    digest: string;
    content: Buffer;
}

/**
 * A bash program that installs the host scripts into the directory given as its first argument: each file is
 * written beside its final name and renamed over it, so a teardown that starts meanwhile reads either the
 * old file or the new one, never half of one. Files are carried base64-encoded, so no script text is ever
 * parsed by the shell that installs it. Prints the bundle's digest.
 *
 * With `shipped`, it also writes each compose file to DIR/compose/DIGEST/REL (shippedComposePath), the same way,
 * and removes the digests it no longer ships, so that the folder holds what this configuration deploys. Without
 * any, its text is what it was before compose files were shipped: nothing changes for a host that ships none.
 */
export function installer(
    hostDir: string = HOST_DIR,
    shipped: readonly ShippedFile[] = [],
    optional: readonly HostScript[] = [],
): string {
    const files = hostFiles(hostDir, optional);
    const digest = createHash("sha256");
    for (const f of files) {
        digest.update(`${f.name}\0${f.text}\0`);
    }
    const lines = [
        "set -euo pipefail",
        // a bash parameter expansion, not a template
        "dir=${1:?usage: bash -s -- DIR}",
        'case "$dir" in /*) ;; *) echo "scripts directory $dir is not an absolute path" >&2; exit 2 ;; esac',
        'mkdir -p -- "$dir"',
        'put() { printf \'%s\' "$2" | base64 -d >"$dir/.$1.new"; chmod 0755 "$dir/.$1.new"; mv -f -- "$dir/.$1.new" "$dir/$1"; }',
    ];
    for (const f of files) {
        lines.push(`put ${shellQuote(f.name)} ${shellQuote(Buffer.from(f.text).toString("base64"))}`);
    }
    const sum = digest.digest("hex");
    if (shipped.length > 0) {
        lines.push(...shipLines(shipped));
    }
    lines.push(
        `printf '%s\\n' ${shellQuote(sum)} >"$dir/.digest.new"`,
        'mv -f -- "$dir/.digest.new" "$dir/DIGEST"',
        `echo ${shellQuote(sum)}`,
    );
    return `${lines.join("\n")}\n`;
}

/** The installer's lines that write the shipped compose files and remove the digests no longer shipped. */
function shipLines(shipped: readonly ShippedFile[]): string[] {
    const byPath = new Map<string, ShippedFile>();
    for (const f of shipped) {
        // The digest names the file's folder on the host: one that is not the content's would ship another file there.
        const sum = createHash("sha256").update(f.content).digest("hex");
        if (f.digest !== sum || f.rel === "" || path.posix.isAbsolute(f.rel) || f.rel.split("/").includes("..")) {
            throw new Error(
                `compose file ${JSON.stringify(f.rel)} (sha256 ${f.digest}): only a project-relative path with its ` +
                    `content's sha256 (${sum}) is shipped`,
            );
        }
        byPath.set(`${f.digest}/${f.rel}`, f);
    }
    const files = [...byPath.entries()].sort(([a], [b]) => a.localeCompare(b));
    const digests = [...new Set(files.map(([, f]) => f.digest))];
    return [
        `top="$dir/"${shellQuote(SHIPPED_COMPOSE_DIR)}`,
        // Compose files are read, never run: 0644.
        'ship() { local f="$top/$1"; mkdir -p -- "${f%/*}"; printf \'%s\' "$2" | base64 -d >"${f%/*}/.${f##*/}.new"; chmod 0644 "${f%/*}/.${f##*/}.new"; mv -f -- "${f%/*}/.${f##*/}.new" "$f"; }',
        ...files.map(([p, f]) => `ship ${shellQuote(p)} ${shellQuote(f.content.toString("base64"))}`),
        `keep=(${digests.map(shellQuote).join(" ")})`,
        "shopt -s nullglob",
        'for d in "$top"/*/; do d=${d%/}; case " ${keep[*]} " in *" ${d##*/} "*) ;; *) rm -rf -- "$d" ;; esac; done',
    ];
}

/** Where an installed script is on the host. */
export function scriptPath(scriptsDir: string, script: HostScript): string {
    return path.posix.join(scriptsDir, `${script}.sh`);
}

/** The command line that runs one installed script; every word is single-quoted. */
export function commandLine(scriptsDir: string, inv: Invocation): string {
    return argvLine(["bash", scriptPath(scriptsDir, inv.script), ...inv.args]);
}

/** The command line that runs a program as given (argv), single-quoted. */
export function argvLine(argv: readonly string[]): string {
    return argv.map(shellQuote).join(" ");
}

export interface CommandSpec {
    create: string;
    update?: string;
    delete?: string;
    stdin?: string;
    triggers?: pulumi.Input<unknown[]>;
    /** Inputs whose change re-runs `update` (or `create`) in place, such as a compose file's digest. */
    environment?: Record<string, pulumi.Input<string>>;
}

export interface HostCommandArgs {
    create: Invocation;
    update?: Invocation;
    delete?: Invocation;
    /** What the command gets on stdin (no host script reads it): a change re-runs `update` (or `create`) in place. */
    stdin?: string;
    triggers?: pulumi.Input<unknown[]>;
    environment?: Record<string, pulumi.Input<string>>;
}

/** A command resource that runs installed host scripts on the target. */
export function hostCommand(
    name: string,
    args: HostCommandArgs,
    target: Target,
    opts: pulumi.CustomResourceOptions,
): command.local.Command | command.remote.Command {
    const line = (inv: Invocation | undefined) => (inv ? commandLine(target.scriptsDir, inv) : undefined);
    return targetCommand(
        name,
        {
            create: line(args.create)!,
            update: line(args.update),
            delete: line(args.delete),
            stdin: args.stdin,
            triggers: args.triggers,
            environment: args.environment,
        },
        target,
        opts,
    );
}

/** A command resource on the target: local.Command, or remote.Command with the pinned host key. */
export function targetCommand(
    name: string,
    spec: CommandSpec,
    target: Target,
    opts: pulumi.CustomResourceOptions,
): command.local.Command | command.remote.Command {
    const common = {
        create: spec.create,
        update: spec.update,
        delete: spec.delete,
        stdin: spec.stdin,
        triggers: spec.triggers,
        addPreviousOutputInEnv: false,
    };
    if (target.mode === "local") {
        return new command.local.Command(
            name,
            { ...common, environment: spec.environment, interpreter: ["/bin/sh", "-c"] },
            opts,
        );
    }
    return new command.remote.Command(
        name,
        {
            ...common,
            // The command provider sets them with the SSH session's setenv, which sshd refuses (and the command
            // fails) for variables it does not AcceptEnv: nothing the program runs over SSH carries variables (the
            // redeploy token is the command's stdin).
            environment: spec.environment,
            connection: {
                host: target.host,
                port: target.port,
                user: target.user,
                privateKey: pulumi.secret(target.privateKey),
                hostKey: target.hostKey,
            },
        },
        { ...opts, additionalSecretOutputs: ["connection"] },
    );
}
