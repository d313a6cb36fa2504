// The stack config `swarm-proxy init` writes, computed from what was read (the live swarm, the compose folder, the
// host's systemd units) by pure functions: which stacks there are, how each is deployed, the entry point, and
// each route's health check.
import { parse, Document, type YAMLMap } from "yaml";
import { EXTERNAL, PROJECT } from "../../config";
import { type EngineNetwork, type EngineService, serviceOnNetwork, stackOf, subnetsOf } from "../../src/docker";
import { CliError } from "../shared/errors";

/** A compose file found for a stack: its path as the config names it, and its text. */
export interface ComposeFile {
    path: string;
    text: string;
}

export interface InitInput {
    /** Where the file is written, for the messages. */
    file: string;
    pulumiStack: string;
    network: EngineNetwork;
    services: EngineService[];
    /** Where traefik's entry point answers (the health checks' URL). */
    entryUrl: string;
    /** The subnet to move to later, already checked against the host; undefined: left for the user. */
    targetSubnet?: string;
    /** The compose file found in --compose-dir for a stack, by stack name. */
    compose: ReadonlyMap<string, ComposeFile>;
    /** The systemd unit that deploys a stack, by stack name. */
    units: ReadonlyMap<string, string>;
    /** Written at the top, where the config came from. */
    source: string;
}

export type DeployKind = { compose: string } | { unit: string } | { deploy: typeof EXTERNAL };

export interface InitStack {
    name: string;
    attached: boolean;
    deploy: DeployKind;
    entryPoint: boolean;
    /** The host its first router's rule names (Host(...)), checked through the entry point. */
    route?: string;
    services: string[];
}

export interface InitResult {
    text: string;
    stacks: InitStack[];
    /** Services on the network that belong to no stack (`docker service create`). */
    loose: string[];
    entryPoint?: string;
    liveSubnet: string;
    /** The commands to run next, each as argv. */
    next: string[][];
}

