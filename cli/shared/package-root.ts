// Where the package is. The CLI runs from its TypeScript sources (cli/, under ts-node), from the bin's
// transpiled build (.cache/cli-build/cli/) or from `npm run build`'s output (bin/cli/), and from any working
// directory: files it needs at run time (host/*.sh, the stack file) are found from the package itself, never
// from the compiled file's location or the working directory.
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { CliError } from "./errors";

export const PACKAGE_NAME = "swarm-proxy";

/** The first directory at or above `from` whose package.json is ours. */
export function findPackageRoot(from: string): string | undefined {
    for (let dir = resolve(from); ; dir = dirname(dir)) {
        try {
            const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown };
            if (pkg.name === PACKAGE_NAME) {
                return dir;
            }
        } catch {
            // No package.json here, or not JSON: keep walking up.
        }
        if (dirname(dir) === dir) {
            return undefined;
        }
    }
}

let cached: string | undefined;

export function packageRoot(): string {
    cached ??= findPackageRoot(__dirname);
    if (cached === undefined) {
        throw new CliError(
            `cannot find the ${PACKAGE_NAME} package: no package.json named "${PACKAGE_NAME}" at or above ${__dirname}`,
        );
    }
    return cached;
}

/** The package's host/ folder (stack-teardown.sh and friends; each sources lib.sh from beside itself). */
export function hostScriptsDir(): string {
    return join(packageRoot(), "host");
}

/**
 * A stack file path as given: relative to the working directory when it exists there (what an operator
 * typing a path means), else relative to the package (`--stack-config Pulumi.prod.yaml` from anywhere).
 */
export function resolveStackFile(path: string): string {
    if (isAbsolute(path) || existsSync(path)) {
        return resolve(path);
    }
    const inPackage = join(packageRoot(), path);
    return existsSync(inPackage) ? inPackage : resolve(path);
}
