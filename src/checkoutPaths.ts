// What the state records about files of the repository (compose files, the NixOS module) must not depend on where
// the checkout is: Drone's exec runner clones every build into a fresh temporary workspace, and the operator's own
// checkout is somewhere else again. A file inside the project is recorded by its path relative to the project (the
// commands run in the project's folder) and its content digest; a path outside it is a host path, kept as given.
// Over SSH the host cannot read the checkout: a compose file inside the project is shipped beside the host scripts,
// to a path keyed by its digest and its relative path (shippedComposePath), which the state records instead.
// Before this, the program recorded absolute paths: the pure checks here tell that one-time change apart from a
// real one, for the program's preview note and for drift alike.
import * as path from "node:path";

/** A file's path as recorded: relative to the project (POSIX separators) when inside it, else absolute as given. */
export function projectPath(baseDir: string, file: string): string {
    const full = path.resolve(baseDir, file);
    const rel = path.relative(baseDir, full);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return full;
    return rel.split(path.sep).join(path.posix.sep);
}

/** Whether a file (relative to the project or absolute) lies inside the project. */
export function insideProject(baseDir: string, file: string): boolean {
    return !path.isAbsolute(projectPath(baseDir, file));
}

/** The folder under the host scripts' directory that compose files shipped over SSH are written to. */
export const SHIPPED_COMPOSE_DIR = "compose";

/**
 * Where a compose file inside the project lives on the host once shipped: under its content digest, then its
 * project-relative path. The deploy command names it, so over SSH (where a command carries no environment) a
 * changed file changes that stack's command line alone, and an unchanged one the same line from every checkout.
 */
export function shippedComposePath(scriptsDir: string, rel: string, digest: string): string {
    return path.posix.join(scriptsDir, SHIPPED_COMPOSE_DIR, digest, rel);
}

/** The project-relative path a shipped compose path names, or undefined when the path is not one. */
export function shippedRelative(p: string): string | undefined {
    if (!path.posix.isAbsolute(p)) return undefined;
    return new RegExp(`/${SHIPPED_COMPOSE_DIR}/[0-9a-f]{64}/(.+)$`).exec(p)?.[1];
}

/**
 * One recorded path that changes from an absolute path to the same file's project-relative path, or (over SSH) to
 * the path the same file is shipped to.
 */
export interface PathChange {
    from: string;
    to: string;
}

/** The command's inputs that can hold a path: its command lines and its environment. */
export interface CommandInputs {
    create?: unknown;
    update?: unknown;
    environment?: unknown;
    [key: string]: unknown;
}

/**
 * `from` is the absolute path that `to`, relative to some checkout or shipped from it, named. A shipped `from` is
 * never one: between two shipped paths of the same file only the digest differs, and that is a changed file.
 */
function samePlace(from: string, to: string): boolean {
    if (!path.posix.isAbsolute(from) || shippedRelative(from) !== undefined) return false;
    const rel = path.posix.isAbsolute(to) ? shippedRelative(to) : to;
    return rel !== undefined && from.endsWith(`/${rel}`);
}

/** The words of a command line as hostCommand renders it (argvLine: single quotes, `'\\''` for a quote). */
function words(line: string): string[] {
    const out: string[] = [];
    let word: string | undefined;
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === " ") {
            if (word !== undefined) out.push(word);
            word = undefined;
        } else if (c === "'") {
            const close = line.indexOf("'", i + 1);
            const end = close < 0 ? line.length : close;
            word = (word ?? "") + line.slice(i + 1, end);
            i = end;
        } else if (c === "\\" && i + 1 < line.length) {
            word = (word ?? "") + line[++i];
        } else {
            word = (word ?? "") + c;
        }
    }
    if (word !== undefined) out.push(word);
    return out;
}

function lineChanges(oldLine: unknown, newLine: unknown, changes: PathChange[]): boolean {
    if (oldLine === newLine) return true;
    if (typeof oldLine !== "string" || typeof newLine !== "string") return false;
    const a = words(oldLine);
    const b = words(newLine);
    if (a.length !== b.length) return false;
    for (const [i, w] of a.entries()) {
        if (w === b[i]) continue;
        if (!samePlace(w, b[i])) return false;
        changes.push({ from: w, to: b[i] });
    }
    return true;
}

function stableJson(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
    if (v !== null && typeof v === "object") {
        const o = v as Record<string, unknown>;
        return `{${Object.keys(o)
            .filter((k) => o[k] !== undefined)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(v) ?? "null";
}

/**
 * Pure: the path changes, when the only difference between a command's recorded inputs and its new ones is that
 * absolute paths became the same files' project-relative paths (in its command lines or its environment's values);
 * undefined when anything else differs (a new digest, another file, another argument), or when nothing does.
 */
export function pathOnlyChange(recorded: CommandInputs, next: CommandInputs): PathChange[] | undefined {
    const changes: PathChange[] = [];
    const keys = new Set([...Object.keys(recorded), ...Object.keys(next)]);
    for (const key of keys) {
        const a = recorded[key];
        const b = next[key];
        if (key === "create" || key === "update") {
            if (!lineChanges(a, b, changes)) return undefined;
        } else if (key === "environment" && a && b && typeof a === "object" && typeof b === "object") {
            const ea = a as Record<string, unknown>;
            const eb = b as Record<string, unknown>;
            for (const v of new Set([...Object.keys(ea), ...Object.keys(eb)])) {
                if (ea[v] === eb[v]) continue;
                if (typeof ea[v] !== "string" || typeof eb[v] !== "string" || !samePlace(ea[v], eb[v]))
                    return undefined;
                changes.push({ from: ea[v], to: eb[v] });
            }
        } else if (stableJson(a) !== stableJson(b)) {
            return undefined;
        }
    }
    return changes.length > 0 ? changes : undefined;
}

/** The preview's note for a stack whose recorded compose path changes and nothing else (the issue's wording). */
export function recordedPathNote(stack: string, changes: PathChange[]): string {
    const what = [...new Map(changes.map((c) => [`${c.from} -> ${c.to}`, c])).keys()].join(", ");
    // Over SSH the old path was the host's own copy, whose content the state never recorded: the claim is the same
    // only if that copy was the project's file.
    const shipped = changes.some((c) => shippedRelative(c.to) !== undefined)
        ? "; the project's file is now shipped to the host, the same as the host's file at the old path if that was a copy of it"
        : "";
    return `stack ${stack}: recorded path changes (${what}); \`stack deploy\` of an unchanged file restarts nothing${shipped}`;
}
