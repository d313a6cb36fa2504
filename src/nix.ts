// Reads, from the NixOS module that creates the network at boot, the subnet it creates it with, so that a
// rebuild cannot bring back a network that differs from the one Pulumi manages.

export interface NixNetworkLine {
    line: number;
    /** The subnet the module passes to `docker network create`, or undefined when it passes none (Docker's /24). */
    subnet?: string;
}

function bindings(text: string): Map<string, string> {
    const found = new Map<string, string>();
    for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_'-]*)\s*=\s*"([^"$]*)"\s*;/g)) {
        found.set(m[1], m[2]);
    }
    return found;
}

/** Finds the `docker network create … <name>` line of the module; undefined when the module has none. */
export function findNetworkCreate(text: string, networkName: string): NixNetworkLine | undefined {
    const vars = bindings(text);
    const expand = (word: string): string =>
        word.replace(/\$\{([A-Za-z_][A-Za-z0-9_'-]*)\}/g, (all, v: string) => vars.get(v) ?? all);
    const lines = text.split("\n");
    for (const [i, raw] of lines.entries()) {
        if (!/network\s+create\b/.test(raw)) {
            continue;
        }
        const words = raw
            .trim()
            .split(/\s+/)
            .map((w) => expand(w.replace(/^["']|["';]+$/g, "")));
        const createAt = words.findIndex((w, j) => w === "create" && words[j - 1] === "network");
        const rest = words.slice(createAt + 1);
        if (rest[rest.length - 1] !== networkName) {
            continue;
        }
        let subnet: string | undefined;
        for (const [j, w] of rest.entries()) {
            if (w === "--subnet") {
                subnet = rest[j + 1];
            } else if (w.startsWith("--subnet=")) {
                subnet = w.slice("--subnet=".length);
            }
        }
        return { line: i + 1, subnet };
    }
    return undefined;
}

/**
 * Throws when the module would create `networkName` with another subnet than `subnet`. A create line without
 * --subnet is accepted only while the live network still has that subnet (the adoption run).
 */
export function checkNixModule(
    key: string,
    file: string,
    text: string,
    networkName: string,
    subnet: string,
    liveSubnets: readonly string[],
): void {
    const found = findNetworkCreate(text, networkName);
    if (!found) {
        throw new Error(
            `${key}: ${JSON.stringify(file)} has no \`docker network create … ${networkName}\` line; the module must create the network the program manages`,
        );
    }
    const where = `${file}:${found.line}`;
    if (found.subnet === undefined) {
        if (liveSubnets.length === 1 && liveSubnets[0] === subnet) {
            return;
        }
        throw new Error(
            `${key}: ${where} creates ${networkName} without --subnet (Docker's default /24) but the config wants ${subnet}; add --subnet ${subnet} to the module`,
        );
    }
    if (found.subnet !== subnet) {
        throw new Error(
            `${key}: ${where} creates ${networkName} with --subnet ${found.subnet} but the config wants ${subnet}; make them equal`,
        );
    }
}
