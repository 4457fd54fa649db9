/**
 * `npm run demo` as root: a two-node cluster in network namespaces, so a
 * newcomer watches a failover in the first minute.
 *
 *   h1, h2  vigil nodes running module "web": the VIP 198.51.100.100 and a tiny
 *           web service on it that answers with the node's name; h1 preferred,
 *           failback manual. Heartbeats on a second link.
 *   h3      a client asking the VIP 20 times a second, and the nodes' ping witness.
 *
 * On this machine's localhost: a demo panel (default http://localhost:9010/, where the
 * one-node demo has its console)
 * showing who answers through the VIP and each node's role, with buttons to
 * kill a node's daemon, start it again, pull its cables and plug them back;
 * and each node's console (http://localhost:9011/ and :9012/), forwarded into
 * its namespace through a unix socket.
 *
 * Built from the lab the tests use (test/lab), which removes every namespace
 * and process it made when the demo ends (Ctrl-C).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLab, type Lab, type LabProcess } from "../test/lab/lab.ts";
import { type ModuleLab, startModuleLab, VIP } from "../test/lab/module-lab.ts";

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
  console: string;
  /** The console's login: user admin and the password in this file. */
  passwordFile: string;
}

export interface DemoState {
  vip: string;
  /** Who answered the client's last requests through the VIP ("none": no answer). */
  servedBy: string;
  nodes: NodeView[];
  /** The last action and how it went. */
  last: string;
}

export interface DemoCluster {
  panelUrl: string;
  state(): Promise<DemoState>;
  stop(): Promise<void>;
}

const NODES = ["h1", "h2"] as const;
type NodeName = (typeof NODES)[number];
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

/** The console URL the node's daemon logged at its last start. */
function consoleUrl(m: ModuleLab, name: NodeName): URL | undefined {
  const started = m.node(name).events().filter((e) => e.msg === "vigil started").at(-1);
  const url = started?.fields["console"];
  return typeof url === "string" ? new URL(url) : undefined;
}

