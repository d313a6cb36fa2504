// The layout holds: product code (what an operator runs) imports nothing from the harness, the tests or the
// benchmarks, so a newcomer can tell them apart by folder and the product runs without them; and src/ sits below
// the rest: it imports nothing from config.ts (the parser above it) and its files import each other without a loop.
import * as assert from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./fixtures";

const PRODUCT = ["index.ts", "program.ts", "config.ts", "src", "components", "cli", "scripts"];
const NOT_PRODUCT = ["harness", "test", "bench"];

function sources(entry: string): string[] {
    const full = path.join(ROOT, entry);
    if (fs.statSync(full).isFile()) {
        return /\.(ts|js)$/.test(entry) ? [entry] : [];
    }
    return fs.readdirSync(full).flatMap((name) => sources(path.join(entry, name)));
}

/** The relative module paths a file imports or requires. */
export function importsOf(text: string): string[] {
    const found: string[] = [];
    for (const m of text.matchAll(/(?:from|import|require)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
        found.push(m[1]);
    }
    return found;
}

/** The repository-relative file (without extension) that `spec`, imported by `file`, names. */
function target(file: string, spec: string): string {
    return path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec)).replace(/\.(ts|js)$/, "");
}

/** Every import loop in a graph of files, each as the files in import order, the first again at the end. */
export function importLoops(graph: Map<string, string[]>): string[][] {
    const loops: string[][] = [];
    const done = new Set<string>();
    const visit = (node: string, trail: string[]): void => {
        const at = trail.indexOf(node);
        if (at >= 0) {
            loops.push([...trail.slice(at), node]);
            return;
        }
        if (done.has(node)) {
            return;
        }
        for (const next of graph.get(node) ?? []) {
            visit(next, [...trail, node]);
        }
        done.add(node);
    };
    for (const node of [...graph.keys()].sort()) {
        visit(node, []);
    }
    return loops;
}

describe("layout", () => {
    it("finds relative imports in every form the code uses", () => {
        assert.deepStrictEqual(
            importsOf(
                `import { a } from "../harness/x";\nimport "./y";\nconst z = require("../../test/z");\nimport("./w");`,
            ),
            ["../harness/x", "./y", "../../test/z", "./w"],
        );
    });

    it("product code never imports the harness, the tests or the benchmarks", () => {
        const files = PRODUCT.flatMap(sources);
        assert.ok(files.length > 40, `only ${files.length} product files found`);
        const offending: string[] = [];
        for (const file of files) {
            for (const spec of importsOf(fs.readFileSync(path.join(ROOT, file), "utf8"))) {
                if (NOT_PRODUCT.includes(target(file, spec).split(path.sep)[0])) {
                    offending.push(`${file} imports ${spec}`);
                }
            }
        }
        assert.deepStrictEqual(offending, []);
    });

    it("finds an import loop, and none in a graph without one", () => {
        const graph = new Map([
            ["a", ["b"]],
            ["b", ["c"]],
            ["c", ["a", "d"]],
            ["d", []],
        ]);
        assert.deepStrictEqual(importLoops(graph), [["a", "b", "c", "a"]]);
        graph.set("c", ["d"]);
        assert.deepStrictEqual(importLoops(graph), []);
    });

    it("src/ imports nothing from config.ts and has no import loop", () => {
        const files = sources("src").filter((f) => f.endsWith(".ts"));
        assert.ok(files.length > 5, `only ${files.length} src files found`);
        const upwards: string[] = [];
        const graph = new Map<string, string[]>();
        for (const file of files) {
            const targets = importsOf(fs.readFileSync(path.join(ROOT, file), "utf8")).map((spec) => {
                if (target(file, spec) === "config") {
                    upwards.push(`${file} imports ${spec}`);
                }
                return target(file, spec);
            });
            graph.set(
                file.replace(/\.ts$/, ""),
                targets.filter((t) => t.split(path.sep)[0] === "src"),
            );
        }
        assert.deepStrictEqual(upwards, []);
        assert.deepStrictEqual(
            importLoops(graph).map((loop) => loop.join(" -> ")),
            [],
        );
    });
});
