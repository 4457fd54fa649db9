/**
 * The root demo's cluster (scripts/demo-cluster.ts) on the test lab's
 * namespaces: the config, the daemons and the services.
 *
 *   h1, h2  vigil nodes; heartbeats and the mirror's replication on link 2
 *           (eth1, 203.0.113.0/24), clients on link 1 (eth0, 198.51.100.0/24).
 *           Module "web" is a mirror module: the VIP 198.51.100.100 and the
 *           visits service, whose folder DIR/srv is replicated; h1 preferred,
 *           failback manual. Module "farm" puts 198.51.100.200 on both nodes,
 *           each answering its share of the clients with its name.
 *   h3      the client, and the ping witness both nodes must reach when they
 *           hear no peer.
 *
 * Each daemon runs in a mount namespace of its own where DIR/srv is that
 * node's folder (DIR/h1-data or DIR/h2-data bound over it), as on two
 * machines; the daemon mounts FUSE over it there while it runs the module.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusSnapshot } from "../src/api/status.ts";
import type { Lab, LabHost, LabProcess } from "../test/lab/lab.ts";
import { parseVigilLog, VIGIL_BIN, vigilKeygen } from "../test/lab/vigil-cluster.ts";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { writeDemoScripts } from "./demo-services.ts";

export const WEB_VIP = "198.51.100.100";
export const FARM_VIP = "198.51.100.200";
export const WEB_PORT = 8080;
export const FARM_PORT = 8090;
export const NODES = ["h1", "h2"] as const;
export type NodeName = (typeof NODES)[number];

export interface DemoNode {
  readonly name: NodeName;
  readonly host: LabHost;
  readonly stateDir: string;
  /** The daemon runs (started and not exited). */
  running(): boolean;
  /** Starts the daemon; resolves once it logged "vigil started". */
  start(): Promise<void>;
  /** SIGKILL to the daemon, as a crash; resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, a clean stop; resolves once it is gone. */
  stop(): Promise<void>;
  /** `vigil status --json` on this node, as an operator would run it. */
  status(): Promise<StatusSnapshot>;
  /** The console's port the running daemon logged at its start. */
  consolePort(): number | undefined;
  consoleScheme(): string;
}

export interface DemoNodes {
  readonly config: string;
  node(name: NodeName): DemoNode;
  /** What the client saw, from its summary file (null before its first write). */
  client(): ClientSummary | null;
  /** Stops the client, the farm services and the daemons (the one running web last, so its standby keeps up). */
  stop(): Promise<void>;
}

export interface ClientSummary {
  at: number;
  web: {
    node: string | null;
    visit: number;
    at: number;
    answers: number;
    failed: number;
    reused: number;
    reusedDetail: string | null;
    failovers: { at: number; from: string; to: string; lastVisitBefore: number; firstVisitAfter: number; noAnswerMs: number }[];
  };
  farm: { recent: { at: number; node: string }[]; total: Record<string, number> };
}

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(VIGIL_BIN, args, { encoding: "utf8", timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
  });
}