/** The hosts of a traefik router rule's Host(...) matchers, in order (`Host(\`a\`)`, `Host("a", "b")`). */
export function ruleHosts(rule: string): string[] {
    const hosts: string[] = [];
    for (const m of rule.matchAll(/\bHost\(([^)]*)\)/g)) {
        for (const h of m[1].matchAll(/[`"']([^`"']+)[`"']/g)) hosts.push(h[1]);
    }
    return hosts;
}

/** The first host a service's traefik labels route (routers by name), unless it turns traefik off. */
export function routeOf(s: EngineService): string | undefined {
    const labels = s.Spec.Labels ?? {};
    if (labels["traefik.enable"] === "false") return undefined;
    const rules = Object.keys(labels)
        .filter((k) => /^traefik\.http\.routers\.[^.]+\.rule$/.test(k))
        .sort()
        .map((k) => labels[k]);
    return rules.flatMap(ruleHosts)[0];
}

/**
 * Whether a service is a traefik entry point: it publishes a port, and it is traefik with a swarm (or Docker
 * swarm-mode) provider, by its arguments or else by its image.
 */
export function isEntryPoint(s: EngineService): boolean {
    const ports = [...(s.Endpoint?.Ports ?? []), ...(s.Spec.EndpointSpec?.Ports ?? [])];
    if (!ports.some((p) => (p.PublishedPort ?? 0) > 0)) return false;
    const c = s.Spec.TaskTemplate?.ContainerSpec;
    const words = [...(c?.Command ?? []), ...(c?.Args ?? [])];
    if (words.some((w) => /--providers\.(swarm|docker\.swarmmode)\b/.test(w))) return true;
    return /(^|\/)traefik(:|@|$)/.test(c?.Image ?? "");
}

/** The services a compose file declares, or why it cannot say. */
export function composeServices(text: string): string[] | string {
    let doc: unknown;
    try {
        doc = parse(text);
    } catch (e) {
        return `is not valid YAML (${(e as Error).message.split("\n")[0]})`;
    }
    const services = (doc as { services?: unknown } | null)?.services;
    if (typeof services !== "object" || services === null || Array.isArray(services)) {
        return 'has no "services:" map';
    }
    return Object.keys(services).sort();
}

/**
 * The stack a systemd unit deploys, from its text (and the scripts its ExecStart runs): a line that runs
 * `docker stack deploy … STACK`, the stack's name its last word. NixOS hosts deploy their stacks so.
 */
export function stacksDeployedBy(text: string): string[] {
    const found: string[] = [];
    for (const line of text.split("\n")) {
        const m = /\bdocker\b.*\bstack\s+(?:deploy|up)\b(.*)$/.exec(line);
        if (!m) continue;
        const words = m[1]
            .replace(/[;&|].*$/, "")
            .trim()
            .split(/\s+/)
            .map((w) => w.replace(/^['"]|['"]$/g, ""));
        const last = words[words.length - 1];
        if (last && !last.startsWith("-")) found.push(last);
    }
    return found;
}

/** Stack name to the first unit (by name) that deploys it. */
export function unitsByStack(units: readonly { name: string; text: string }[]): Map<string, string> {
    const by = new Map<string, string>();
    for (const u of [...units].sort((a, b) => a.name.localeCompare(b.name))) {
        for (const stack of stacksDeployedBy(u.text)) if (!by.has(stack)) by.set(stack, u.name);
    }
    return by;
}

/** Pure: the config from what was read. Throws CliError (nothing is written) for a mismatched compose file. */
export function buildInitConfig(i: InitInput): InitResult {
    const net = i.network;
    const subnets = subnetsOf(net);
    if (subnets.length !== 1) {
        throw new CliError(
            `--network: ${net.Name} has ${subnets.length === 0 ? "no subnet" : `${subnets.length} subnets (${subnets.join(", ")})`}; ` +
                "the program manages an overlay with exactly one IPv4 subnet",
        );
    }
    const byStack = new Map<string, EngineService[]>();
    const loose: string[] = [];
    for (const s of i.services) {
        const stack = stackOf(s);
        if (stack === undefined) {
            if (serviceOnNetwork(s, net)) loose.push(s.Spec.Name);
            continue;
        }
        byStack.set(stack, [...(byStack.get(stack) ?? []), s]);
    }
    const entryStacks = [...byStack.entries()]
        .filter(([, svcs]) => svcs.some((s) => isEntryPoint(s) && serviceOnNetwork(s, net)))
        .map(([name]) => name)
        .sort();
    // Two entry points would make "waits for the entry point" a guess: none is chosen, and the header says so.
    const entryPoint = entryStacks.length === 1 ? entryStacks[0] : undefined;
    const stacks: InitStack[] = [...byStack.entries()].map(([name, svcs]) => {
        const services = svcs.map((s) => s.Spec.Name).sort();
        const attached = svcs.some((s) => serviceOnNetwork(s, net));
        const compose = i.compose.get(name);
        if (compose) {
            const declared = composeServices(compose.text);
            const expected = typeof declared === "string" ? declared : declared.map((d) => `${name}_${d}`);
            if (typeof expected === "string" || expected.join(",") !== services.join(",")) {
                throw new CliError(
                    `--compose-dir: ${compose.path} does not match the live stack ${name}: ` +
                        (typeof expected === "string"
                            ? `the file ${expected}`
                            : `the file declares ${expected.join(", ") || "no service"}, the stack runs ${services.join(", ")}`) +
                        "; a file that is not what runs would change the stack at the first deploy. Correct the file " +
                        `or move it out of the folder (the stack is then written as the host deploys it), and run init again`,
                );
            }
        }
        const unit = i.units.get(name);
        const deploy: DeployKind = compose
            ? { compose: compose.path }
            : unit !== undefined
              ? { unit }
              : { deploy: EXTERNAL };
        const route = name === entryPoint ? undefined : svcs.map(routeOf).find((r) => r !== undefined);
        return { name, attached, deploy, entryPoint: name === entryPoint, route, services };
    });
    const rank = (s: InitStack) => (s.entryPoint ? 0 : s.attached ? 1 : 2);
    stacks.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    if (stacks.length === 0) {
        throw new CliError(`no stack runs on ${i.source}: the config must list at least one stack`);
    }
    const liveSubnet = subnets[0];
    const externalAttached = stacks.filter((s) => s.attached && "deploy" in s.deploy).map((s) => s.name);
    const cfgStacks = stacks.map((s) => ({
        name: s.name,
        ...s.deploy,
        ...(entryPoint !== undefined && s.attached && !s.entryPoint && s.route !== undefined
            ? { waitsFor: [entryPoint] }
            : {}),
        ...(s.attached ? {} : { attached: false }),
        ...(s.route !== undefined && s.attached ? { health: { http: { url: i.entryUrl, host: s.route } } } : {}),
    }));
    const network = {
        name: net.Name,
        subnet: liveSubnet,
        adoptId: net.Id,
        ...(externalAttached.length > 0 ? { migration: "rolling" } : {}),
    };
    const doc = new Document({
        config: { [`${PROJECT}:network`]: network, [`${PROJECT}:stacks`]: cfgStacks },
    });
    const header = [
        ` Written by \`swarm-proxy init\` from ${i.source} (the stacks that run there, each deployed as found).`,
        ` Adoption first: \`pulumi up\` with this file takes the live network and stacks over and changes nothing.`,
        entryPoint !== undefined
            ? ` Entry point: stack ${entryPoint} (traefik, a published port); every routed stack waits for it and is checked through ${i.entryUrl}.`
            : entryStacks.length > 1
              ? ` Entry point: several stacks publish a traefik (${entryStacks.join(", ")}); none is waited for: add waitsFor by hand.`
              : " Entry point: no traefik stack with a published port on the network; routes are not checked.",
        ...(loose.length > 0
            ? [
                  ` Services on ${net.Name} outside any stack (docker service create): ${loose.join(", ")}.`,
                  " The program refuses them at preview: deploy each as a stack, or remove it from the network.",
              ]
            : []),
    ];
    doc.commentBefore = header.join("\n");
    const netNode = doc.getIn(["config", `${PROJECT}:network`], true) as YAMLMap;
    const subnetPair = netNode.items.find((p) => String((p.key as { value?: unknown }).value ?? p.key) === "subnet");
    if (subnetPair) {
        (subnetPair.key as { commentBefore?: string }).commentBefore =
            " The live subnet: adoption keeps it. The move is the next run: " +
            (i.targetSubnet !== undefined
                ? `pulumi config set --path network.subnet ${i.targetSubnet} (checked against this host: no conflict).`
                : "set network.subnet to the target (survey --subnet CIDR checks one against this host).");
    }
    if (externalAttached.length > 0) {
        const migrationPair = netNode.items.find(
            (p) => String((p.key as { value?: unknown }).value ?? p.key) === "migration",
        );
        if (migrationPair) {
            (migrationPair.key as { commentBefore?: string }).commentBefore =
                ` rolling: ${externalAttached.join(", ")} ${externalAttached.length === 1 ? "is" : "are"} deployed by another tool (deploy: external), which a recreate could not bring back.`;
        }
    }
    const cfgArg = ["--stack", i.pulumiStack];
    const next = [
        ["pulumi", "up", ...cfgArg],
        ["pulumi", "config", "set", ...cfgArg, "--path", "network.subnet", i.targetSubnet ?? "CIDR"],
    ];
    return { text: doc.toString({ lineWidth: 0 }), stacks, loose: loose.sort(), entryPoint, liveSubnet, next };
}
