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
