/**
 * A mirror module on two lab hosts, for the mirror lab tests.
 *
 * One config for both nodes names one folder, DIR/srv. Each node's daemon
 * runs in its own mount namespace where DIR/srv is its own folder
 * (DIR/h1-data, DIR/h2-data bound over it), as two machines would have it:
 * the daemon mounts FUSE over DIR/srv there, and the service it starts sees
 * that mount. From outside, DIR/hN-data are the real files of each copy.
 *
 * The service is a recorder, as a VMS records video: it appends numbered
 * records to srv/rec.log, each one fsynced, and every 20 records writes a
 * segment file, fsyncs it and renames it into place (srv/seg/NNNN). Only
 * after the fsync (or the rename and the folder's fsync) returned does it
 * append the number to DIR/acked-<node>.log, outside the folder: that log is
 * what the application was promised.
 *
 * A write the application was never told was durable may be torn: the
 * kernel hands a write that crosses into a page not in its cache to FUSE as
 * two requests, so a PRIM that dies between them leaves the first part on
 * the SECOND, as a crash leaves a torn tail on a local disk. The recorder,
 * like a real recorder, closes a torn tail with a newline when it starts and
 * numbers on from the highest whole record; the checks find whole records
 * wherever they are.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusSnapshot } from "../../src/api/status.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import { type Lab, type LabHost, type LabProcess, waitUntil } from "./lab.ts";
import { VIGIL_BIN } from "./vigil-cluster.ts";
import { execFileSync } from "node:child_process";
import { runForOutput, type RunOutput } from "./exec.ts";
import { onTestFailed } from "vitest";
import { request } from "node:http";
import { isPrimary } from "./arbiter-pair.ts";

const RECORDER_JS = `
const fs = require("node:fs");
const [dir, acked, segRoot] = process.argv.slice(2);
const segDir = (segRoot || dir) + "/seg";
const rec = dir + "/rec.log";
fs.mkdirSync(segDir, { recursive: true });
let n = 0;
let torn = false;
try {
  const text = fs.readFileSync(rec, "utf8");
  for (const m of text.matchAll(/record (\\d+) x{200}\\n/g)) n = Math.max(n, Number(m[1]));
  torn = text.length > 0 && !text.endsWith("\\n");
} catch {}
const log = fs.openSync(acked, "a");
const fd = fs.openSync(rec, "a");
if (torn) { fs.writeSync(fd, "\\n"); fs.fsyncSync(fd); }
function tick() {
  try {
    n++;
    fs.writeSync(fd, "record " + n + " " + "x".repeat(200) + "\\n");
    fs.fsyncSync(fd);
    fs.writeSync(log, "rec " + n + "\\n");
    if (n % 20 === 0) {
      const tmp = segDir + "/.tmp-" + n;
      const seg = fs.openSync(tmp, "w");
      fs.writeSync(seg, Buffer.alloc(64 * 1024, n % 251));
      fs.fsyncSync(seg);
      fs.closeSync(seg);
      fs.renameSync(tmp, segDir + "/" + String(n).padStart(6, "0"));
      const d = fs.openSync(segDir, "r");
      fs.fsyncSync(d);
      fs.closeSync(d);
      fs.writeSync(log, "seg " + n + "\\n");
    }
  } catch (e) {
    fs.writeSync(log, "error " + e.code + "\\n");
    process.exit(1);
  }
  setTimeout(tick, 5);
}
tick();
`;

export interface MirrorLab {
  readonly dir: string;
  readonly folder: string;
  readonly config: string;
  node(name: "h1" | "h2"): MirrorNode;
  /** What DIR/acked-<node>.log promised: record numbers and segment numbers. */
  acked(node: "h1" | "h2"): { records: number[]; segments: number[] };
  /** The real files of a node's copy (of the first folder). */
  data(node: "h1" | "h2"): string;
  /** Where a node's segments are: the second folder's copy with `folders: 2`, else data(node). */
  segData(node: "h1" | "h2"): string;
  /** Ends the recorder a node's start script started (the only writer), as if the service stopped by itself. */
  stopRecorder(node: "h1" | "h2"): Promise<void>;
  stopAll(): Promise<void>;
}

export interface MirrorNode {
  readonly host: LabHost;
  readonly name: "h1" | "h2";
  readonly stateDir: string;
  proc: LabProcess | undefined;
  start(): Promise<void>;
  module(): Promise<ModuleStatus>;
  status(): Promise<StatusSnapshot>;
  waitModule(pred: (m: ModuleStatus) => boolean, what: string, timeoutMs?: number): Promise<ModuleStatus>;
  cli(args: string[]): Promise<{ code: number; out: string }>;
  /** GET /metrics over the control socket. */
  metrics(): Promise<string>;
}

const runVigil = (args: string[]): Promise<RunOutput> => runForOutput([VIGIL_BIN, ...args], 30_000);

