// What every tier's mocha config shares: TypeScript through ts-node, the spec reporter, and, under CI
// (harness/ci.ts underCi), forbid-pending: a skipped or pending test fails the run instead of counting as a pass.
// A spec named by its path must exist: mocha only warns about a path that matches nothing, and a tier that lost
// a file would pass without it.
require("ts-node/register/transpile-only");
const fs = require("node:fs");
const path = require("node:path");
const { underCi } = require("../harness/ci");

const root = path.resolve(__dirname, "..");

/** A tier's mocha config: `spec` and the tier's own options (timeout, slow, require beside ts-node). */
module.exports = function tier(options) {
    for (const spec of options.spec) {
        if (!/[*?[{]/.test(spec) && !fs.existsSync(path.join(root, spec))) {
            throw new Error(`mocha config: the spec file ${spec} does not exist`);
        }
    }
    return {
        reporter: "spec",
        ...options,
        require: ["ts-node/register/transpile-only", ...(options.require ?? [])],
        "forbid-pending": underCi(),
    };
};
