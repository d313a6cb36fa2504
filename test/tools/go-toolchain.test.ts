// The install step on a machine with no Go, as on a bare Debian 12: scripts/install-deps.sh, then a build
// script, run by bash with a PATH that holds every command of /usr/sbin, /usr/bin, /sbin and /bin but no `go`
// (and no `docker`, so that scripts/docker-cli.sh has to build its CLI). The scripts run from a scratch copy
// of scripts/, so .tools/ starts empty: the toolchain is fetched (golang.org/toolchain, by Debian's golang-go,
// which install-deps.sh installs when it is missing) and the build runs with it. Go's module and build caches
// are the machine's own (HOME), as a second run of the install step would find them.
import * as assert from "node:assert/strict";
import { type SpawnSyncOptionsWithStringEncoding, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { notRun } from "../../harness/ci";
import { root } from "./sandbox";

/** The Go version scripts/go-toolchain.sh promises, read from the script (`version=X.Y.Z`). */
const goVersion = (() => {
    const m = /^version=(\d+\.\d+\.\d+)$/m.exec(fs.readFileSync(path.join(root, "scripts", "go-toolchain.sh"), "utf8"));
    if (!m) throw new Error("scripts/go-toolchain.sh sets no version=X.Y.Z");
    return m[1];
})();

/** A directory of links to every command in the system's bin directories, except the names left out. */
function strippedPath(dir: string, leftOut: string[]): void {
    for (const d of ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
        if (!fs.existsSync(d)) continue;
        for (const name of fs.readdirSync(d)) {
            const link = path.join(dir, name);
            if (leftOut.includes(name) || fs.existsSync(link)) continue;
            fs.symlinkSync(path.join(d, name), link);
        }
    }
}

describe("scripts/install-deps.sh on a machine with no Go on PATH", function () {
    // Bounds the cold build of the docker CLI on a busy two-core machine; the case waits on the scripts' exit.
    this.timeout(1_800_000);
    let scratch = "";
    before(function () {
        if (process.getuid?.() !== 0) {
            console.log(`      ${notRun("the install step", "it installs Debian packages: run as root")}`);
            this.skip();
        }
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "go-toolchain-"));
    });
    after(() => {
        if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    });

    it(`brings Go ${goVersion} into .tools/ and the docker CLI's build runs with it`, () => {
        const bin = path.join(scratch, "bin");
        fs.mkdirSync(bin);
        strippedPath(bin, ["go", "gofmt", "docker"]);
        const repo = path.join(scratch, "repo");
        fs.cpSync(path.join(root, "scripts"), path.join(repo, "scripts"), { recursive: true });
        const env = { HOME: os.homedir(), PATH: bin };
        // stdin from /dev/null: bash reads ~/.bashrc when its stdin is a socket (its rshd rule), and node's pipes
        // are sockets, so a PATH set there (a Go among it) would come back.
        const opts: SpawnSyncOptionsWithStringEncoding = {
            cwd: repo,
            env,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        };
        const bash = (script: string) => spawnSync("bash", [path.join(repo, "scripts", script)], opts);

        const none = spawnSync("bash", ["-c", "type -a -P go || echo none"], opts);
        assert.equal(none.stdout.trim(), "none", "the stripped PATH still finds a go");

        const install = bash("install-deps.sh");
        assert.equal(install.status, 0, `install-deps.sh failed:\n${install.stderr}`);
        assert.match(install.stderr, new RegExp(`go-toolchain: fetching Go ${goVersion.replace(/\./g, "\\.")} `));
        const go = path.join(repo, ".tools", `go-${goVersion}`, "bin", "go");
        const version = spawnSync(go, ["version"], opts);
        assert.equal(
            version.stdout.trim(),
            `go version go${goVersion} linux/${os.arch() === "arm64" ? "arm64" : "amd64"}`,
        );

        const build = bash("docker-cli.sh");
        assert.equal(build.status, 0, `docker-cli.sh failed:\n${build.stderr}`);
        assert.match(build.stderr, /docker-cli: built the docker CLI/);
        const cli = path.join(build.stdout.trim(), "docker");
        assert.equal(path.dirname(cli), path.join(repo, ".tools", "docker-cli", "bin"));
        const builtWith = spawnSync(go, ["version", cli], opts);
        assert.equal(builtWith.stdout.trim(), `${cli}: go${goVersion}`);
    });
});
