#!/usr/bin/env node
// The package's bin. It runs a compiled build of the TypeScript CLI, transpiled (no type check) into
// .cache/cli-build whenever a source is newer than that build: under ts-node every start paid about 3 s
// of transpiling, a build starts in well under 1 s. Where the cache cannot be written it falls back to
// ts-node, and without TypeScript installed to the `npm run build` output.

const fs = require("node:fs");
const path = require("node:path");

// The package root is the first folder upwards whose package.json is ours (cli/shared/package-root.ts does the
// same for the compiled CLI): an npm bin link or a copied checkout still finds its own sources and cache.
function packageRoot() {
    for (let dir = __dirname; ; dir = path.dirname(dir)) {
        try {
            if (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).name === "swarm-proxy") {
                return dir;
            }
        } catch {
            // No package.json here: keep walking up.
        }
        if (path.dirname(dir) === dir) {
            return path.join(__dirname, "..");
        }
    }
}

const root = packageRoot();
const cache = path.join(root, ".cache", "cli-build");
const sourceDirs = ["cli", "src"];
// The stack file's schema, shared with the program: the CLI reads stack files through it.
const sourceFiles = ["config.ts"];

// Subfolders too: each command has a folder of its own (cli/drift/, cli/guard/, ...), beside cli/shared/.
function sources() {
    return sourceDirs
        .flatMap((d) =>
            fs
                .readdirSync(path.join(root, d), { recursive: true })
                .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
                .map((f) => path.join(d, f)),
        )
        .concat(sourceFiles);
}

function fresh() {
    const files = sources();
    const newest = Math.max(
        fs.statSync(__filename).mtimeMs,
        ...files.map((f) => fs.statSync(path.join(root, f)).mtimeMs),
    );
    const stamp = path.join(cache, "stamp");
    let built = "";
    try {
        built = fs.readFileSync(stamp, "utf8");
    } catch {
        // No build yet.
    }
    if (built === String(newest)) {
        return path.join(cache, "cli", "main.js");
    }
    const ts = require("typescript");
    for (const f of files) {
        const out = ts.transpileModule(fs.readFileSync(path.join(root, f), "utf8"), {
            fileName: f,
            compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        });
        const dest = path.join(cache, f.replace(/\.ts$/, ".js"));
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        // Rename into place so that a second CLI starting at the same moment never reads half a file.
        const tmp = `${dest}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, out.outputText);
        fs.renameSync(tmp, dest);
    }
    fs.writeFileSync(`${stamp}.${process.pid}.tmp`, String(newest));
    fs.renameSync(`${stamp}.${process.pid}.tmp`, stamp);
    return path.join(cache, "cli", "main.js");
}

function load() {
    try {
        return require(fresh());
    } catch (e) {
        if (!(e && (e.code === "EACCES" || e.code === "EROFS" || e.code === "MODULE_NOT_FOUND"))) {
            throw e;
        }
    }
    try {
        require("ts-node").register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
        return require(path.join(root, "cli", "main.ts"));
    } catch (e) {
        if (!(e && e.code === "MODULE_NOT_FOUND")) {
            throw e;
        }
        return require(path.join(root, "bin", "cli", "main.js"));
    }
}

load()
    .main(process.argv.slice(2))
    .then((code) => {
        process.exitCode = code;
    });
