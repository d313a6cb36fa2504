// A sandbox of several nodes (sandbox/up.sh with SANDBOX_NODES), its workers, and the real sshd in its
// manager's namespace (sandbox/sshd.sh): what the multi-node and SSH tier drives.
import * as child_process from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { repoRoot } from "./pulumi";
import { Sandbox } from "./swarm-fixture";

function bash(script: string, args: string[], env: NodeJS.ProcessEnv): string {
  return child_process.execFileSync("bash", [path.join(repoRoot, script), ...args], {
    cwd: repoRoot, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024,
  });
}

function exportedVars(out: string): Record<string, string> {
  const vars: Record<string, string> = {};
  // printf %q quoting: '...' for lists, backslash escapes otherwise.
  for (const m of out.matchAll(/^export ([A-Z_]+)=(.*)$/gm)) {
    vars[m[1]] = /^'.*'$/.test(m[2]) ? m[2].slice(1, -1) : m[2].replace(/\\(.)/g, "$1");
  }
  return vars;
}

export interface MultiNode extends Sandbox {
  nodes: number;
  /** The workers' dockerd sockets (unix://...), w1 first. */
  workers: string[];
}

/** Starts (or reuses) a sandbox of `nodes` nodes and points this process's DOCKER_HOST at its manager. */
export function multiNodeUp(name: string, nodes: number): MultiNode {
  const out = bash("sandbox/up.sh", ["--env"], { ...process.env, SANDBOX: name, SANDBOX_NODES: String(nodes) });
  const vars = exportedVars(out);
  if (!vars.DOCKER_HOST) throw new Error(`sandbox/up.sh printed no DOCKER_HOST:\n${out}`);
  process.env.DOCKER_HOST = vars.DOCKER_HOST;
  const workers = (vars.SANDBOX_WORKER_HOSTS ?? "").split(" ").filter(Boolean);
  if (workers.length !== nodes - 1) throw new Error(`sandbox/up.sh printed ${workers.length} worker socket(s), not ${nodes - 1}:\n${out}`);
  return { name, env: vars, nodes, workers };
}

/** Stops or starts worker `node` (w1, w2, ...) of the sandbox, keeping its state. */
export function workerDockerd(sb: Sandbox, action: "stop" | "start", node: string): void {
  bash("sandbox/node.sh", [action, node], { ...process.env, SANDBOX: sb.name });
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
  const vars = exportedVars(bash("sandbox/sshd.sh", ["--env"], { ...process.env, SANDBOX: sb.name }));
  for (const k of ["SANDBOX_SSH_HOST", "SANDBOX_SSH_PORT", "SANDBOX_SSH_USER", "SANDBOX_SSH_HOST_KEY", "SANDBOX_SSH_KEY_FILE"]) {
    if (!vars[k]) throw new Error(`sandbox/sshd.sh --env printed no ${k}`);
  }
  const agentSocket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "swarm-proxy-agent-")), "agent.sock");
  const agent = child_process.execFileSync("ssh-agent", ["-a", agentSocket, "-s"], { encoding: "utf8" });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent)?.[1]);
  child_process.execFileSync("ssh-add", ["-q", vars.SANDBOX_SSH_KEY_FILE], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: "ignore" });
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
  bash("sandbox/sshd.sh", ["--stop"], { ...process.env, SANDBOX: sb.name });
}
