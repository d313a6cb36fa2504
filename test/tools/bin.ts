// The CLI as users and the Drone pipeline run it: `node cli/bin.js …` or `npx swarm-proxy …` in a child
// process, from any working directory, against the package's compiled build. In-process tests under ts-node
// cannot catch what differs there (where __dirname points, the build cache, exit codes, signals).
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./sandbox";

export const bin = join(root, "cli", "bin.js");

export interface BinResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    out: string;
    err: string;
    /** Milliseconds from spawning to the first byte on stdout or stderr, and to exit. */
    firstOutputMs: number;
    totalMs: number;
}

export interface BinOptions {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    uid?: number;
    gid?: number;
    /** Run through `npx swarm-proxy` (resolved from `cwd`'s package) instead of `node <root>/cli/bin.js`. */
    npx?: boolean;
    /** The package whose bin is run (default: this checkout). */
    packageDir?: string;
    /** Called once the child is running; it may signal it. */
    started?: (child: ChildProcess) => void;
}

export function runBin(args: string[], o: BinOptions): Promise<BinResult> {
    const [cmd, argv] = o.npx
        ? ["npx", ["--no-install", "swarm-proxy", ...args]]
        : [process.execPath, [join(o.packageDir ?? root, "cli", "bin.js"), ...args]];
    const t0 = Date.now();
    // Its own process group, so a test can send SIGINT to the whole group as a terminal's Ctrl-C does.
    const child = spawn(cmd, argv, {
        cwd: o.cwd,
        env: o.env ?? process.env,
        uid: o.uid,
        gid: o.gid,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let first = -1;
    const mark = () => {
        if (first < 0) {
            first = Date.now() - t0;
        }
    };
    child.stdout.on("data", (d: Buffer) => {
        mark();
        out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
        // npm's own warnings under npx are not the CLI's first output.
        if (!/^(npm warn[^\n]*\n)*$/.test(d.toString())) {
            mark();
        }
        err += d.toString();
    });
    o.started?.(child);
    return new Promise((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code, signal) =>
            resolve({ code, signal, out, err, firstOutputMs: first, totalMs: Date.now() - t0 }),
        );
    });
}

/**
 * A fresh copy of the package as a clone would have it (sources, host scripts, package.json; no build
 * cache), sharing this checkout's node_modules. Readable by everyone, writable only by root.
 */
export function copyPackage(): string {
    const dir = mkdtempSync(join(tmpdir(), "spx-clone-"));
    chmodSync(dir, 0o755);
    for (const f of ["package.json", "tsconfig.json", "config.ts", "cli", "src", "host"]) {
        cpSync(join(root, f), join(dir, f), { recursive: true });
    }
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    return dir;
}

export function parsed<T>(r: BinResult): T {
    try {
        return JSON.parse(r.out) as T;
    } catch {
        throw new Error(`not JSON (exit ${r.code}): ${r.out}\n${r.err}`);
    }
}

/**
 * The removal command a failed run printed (its line starting "remove it with: "), split into one argv per
 * step of `a && b` the way a POSIX shell would split the CLI's quoting (plain words, '…' and '\'' only), so
 * the test runs exactly what the operator is told to run, without a shell.
 */
export function removalCommands(err: string): string[][] {
    const line = /^(?:swarm-proxy \S+: )?remove it with: (.*)$/m.exec(err)?.[1];
    if (line === undefined) {
        throw new Error(`no "remove it with: " line in:\n${err}`);
    }
    const steps: string[][] = [[]];
    let word: string | undefined;
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === "'") {
            const end = line.indexOf("'", i + 1);
            if (end < 0) {
                throw new Error(`unbalanced quote in: ${line}`);
            }
            word = (word ?? "") + line.slice(i + 1, end);
            i = end;
        } else if (c === "\\") {
            word = (word ?? "") + line[++i];
        } else if (c === " ") {
            if (word !== undefined) {
                steps[steps.length - 1].push(word);
                word = undefined;
            }
        } else if (c === "&" && word === undefined && line[i + 1] === "&") {
            steps.push([]);
            i++;
        } else if (/[;|<>()$`"*?&]/.test(c)) {
            throw new Error(`not a plain command line (${c}): ${line}`);
        } else {
            word = (word ?? "") + c;
        }
    }
    if (word !== undefined) {
        steps[steps.length - 1].push(word);
    }
    if (steps.some((s) => s.length === 0)) {
        throw new Error(`an empty step in: ${line}`);
    }
    return steps;
}
