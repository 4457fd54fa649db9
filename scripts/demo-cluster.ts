/**
 * `npm run demo` as root: a two-node cluster in network namespaces, so a
 * newcomer watches a failover in the first minute (the nodes, the modules and
 * the client are described in demo-nodes.ts).
 *
 * On this machine's localhost: a demo panel (default http://localhost:9010/,
 * where the one-node demo has its console) showing who answers through the
 * web VIP, the visit number the mirrored folder keeps, which node answers the
 * farm's VIP and each node's roles, with buttons to kill a node's daemon,
 * start it again, pull its cables and plug them back; and each node's console
 * (https://localhost:9011/ and :9012/), forwarded into its namespace through a
 * unix socket.
 *
 * Built from the lab the tests use (test/lab), which removes every namespace
 * and process it made when the demo ends (Ctrl-C).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusSnapshot } from "../src/api/status.ts";
import { createLab, type Lab, type LabProcess } from "../test/lab/lab.ts";
import { type DemoNodes, FARM_VIP, type NodeName, NODES, startDemoNodes, WEB_VIP } from "./demo-nodes.ts";
import { PANEL_HTML } from "./demo-panel.ts";

export interface DemoOptions {
  /** 0 picks a free port. */
  panelPort: number;
  consolePorts: readonly [number, number];
}

export interface NodeView {
  name: string;
  daemon: "running" | "killed";
  cables: "in" | "out";
  /** The node's role for module web, or why it is not known. */
  role: string;
  /** This node's copy of web's folder: uptodate, outdated, inconsistent (being resynced); null when not known. */
  mirror: string | null;
  /** The resync under way, as the node's status tells it, or null. */
  resync: { phase: string; bytesDone: number; bytesTotal: number; bytesPerSec: number } | null;
  /** The node's part of the farm: in, out, wait..., with its buckets (of 256) and why; null when not known. */
  farm: { mode: string; held: number; detail: string } | null;
  console: string;
  /** The console's login: user admin and the password in this file. */
  passwordFile: string;
}

export interface DemoState {
  vip: string;
  /** Who answered the client's last requests through the web VIP ("none": no answer for a second). */
  servedBy: string;
  web: {
    /** The highest visit number the client was answered with; each is written and fsynced in the mirrored folder first. */
    visit: number;
    answers: number;
    /** Answers whose number was not above every one answered before: an acknowledged visit lost in a failover. */
    reused: number;
    reusedDetail: string | null;
    lastFailover: { from: string; to: string; lastVisitBefore: number; firstVisitAfter: number; noAnswerMs: number } | null;
  };
  farm: {
    vip: string;
    /** Answers to the client's requests to the farm VIP in the last 2 seconds, by node ("none": no answer). */
    recent: Record<string, number>;
  };
  nodes: NodeView[];
  /** The last action and how it went. */
  last: string;
}

export interface DemoCluster {
  panelUrl: string;
  state(): Promise<DemoState>;
  stop(): Promise<void>;
}

const ACTIONS = ["kill", "start", "cable-out", "cable-in"] as const;
type Action = (typeof ACTIONS)[number];

/**
 * Runs inside a node's namespace and offers its console on a unix socket,
 * which the panel's side reaches from this machine's namespace. Each
 * connection first names the console's port on a line of its own: the
 * daemon takes a new one each time it starts.
 */
const FORWARDER_JS = `const net = require("node:net");
const sock = process.argv[process.argv.length - 1];
net.createServer((c) => {
  let head = Buffer.alloc(0);
  const first = (d) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    c.off("data", first);
    c.pause();
    const u = net.connect(Number(head.subarray(0, nl).toString()), "127.0.0.1", () => {
      u.write(head.subarray(nl + 1));
      c.pipe(u); u.pipe(c); c.resume();
    });
    u.on("error", () => c.destroy());
    c.on("error", () => u.destroy());
  };
  c.on("data", first);
}).listen(sock);
`;

