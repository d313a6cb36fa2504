// The layout holds: product code (what an operator runs) imports nothing from the harness, the tests or the
// benchmarks, so a newcomer can tell them apart by folder and the product runs without them.
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
                const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec));
                if (NOT_PRODUCT.includes(target.split(path.sep)[0])) {
                    offending.push(`${file} imports ${spec}`);
                }
            }
        }
        assert.deepStrictEqual(offending, []);
    });
});
