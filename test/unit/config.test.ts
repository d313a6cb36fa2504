// Config validation: every bad input gives one error naming the key, the bad value and what is allowed.
import * as assert from "node:assert";
import { ConfigError, parseConfig, WINDOW_ENV } from "../../config";
import { type RawConfig as Raw, rawConfig, ROOT } from "./fixtures";

const bad: [string, (c: Raw) => void, string][] = [
    [
        "non-canonical CIDR",
        (c) => {
            c.network.subnet = "10.10.1.0/16";
        },
        'swarm-proxy:network.subnet: "10.10.1.0/16" has host bits set; use 10.10.0.0/16 (an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16)',
    ],
    [
        "unknown migration strategy",
        (c) => {
            c.network.migration = "blue-green";
        },
        'swarm-proxy:network.migration: "blue-green" must be "recreate" (tear every attached stack down, recreate the network, redeploy) or "rolling" (move every attached service onto a temporary network and back, keeping every route up)',
    ],
    [
        "rolling with the host scripts' network",
        (c) => {
            c.network.migration = "rolling";
            c.network.implementation = "command";
        },
        'swarm-proxy:network.migration: "rolling" needs network.implementation "docker": the Docker provider creates the new network while the services are on the temporary one (with "command", use "recreate")',
    ],
    [
        "temporary network named as the network",
        (c) => {
            c.network.rolling = { temporaryName: "proxy" };
        },
        'swarm-proxy:network.rolling.temporaryName: "proxy" must differ from network.name (proxy)',
    ],
    ...["ingress", "bridge", "host", "none", "docker_gwbridge"].map((name): [string, (c: Raw) => void, string] => [
        `temporary network named ${name}, which Docker reserves`,
        (c) => {
            c.network.rolling = { temporaryName: name };
        },
        `swarm-proxy:network.rolling.temporaryName: "${name}" is a network name Docker reserves (ingress, bridge, host, none, docker_gwbridge): choose another`,
    ]),
    [
        "temporary subnet with host bits",
        (c) => {
            c.network.rolling = { temporarySubnet: "10.99.0.1/24" };
        },
        'swarm-proxy:network.rolling.temporarySubnet: "10.99.0.1/24" has host bits set; use 10.99.0.0/24 (an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16)',
    ],
    [
        "rolling without a survey and without a temporary subnet",
        (c) => {
            c.network.migration = "rolling";
            c.network.implementation = "docker";
            c.survey = false;
        },
        "swarm-proxy:network.rolling.temporarySubnet is missing: with survey false the program cannot check a subnet it would pick for the temporary network against the host's networks and routes; set one that overlaps none of them (an IPv4 CIDR such as 10.255.255.0/24)",
    ],
    [
        "allowRollingOutsideWindow not a boolean",
        (c) => {
            c.maintenance = { allowRollingOutsideWindow: "yes" };
        },
        'swarm-proxy:maintenance.allowRollingOutsideWindow: "yes" must be true or false',
    ],
    [
        "not a CIDR",
        (c) => {
            c.network.subnet = "10.10.0.0";
        },
        'swarm-proxy:network.subnet: "10.10.0.0" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16',
    ],
    [
        "prefix out of range",
        (c) => {
            c.network.subnet = "10.10.0.0/33";
        },
        'swarm-proxy:network.subnet: "10.10.0.0/33" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16',
    ],
    [
        "IPv6 subnet",
        (c) => {
            c.network.subnet = "fd00::/64";
        },
        'swarm-proxy:network.subnet: "fd00::/64" is not an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16',
    ],
    [
        "missing subnet",
        (c) => {
            delete c.network.subnet;
        },
        "swarm-proxy:network.subnet is missing; it must be a string",
    ],
    [
        "subnet not a string",
        (c) => {
            c.network.subnet = 1010;
        },
        "swarm-proxy:network.subnet: 1010 must be a string",
    ],
    [
        "network name with shell metacharacters",
        (c) => {
            c.network.name = "proxy;rm -rf /";
        },
        "swarm-proxy:network.name: \"proxy;rm -rf /\" is not allowed; use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters",
    ],
    [
        "network name with a leading dash",
        (c) => {
            c.network.name = "-proxy";
        },
        "swarm-proxy:network.name: \"-proxy\" is not allowed; use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters",
    ],
    [
        "gateway outside the subnet",
        (c) => {
            c.network.gateway = "10.11.0.1";
        },
        'swarm-proxy:network.gateway: "10.11.0.1" is not a host address inside 10.10.0.0/16 (not its network or broadcast address)',
    ],
    [
        "gateway is the network address",
        (c) => {
            c.network.gateway = "10.10.0.0";
        },
        'swarm-proxy:network.gateway: "10.10.0.0" is not a host address inside 10.10.0.0/16 (not its network or broadcast address)',
    ],
    [
        "label key upper-case",
        (c) => {
            c.network.labels = { Owner: "swarm-proxy" };
        },
        "swarm-proxy:network.labels: key \"Owner\" is not a label key; use lower-case letters, digits, '.' and '-'",
    ],
    [
        "label value with a space",
        (c) => {
            c.network.labels = { owner: "swarm proxy" };
        },
        'swarm-proxy:network.labels.owner: "swarm proxy" is not allowed as a label value; use letters, digits and _ . : / -',
    ],
    [
        "adoptId not an ID",
        (c) => {
            c.network.adoptId = "proxy";
        },
        'swarm-proxy:network.adoptId: "proxy" is not a Docker network ID (25 lower-case alphanumerics or 64 hex digits)',
    ],
    [
        "unknown implementation",
        (c) => {
            c.network.implementation = "terraform";
        },
        'swarm-proxy:network.implementation: "terraform" must be "docker" (the Docker provider) or "command" (host scripts)',
    ],
    [
        "minHeadroom below 1",
        (c) => {
            c.network.minHeadroom = 0.5;
        },
        "swarm-proxy:network.minHeadroom: 0.5 must be at least 1 (the subnet must hold today's use)",
    ],
    [
        "reserved range not canonical",
        (c) => {
            c.network.reserved = ["100.64.0.1/10"];
        },
        'swarm-proxy:network.reserved[0]: "100.64.0.1/10" has host bits set; use 100.64.0.0/10 (an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16)',
    ],
    [
        "unknown network key",
        (c) => {
            c.network.subnett = "10.10.0.0/16";
        },
        "swarm-proxy:network.subnett is not a known key; known keys here: name, subnet, gateway, labels, adoptId, implementation, minHeadroom, reserved, removeTimeoutSeconds, migration, rolling (see Pulumi.yaml)",
    ],
    [
        "no stacks",
        (c) => {
            c.stacks = [];
        },
        "swarm-proxy:stacks: [] must list at least one stack",
    ],
    [
        "duplicate stack",
        (c) => {
            c.stacks.push({ name: "drone", compose: "sandbox/stacks/drone.yml" });
        },
        'swarm-proxy:stacks[7].name: "drone" is already the name of stacks[1]; stack names must be unique',
    ],
    [
        "stack name with shell metacharacters",
        (c) => {
            c.stacks[1].name = "drone$(reboot)";
        },
        "swarm-proxy:stacks[1].name: \"drone$(reboot)\" is not allowed; use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters",
    ],
    [
        "stack name with a space",
        (c) => {
            c.stacks[1].name = "my drone";
        },
        "swarm-proxy:stacks[1].name: \"my drone\" is not allowed; use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters",
    ],
    [
        "unknown stack in waitsFor",
        (c) => {
            c.stacks[1].waitsFor = ["trafik"];
        },
        'swarm-proxy:stacks[1].waitsFor[0]: "trafik" is not a configured stack; known stacks: traefik, drone, ccci-bridge, ccci-dashboard, ccci-reports, warm-keycloak, backups',
    ],
    [
        "stack waiting on itself",
        (c) => {
            c.stacks[0].waitsFor = ["traefik"];
        },
        'swarm-proxy:stacks[0].waitsFor[0]: "traefik" is the stack itself; a stack cannot wait for itself',
    ],
    [
        "stacks in a cycle",
        (c) => {
            c.stacks[0].waitsFor = ["drone"];
        },
        "swarm-proxy:stacks: the waits form a cycle: traefik -> drone -> traefik; remove one of these waitsFor entries",
    ],
    [
        "both compose and unit",
        (c) => {
            c.stacks[0].unit = "deploy-proxy.service";
        },
        'swarm-proxy:stacks[0] ("traefik") has compose "sandbox/stacks/traefik.yml" and unit "deploy-proxy.service"; give exactly one: compose (a compose file deployed with docker stack deploy), unit (the systemd unit that deploys it) or deploy ("external": another tool deploys it; or a command, run with the stack\'s name)',
    ],
    [
        "neither compose, unit nor deploy",
        (c) => {
            delete c.stacks[0].compose;
        },
        'swarm-proxy:stacks[0] ("traefik") has neither compose, unit nor deploy; give exactly one: compose (a compose file deployed with docker stack deploy), unit (the systemd unit that deploys it) or deploy ("external": another tool deploys it; or a command, run with the stack\'s name)',
    ],
    [
        "both compose and deploy external",
        (c) => {
            c.stacks[0].deploy = "external";
        },
        'swarm-proxy:stacks[0] ("traefik") has compose "sandbox/stacks/traefik.yml" and deploy "external"; give exactly one: compose (a compose file deployed with docker stack deploy), unit (the systemd unit that deploys it) or deploy ("external": another tool deploys it; or a command, run with the stack\'s name)',
    ],
    [
        "deploy neither external nor a command",
        (c) => {
            delete c.stacks[0].compose;
            c.stacks[0].deploy = "portainer";
        },
        'swarm-proxy:stacks[0].deploy: "portainer" must be "external" (another tool deploys the stack) or a command as a list of words, such as [abra, app, deploy]',
    ],
    [
        "deploy command with a shell metacharacter",
        (c) => {
            delete c.stacks[0].compose;
            c.stacks[0].deploy = ["abra", "app", "deploy;", "rm"];
        },
        'swarm-proxy:stacks[0].deploy[2]: "deploy;" is not allowed in a deploy command; use words of letters, digits and _ . / = : , + @ -',
    ],
    [
        "empty deploy command",
        (c) => {
            delete c.stacks[0].compose;
            c.stacks[0].deploy = [];
        },
        "swarm-proxy:stacks[0].deploy: [] must name a program",
    ],
    [
        "compose file missing",
        (c) => {
            c.stacks[0].compose = "sandbox/stacks/nope.yml";
        },
        'swarm-proxy:stacks[0].compose: "sandbox/stacks/nope.yml" is not a file (looked for sandbox/stacks/nope.yml in the project directory)',
    ],
    [
        "compose path with shell metacharacters",
        (c) => {
            c.stacks[0].compose = "stacks/a.yml; reboot";
        },
        'swarm-proxy:stacks[0].compose: "stacks/a.yml; reboot" is not allowed; use a path of letters, digits and _ . / @ + - (no spaces or shell metacharacters)',
    ],
    [
        "unit not a unit name",
        (c) => {
            delete c.stacks[0].compose;
            c.stacks[0].unit = "deploy proxy";
        },
        'swarm-proxy:stacks[0].unit: "deploy proxy" is not a systemd unit name such as deploy-proxy.service',
    ],
    [
        "health timeout zero",
        (c) => {
            c.stacks[0].health = { timeoutSeconds: 0 };
        },
        "swarm-proxy:stacks[0].health.timeoutSeconds: 0 must be at least 1 second",
    ],
    [
        "teardown timeout not whole",
        (c) => {
            c.stacks[0].teardownTimeoutSeconds = 1.5;
        },
        "swarm-proxy:stacks[0].teardownTimeoutSeconds: 1.5 must be a whole number of seconds",
    ],
    [
        "http probe URL not http",
        (c) => {
            c.stacks[0].health = { http: { url: "ftp://x/", host: "a.b" } };
        },
        'swarm-proxy:stacks[0].health.http.url: "ftp://x/" is not an http(s) URL',
    ],
    [
        "http probe expected text with a newline",
        (c) => {
            c.stacks[0].health = { http: { url: "http://x/", host: "a.b", expectText: "stack\ndrone" } };
        },
        'swarm-proxy:stacks[0].health.http.expectText: "stack\\ndrone" is not allowed; use 1 to 200 printable ASCII characters (no newline or control character)',
    ],
    [
        "attached not boolean",
        (c) => {
            c.stacks[0].attached = "yes";
        },
        'swarm-proxy:stacks[0].attached: "yes" must be true or false',
    ],
    [
        "missing nix module",
        (c) => {
            c.rebuild.nixModule = "nix/missing.nix";
        },
        'swarm-proxy:rebuild.nixModule: "nix/missing.nix" is not a file (looked for nix/missing.nix in the project directory)',
    ],
    [
        "empty rebuild command",
        (c) => {
            c.rebuild.command = [];
        },
        "swarm-proxy:rebuild.command: [] must name a program",
    ],
    [
        "rebuild command with shell metacharacters",
        (c) => {
            c.rebuild.command = ["nixos-rebuild", "switch;reboot"];
        },
        'swarm-proxy:rebuild.command[1]: "switch;reboot" is not allowed in the rebuild command; use words of letters, digits and _ . / = : , + @ -',
    ],
    [
        "unknown connection mode",
        (c) => {
            c.connection = { mode: "telnet" };
        },
        'swarm-proxy:connection.mode: "telnet" must be {mode: local} or {mode: ssh, host, user, hostKey}',
    ],
    [
        "ssh without hostKey",
        (c) => {
            c.connection = { mode: "ssh", host: "host.example", user: "deploy" };
        },
        "swarm-proxy:connection.hostKey is missing; it must be a string",
    ],
    [
        "ssh port out of range",
        (c) => {
            c.connection = {
                mode: "ssh",
                host: "host.example",
                user: "deploy",
                port: 70000,
                hostKey: "ssh-ed25519 AAAAC3Nz",
            };
        },
        "swarm-proxy:connection.port: 70000 must be a TCP port (1-65535)",
    ],
    [
        "ssh without private key",
        (c) => {
            c.connection = { mode: "ssh", host: "host.example", user: "deploy", hostKey: "ssh-ed25519 AAAAC3Nz" };
        },
        "swarm-proxy:sshPrivateKey is missing: connection.mode ssh needs it; set it with `pulumi config set --secret sshPrivateKey < key`",
    ],
    [
        "allowStacks unknown",
        (c) => {
            c.maintenance = { allowStacks: ["nextcloud"] };
        },
        'swarm-proxy:maintenance.allowStacks[0]: "nextcloud" is not a configured stack; known stacks: traefik, drone, ccci-bridge, ccci-dashboard, ccci-reports, warm-keycloak, backups',
    ],
    [
        "unknown top-level key",
        (c) => {
            c.netwrok = {};
        },
        "swarm-proxy:netwrok is not a known key; known keys here: network, stacks, rebuild, connection, maintenance, survey (see Pulumi.yaml)",
    ],
];

