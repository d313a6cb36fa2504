// Subnet planning for the shared overlay: pure functions over plain data, shared by the Pulumi program
// and the operator tools.
import { IPv4CidrRange, Validator } from "ip-num";

/** A network as the live host reports it. */
export interface NetworkFact {
    name: string;
    id?: string;
    driver: string;
    scope: string;
    subnets: string[];
}

/** What a target subnet must not collide with. */
export interface SubnetContext {
    networks: NetworkFact[];
    /** Destinations of the host's routes (CIDR or bare address); `default` and 0.0.0.0/0 are ignored. */
    routes: string[];
    /** Ranges the operator keeps for other uses. */
    reserved: string[];
    /** The swarm's default address pools (`docker swarm init --default-addr-pool`). */
    defaultAddressPools: string[];
    /** Name of the network this subnet replaces: its own current subnets are no conflict. */
    replacing?: string;
}

export interface Conflict {
    kind: "network" | "route" | "reserved";
    name: string;
    cidr: string;
}

/** Docker's overlay IPAM keeps the network address, the broadcast address and the gateway. */
export const RESERVED_PER_SUBNET = 3;

export const CIDR_FORM = "an IPv4 CIDR with its host bits zero, such as 10.10.0.0/16";

/**
 * Returns the canonical form of `value`, or throws naming `key`. A CIDR with host bits set is refused:
 * Docker >= 25 rejects it, although ip-num's fromCidr accepts it.
 */
export function checkCanonicalCidr(key: string, value: string): string {
    const [valid] = Validator.isValidIPv4CidrNotation(value);
    if (!valid) {
        throw new Error(`${key}: ${JSON.stringify(value)} is not ${CIDR_FORM}`);
    }
    const canonical = canonicalOf(IPv4CidrRange.fromCidr(value));
    if (canonical !== value) {
        throw new Error(`${key}: ${JSON.stringify(value)} has host bits set; use ${canonical} (${CIDR_FORM})`);
    }
    return canonical;
}

function canonicalOf(range: IPv4CidrRange): string {
    return `${range.getFirst().toString()}/${range.getPrefix().getValue()}`;
}

/** Parses a CIDR or a bare address (a /32); undefined for anything that is not IPv4 (IPv6 networks). */
export function toRange(value: string): IPv4CidrRange | undefined {
    const cidr = value.includes("/") ? value : `${value}/32`;
    const [valid] = Validator.isValidIPv4CidrNotation(cidr);
    if (!valid) {
        return undefined;
    }
    const range = IPv4CidrRange.fromCidr(cidr);
    // Normalise so that a route written with host bits still compares by its real span.
    return IPv4CidrRange.fromCidr(canonicalOf(range));
}

function mustRange(cidr: string): IPv4CidrRange {
    const range = toRange(cidr);
    if (!range) {
        throw new Error(`${JSON.stringify(cidr)} is not ${CIDR_FORM}`);
    }
    return range;
}

/** Addresses Docker can hand out on an overlay with this subnet. */
export function assignableAddresses(cidr: string): number {
    const size = Number(mustRange(cidr).getSize());
    return Math.max(0, size - RESERVED_PER_SUBNET);
}

function overlaps(a: IPv4CidrRange, b: IPv4CidrRange): boolean {
    return a.isOverlapping(b) || a.inside(b) || a.contains(b);
}

/** Every network, route and reserved range that `target` overlaps. */
export function findConflicts(target: string, ctx: SubnetContext): Conflict[] {
    const t = mustRange(target);
    const found: Conflict[] = [];
    for (const net of ctx.networks) {
        if (net.name === ctx.replacing) {
            continue;
        }
        for (const cidr of net.subnets) {
            const r = toRange(cidr);
            if (r && overlaps(t, r)) {
                found.push({ kind: "network", name: net.name, cidr });
            }
        }
    }
    for (const route of ctx.routes) {
        const r = route === "default" ? undefined : toRange(route);
        if (r && r.getPrefix().getValue() > 0n && overlaps(t, r)) {
            found.push({ kind: "route", name: route, cidr: canonicalOf(r) });
        }
    }
    for (const cidr of ctx.reserved) {
        if (overlaps(t, mustRange(cidr))) {
            found.push({ kind: "reserved", name: cidr, cidr });
        }
    }
    return found;
}

/** The default address pool that contains `target`, if any (a maintainer advised subnets outside it). */
export function defaultPoolContaining(target: string, pools: string[]): string | undefined {
    const t = mustRange(target);
    return pools.find((p) => {
        const r = toRange(p);
        return r !== undefined && overlaps(t, r);
    });
}

export interface Capacity {
    cidr: string;
    assignable: number;
    inUse: number;
    free: number;
    /** How many times the current use fits into the subnet (Infinity when nothing is in use). */
    headroom: number;
}

export function capacity(cidr: string, inUse: number): Capacity {
    const assignable = assignableAddresses(cidr);
    return {
        cidr,
        assignable,
        inUse,
        free: Math.max(0, assignable - inUse),
        headroom: inUse > 0 ? assignable / inUse : Number.POSITIVE_INFINITY,
    };
}

export interface SubnetPlanInput {
    /** The config key the subnet came from, for messages. */
    key: string;
    subnet: string;
    ctx: SubnetContext;
    /** Addresses in use on the network today (what the new subnet must hold, many times over). */
    inUse: number;
    /** The least headroom (assignable / in use) the operator accepts. */
    minHeadroom: number;
}

export interface SubnetPlan {
    subnet: string;
    capacity: Capacity;
    /** Set when the subnet lies inside the swarm's default address pool: allowed, but worth a warning. */
    insideDefaultPool?: string;
}

function describe(c: Conflict): string {
    switch (c.kind) {
        case "network":
            return `network "${c.name}" (${c.cidr})`;
        case "route":
            return `host route ${c.cidr}`;
        case "reserved":
            return `reserved range ${c.cidr}`;
    }
}

/** Checks a target subnet against the live host and the operator's limits; throws one error listing every problem. */
export function planSubnet(input: SubnetPlanInput): SubnetPlan {
    const subnet = checkCanonicalCidr(input.key, input.subnet);
    const conflicts = findConflicts(subnet, input.ctx);
    if (conflicts.length > 0) {
        throw new Error(
            `${input.key}: ${subnet} overlaps ${conflicts.map(describe).join(", ")}; ` +
                `choose a subnet that overlaps no existing network, host route or reserved range`,
        );
    }
    const cap = capacity(subnet, input.inUse);
    if (cap.headroom < input.minHeadroom) {
        const needed = Math.ceil(input.inUse * input.minHeadroom) + RESERVED_PER_SUBNET;
        const prefix = 32 - Math.ceil(Math.log2(needed));
        throw new Error(
            `${input.key}: ${subnet} gives ${cap.assignable} assignable addresses, ` +
                `${cap.headroom.toFixed(1)}x the ${input.inUse} in use; at least ${input.minHeadroom}x is configured ` +
                `(minHeadroom): use a /${prefix} or larger`,
        );
    }
    return { subnet, capacity: cap, insideDefaultPool: defaultPoolContaining(subnet, input.ctx.defaultAddressPools) };
}
