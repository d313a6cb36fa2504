// Plain data shared by the unit and program tiers: the reference host of the project's context, as
// config and as live facts.
import * as path from "node:path";
import type { HostFacts } from "../../src/hostFacts";

export const ROOT = path.join(__dirname, "..", "..");

export function sandboxStacks(): Record<string, unknown>[] {
    const names = ["traefik", "drone", "ccci-bridge", "ccci-dashboard", "ccci-reports", "warm-keycloak"];
    return [
        ...names.map((name) => ({
            name,
            compose: `sandbox/stacks/${name}.yml`,
            ...(name === "traefik" ? {} : { waitsFor: ["traefik"] }),
        })),
        { name: "backups", compose: "sandbox/stacks/backups.yml", attached: false },
    ];
}

export interface RawConfig {
    network: Record<string, unknown>;
    stacks: Record<string, unknown>[];
    rebuild: Record<string, unknown>;
    connection: Record<string, unknown>;
    maintenance?: Record<string, unknown>;
    [key: string]: unknown;
}

/** A valid raw config (the keys without the project prefix); tests change one thing at a time. */
export function rawConfig(): RawConfig {
    return {
        network: { name: "proxy", subnet: "10.10.0.0/16", implementation: "command" },
        stacks: sandboxStacks(),
        rebuild: { nixModule: "nix/swarm.nix", command: ["nixos-rebuild", "switch"] },
        connection: { mode: "local" },
    };
}

function overlay(name: string, id: string, subnet: string): HostFacts["networks"][number] {
    return {
        name,
        id,
        driver: "overlay",
        scope: "swarm",
        attachable: name !== "ingress",
        labels: {},
        subnets: [subnet],
        gateways: [subnet.replace(/0\/\d+$/, "1")],
    };
}

/** The reference host before the maintenance: proxy is Docker's default /24. */
export function referenceFacts(): HostFacts {
    return {
        networks: [
            overlay("ingress", "i".repeat(25), "10.0.0.0/24"),
            overlay("proxy", "p".repeat(25), "10.0.1.0/24"),
            overlay("traefik_internal", "t".repeat(25), "10.0.2.0/24"),
            overlay("warm-keycloak_internal", "k".repeat(25), "10.0.3.0/24"),
            overlay("backups_default", "b".repeat(25), "10.0.4.0/24"),
            {
                name: "bridge",
                id: "1".repeat(64),
                driver: "bridge",
                scope: "local",
                attachable: false,
                labels: {},
                subnets: ["172.17.0.0/16"],
                gateways: ["172.17.0.1"],
            },
            {
                name: "docker_gwbridge",
                id: "2".repeat(64),
                driver: "bridge",
                scope: "local",
                attachable: false,
                labels: {},
                subnets: ["172.18.0.0/16"],
                gateways: ["172.18.0.1"],
            },
            {
                name: "host",
                id: "3".repeat(64),
                driver: "host",
                scope: "local",
                attachable: false,
                labels: {},
                subnets: [],
                gateways: [],
            },
        ],
        routes: ["172.17.0.0/16", "172.18.0.0/16", "203.0.113.7", "100.101.102.103"],
        defaultAddressPools: ["10.0.0.0/8"],
        inUse: { proxy: 40, traefik_internal: 3 },
    };
}