export async function startDemoCluster(o: DemoOptions): Promise<DemoCluster> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-demo-cluster-"));
  let lab: Lab | undefined;
  let ml: ModuleLab | undefined;
  const servers: (Server | TcpServer)[] = [];
  const forwarders: LabProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const s of servers) s.close();
    for (const f of forwarders) await f.stop(1_000);
    if (ml) await ml.stop().catch(() => {});
    if (lab) await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    lab = await createLab({ hosts: 3, links: 2 });
    const theLab = lab;
    const m = await startModuleLab({ lab: theLab, dir, failback: "manual" });
    ml = m;
    writeFileSync(join(dir, "forward.js"), FORWARDER_JS);

    const consoles: string[] = [];
    for (const [i, name] of NODES.entries()) {
      const sock = join(dir, `console-${name}.sock`);
      const f = theLab.host(name).spawn([process.execPath, join(dir, "forward.js"), sock], { logName: `console-forward-${name}` });
      forwarders.push(f);
      await f.waitFor(() => exists(sock), 10_000);
      const tcp = createTcpServer((c) => {
        const target = consoleUrl(m, name);
        if (target === undefined) return c.destroy();
        const u = connect(sock);
        // Queued before anything the browser sends, so it is the first line the forwarder reads.
        u.write(`${target.port}\n`);
        c.pipe(u);
        u.pipe(c);
        c.on("error", () => u.destroy());
        u.on("error", () => c.destroy());
      });
      servers.push(tcp);
      const scheme = consoleUrl(m, name)?.protocol ?? "http:";
      consoles.push(`${scheme}//localhost:${await listen(tcp, o.consolePorts[i] ?? 0)}/`);
    }

    const cables: Record<NodeName, "in" | "out"> = { h1: "in", h2: "in" };
    let last = "ready: h1 runs web; kill it, or pull its cables, and watch h2 take over";
    let busy = false;

    const state = async (): Promise<DemoState> => {
      const recent = m.answers(Date.now() - 1_000);
      const nodes = await Promise.all(NODES.map(async (name, i): Promise<NodeView> => {
        const node = m.node(name);
        const running = node.proc.exitStatus === null;
        let role = "no daemon";
        if (running) {
          role = await Promise.race([
            m.module(node).then((s) => s.state, (e: Error) => `unknown (${e.message})`),
            new Promise<string>((r) => setTimeout(() => r("not answering"), 1_500)),
          ]);
        }
        return {
          name,
          daemon: running ? "running" : "killed",
          cables: cables[name],
          role,
          console: consoles[i] ?? "",
          passwordFile: join(node.stateDir, "console-password"),
        };
      }));
      return { vip: VIP, servedBy: recent.at(-1)?.who ?? "none", nodes, last };
    };

    const act = async (name: NodeName, action: Action): Promise<string> => {
      const node = m.node(name);
      const host = theLab.host(name);
      switch (action) {
        case "kill":
          if (node.proc.exitStatus !== null) return `${name}'s daemon is not running`;
          // SIGKILL, as a crash: its fencing watchdog removes the VIP and stops the service at once.
          node.proc.kill("SIGKILL");
          await node.proc.exited;
          return `killed vigil on ${name} (SIGKILL)`;
        case "start":
          if (node.proc.exitStatus === null) return `${name}'s daemon already runs`;
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

const PANEL_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>vigil demo cluster</title>
<style>
body { font: 15px system-ui, sans-serif; margin: 2em; max-width: 60em; }
.served { font-size: 2em; margin: .5em 0; }
table { border-collapse: collapse; } td, th { padding: .4em .8em; border-bottom: 1px solid #ddd; text-align: left; }
button { margin-right: .3em; } .role { font-weight: bold; } #last { color: #555; }
</style></head><body>
<h1>vigil demo: two nodes, one VIP</h1>
<p>A client on its own host asks <b id="vip"></b> 20 times a second. Module <b>web</b> (the VIP and a small web
service answering with its node's name) runs on one node at a time; h1 is preferred, failback is manual.</p>
<div class="served">the VIP is served by: <b id="served">...</b></div>
<table><thead><tr><th>node</th><th>role of web</th><th>daemon</th><th>cables</th><th>actions</th><th>console</th></tr></thead>
<tbody id="nodes"></tbody></table>
<p id="last"></p>
<p>Consoles log in as <b>admin</b> with the password in the file shown under each link.</p>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
async function act(node, action) {
  const r = await fetch("/api/" + node + "/" + action, { method: "POST" });
  document.getElementById("last").textContent = (await r.json()).message;
}
async function refresh() {
  try {
    const s = await (await fetch("/api/state")).json();
    document.getElementById("vip").textContent = s.vip;
    document.getElementById("served").textContent = s.servedBy === "none" ? "nobody (no answer)" : s.servedBy;
    document.getElementById("last").textContent = s.last;
    document.getElementById("nodes").innerHTML = s.nodes.map((n) =>
      "<tr><td>" + esc(n.name) + "</td><td class=role>" + esc(n.role) + "</td><td>" + esc(n.daemon) + "</td><td>" + esc(n.cables) + "</td><td>" +
      (n.daemon === "running" ? "<button onclick=\\"act('" + n.name + "','kill')\\">kill daemon</button>" : "<button onclick=\\"act('" + n.name + "','start')\\">start daemon</button>") +
      (n.cables === "in" ? "<button onclick=\\"act('" + n.name + "','cable-out')\\">pull cables</button>" : "<button onclick=\\"act('" + n.name + "','cable-in')\\">plug cables</button>") +
      "</td><td><a href=\\"" + esc(n.console) + "\\" target=_blank>" + esc(n.console) + "</a><br><small>" + esc(n.passwordFile) + "</small></td></tr>").join("");
  } catch {}
}
refresh(); setInterval(refresh, 700);
</script></body></html>
`;

if ((import.meta as { main?: boolean }).main) {
  const demo = await startDemoCluster({
    panelPort: Number(process.env.VIGIL_DEMO_PORT ?? 9010),
    consolePorts: [Number(process.env.VIGIL_DEMO_CONSOLE1 ?? 9011), Number(process.env.VIGIL_DEMO_CONSOLE2 ?? 9012)],
  });
  const s = await demo.state();
  console.log("");
  console.log("vigil demo cluster: h1 and h2 run module web (VIP 198.51.100.100); h3 is the client");
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
