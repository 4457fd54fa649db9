/**
 * The programs the root demo runs on its hosts (scripts/demo-cluster.ts),
 * written into the demo's folder as plain Node scripts:
 *
 *   visits.js  the web service of mirror module "web": every request through
 *              the VIP is a visit, numbered on from the highest number in
 *              srv/visits.log, which lives in the mirrored folder. The line is
 *              written and fsynced before the answer ("h1 1234") goes out, so
 *              a number the client got is durable on both nodes. Twice a
 *              second it also stores a 128 KiB snapshot (srv/snapshots/, the
 *              last 60 kept), as a camera recorder would, so a resync has
 *              something to send.
 *   farm.js    the farm's service on both nodes: answers with its node's name.
 *   client.js  on the client host: asks the web VIP 20 times a second and the
 *              farm VIP 10 times a second, each on a new connection, and keeps
 *              a summary in a JSON file (written whole and renamed), so the
 *              panel reads a small file, not an ever-growing log.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const VISITS_JS = `const fs = require("node:fs");
const http = require("node:http");
const [name, port, dir, vip] = process.argv.slice(2);
const log = dir + "/visits.log";
let n = 0;
let torn = false;
try {
  const text = fs.readFileSync(log, "utf8");
  // Whole lines only: a write the previous runner never finished may end the file.
  for (const m of text.matchAll(/^(\\d+) \\S+ \\S+ end$/gm)) n = Math.max(n, Number(m[1]));
  torn = text.length > 0 && !text.endsWith("\\n");
} catch {}
const fd = fs.openSync(log, "a");
if (torn) { fs.writeSync(fd, "\\n"); fs.fsyncSync(fd); }
fs.mkdirSync(dir + "/snapshots", { recursive: true });
let shot = 0;
for (const f of fs.readdirSync(dir + "/snapshots")) if (/^\\d{6}$/.test(f)) shot = Math.max(shot, Number(f));
setInterval(() => {
  try {
    shot++;
    fs.writeFileSync(dir + "/snapshots/" + String(shot).padStart(6, "0"), Buffer.alloc(128 * 1024, shot % 251));
    const old = dir + "/snapshots/" + String(shot - 60).padStart(6, "0");
    if (shot > 60) fs.rmSync(old, { force: true });
  } catch {}
}, 500);
http.createServer((req, res) => {
  if (req.url === "/health") return res.end("ok");
  try {
    n++;
    fs.writeSync(fd, n + " " + name + " " + new Date().toISOString() + " end\\n");
    fs.fsyncSync(fd);
    res.end(name + " " + n);
  } catch (e) {
    res.statusCode = 503;
    res.end("error " + (e.code || e.message));
  }
}).listen(Number(port), vip);
`;

const FARM_JS = `const http = require("node:http");
const [name, port] = process.argv.slice(2);
http.createServer((req, res) => res.end(name)).listen(Number(port), "0.0.0.0");
`;

/**
 * web.reused counts answers whose visit number was not above every number
 * answered before: the node that took over had lost an acknowledged visit
 * and numbered it again. It stays 0 when the mirror keeps its promise.
 */
const CLIENT_JS = `const fs = require("node:fs");
const http = require("node:http");
const [webUrl, farmUrl, out] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Gives up after 400 ms whatever the request is doing (a connect to an address nobody answers ARP for
// waits seconds for the kernel's verdict).
function ask(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => { clearTimeout(timer); resolve(res.statusCode === 200 ? body.trim() : null); });
    });
    const timer = setTimeout(() => req.destroy(), 400);
    req.on("error", () => { clearTimeout(timer); resolve(null); });
  });
}
const web = { node: null, visit: 0, at: 0, answers: 0, failed: 0, reused: 0, reusedDetail: null, failovers: [] };
const farm = { recent: [], total: {} };
async function webLoop() {
  for (;;) {
    const t = Date.now();
    const a = await ask(webUrl);
    const m = a === null ? null : /^(\\S+) (\\d+)$/.exec(a);
    const now = Date.now();
    if (m === null) {
      web.failed++;
    } else {
      const node = m[1], visit = Number(m[2]);
      if (visit <= web.visit) {
        web.reused++;
        web.reusedDetail = node + " answered visit " + visit + " after visit " + web.visit + " had been answered";
      }
      if (web.node !== null && node !== web.node) {
        web.failovers.push({ at: now, from: web.node, to: node, lastVisitBefore: web.visit, firstVisitAfter: visit, noAnswerMs: now - web.at });
        web.failovers = web.failovers.slice(-5);
      }
      web.node = node;
      web.visit = Math.max(web.visit, visit);
      web.at = now;
      web.answers++;
    }
    await sleep(Math.max(0, 50 - (Date.now() - t)));
  }
}
async function farmLoop() {
  for (;;) {
    const t = Date.now();
    const node = await ask(farmUrl);
    farm.recent.push({ at: t, node: node ?? "none" });
    farm.recent = farm.recent.filter((x) => x.at > Date.now() - 3000);
    if (node !== null) farm.total[node] = (farm.total[node] ?? 0) + 1;
    await sleep(Math.max(0, 100 - (Date.now() - t)));
  }
}
setInterval(() => {
  fs.writeFileSync(out + ".tmp", JSON.stringify({ at: Date.now(), web, farm }));
  fs.renameSync(out + ".tmp", out);
}, 200);
webLoop();
farmLoop();
`;

export interface DemoScripts {
  webStart: string;
  webStop: string;
  farmJs: string;
  clientJs: string;
}

/** Writes the programs and the web module's start and stop scripts into `dir`. */
export function writeDemoScripts(o: { dir: string; runtime: string; folder: string; vip: string; webPort: number }): DemoScripts {
  const { dir } = o;
  writeFileSync(join(dir, "visits.js"), VISITS_JS);
  writeFileSync(join(dir, "farm.js"), FARM_JS);
  writeFileSync(join(dir, "client.js"), CLIENT_JS);
  const pidFile = `${join(dir, "web-")}"$VIGIL_NODE".pid`;
  const webStart = join(dir, "web-start.sh");
  writeFileSync(webStart, [
    "#!/bin/sh",
    "# vigil runs this once the folder is mounted and the VIP is up.",
    `${o.runtime} ${join(dir, "visits.js")} "$VIGIL_NODE" ${o.webPort} ${o.folder} ${o.vip} >>${join(dir, "web-")}"$VIGIL_NODE".out 2>&1 </dev/null &`,
    `echo $! > ${pidFile}`,
    `for i in $(seq 1 50); do curl -s -o /dev/null -m 0.5 http://${o.vip}:${o.webPort}/health && exit 0; sleep 0.1; done`,
    "echo 'the web service did not listen within 5 s' >&2; exit 1",
    "",
  ].join("\n"));
  const webStop = join(dir, "web-stop.sh");
  writeFileSync(webStop, [
    "#!/bin/sh",
    `f=${pidFile}`,
    `[ -f "$f" ] || exit 0`,
    `p=$(cat "$f"); kill "$p" 2>/dev/null`,
    `gone() { s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ]; }`,
    `for i in $(seq 1 20); do gone && { rm -f "$f"; exit 0; }; sleep 0.05; done`,
    `kill -9 "$p" 2>/dev/null; rm -f "$f"; exit 0`,
    "",
  ].join("\n"));
  chmodSync(webStart, 0o755);
  chmodSync(webStop, 0o755);
  return { webStart, webStop, farmJs: join(dir, "farm.js"), clientJs: join(dir, "client.js") };
}
