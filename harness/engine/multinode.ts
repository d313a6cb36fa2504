// A sandbox of several nodes (sandbox/up.sh with SANDBOX_NODES), its workers, and the real sshd in its
// manager's namespace (sandbox/sshd.sh): what the multi-node and SSH tier drives.
import * as child_process from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseExports, type Sandbox, sandboxScriptSync, sandboxUpSync } from "../sandbox";

export type MultiNode = Sandbox;

/** Starts (or reuses) a sandbox of `nodes` nodes and points this process's DOCKER_HOST at its manager. */
export function multiNodeUp(name: string, nodes: number): MultiNode {
    return sandboxUpSync({ name, nodes, exportDockerHost: true });
}

/** Stops or starts worker `node` (w1, w2, ...) of the sandbox, keeping its state. */
export function workerDockerd(sb: Sandbox, action: "stop" | "start", node: string): void {
    sandboxScriptSync(sb, "node.sh", [action, node]);
}

export interface Ssh {
    host: string;
    port: number;
    user: string;
    hostKey: string;
    keyFile: string;
    /** The agent holding the key: the program's own ssh clients (host facts, the Docker provider) use it. */
    agentSocket: string;
    agentPid: number;
}

/** Starts the sandbox's sshd (in its manager's namespace) and an ssh-agent holding the test's key. */
export function sshUp(sb: Sandbox): Ssh {
    const vars = parseExports(sandboxScriptSync(sb, "sshd.sh", ["--env"]));
    for (const k of [
        "SANDBOX_SSH_HOST",
        "SANDBOX_SSH_PORT",
        "SANDBOX_SSH_USER",
        "SANDBOX_SSH_HOST_KEY",
        "SANDBOX_SSH_KEY_FILE",
    ]) {
        if (!vars[k]) throw new Error(`sandbox/sshd.sh --env printed no ${k}`);
    }
    const agentSocket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-agent-")), "agent.sock");
    const agent = child_process.execFileSync("ssh-agent", ["-a", agentSocket, "-s"], { encoding: "utf8" });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent)?.[1]);
    child_process.execFileSync("ssh-add", ["-q", vars.SANDBOX_SSH_KEY_FILE], {
        env: { ...process.env, SSH_AUTH_SOCK: agentSocket },
        stdio: "ignore",
    });
    return {
        host: vars.SANDBOX_SSH_HOST,
        port: Number(vars.SANDBOX_SSH_PORT),
        user: vars.SANDBOX_SSH_USER,
        hostKey: vars.SANDBOX_SSH_HOST_KEY,
        keyFile: vars.SANDBOX_SSH_KEY_FILE,
        agentSocket,
        agentPid: pid,
    };
}

export function sshDown(sb: Sandbox, ssh: Ssh | undefined): void {
    if (ssh?.agentPid) {
        try {
            process.kill(ssh.agentPid);
        } catch {
            // already gone
        }
    }
    sandboxScriptSync(sb, "sshd.sh", ["--stop"]);
}

/** A node of the sandbox by its hostname (`<name>-manager`, `<name>-wI`): its dockerd socket, exec root and pidfile. */
export function sandboxNode(sb: Sandbox, hostname: string): { dockerHost: string; execRoot: string; pidfile: string } {
    const instance = hostname === `${sb.name}-manager` ? sb.name : hostname;
    if (instance !== sb.name && !new RegExp(`^${sb.name}-w[1-9]$`).test(hostname)) {
        throw new Error(`${hostname} is no node of sandbox ${sb.name}`);
    }
    const execRoot = `/run/swarm-sandbox/${instance}`;
    return { dockerHost: `unix:///run/swarm-sandbox/${instance}.sock`, execRoot, pidfile: `${execRoot}/dockerd.pid` };
}

/** The stale-vxlan stops a run printed (host/lib.sh's sp_stale_vxlan): the node, the overlay, the fix's command. */
export function staleVxlanStops(said: string): { node: string; overlay: string; fix: string[] }[] {
    const re =
        /stale vxlan interface: node (\S+) cannot join overlay (\S+ \([0-9./]+\)): [^;]*moby\/libnetwork#1765[^;]*; fix, as root on node \1: (bash \S+\/vxlan-clear\.sh [0-9a-z]+ \d+)/g;
    const seen = new Map<string, { node: string; overlay: string; fix: string[] }>();
    for (const m of said.matchAll(re)) seen.set(`${m[1]} ${m[2]}`, { node: m[1], overlay: m[2], fix: m[3].split(" ") });
    return [...seen.values()];
}

/** Runs a printed stale-vxlan fix on that node of the sandbox (its dockerd, exec root and pidfile); its output. */
export function runStaleVxlanFix(sb: Sandbox, stop: { node: string; fix: string[] }): string {
    const n = sandboxNode(sb, stop.node);
    const [cmd, ...args] = stop.fix;
    return child_process.execFileSync(cmd, [...args, n.execRoot, n.pidfile], {
        encoding: "utf8",
        env: { ...process.env, DOCKER_HOST: n.dockerHost },
    });
}

/** `docker network inspect --format` of an overlay's VNI. */
export const VNI_FORMAT = '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}';

/**
 * `docker network create` of the temporary network an interrupted rolling run leaves (network-move.sh's label), which
 * the rerun resumes on: made by a test before the move, its VNI is known before the move's tasks need it.
 */
export function leftTemporaryNetworkArgs(subnet: string, name = "proxy-rolling", of = "proxy"): string[] {
    return [
        ...["network", "create", "--driver", "overlay", "--attachable", "--subnet", subnet],
        ...["--label", `swarm-proxy.rolling.temporary-for=${of}`, name],
    ];
}

/** The test's stale interface: what a dockerd that stopped without cleaning up leaves (moby/libnetwork#1765). */
export const STALE_VXLAN = "spx-stale";

/**
 * Leaves a stale vxlan interface with `vni` on the node of the dockerd whose pidfile this is: a vxlan on dockerd's
 * data port in its network namespace, which the kernel lets no second vxlan with that VNI join.
 */
export function leaveStaleVxlan(pidfile: string, vni: number): void {
    staleVxlanLink(pidfile, ["add", STALE_VXLAN, "type", "vxlan", "id", String(vni), "dstport", "4789"]);
}

/** Removes the test's stale interface where a case left it and no fix did (ip's error is ignored: none there). */
export function removeStaleVxlan(pidfile: string): void {
    try {
        staleVxlanLink(pidfile, ["del", STALE_VXLAN]);
    } catch {
        // Not there: the fix removed it, or the case never made it.
    }
}

function staleVxlanLink(pidfile: string, args: string[]): void {
    const pid = fs.readFileSync(pidfile, "utf8").trim();
    child_process.execFileSync("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "link", ...args], { stdio: "pipe" });
}