/** A status call that may hang while a daemon is frozen or cut off: given up after 1.5 s. */
function statusOf(nodes: DemoNodes, name: NodeName): Promise<StatusSnapshot | string> {
  const n = nodes.node(name);
  if (!n.running()) return Promise.resolve("no daemon");
  return Promise.race([
    n.status().catch((e: Error) => `unknown (${e.message})`),
    new Promise<string>((r) => setTimeout(() => r("not answering"), 1_500)),
  ]);
}

export async function startDemoCluster(o: DemoOptions): Promise<DemoCluster> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-demo-cluster-"));
  let lab: Lab | undefined;
  let nodes: DemoNodes | undefined;
  const servers: (Server | TcpServer)[] = [];
  const forwarders: LabProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const s of servers) s.close();
    for (const f of forwarders) await f.stop(1_000);
    // Clean stops first (the running node's writes reach the standby), but never for so long that
    // the namespaces outlive a caller's time limit: destroy kills whatever is still running in them.
    if (nodes) await Promise.race([nodes.stop().catch(() => {}), new Promise<void>((r) => setTimeout(r, 45_000).unref())]);
    if (lab) await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    lab = await createLab({ hosts: 3, links: 2 });
    const theLab = lab;
    const m = await startDemoNodes(theLab, dir);
    nodes = m;
    writeFileSync(join(dir, "forward.js"), FORWARDER_JS);

    const consoles: string[] = [];
    for (const [i, name] of NODES.entries()) {
      const sock = join(dir, `console-${name}.sock`);
      const f = theLab.host(name).spawn([process.execPath, join(dir, "forward.js"), sock], { logName: `console-forward-${name}` });
      forwarders.push(f);
      await f.waitFor(() => exists(sock), 10_000);
      const tcp = createTcpServer((c) => {
        const port = m.node(name).consolePort();
        if (port === undefined) return c.destroy();
        const u = connect(sock);
        // Queued before anything the browser sends, so it is the first line the forwarder reads.
        u.write(`${port}\n`);
        c.pipe(u);
        u.pipe(c);
        c.on("error", () => u.destroy());
        u.on("error", () => c.destroy());
      });
      servers.push(tcp);
      consoles.push(`${m.node(name).consoleScheme()}//localhost:${await listen(tcp, o.consolePorts[i] ?? 0)}/`);
    }

    const cables: Record<NodeName, "in" | "out"> = { h1: "in", h2: "in" };
    let last = "ready: h1 runs web; kill it, or pull its cables, and watch h2 take over without losing a visit";
    let busy = false;

    const state = async (): Promise<DemoState> => {
      const c = m.client();
      const now = Date.now();
      const recent: Record<string, number> = {};
      for (const x of c?.farm.recent ?? []) if (x.at > now - 2_000) recent[x.node] = (recent[x.node] ?? 0) + 1;
      const views = await Promise.all(NODES.map(async (name, i): Promise<NodeView> => {
        const s = await statusOf(m, name);
        const web = typeof s === "string" ? undefined : s.modules.find((x) => x.name === "web");
        const farm = typeof s === "string" ? undefined : s.farms?.find((x) => x.module === "farm");
        // A finished resync stays in the status until the next one: only one under way is shown.
        const resync = web?.mirror?.resync?.phase === "done" ? null : (web?.mirror?.resync ?? null);
        return {
          name,
          daemon: m.node(name).running() ? "running" : "killed",
          cables: cables[name],
          role: typeof s === "string" ? s : (web?.state ?? "no module web"),
          mirror: web?.mirror?.data ?? null,
          resync: resync === null ? null : { phase: resync.phase, bytesDone: resync.bytesDone, bytesTotal: resync.bytesTotal, bytesPerSec: resync.bytesPerSec },
          farm: farm === undefined ? null : { mode: farm.mode, held: farm.held, detail: farm.detail },
          console: consoles[i] ?? "",
          passwordFile: join(m.node(name).stateDir, "console-password"),
        };
      }));
      return {
        vip: WEB_VIP,
        servedBy: c !== null && c.web.node !== null && c.web.at > now - 1_000 ? c.web.node : "none",
        web: {
          visit: c?.web.visit ?? 0,
          answers: c?.web.answers ?? 0,
          reused: c?.web.reused ?? 0,
          reusedDetail: c?.web.reusedDetail ?? null,
          lastFailover: c?.web.failovers.at(-1) ?? null,
        },
        farm: { vip: FARM_VIP, recent },
        nodes: views,
        last,
      };
    };

    const act = async (name: NodeName, action: Action): Promise<string> => {
      const node = m.node(name);
      const host = theLab.host(name);
      switch (action) {
        case "kill":
          if (!node.running()) return `${name}'s daemon is not running`;
          // SIGKILL, as a crash: its fencing watchdog removes the VIP and stops the service at once.
          await node.kill();
          return `killed vigil on ${name} (SIGKILL)`;
        case "start":
          if (node.running()) return `${name}'s daemon already runs`;
          await node.start();
          return `started vigil on ${name}`;
        case "cable-out":
          await theLab.linkDown(host);
          cables[name] = "out";
          return `pulled both cables of ${name} (the switch ports are down)`;
        case "cable-in":
          await theLab.linkUp(host);
          cables[name] = "in";
          return `plugged ${name}'s cables back in`;
      }
    };

    const panel = createServer((req, res) => {
      void handle(req, res).catch((e: unknown) => send(res, 500, "text/plain", String(e)));
    });
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (req.method === "GET" && url.pathname === "/") return send(res, 200, "text/html; charset=utf-8", PANEL_HTML);
      if (req.method === "GET" && url.pathname === "/api/state") return send(res, 200, "application/json", JSON.stringify(await state()));
      const m2 = /^\/api\/(h[12])\/(kill|start|cable-out|cable-in)$/.exec(url.pathname);
      if (req.method === "POST" && m2) {
        if (busy) return send(res, 409, "application/json", JSON.stringify({ message: "another action is still running" }));
        busy = true;
        try {
          last = await act(m2[1] as NodeName, m2[2] as Action);
        } catch (e) {
          last = `${m2[2]} ${m2[1]} failed: ${e instanceof Error ? e.message : String(e)}`;
        } finally {
          busy = false;
        }
        return send(res, 200, "application/json", JSON.stringify({ message: last }));
      }
      send(res, 404, "text/plain", "not found");
    };
    servers.push(panel);
    const port = await listen(panel, o.panelPort);
    return { panelUrl: `http://localhost:${port}/`, state, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function exists(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch (e) {
    // A unix socket cannot be read, but it is there.
    return (e as { code?: string }).code !== "ENOENT";
  }
}

function listen(s: Server | TcpServer, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => {
      const a = s.address();
      resolve(typeof a === "object" && a !== null ? a.port : port);
    });
  });
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