describe("config validation", () => {
    it("accepts the sandbox config and fills the defaults", () => {
        const cfg = parseConfig(rawConfig(), { baseDir: ROOT });
        assert.strictEqual(cfg.network.name, "proxy");
        assert.deepStrictEqual(cfg.network.labels, { owner: "swarm-proxy" });
        assert.strictEqual(cfg.network.minHeadroom, 10);
        assert.strictEqual(cfg.stacks[0].attached, true);
        assert.strictEqual(cfg.stacks[6].attached, false);
        assert.strictEqual(cfg.stacks[0].teardownTimeoutSeconds, 180);
        assert.strictEqual(cfg.maintenance.windowOpen, false);
        assert.strictEqual(cfg.survey, true);
    });

    it(`has at least 30 bad inputs (${bad.length})`, () => assert.ok(bad.length >= 30));

    for (const [what, mutate, message] of bad) {
        it(`refuses ${what}`, () => {
            const raw = rawConfig();
            mutate(raw);
            assert.throws(
                () => parseConfig(raw, { baseDir: ROOT }),
                (e: unknown) => {
                    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
                    assert.strictEqual(e.message, message);
                    return true;
                },
            );
        });
    }

    it("opens the window from the environment, and refuses any other value there", () => {
        assert.strictEqual(
            parseConfig(rawConfig(), { baseDir: ROOT, env: { [WINDOW_ENV]: "open" } }).maintenance.windowOpen,
            true,
        );
        assert.strictEqual(
            parseConfig(rawConfig(), { baseDir: ROOT, env: { [WINDOW_ENV]: "closed" } }).maintenance.windowOpen,
            false,
        );
        assert.throws(() => parseConfig(rawConfig(), { baseDir: ROOT, env: { [WINDOW_ENV]: "yes" } }), {
            message: `${WINDOW_ENV}: "yes" is not allowed; use "open" or "closed"`,
        });
    });

    it("accepts an SSH connection with a pinned host key when the private key secret is set", () => {
        const raw = rawConfig();
        raw.connection = { mode: "ssh", host: "host.example", user: "deploy", hostKey: "ssh-ed25519 AAAAC3Nz" };
        const cfg = parseConfig(raw, { baseDir: ROOT, hasSshPrivateKey: true });
        assert.deepStrictEqual(cfg.connection, {
            mode: "ssh",
            host: "host.example",
            port: 22,
            user: "deploy",
            hostKey: "ssh-ed25519 AAAAC3Nz",
            scriptsDir: "/var/lib/swarm-proxy/host",
        });
    });

    it("installs the host scripts in an absolute directory without shell metacharacters", () => {
        const raw = rawConfig();
        assert.strictEqual(parseConfig(raw, { baseDir: ROOT }).connection.scriptsDir, "/var/lib/swarm-proxy/host");
        raw.connection = { mode: "local", scriptsDir: "relative/dir" };
        assert.throws(() => parseConfig(raw, { baseDir: ROOT }), {
            message:
                'swarm-proxy:connection.scriptsDir: "relative/dir" is not allowed; use an absolute path of letters, digits and _ . / @ + - (no spaces or shell metacharacters)',
        });
        raw.connection = { mode: "local", scriptsDir: "/opt/x;rm" };
        assert.throws(
            () => parseConfig(raw, { baseDir: ROOT }),
            /connection\.scriptsDir: "\/opt\/x;rm" is not allowed/,
        );
    });
});
