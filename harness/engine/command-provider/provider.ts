// STAND-IN for the real command provider (pulumi/pulumi-command, `pulumi-resource-command`), used only by the
// engine tests and the sandbox wrapper (harness/run-pulumi.ts) on machines where the real provider cannot be built:
// the Go module proxy here does not serve its module. It is NOT the provider production runs use, and nothing in
// the operator docs may point at it.
//
// It implements `command:local:Command` only, after the real provider's local Command (provider/pkg/provider/
// local/command.go and commandOutputs.go, v1.x, on pulumi-go-provider's `infer`):
// - Check: inputs pass through; `addPreviousOutputInEnv` defaults to true (the real schema's default).
// - Diff: `triggers` is replaceOnChanges, so a change in it — or an unknown value in it during preview — is a
//   replacement; any other input change is an update; nothing changed is no diff. Outputs (stdout, stderr) are
//   never compared.
// - Create runs `create` (the engine never calls Create in preview: this server does not declare preview
//   support, so outputs are unknown in preview, as with the real one); Update runs `update`, else `create`;
//   Delete runs `delete` with the inputs stored in STATE (interpreter, dir, environment, stdin).
// - A command runs as `interpreter... command` (default /bin/sh -c) in `dir` (default the provider's working
//   directory), with the provider's environment plus `environment`, `stdin` on its standard input, and, when
//   addPreviousOutputInEnv, the previous stdout/stderr as PULUMI_COMMAND_STDOUT/STDERR. stdout and stderr are
//   captured with one trailing newline trimmed. A non-zero exit fails the step with the combined output in the
//   message; a failed Create records nothing (the real one returns a plain error, not a partial state).
// - The ID is the resource name followed by random hex.
// Not implemented (not used by this project): remote.Command, CopyToRemote, the run invoke, assetPaths,
// archivePaths, logging of output lines as diagnostics.
import * as child_process from "node:child_process";
import { randomBytes } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

export const TYPE = "command:local:Command";
/** The version @pulumi/command 1.2.1 asks the engine for: the engine loads this stand-in in its place. */
export const VERSION = "1.2.1";

/** The value the engine sends for an unknown (computed) input during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d";

export const INPUT_KEYS = [
    "interpreter",
    "dir",
    "environment",
    "stdin",
    "assetPaths",
    "archivePaths",
    "addPreviousOutputInEnv",
    "triggers",
    "create",
    "update",
    "delete",
] as const;
/** Inputs whose change replaces the resource (`provider:"replaceOnChanges"` in the real provider's schema). */
export const REPLACE_ON_CHANGES = ["triggers"];

type Props = Record<string, unknown>;

/** A secret's plain value (the engine wraps secrets as {sig, value}); everything else unchanged. */
function reveal(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(reveal);
    if (v !== null && typeof v === "object") {
        const o = v as Props;
        if (o[SPECIAL_SIG_KEY] === "1b47061264138c4ac30d75fd1eb44270") return reveal(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, reveal(x)]));
    }
    return v;
}

function containsUnknown(v: unknown): boolean {
    if (v === UNKNOWN) return true;
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (v !== null && typeof v === "object") return Object.values(v as Props).some(containsUnknown);
    return false;
}

/** Order-independent for object keys, order-dependent for arrays: how a property value compares. */
function canonical(v: unknown): string {
    const norm = (x: unknown): unknown => {
        if (Array.isArray(x)) return x.map(norm);
        if (x !== null && typeof x === "object") {
            return Object.fromEntries(
                Object.keys(x as Props)
                    .sort()
                    .map((k) => [k, norm((x as Props)[k])]),
            );
        }
        return x;
    };
    return JSON.stringify(norm(reveal(v)) ?? null);
}

function isSet(v: unknown): boolean {
    return v !== undefined && v !== null;
}

export interface CommandDiff {
    changes: boolean;
    replaces: string[];
    /** Input keys that differ (for the test's and a reader's benefit; the engine is told changes/replaces). */
    changed: string[];
}

/**
 * The real provider's Diff (infer's default diff over the input fields, `triggers` marked replaceOnChanges):
 * `olds` is the old state (inputs and outputs), `news` the checked new inputs.
 */
export function diffCommand(olds: Props, news: Props): CommandDiff {
    const changed: string[] = [];
    for (const key of INPUT_KEYS) {
        const o = olds[key];
        const n = news[key];
        if (!isSet(o) && !isSet(n)) continue;
        if (containsUnknown(n) || !isSet(o) || !isSet(n) || canonical(o) !== canonical(n)) changed.push(key);
    }
    const replaces = changed.filter((k) => REPLACE_ON_CHANGES.includes(k));
    return { changes: changed.length > 0, replaces, changed };
}