if ((import.meta as { main?: boolean }).main) {
  const demo = await startDemoCluster({
    panelPort: Number(process.env.VIGIL_DEMO_PORT ?? 9010),
    consolePorts: [Number(process.env.VIGIL_DEMO_CONSOLE1 ?? 9011), Number(process.env.VIGIL_DEMO_CONSOLE2 ?? 9012)],
  });
  const s = await demo.state();
  console.log("");
  console.log(`vigil demo cluster: h1 and h2; h3 is the client`);
  console.log(`  module web  (mirror): VIP ${WEB_VIP}, a web service counting visits in a replicated folder; runs on h1`);
  console.log(`  module farm (farm):   VIP ${FARM_VIP} on both nodes, each answering its share of the clients`);
  console.log(`demo panel: ${demo.panelUrl}   (Ctrl-C to stop and remove the namespaces)`);
  for (const n of s.nodes) console.log(`console of ${n.name}: ${n.console}  (user admin, password in ${n.passwordFile})`);
  console.log("");
  // Opened for a newcomer where there is a desktop, as the one-node demo does.
  if (process.env.DISPLAY !== undefined || process.env.WAYLAND_DISPLAY !== undefined) {
    try {
      Bun.spawn(["xdg-open", demo.panelUrl], { stdio: ["ignore", "ignore", "ignore"] }).unref();
    } catch {
      // No xdg-open: the URL is printed above.
    }
  }
  let stopping = false;
  const end = async () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping the demo cluster...");
    await demo.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void end());
  process.on("SIGTERM", () => void end());
}
