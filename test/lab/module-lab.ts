/**
 * A failover module on lab hosts, for the module lab tests:
 *
 *   h1, h2  vigil nodes; heartbeats on link 2 only (eth1, 203.0.113.0/24),
 *           so link 1 can stay up while the heartbeat is cut;
 *   h3      the client on link 1 (eth0, 198.51.100.0/24), and the ping
 *           witness both nodes must reach when they hear no peer.
 *
 * The module "web" holds the VIP 198.51.100.100/24 on eth0 and a tiny HTTP
 * service (Node's http module) bound to it (port 8080, 8081... one per run) that answers with
 * the node's name. Its start script records the service's PID in
 * DIR/svc-<node>.pid; its stop script kills that PID and waits for it to go.
 * A prober on h3 asks the VIP every 50 ms and logs "<ms> <answer|none>".
 */
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusSnapshot } from "../../src/api/status.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import { type Lab, type LabHost, type LabProcess, waitUntil } from "./lab.ts";
import { type HeartbeatYaml, startVigilCluster, type VigilCluster, type VigilNode } from "./vigil-cluster.ts";

export const VIP = "198.51.100.100";
/** Each lab run takes the next port, so a service one test left behind cannot answer for the next. */
let nextPort = 8080;

/** The service under test: answers every request with its node name. */
const SERVER_JS = `const http = require("node:http");
const name = process.argv[2];
http.createServer((req, res) => res.end(name)).listen(Number(process.argv[3]), "${VIP}");
`;

function writeScripts(dir: string, port: number): { start: string; stop: string } {
  writeFileSync(join(dir, "server.js"), SERVER_JS);
  const start = join(dir, "start.sh");
  const stop = join(dir, "stop.sh");
  writeFileSync(
    start,
    [
      "#!/bin/sh",
      `# Starts the service on the VIP; vigil adds the VIP first.`,
      `${process.execPath} ${join(dir, "server.js")} "$VIGIL_NODE" ${port} >/dev/null 2>&1 </dev/null &`,
      `echo $! > ${join(dir, "svc-")}"$VIGIL_NODE".pid`,
      // Started once it listens, so the checker's first look finds it.
      `for i in $(seq 1 50); do curl -s -o /dev/null -m 0.5 http://${VIP}:${port}/ && exit 0; sleep 0.1; done`,
      "echo 'the service did not listen within 5 s' >&2; exit 1",
      "",
    ].join("\n"),
  );
  writeFileSync(
    stop,
    [
      "#!/bin/sh",
      `f=${join(dir, "svc-")}"$VIGIL_NODE".pid`,
      `[ -f "$f" ] || exit 0`,
      `p=$(cat "$f")`,
      `kill "$p" 2>/dev/null`,
      // Gone, or a zombie waiting for init to reap it (slow in some containers).
      `gone() { s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ]; }`,
      `for i in $(seq 1 100); do gone && { rm -f "$f"; exit 0; }; sleep 0.05; done`,
      `kill -9 "$p" 2>/dev/null; rm -f "$f"; exit 0`,
      "",
    ].join("\n"),
  );
  chmodSync(start, 0o755);
  chmodSync(stop, 0o755);
  return { start, stop };
}

export interface ModuleLabSpec {
  readonly lab: Lab;
  readonly dir: string;
  readonly failback: "auto" | "manual";
  /** Checker lines (YAML flow mappings) for the module; PORT stands for the service's port. */
  readonly checkers?: readonly string[];
  /** The cluster.witness.ping address; default h3 (the client). false: none. */
  readonly witness?: string | false;
  /** Heartbeat settings; default the lan preset with initdead 2s. */
  readonly heartbeat?: HeartbeatYaml;
  /** The binary both daemons start with (an older release, for upgrade tests); default VIGIL_BIN. */
  readonly bin?: string;
}

