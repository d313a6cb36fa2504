#!/usr/bin/env node
// The package's bin: runs the TypeScript CLI through ts-node (transpile only, so start-up stays fast),
// or the compiled build (npm run build) when ts-node is not installed.
"use strict";
const path = require("node:path");

let entry;
try {
    require("ts-node").register({
        transpileOnly: true,
        project: path.join(__dirname, "..", "tsconfig.json"),
    });
    entry = require("./main.ts");
} catch (e) {
    if (e && e.code === "MODULE_NOT_FOUND" && /ts-node/.test(String(e.message))) {
        entry = require(path.join(__dirname, "..", "bin", "cli", "main.js"));
    } else {
        throw e;
    }
}
entry.main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
});