export async function startDemoNodes(lab: Lab, dir: string): Promise<DemoNodes> {
  const folder = join(dir, "srv");
  mkdirSync(folder, { recursive: true });
  for (const n of NODES) mkdirSync(join(dir, `${n}-data`), { recursive: true });
  const scripts = writeDemoScripts({ dir, runtime: process.execPath, folder, vip: WEB_VIP, webPort: WEB_PORT });
  const key = await vigilKeygen(join(dir, "vigil.key"));
  const [h1, h2, h3] = [lab.host("h1"), lab.host("h2"), lab.host("h3")];
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:",
    "  name: demo",
    `  key_file: ${key}`,
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr(2)}] }`,
    `    - { name: h2, addresses: [${h2.addr(2)}] }`,
    `  witness: { ping: [${h3.addr(1)}] }`,
    "  heartbeat: { preset: lan, initdead: 2s }",
    "modules:",
    "  - name: web",
    "    type: mirror",
    `    vip: ${WEB_VIP}/24`,
    "    interface: eth0",
    `    replicate: [${folder}]`,
    // Slow on purpose: a returning node's resync then lasts long enough to watch in the console.
    "    resync_rate: 1",
    `    start: ${scripts.webStart}`,
    `    stop: ${scripts.webStop}`,
    "    prefer: h1",
    "    failback: manual",
    "  - name: farm",
    "    type: farm",
    `    vip: ${FARM_VIP}/24`,
    "    interface: eth0",
    `    ports: [${FARM_PORT}]`,
    "    split: client_ip_port",
    "    checkers:",
    `      - { tcp: 127.0.0.1:${FARM_PORT}, interval: 500ms, timeout: 300ms }`,
    "web:",
    "  listen: 127.0.0.1:9010",
    "",
  ].join("\n"));
  const checked = await vigil(["check-config", config]);
  if (checked.code !== 0) throw new Error(`the demo's config does not pass check-config: ${checked.stdout}${checked.stderr}`);

  const makeNode = (name: NodeName): DemoNode => {
    const host = lab.host(name);
    const stateDir = join(dir, `state-${name}`);
    mkdirSync(stateDir, { recursive: true });
    let proc: LabProcess | undefined;
    let console: { port: number; scheme: string } | undefined;
    const running = (): boolean => proc !== undefined && proc.exitStatus === null;
    const node: DemoNode = {
      name,
      host,
      stateDir,
      running,
      async start() {
        if (running()) throw new Error(`vigil on ${name} already runs`);
        console = undefined;
        // Its own mount namespace, its own folder at the shared path; exec keeps the PID the lab recorded.
        const p = host.spawn([
          "unshare", "-m", "--propagation", "private", "sh", "-c",
          `mount --bind ${join(dir, `${name}-data`)} ${folder} && exec ${VIGIL_BIN} run --config ${config} --node ${name} --state-dir ${stateDir} --log-format json --listen 127.0.0.1:0`,
        ], { logName: `vigil-${name}` });
        proc = p;
        await p.waitFor(/"msg":"vigil started"/, 20_000);
        const started = parseVigilLog(p.output()).find((e) => e.msg === "vigil started");
        const url = started?.fields["console"];
        if (typeof url === "string") {
          const u = new URL(url);
          console = { port: Number(u.port), scheme: u.protocol };
        }
      },
      async kill() {
        if (proc === undefined || !running()) return;
        proc.kill("SIGKILL");
        await proc.exited;
      },
      async stop() {
        if (proc === undefined || !running()) return;
        const p = proc;
        p.kill("SIGTERM");
        await Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (p.exitStatus === null) p.kill("SIGKILL");
        await p.exited;
      },
      async status() {
        const r = await vigil(["status", "--json", "--state-dir", stateDir]);
        if (r.code !== 0) throw new Error(r.stderr.trim() || `vigil status exited ${r.code}`);
        return JSON.parse(r.stdout) as StatusSnapshot;
      },
      consolePort: () => (running() ? console?.port : undefined),
      consoleScheme: () => console?.scheme ?? "https:",
    };
    return node;
  };
  const nodes = { h1: makeNode("h1"), h2: makeNode("h2") };
  const farms = NODES.map((n) => lab.host(n).spawn([process.execPath, scripts.farmJs, n, String(FARM_PORT)], { logName: `farm-service-${n}` }));
  await Promise.all(NODES.map((n) => nodes[n].start()));
  const summary = join(dir, "client.json");
  const client = h3.spawn([process.execPath, scripts.clientJs, `http://${WEB_VIP}:${WEB_PORT}/`, `http://${FARM_VIP}:${FARM_PORT}/`, summary], { logName: "client" });

  return {
    config,
    node: (n) => nodes[n],
    client() {
      try {
        return JSON.parse(readFileSync(summary, "utf8")) as ClientSummary;
      } catch {
        return null;
      }
    },
    async stop() {
      await client.stop(1_000);
      const runsWeb = async (n: DemoNode): Promise<boolean> => {
        if (!n.running()) return false;
        try {
          const s = (await n.status()).modules.find((m) => m.name === "web")?.state;
          return s === "PRIM" || s === "ALONE";
        } catch {
          return false;
        }
      };
      // The runner first: its service stops and every write reaches the standby before that one stops.
      const order = (await runsWeb(nodes.h2)) ? [nodes.h2, nodes.h1] : [nodes.h1, nodes.h2];
      for (const n of order) await n.stop();
      for (const f of farms) await f.stop(1_000);
    },
  };
}
