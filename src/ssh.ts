// The program's one way onto a host over SSH: the system ssh client with the operator's agent or keys, no
// prompt, and only the pinned host key accepted. Commands run through it as argv (each word single-quoted
// for the remote shell, nothing spliced), and the Engine API reaches dockerd through it as the docker CLI
// does for ssh:// hosts (`docker system dial-stdio` on the host, its stdio as the HTTP connection).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Duplex } from "node:stream";
import { PROJECT } from "./project";
import type { Runner } from "./runner";

export interface SshTarget {
    host: string;
    port: number;
    user: string;
    /** The host's public key as `TYPE BASE64`, pinned in the config. */
    hostKey: string;
}

/**
 * A known_hosts file that pins the configured host key, at a path made from the host and port alone: the Docker
 * provider's ssh options name it, so they stay the same from run to run (a changed pin rewrites the file, not
 * the provider's config). The file holds only the public key.
 */
export function knownHostsFile(host: string, port: number, hostKey: string): string {
    const text = `[${host}]:${port} ${hostKey}\n${host} ${hostKey}\n`;
    const id = createHash("sha256").update(`${host}:${port}`).digest("hex").slice(0, 16);
    const file = path.join(os.tmpdir(), `swarm-proxy-known-hosts-${id}`);
    if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text) {
        fs.writeFileSync(`${file}.${process.pid}`, text, { mode: 0o644 });
        fs.renameSync(`${file}.${process.pid}`, file);
    }
    return file;
}

/** The options every ssh client of the program uses: no prompt, and only the pinned host key is accepted. */
export function sshOptions(host: string, port: number, hostKey: string): string[] {
    return [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        `UserKnownHostsFile=${knownHostsFile(host, port, hostKey)}`,
    ];
}

/**
 * ssh's arguments to run argv on the target; the options (and the pinned known_hosts file) are made once, not
 * for every command or connection.
 */
function sshArgs(t: SshTarget): (argv: string[]) => string[] {
    const opts = sshOptions(t.host, t.port, t.hostKey);
    return (argv) => [...opts, "-p", String(t.port), "-l", t.user, "--", t.host, argv.map(shellQuote).join(" ")];
}

/** The host did not show the pinned key: the message is the operator's, printed as is. */
export class HostKeyError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "HostKeyError";
    }
}

/**
 * The refusal when ssh's stderr says the host key did not match the pin, else undefined. ssh checks the host
 * key before it authenticates, so nothing ran on the host.
 */
export function hostKeyRefusal(t: SshTarget, stderr: string): HostKeyError | undefined {
    if (!/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/.test(stderr)) {
        return undefined;
    }
    return new HostKeyError(
        `${PROJECT}:connection.hostKey: the host key of ${t.host}:${t.port} does not match the pinned ` +
            `${t.hostKey.split(" ")[0]} key; ssh refused the host before any command ran. Check the host ` +
            "(`ssh-keyscan -p PORT HOST` from a trusted network) and pin its key.",
    );
}

/**
 * Runs argv on the host over SSH and returns its stdout. The remote side gets each argument single-quoted,
 * because ssh joins its arguments into one remote command line.
 */
export function sshRunner(t: SshTarget): Runner {
    const args = sshArgs(t);
    return (argv) => {
        try {
            return execFileSync("ssh", args(argv), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        } catch (e) {
            throw hostKeyRefusal(t, String((e as { stderr?: unknown }).stderr ?? "")) ?? e;
        }
    };
}

/**
 * A dialer: each call runs argv on the host over SSH and returns its stdin and stdout as one stream (what an
 * HTTP client needs for a connection). The stream ends when ssh exits 0, and fails with ssh's own words (or
 * the host-key refusal) otherwise; destroying it stops ssh.
 */
export function sshDialer(t: SshTarget, argv: string[]): () => Duplex {
    const args = sshArgs(t)(argv);
    return () => sshDial(t, args);
}

function sshDial(t: SshTarget, args: string[]): Duplex {
    const child: ChildProcess = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
    const stdin = child.stdin!;
    const stdout = child.stdout!;
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
    });
    let timer: NodeJS.Timeout | undefined;
    const stream = new Duplex({
        read() {
            stdout.resume();
        },
        write(chunk: Buffer, _enc, cb) {
            stdin.write(chunk, cb);
        },
        final(cb) {
            stdin.end();
            cb();
        },
        destroy(err, cb) {
            clearTimeout(timer);
            if (child.exitCode === null && child.signalCode === null) {
                child.kill();
            }
            cb(err);
        },
    });
    stdout.on("data", (d: Buffer) => {
        if (!stream.push(d)) {
            stdout.pause();
        }
    });
    // Writes after ssh is gone fail here; the exit below reports why.
    stdin.on("error", () => undefined);
    child.on("error", (e) => stream.destroy(e));
    child.on("close", (code) => {
        if (stream.destroyed) {
            return;
        }
        if (code === 0) {
            stream.push(null);
            return;
        }
        stream.destroy(
            hostKeyRefusal(t, stderr) ??
                new Error(`ssh ${t.user}@${t.host}:${t.port} exited ${code ?? "on a signal"}: ${stderr.trim()}`),
        );
    });
    // What Node's HTTP client asks of a socket: an idle timeout (the request's own), and no-ops for the rest.
    Object.assign(stream, {
        setTimeout(ms: number, cb?: () => void) {
            clearTimeout(timer);
            if (cb) {
                stream.once("timeout", cb);
            }
            if (ms > 0) {
                timer = setTimeout(() => stream.emit("timeout"), ms);
            }
            return stream;
        },
        setNoDelay: () => stream,
        setKeepAlive: () => stream,
        ref: () => stream,
        unref: () => stream,
    });
    return stream;
}

const PLAIN_WORD = /^[A-Za-z0-9_./:=@%+,-]+$/;

/** One word for a POSIX shell: as is when it holds nothing special, else single-quoted (commands shown to a person). */
export function shellWord(word: string): string {
    return PLAIN_WORD.test(word) ? word : shellQuote(word);
}

/** Single-quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}