export interface ModuleLab {
  readonly cluster: VigilCluster;
  readonly client: LabHost;
  readonly prober: LabProcess;
  readonly dir: string;
  node(name: "h1" | "h2"): VigilNode;
  /** The service's PID on a node, from its pidfile; null when it does not run there. */
  servicePid(node: string): number | null;
  /** This node's view of module "web". */
  module(node: VigilNode): Promise<ModuleStatus>;
  /** Waits until the node reports `role` for "web". */
  waitRole(node: VigilNode, roles: readonly string[], timeoutMs?: number): Promise<void>;
  /** Waits until the client gets answers from `who` (2 in a row), counted from `after` (ms since the epoch). */
  waitServedBy(who: string, after: number, timeoutMs?: number): Promise<void>;
  /**
   * Waits until `prim` is PRIM for "web" (within `primTimeoutMs`), then the other node SECOND, then the
   * client is served by `prim`, its answers counted from `after` (ms since the epoch), or with "now" from
   * when both roles were reached.
   */
  waitRunsOn(prim: "h1" | "h2", after: number | "now", primTimeoutMs?: number): Promise<void>;
  /** Answers the client got since `after`. */
  answers(after: number): { at: number; who: string }[];
  /** Whether the VIP sits on the node's eth0. */
  holdsVip(host: LabHost): Promise<boolean>;
  /**
   * SIGTERM to the node's daemon alone, as `systemctl stop` does with
   * KillMode=mixed; resolves when it exited. (The lab's proc.stop() signals
   * the whole process tree, which would also kill the stop scripts the
   * daemon runs while stopping.)
   */
  terminate(node: VigilNode, timeoutMs?: number): Promise<void>;
  /**
   * Stops the prober and the daemons, then kills a service a daemon left
   * behind (by the PID its start script recorded), so the next test on the
   * same lab starts clean.
   */
  stop(): Promise<void>;
  /** `vigil CMD web` run on the node, as an operator would (with the binary its daemon runs). */
  cli(node: VigilNode, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

export async function startModuleLab(spec: ModuleLabSpec): Promise<ModuleLab> {
  const { lab, dir } = spec;
  const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
  const port = nextPort++;
  const scripts = writeScripts(dir, port);
  // Heartbeats on link 2 only: the cluster's addresses are the link-2 ones.
  const onLink2 = (h: LabHost): LabHost => ({ ...h, addrs: [h.addr(2)] });
  const checkers = (spec.checkers ?? []).map((c) => c.replaceAll("PORT", String(port)));
  const extraYaml = [
    "modules:",
    "  - name: web",
    "    type: failover",
    `    vip: ${VIP}/24`,
    "    interface: eth0",
    `    start: ${scripts.start}`,
    `    stop: ${scripts.stop}`,
    "    prefer: h1",
    `    failback: ${spec.failback}`,
    ...(checkers.length === 0 ? [] : ["    checkers:", ...checkers.map((c) => `      - ${c}`)]),
  ];
  const cluster = await startVigilCluster({
    hosts: [onLink2(h1), onLink2(h2)],
    dir,
    heartbeat: spec.heartbeat ?? { preset: "lan", initdead: "2s" },
    extraYaml,
    start: [],
  });
  if (spec.witness !== false) {
    // The witness belongs under cluster:, which clusterYaml writes without one.
    const text = readFileSync(cluster.config, "utf8").replace("  heartbeat:", `  witness: { ping: [${spec.witness ?? h3.addr(1)}] }\n  heartbeat:`);
    writeFileSync(cluster.config, text);
  }
  await Promise.all([cluster.node("h1").start(spec.bin), cluster.node("h2").start(spec.bin)]);
  const prober = h3.spawn(
    ["sh", "-c", `while :; do r=$(curl -s -m 0.3 http://${VIP}:${port}/); echo "$(date +%s%3N) \${r:-none}"; sleep 0.05; done`],
    { logName: "vip-client" },
  );
  const answers = (after: number): { at: number; who: string }[] =>
    prober.output().split("\n").map((l) => l.trim().split(" ")).filter((p) => p.length === 2 && Number(p[0]) >= after)
      .map((p) => ({ at: Number(p[0]), who: p[1] as string }));
  const runCli = (node: VigilNode, args: readonly string[]) =>
    node.host.exec([node.bin, ...args, "--state-dir", node.stateDir], { timeoutMs: 60_000 }).then((r) => ({ code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr }));
  const moduleOf = async (node: VigilNode): Promise<ModuleStatus> => {
    const s: StatusSnapshot = await node.status();
    const m = s.modules.find((x) => x.name === "web");
    if (m === undefined) throw new Error(`${node.name}: status lists no module web`);
    return m;
  };
  const waitRole = async (node: VigilNode, roles: readonly string[], timeoutMs = 20_000): Promise<void> => {
    let last = "";
    try {
      await waitUntil(async () => {
        last = (await moduleOf(node)).state;
        return roles.includes(last);
      }, { timeoutMs, what: `${node.name} to be ${roles.join(" or ")} for web` });
    } catch (e) {
      throw new Error(`${(e as Error).message}; it is ${last} (log: ${node.proc.log})`);
    }
  };
  const waitServedBy = async (who: string, after: number, timeoutMs = 20_000): Promise<void> => {
    try {
      await waitUntil(() => {
        const a = answers(after);
        return a.length >= 2 && a.slice(-2).every((x) => x.who === who);
      }, { timeoutMs, what: `the client to be served by ${who}` });
    } catch (e) {
      throw new Error(`${(e as Error).message}; last answers: ${answers(after).slice(-3).map((x) => x.who).join(", ") || "none"}`);
    }
  };
  const terminate = async (node: VigilNode, timeoutMs = 30_000): Promise<void> => {
    let p;
    try {
      p = node.proc;
    } catch {
      return; // never started
    }
    if (p.exitStatus !== null) return;
    p.kill("SIGTERM");
    let t: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (t = setTimeout(() => r("late"), timeoutMs)));
    const how = await Promise.race([p.exited, late]);
    clearTimeout(t);
    if (how === "late") throw new Error(`vigil on ${node.name} did not exit within ${timeoutMs} ms of SIGTERM (log: ${p.log})`);
  };
  return {
    cluster,
    client: h3,
    prober,
    dir,
    node: (name) => cluster.node(name),
    servicePid(node) {
      const f = join(dir, `svc-${node}.pid`);
      if (!existsSync(f)) return null;
      const n = Number(readFileSync(f, "utf8").trim());
      return Number.isInteger(n) && n > 0 ? n : null;
    },
    module: moduleOf,
    waitRole,
    waitServedBy,
    async waitRunsOn(prim, after, primTimeoutMs) {
      await waitRole(cluster.node(prim), ["PRIM"], primTimeoutMs);
      await waitRole(cluster.node(prim === "h1" ? "h2" : "h1"), ["SECOND"]);
      await waitServedBy(prim, after === "now" ? Date.now() : after);
    },
    answers,
    async holdsVip(host) {
      const r = await host.exec(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
      // With the prefix the config gives it (vip: VIP/24 above).
      return r.stdout.includes(` ${VIP}/24 `);
    },
    cli: runCli,
    terminate,
    async stop() {
      await prober.stop(1_000);
      await Promise.all(cluster.nodes.map((n) => terminate(n).catch(() => {})));
      await cluster.stop();
      // Our services are the processes running this run's server.js.
      const mine = join(dir, "server.js");
      for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        let cmdline = "";
        try {
          cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
        } catch {
          continue;
        }
        if (!cmdline.split("\0").includes(mine)) continue;
        try {
          process.kill(Number(entry), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      for (const node of ["h1", "h2"]) rmSync(join(dir, `svc-${node}.pid`), { force: true });
    },
  };
}