/** The real provider's Check: the inputs as given, with the schema default of addPreviousOutputInEnv. */
export function checkCommand(news: Props): Props {
    const inputs: Props = { ...news };
    if (!isSet(inputs.addPreviousOutputInEnv)) inputs.addPreviousOutputInEnv = true;
    return inputs;
}

export interface RunOutputs {
    stdout: string;
    stderr: string;
}

/** Runs one command as the real provider does; rejects with the combined output when it exits non-zero. */
export function runCommand(command: string, inputs: Props, previous?: RunOutputs): Promise<RunOutputs> {
    const plain = reveal(inputs) as Props;
    const interpreter =
        Array.isArray(plain.interpreter) && plain.interpreter.length > 0
            ? (plain.interpreter as string[])
            : ["/bin/sh", "-c"];
    const env: NodeJS.ProcessEnv = { ...process.env, ...((plain.environment as Record<string, string>) ?? {}) };
    if (plain.addPreviousOutputInEnv !== false && previous) {
        if (previous.stdout) env.PULUMI_COMMAND_STDOUT = previous.stdout;
        if (previous.stderr) env.PULUMI_COMMAND_STDERR = previous.stderr;
    }
    const stdin = typeof plain.stdin === "string" ? plain.stdin : "";
    return new Promise((resolve, reject) => {
        const child = child_process.spawn(interpreter[0], [...interpreter.slice(1), command], {
            cwd: typeof plain.dir === "string" ? plain.dir : process.cwd(),
            env,
            stdio: ["pipe", "pipe", "pipe"],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const both: Buffer[] = [];
        child.stdout.on("data", (d: Buffer) => {
            out.push(d);
            both.push(d);
        });
        child.stderr.on("data", (d: Buffer) => {
            err.push(d);
            both.push(d);
        });
        // A command that does not read all of its stdin closes the pipe early: not an error of the command.
        child.stdin.on("error", () => undefined);
        child.on("error", reject);
        child.on("close", (code, signal) => {
            if (code !== 0) {
                const status = signal ? `signal: ${signal}` : `exit status ${code}`;
                reject(
                    new Error(
                        `${status}: running ${JSON.stringify(command)}:\n${Buffer.concat(both).toString("utf8")}`,
                    ),
                );
                return;
            }
            const trim = (b: Buffer[]) => Buffer.concat(b).toString("utf8").replace(/\n$/, "");
            resolve({ stdout: trim(out), stderr: trim(err) });
        });
        child.stdin.end(stdin);
    });
}

function inputsOf(props: Props): Props {
    const inputs: Props = {};
    for (const key of INPUT_KEYS) if (isSet(props[key])) inputs[key] = props[key];
    return inputs;
}

function checkType(urn: string): void {
    // The URN's type is the parent chain, `$`-separated; the resource's own type is its last element.
    const type = (urn.split("::")[2] ?? "").split("$").pop();
    if (type !== TYPE) throw new Error(`the stand-in command provider implements ${TYPE} only, not ${type}`);
}

export const provider: pulumi.provider.Provider = {
    version: VERSION,
    async check(urn, _olds, news) {
        checkType(urn);
        return { inputs: checkCommand(news as Props) };
    },
    async diff(_id, urn, olds, news) {
        checkType(urn);
        const d = diffCommand(olds as Props, news as Props);
        return { changes: d.changes, replaces: d.replaces };
    },
    async create(urn, inputs) {
        checkType(urn);
        const props = inputsOf(inputs as Props);
        const name = urn.split("::")[3] ?? "command";
        const id = `${name}${randomBytes(4).toString("hex")}`;
        const outs =
            typeof props.create === "string" ? await runCommand(props.create, props) : { stdout: "", stderr: "" };
        return { id, outs: { ...props, ...outs } };
    },
    async update(_id, urn, olds, news) {
        checkType(urn);
        const props = inputsOf(news as Props);
        const old = olds as Props;
        const previous = { stdout: String(old.stdout ?? ""), stderr: String(old.stderr ?? "") };
        const cmd = typeof props.update === "string" ? props.update : props.create;
        const outs = typeof cmd === "string" ? await runCommand(cmd, props, previous) : previous;
        return { outs: { ...props, ...outs } };
    },
    // No Read of its own, like the real one: infer's default returns the recorded state and inputs unchanged,
    // so a refresh never reports drift of a command resource.
    async read(id, urn, props) {
        checkType(urn);
        const state = (props ?? {}) as Props;
        return { id, props: state, inputs: inputsOf(state) };
    },
    async delete(_id, urn, props) {
        checkType(urn);
        const state = props as Props;
        if (typeof state.delete !== "string") return;
        await runCommand(state.delete, inputsOf(state), {
            stdout: String(state.stdout ?? ""),
            stderr: String(state.stderr ?? ""),
        });
    },
};
