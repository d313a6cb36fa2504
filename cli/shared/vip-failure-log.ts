// Finds dockerd's VIP-allocation failures ("could not find an available IP while allocating VIP") since
// a time, in the journal or in a log file. These are the sign of an exhausted overlay (moby#37338).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CliError, errorMessage, readOptionFile } from "./errors";

const execFileP = promisify(execFile);

export const VIP_FAILURE = "could not find an available IP while allocating VIP";

export interface VipFailure {
    /** ISO time of the line, or null when the line carries none we can read. */
    time: string | null;
    /** The service ID dockerd names in "Failed allocation for service <id>", when it does. */
    service: string | null;
    line: string;
}

const LOGFMT_TIME = /\btime="([^"]+)"/;
const SERVICE = /Failed allocation for service ([A-Za-z0-9]+)/;

/** Pure: the failure in one log line (logfmt text or dockerd's JSON log format), if any. */
export function matchVipFailure(line: string, fallbackTime: string | null = null): VipFailure | undefined {
    if (!line.toLowerCase().includes(VIP_FAILURE.toLowerCase())) {
        return undefined;
    }
    let time: string | null = fallbackTime;
    let text = line;
    const trimmed = line.trim();
    if (trimmed.startsWith("{")) {
        try {
            const j = JSON.parse(trimmed) as { time?: unknown; msg?: unknown; error?: unknown };
            if (typeof j.time === "string") {
                time = j.time;
            }
            text = `${typeof j.msg === "string" ? j.msg : ""} ${typeof j.error === "string" ? j.error : ""} ${line}`;
        } catch {
            // Not JSON after all: read it as text.
        }
    }
    const t = LOGFMT_TIME.exec(line);
    if (t) {
        time = t[1];
    }
    const parsed = time === null ? Number.NaN : Date.parse(time);
    const service = SERVICE.exec(text)?.[1] ?? null;
    return { time: Number.isNaN(parsed) ? null : new Date(parsed).toISOString(), service, line: line.trim() };
}

/** Pure: failures in a log text at or after `since`; lines whose time cannot be read are kept (better a false alarm). */
export function scanLogText(text: string, since: Date): VipFailure[] {
    const out: VipFailure[] = [];
    for (const line of text.split("\n")) {
        const m = matchVipFailure(line);
        if (m && (m.time === null || Date.parse(m.time) >= since.getTime())) {
            out.push(m);
        }
    }
    return out;
}

/** Pure: failures in `journalctl -o json` output (one JSON object a line). */
export function scanJournalJson(text: string): VipFailure[] {
    const out: VipFailure[] = [];
    for (const line of text.split("\n")) {
        if (line.trim() === "") {
            continue;
        }
        let entry: { MESSAGE?: unknown; __REALTIME_TIMESTAMP?: unknown };
        try {
            entry = JSON.parse(line) as typeof entry;
        } catch {
            continue;
        }
        // journald gives MESSAGE as an array of bytes when it is not valid UTF-8.
        const msg =
            typeof entry.MESSAGE === "string"
                ? entry.MESSAGE
                : Array.isArray(entry.MESSAGE)
                  ? Buffer.from(entry.MESSAGE.filter((b): b is number => typeof b === "number")).toString("utf8")
                  : "";
        const us = typeof entry.__REALTIME_TIMESTAMP === "string" ? Number(entry.__REALTIME_TIMESTAMP) : Number.NaN;
        const m = matchVipFailure(msg, Number.isNaN(us) ? null : new Date(us / 1000).toISOString());
        if (m) {
            out.push(m);
        }
    }
    return out;
}

export interface LogSource {
    kind: "journal" | "file";
    /** The unit or the file read. */
    what: string;
}

export async function findVipFailures(source: LogSource, since: Date): Promise<VipFailure[]> {
    if (source.kind === "file") {
        return scanLogText(readOptionFile("--log-file", source.what), since);
    }
    // journalctl takes "@<seconds since the epoch>", which sidesteps time zones.
    const args = [
        "-u",
        source.what,
        "--since",
        `@${Math.floor(since.getTime() / 1000)}`,
        "-o",
        "json",
        "--no-pager",
        "-q",
    ];
    try {
        const { stdout } = await execFileP("journalctl", args, { maxBuffer: 512 * 1024 * 1024 });
        return scanJournalJson(stdout);
    } catch (e) {
        throw new CliError(
            `reading the journal (journalctl ${args.join(" ")}) failed: ${errorMessage(e).split("\n")[0]}; pass --log-file when dockerd logs to a file`,
        );
    }
}