export async function startMirrorLab(o: {
  lab: Lab;
  dir: string;
  extraModuleYaml?: readonly string[];
  start?: readonly ("h1" | "h2")[];
  /** cluster.witness.ping: an address both nodes reach while their cables are in. */
  witness?: string;
  /** 2: the module replicates two folders, records in the first and segments in the second. */
  folders?: 1 | 2;
  /** cluster.heartbeat, as YAML flow; 100 ms / 500 ms by default. */
  heartbeat?: string;
  /** The binary a node's daemon runs (another release's, for mixed versions); VIGIL_BIN by default. */
  bins?: Partial<Record<"h1" | "h2", string>>;
}): Promise<MirrorLab> {
  const { lab, dir } = o;
  const folder = join(dir, "srv");
  const two = o.folders === 2;
  const folder2 = join(dir, "srv2");
  mkdirSync(folder, { recursive: true });
  if (two) mkdirSync(folder2, { recursive: true });
  for (const n of ["h1", "h2"]) {
    mkdirSync(join(dir, `${n}-data`), { recursive: true });
    if (two) mkdirSync(join(dir, `${n}-data2`), { recursive: true });
  }
  writeFileSync(join(dir, "recorder.js"), RECORDER_JS);
  const start = join(dir, "start.sh");
  const stop = join(dir, "stop.sh");
  writeFileSync(start, [
    "#!/bin/sh",
    `${process.execPath} ${join(dir, "recorder.js")} ${folder} ${join(dir, "acked-")}"$VIGIL_NODE".log ${two ? folder2 : ""} >>${join(dir, "recorder-")}"$VIGIL_NODE".out 2>&1 </dev/null &`,
    `echo $! > ${join(dir, "rec-")}"$VIGIL_NODE".pid`,
    "",
  ].join("\n"));
  writeFileSync(stop, [
    "#!/bin/sh",
    `f=${join(dir, "rec-")}"$VIGIL_NODE".pid`,
    `[ -f "$f" ] || exit 0`,
    `p=$(cat "$f"); kill "$p" 2>/dev/null`,
    `for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done`,
    `kill -9 "$p" 2>/dev/null; rm -f "$f"; exit 0`,
    "",
  ].join("\n"));
  chmodSync(start, 0o755);
  chmodSync(stop, 0o755);
  const key = join(dir, "vigil.key");
  const k = await runVigil(["keygen", key]);
  if (k.code !== 0) throw new Error(`vigil keygen: ${k.stderr}`);
  const [h1, h2] = [lab.host("h1"), lab.host("h2")];
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:",
    "  name: mirror-lab",
    `  key_file: ${key}`,
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr(1)}] }`,
    `    - { name: h2, addresses: [${h2.addr(1)}] }`,
    ...(o.witness === undefined ? [] : [`  witness: { ping: [${o.witness}] }`]),
    `  heartbeat: ${o.heartbeat ?? "{ interval: 100ms, deadtime: 500ms, initdead: 2s }"}`,
    "modules:",
    "  - name: vms",
    "    type: mirror",
    "    prefer: h1",
    "    failback: manual",
    `    replicate: [${folder}${two ? `, ${folder2}` : ""}]`,
    `    start: ${start}`,
    `    stop: ${stop}`,
    ...(o.extraModuleYaml ?? []),
    "web:",
    "  listen: 127.0.0.1:0",
    "",
  ].join("\n"));

  const makeNode = (name: "h1" | "h2"): MirrorNode => {
    const host = lab.host(name);
    const stateDir = join(dir, `state-${name}`);
    mkdirSync(stateDir, { recursive: true });
    const node: MirrorNode = {
      host,
      name,
      stateDir,
      proc: undefined,
      async start() {
        // Its own mount namespace, its own folder at the shared path; exec keeps the PID the lab recorded.
        node.proc = host.spawn([
          "unshare", "-m", "--propagation", "private", "sh", "-c",
          `mount --bind ${join(dir, `${name}-data`)} ${folder} && ${two ? `mount --bind ${join(dir, `${name}-data2`)} ${folder2} && ` : ""}exec ${o.bins?.[name] ?? VIGIL_BIN} run --config ${config} --node ${name} --state-dir ${stateDir} --log-format json --listen 127.0.0.1:0`,
        ], { logName: `vigil-${name}` });
        await node.proc.waitFor(/"msg":"vigil started"/, 20_000);
      },
      async status() {
        const r = await runVigil(["status", "--json", "--state-dir", stateDir]);
        if (r.code !== 0) throw new Error(`vigil status on ${name}: ${r.stderr}`);
        return JSON.parse(r.stdout) as StatusSnapshot;
      },
      async module() {
        const s = await node.status();
        const m = s.modules.find((x) => x.name === "vms");
        if (m === undefined) throw new Error(`no module vms on ${name}`);
        return m;
      },
      async waitModule(pred, what, timeoutMs = 20_000) {
        let last: ModuleStatus | undefined;
        try {
          await waitUntil(async () => {
            try {
              last = await node.module();
            } catch {
              return false;
            }
            return pred(last);
          }, { timeoutMs, what: `${name}: ${what}` });
        } catch (e) {
          throw new Error(`${(e as Error).message}; last: ${JSON.stringify({ state: last?.state, mirror: last?.mirror, transition: last?.lastTransition })}`);
        }
        return last as ModuleStatus;
      },
      metrics() {
        return new Promise((resolve, reject) => {
          const req = request({ socketPath: join(stateDir, "vigil.sock"), path: "/metrics", method: "GET", timeout: 5_000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => resolve(body));
          });
          req.on("error", reject);
          req.end();
        });
      },
      async cli(args) {
        const r = await runVigil([...args, "--state-dir", stateDir]);
        return { code: r.code, out: r.stdout + r.stderr };
      },
    };
    return node;
  };
  const nodes = { h1: makeNode("h1"), h2: makeNode("h2") };
  await Promise.all((o.start ?? ["h1", "h2"]).map((n) => nodes[n].start()));
  return {
    dir,
    folder,
    config,
    node: (n) => nodes[n],
    data: (n) => join(dir, `${n}-data`),
    segData: (n) => join(dir, two ? `${n}-data2` : `${n}-data`),
    acked(n) {
      const f = join(dir, `acked-${n}.log`);
      const lines = existsSync(f) ? readFileSync(f, "utf8").split("\n") : [];
      const num = (p: string) => lines.filter((l) => l.startsWith(p)).map((l) => Number(l.slice(p.length)));
      return { records: num("rec "), segments: num("seg ") };
    },
    async stopRecorder(n) {
      const f = join(dir, `rec-${n}.pid`);
      if (!existsSync(f)) return;
      const pid = Number(readFileSync(f, "utf8").trim());
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        return;
      }
      await waitUntil(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, { timeoutMs: 10_000, what: `the recorder on ${n} to exit` });
    },
    async stopAll() {
      // The node that runs the module first: its service stops, every write reaches the other copy,
      // and only then does the standby stop (stopping it first would leave the runner writing alone).
      const runs = async (n: MirrorNode): Promise<boolean> => {
        if (n.proc === undefined || n.proc.exitStatus !== null) return false;
        try {
          return isPrimary((await n.module()).state);
        } catch {
          return false;
        }
      };
      const order = (await runs(nodes.h2)) ? [nodes.h2, nodes.h1] : [nodes.h1, nodes.h2];
      for (const n of order) {
        const p = n.proc;
        if (p === undefined || p.exitStatus !== null) continue;
        p.kill("SIGTERM");
        await Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (p.exitStatus === null) p.kill("SIGKILL");
      }
    },
  };
}

/** Record numbers present (whole) in a copy's rec.log, and its segment files with their first byte. */
export function copyContents(data: string, segData = data): { records: Set<number>; segments: Map<number, number> } {
  const records = new Set<number>();
  const f = join(data, "rec.log");
  if (existsSync(f)) {
    // Whole records wherever they are: a torn, never acknowledged write may precede one.
    for (const m of readFileSync(f, "utf8").matchAll(/record (\d+) x{200}\n/g)) records.add(Number(m[1]));
  }
  const segments = new Map<number, number>();
  const sd = join(segData, "seg");
  if (existsSync(sd)) {
    for (const name of readdirSync(sd)) {
      if (!/^\d{6}$/.test(name)) continue;
      const b = readFileSync(join(sd, name));
      const n = Number(name);
      segments.set(n, b.length === 64 * 1024 && b.every((x) => x === n % 251) ? n % 251 : -1);
    }
  }
  return { records, segments };
}

/**
 * Entries, modes, owners, sizes, link counts, mtimes, link targets and
 * contents of a folder, as one comparable text. Directory mtimes are left out
 * of this comparison (`vigil verify` is the tool that looks at them).
 */
export function treeDigest(dir: string): string {
  return execFileSync("sh", ["-c", [
    `cd ${dir}`,
    `find . -type d -printf '%y %m %U:%G %p\\n' | sort`,
    `find . ! -type d -printf '%y %m %U:%G %s %n %T@ %p %l\\n' | sort`,
    `find . -type f -print0 | sort -z | xargs -0 -r sha256sum`,
  ].join(" && ")], { encoding: "utf8", maxBuffer: 1 << 30 });
}

/** If the running test fails: each daemon's last 40 lines (debug aside) and the end of its recorder's output. */
export function explainOnFailure(m: MirrorLab): void {
  onTestFailed(() => {
    for (const n of ["h1", "h2"] as const) {
      const lines = (m.node(n).proc?.output() ?? "").split("\n").filter((l) => !l.includes('"level":"debug"'));
      console.error(`--- vigil ${n} (last lines)\n${lines.slice(-40).join("\n")}`);
      const out = join(m.dir, `recorder-${n}.out`);
      if (existsSync(out)) console.error(`--- recorder ${n}\n${readFileSync(out, "utf8").slice(-2000)}`);
    }
  });
}
