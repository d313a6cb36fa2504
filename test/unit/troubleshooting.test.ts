// Every message a host script can stop with (`sp_die "..."` in host/) has its entry in the README's troubleshooting
// section, found by its first words: the entries quote each message's opening with `…` where the message has a
// name or a value, and the message, read the same way, must start with one of them.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const root = path.join(__dirname, "..", "..");

/**
 * The double-quoted argument of each `sp_die "..."` in a shell script, as written (expansions included). Quotes
 * inside `$(...)` and `${...}` belong to the expansion, not to the message.
 */
export function dieMessages(script: string): { line: number; text: string }[] {
    const found: { line: number; text: string }[] = [];
    const re = /\bsp_die "/g;
    for (let m = re.exec(script); m; m = re.exec(script)) {
        let i = m.index + m[0].length;
        let depth = 0;
        let text = "";
        for (; i < script.length; i++) {
            const c = script[i];
            if (c === "\\" && depth === 0) {
                text += script.slice(i, i + 2);
                i++;
                continue;
            }
            if (c === '"' && depth === 0) break;
            if (c === "$" && (script[i + 1] === "(" || script[i + 1] === "{")) {
                depth++;
                text += script.slice(i, i + 2);
                i++;
                continue;
            }
            if (depth > 0 && (c === "(" || c === "{")) depth++;
            if (depth > 0 && (c === ")" || c === "}")) depth--;
            text += c;
        }
        found.push({ line: script.slice(0, m.index).split("\n").length, text });
    }
    return found;
}

/** A message as the operator reads it: each expansion ($x, ${...}, $(...)) is `…`, spaces collapsed. */
export function template(message: string): string {
    let out = "";
    for (let i = 0; i < message.length; i++) {
        const c = message[i];
        if (c === "\\") {
            out += message[++i] ?? "";
        } else if (c === "$" && (message[i + 1] === "(" || message[i + 1] === "{")) {
            let depth = 0;
            for (i++; i < message.length; i++) {
                if (message[i] === "(" || message[i] === "{") depth++;
                if (message[i] === ")" || message[i] === "}") depth--;
                if (depth === 0) break;
            }
            out += "…";
        } else if (c === "$" && /[0-9*@#?]/.test(message[i + 1] ?? "")) {
            i++;
            out += "…";
        } else if (c === "$" && /[A-Za-z_]/.test(message[i + 1] ?? "")) {
            i++;
            while (/[A-Za-z0-9_]/.test(message[i + 1] ?? "")) i++;
            out += "…";
        } else {
            out += c;
        }
    }
    return out.replace(/…+/g, "…").replace(/\s+/g, " ").trim();
}

/** The words of a template that are the message's own (not a name or value). */
const ownWords = (t: string) => t.split(/[^A-Za-z]+/).filter((w) => w.length > 1);

/** The quoted openings (code spans) of the README's troubleshooting section. */
function entries(readme: string): string[] {
    const start = readme.indexOf("\n## Troubleshooting");
    assert.ok(start >= 0, "README.md has no '## Troubleshooting' section");
    const end = readme.indexOf("\n## ", start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    return [...section.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\s+/g, " ").trim());
}

describe("troubleshooting: every host script's stop has its entry", () => {
    it("reads a message's words apart from its names and values", () => {
        const [m] = dieMessages(`x || sp_die "network $name: still listed \${timeout}s after $(f "a b")"\n`);
        assert.equal(m.text, 'network $name: still listed ${timeout}s after $(f "a b")');
        assert.equal(template(m.text), "network …: still listed …s after …");
        assert.equal(template("$2 '$cidr' is not canonical"), "… '…' is not canonical");
        assert.equal(template('${out#"$sp_script: "}'), "…");
    });

    it("finds each sp_die message of host/ in the README's troubleshooting, by its first words", () => {
        const openings = entries(fs.readFileSync(path.join(root, "README.md"), "utf8")).filter(
            (e) => ownWords(e).length >= 2,
        );
        const missing: string[] = [];
        let checked = 0;
        const hostDir = path.join(root, "host");
        for (const file of fs.readdirSync(hostDir).filter((f) => f.endsWith(".sh"))) {
            for (const { line, text } of dieMessages(fs.readFileSync(path.join(hostDir, file), "utf8"))) {
                const t = template(text);
                // A message that is only an expansion passes on another command's own message.
                if (ownWords(t).length === 0) continue;
                checked++;
                if (!openings.some((o) => t.startsWith(o))) missing.push(`host/${file}:${line}: ${t}`);
            }
        }
        assert.ok(checked >= 40, `only ${checked} sp_die messages found in host/: the reader misses some`);
        assert.deepEqual(missing, [], `messages without a troubleshooting entry:\n${missing.join("\n")}`);
    });
});
