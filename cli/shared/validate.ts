// Every value that reaches dockerd, a child process or a file name is checked here first, and a bad one
// is refused with one message naming the key, the value and what is allowed.
import { NAME_PATTERN, NAME_RULE } from "../../src/names";
import { checkCanonicalCidr } from "../../src/subnet";
import { CliError } from "./errors";

/** The program's naming rule (src/names.ts). */
export function checkName(key: string, value: string): string {
    if (!NAME_PATTERN.test(value)) {
        throw new CliError(`${key}: ${JSON.stringify(value)} is not a valid name (${NAME_RULE})`);
    }
    return value;
}

export function checkInt(key: string, value: string, min: number, max: number): number {
    const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
        throw new CliError(`${key}: ${JSON.stringify(value)} is not an integer from ${min} to ${max}`);
    }
    return n;
}

export function checkNumber(key: string, value: string, min: number, max: number): number {
    const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
        throw new CliError(`${key}: ${JSON.stringify(value)} is not a number from ${min} to ${max}`);
    }
    return n;
}

export function checkChoice<T extends string>(key: string, value: string, allowed: readonly T[]): T {
    const found = allowed.find((a) => a === value);
    if (found === undefined) {
        throw new CliError(`${key}: ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`);
    }
    return found;
}

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const SINCE_FORM = "an ISO 8601 time (2026-11-21T10:00:00Z) or a duration back from now (90m, 24h, 7d)";

/** A point in time given as an ISO timestamp or as a duration back from `now`. */
export function checkSince(key: string, value: string, now: Date = new Date()): Date {
    const rel = DURATION.exec(value);
    if (rel) {
        return new Date(now.getTime() - Number(rel[1]) * UNIT_MS[rel[2]]);
    }
    const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(t)) {
        throw new CliError(`${key}: ${JSON.stringify(value)} is not ${SINCE_FORM}`);
    }
    return new Date(t);
}

/** The program's CIDR check (src/subnet.ts), as one operator-facing message. */
export function checkCidr(key: string, value: string): string {
    try {
        return checkCanonicalCidr(key, value);
    } catch (e) {
        throw new CliError((e as Error).message);
    }
}
