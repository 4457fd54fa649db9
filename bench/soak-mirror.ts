/**
 * The soak's mirror module (bench/soak.ts --mirror): a small replicated
 * folder, a writer in it as the module's service, and the checks of what
 * the writer was promised.
 *
 * Each node's daemon runs in its own mount namespace where the folder's
 * path is that node's own copy (DIR/h1-data, DIR/h2-data bound over
 * DIR/srv), as two machines would have it (test/lab/mirror-lab.ts does the
 * same); from outside, DIR/hN-data are the real files of each copy.
 *
 * The writer appends numbered records to srv/rec.log, each one fsynced, and
 * every SEGMENT_RECORDS records renames rec.log into srv/seg/FIRST-LAST and
 * fsyncs the folders; it keeps the last KEEP_SEGMENTS segments, so the
 * folder stays small however long the soak runs. Only after an fsync
 * returned does it append "rec N" (or "seg A B") to DIR/acked-<node>.log,
 * outside the folder: that log is what the application was promised. Each
 * record's line also says how long its write and fsync took and when (ms),
 * so the report shows the mirror's speed over the run. Before
 * it deletes a segment it appends "drop A B" there, so that records it
 * removed itself are not looked for.
 *
 * A loss: a record some writer was told was durable, not dropped by a
 * writer, and missing from the copy of the node the module moved to.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VigilLogEvent } from "../test/lab/vigil-cluster.ts";
import { type ExpectedWindow, inExpectedWindow, moves, overlaps, type ServiceRun, serviceRuns } from "./soak-verdicts.ts";

export const MIRROR_MODULE = "files";
const INTERVAL_MS = 20;
const SEGMENT_RECORDS = 100;
const KEEP_SEGMENTS = 30;
const RECORD = /record (\d+) x{100}\n/g;

/** argv: folder ack-log interval-ms segment-records keep-segments. */
const WRITER_JS = `
const fs = require("node:fs");
const [dir, ackFile, interval, perSegment, keep] = process.argv.slice(2);
const segDir = dir + "/seg";
const rec = dir + "/rec.log";
const pad = (x) => String(x).padStart(9, "0");
fs.mkdirSync(segDir, { recursive: true });
let n = 0;
let text = "";
try { text = fs.readFileSync(rec, "utf8"); } catch {}
let inFile = 0;
let first = 0;
for (const m of text.matchAll(/record (\\d+) x{100}\\n/g)) {
  const k = Number(m[1]);
  n = Math.max(n, k);
  first = first === 0 ? k : Math.min(first, k);
  inFile++;
}
for (const name of fs.readdirSync(segDir)) if (/^\\d+-\\d+$/.test(name)) n = Math.max(n, Number(name.split("-")[1]));
const ack = fs.openSync(ackFile, "a");
const say = (line) => fs.writeSync(ack, line + "\\n");
const fsyncDir = (d) => { const fd = fs.openSync(d, "r"); fs.fsyncSync(fd); fs.closeSync(fd); };
let fd = fs.openSync(rec, "a");
// A torn tail (a write nobody was told was durable) is closed, and numbering goes on from the highest whole record.
if (text.length > 0 && !text.endsWith("\\n")) { fs.writeSync(fd, "\\n"); fs.fsyncSync(fd); }
function rotate() {
  fs.closeSync(fd);
  fs.renameSync(rec, segDir + "/" + pad(first) + "-" + pad(n));
  fsyncDir(segDir);
  fsyncDir(dir);
  say("seg " + first + " " + n);
  fd = fs.openSync(rec, "a");
  first = 0;
  inFile = 0;
  const segs = fs.readdirSync(segDir).filter((s) => /^\\d+-\\d+$/.test(s)).sort();
  for (const s of segs.slice(0, Math.max(0, segs.length - Number(keep)))) {
    say("drop " + s.split("-").map(Number).join(" "));
    fs.unlinkSync(segDir + "/" + s);
  }
  fsyncDir(segDir);
}
function tick() {
  try {
    n++;
    const t0 = performance.now();
    fs.writeSync(fd, "record " + n + " " + "x".repeat(100) + "\\n");
    fs.fsyncSync(fd);
    say("rec " + n + " " + (performance.now() - t0).toFixed(2) + " " + Date.now());
    if (first === 0) first = n;
    if (++inFile >= Number(perSegment)) rotate();
  } catch (e) {
    say("error " + (e.code || e.message) + " at " + n);
    process.exit(1);
  }
  setTimeout(tick, Number(interval));
}
tick();
`;

export interface MirrorLoss {
  /** ms since the epoch: when the module's service began on `node`. */
  at: number;
  node: string;
  expected: number;
  missing: number;
  firstMissing: number[];
  /** Where both copies and the acknowledgement logs were copied to when records were missing (the soak's own folder goes at its end). */
  keptIn?: string;
}

export interface MirrorResyncs {
  passes: number;
  incomplete: number;
  byMode: Record<string, number>;
  widened: number;
  keptAside: number;
}

export interface SoakMirror {
  readonly folder: string;
  /** Lines for the config's modules list. */
  moduleYaml(o: { prefer: string }): string[];
  /** The program `vigil run` goes through on `node`: the node's own copy bound over the folder's path first. */
  binFor(node: string): string;
  /** Looks at every move of the module since the last call: each new runner's copy must hold every acknowledged record. */
  checkMoves(): void;
  /** One sample of `vigil status --json` of a node: the module's mirror state. */
  sample(t: number, node: string, body: unknown): void;
  report(o: { startedAt: number; endAt: number; windows: readonly ExpectedWindow[]; events: ReadonlyMap<string, readonly VigilLogEvent[]> }): { md: string[]; json: Record<string, unknown> };
}

interface Acked {
  records: number[];
  /** Per record: when it was acknowledged (ms since the epoch) and how long its write and fsync took (ms). */
  timings: { at: number; ms: number }[];
  segments: number;
  drops: [number, number][];
  errors: string[];
}

function readAcked(file: string): Acked {
  const out: Acked = { records: [], timings: [], segments: 0, drops: [], errors: [] };
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [what, a = "", b = "", c = ""] = line.split(" ");
    if (what === "rec") {
      out.records.push(Number(a));
      if (b !== "" && c !== "") out.timings.push({ at: Number(c), ms: Number(b) });
    }
    else if (what === "seg") out.segments++;
    else if (what === "drop") out.drops.push([Number(a), Number(b)]);
    else if (what === "error") out.errors.push(line.slice(6));
  }
  return out;
}

/** Record numbers whole in a copy's folder (rec.log and the segments), read from its real files. */
function recordsIn(data: string): Set<number> {
  const have = new Set<number>();
  const scan = (file: string) => {
    try {
      for (const m of readFileSync(file, "utf8").matchAll(RECORD)) have.add(Number(m[1]));
    } catch {
      // renamed or removed while looked at: the rename's other name is read too
    }
  };
  scan(join(data, "rec.log"));
  const seg = join(data, "seg");
  if (existsSync(seg)) for (const name of readdirSync(seg)) scan(join(seg, name));
  // A rotation between the two reads moved rec.log into seg/: read it again under its new name.
  scan(join(data, "rec.log"));
  return have;
}

/**
 * Sets the folder, its copies, the writer and the start/stop scripts up in
 * `dir`; `bun` runs the writer, `vigilBin` is the binary the soak runs.
 */
export function setUpSoakMirror(dir: string, o: { bun: string; vigilBin: string; nodes: readonly string[] }): SoakMirror {
  const folder = join(dir, "srv");
  const data = (node: string) => join(dir, `${node}-data`);
  const ackFile = (node: string) => join(dir, `acked-${node}.log`);
  const serviceLog = join(dir, "service.log");
  mkdirSync(folder, { recursive: true });
  for (const n of o.nodes) mkdirSync(data(n), { recursive: true });
  const writer = join(dir, "writer.js");
  writeFileSync(writer, WRITER_JS);
  const script = (file: string, lines: string[]) => {
    writeFileSync(file, ["#!/bin/sh", ...lines, ""].join("\n"));
    chmodSync(file, 0o755);
    return file;
  };
  const pidFile = `${join(dir, "writer-")}"$VIGIL_NODE".pid`;
  const logLine = (what: string) => `echo "$VIGIL_NODE ${what} $(date +%s%3N)" >> ${serviceLog}`;
  // The writer runs without the daemon's environment: runtime options meant for the daemon are not its own.
  const start = script(join(dir, "start.sh"), [
    logLine("start-begin"),
    `env -i PATH="$PATH" ${o.bun} ${writer} ${folder} ${join(dir, "acked-")}"$VIGIL_NODE".log ${INTERVAL_MS} ${SEGMENT_RECORDS} ${KEEP_SEGMENTS} >>${join(dir, "writer-")}"$VIGIL_NODE".out 2>&1 </dev/null &`,
    `echo $! > ${pidFile}`,
    logLine("start-end"),
  ]);
  const stop = script(join(dir, "stop.sh"), [
    logLine("stop-begin"),
    `f=${pidFile}`,
    `if [ -f "$f" ]; then p=$(cat "$f"); kill "$p" 2>/dev/null`,
    `  for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done`,
    `  kill -9 "$p" 2>/dev/null; rm -f "$f"; fi`,
    logLine("stop-end"),
  ]);
  const bins = new Map<string, string>();
  for (const n of o.nodes) {
    // Only `vigil run` gets a mount namespace of its own; every exec keeps the PID the lab recorded.
    bins.set(n, script(join(dir, `vigil-${n}`), [
      `if [ "$1" = run ]; then`,
      `  exec unshare -m --propagation private sh -c 'd=$1; f=$2; shift 2; mount --bind "$d" "$f" && exec "$@"' sh ${data(n)} ${folder} ${o.vigilBin} "$@"`,
      "fi",
      `exec ${o.vigilBin} "$@"`,
    ]));
  }

  const checked = new Set<number>();
  const losses: MirrorLoss[] = [];
  const states: { t: number; node: string; state: string; data: string; link: string; writes: string }[] = [];
  /** Each node's state at its last sample; per sampling round, whether some node ran the module (null: a node's state was not known). */
  const latest = new Map<string, string>();
  const rounds: (boolean | null)[] = [];
  const runs = (): ServiceRun[] => serviceRuns(existsSync(serviceLog) ? readFileSync(serviceLog, "utf8") : "");
  const ackedAll = () => o.nodes.map((n) => readAcked(ackFile(n)));

  return {
    folder,
    moduleYaml: ({ prefer }) => [
      `  - name: ${MIRROR_MODULE}`,
      "    type: mirror",
      `    prefer: ${prefer}`,
      "    failback: manual",
      `    replicate: [${folder}]`,
      `    start: ${start}`,
      `    stop: ${stop}`,
      "    start_timeout: 5s",
      "    stop_timeout: 5s",
    ],
    binFor(node) {
      const b = bins.get(node);
      if (b === undefined) throw new Error(`the soak's mirror has no node ${node}`);
      return b;
    },
    checkMoves() {
      const known = [...latest.values()];
      if (known.length > 0) rounds.push(known.some((s) => s === "PRIM" || s === "ALONE") ? true : known.includes("?") ? null : false);
      for (const r of moves(runs())) {
        if (checked.has(r.from)) continue;
        checked.add(r.from);
        // Promised before the copy is read; dropped by then or after (a rotation may run meanwhile).
        const promised = ackedAll().flatMap((a) => a.records);
        const have = recordsIn(data(r.node));
        const drops = ackedAll().flatMap((a) => a.drops);
        const expected = promised.filter((k) => !drops.some(([a, b]) => k >= a && k <= b));
        const missing = expected.filter((k) => !have.has(k));
        const loss: MirrorLoss = { at: r.from, node: r.node, expected: expected.length, missing: missing.length, firstMissing: missing.slice(0, 10) };
        if (missing.length > 0) {
          const keep = mkdtempSync(join(tmpdir(), "vigil-soak-mirror-loss-"));
          for (const n of o.nodes) {
            cpSync(data(n), join(keep, `${n}-data`), { recursive: true });
            if (existsSync(ackFile(n))) cpSync(ackFile(n), join(keep, `acked-${n}.log`));
          }
          cpSync(serviceLog, join(keep, "service.log"));
          loss.keptIn = keep;
        }
        losses.push(loss);
      }
    },
    sample(t, node, body) {
      const m = (body as { modules?: { name: string; state: string; mirror?: { data?: string; link?: string; writes?: string } }[] } | null)?.modules?.find((x) => x.name === MIRROR_MODULE);
      latest.set(node, m?.state ?? "?");
      states.push({ t, node, state: m?.state ?? "?", data: m?.mirror?.data ?? "?", link: m?.mirror?.link ?? "?", writes: m?.mirror?.writes ?? "?" });
    },
    report({ startedAt, endAt, windows, events }) {
      const all = runs();
      const moved = moves(all).filter((r) => r.from >= startedAt);
      const unexpected = moved.filter((r) => !inExpectedWindow(r.from, windows));
      const both = overlaps(all, endAt).filter((x) => x.to >= startedAt);
      const atMin = (ms: number) => ((ms - startedAt) / 60_000).toFixed(2);
      const acked = ackedAll();
      const records = acked.reduce((s, a) => s + a.records.length, 0);
      const segments = acked.reduce((s, a) => s + a.segments, 0);
      const errors = o.nodes.flatMap((n, i) => (acked[i]?.errors ?? []).map((e) => `${n}: ${e}`));
      const lost = losses.reduce((s, l) => s + l.missing, 0);
      const quantile = (v: number[], q: number): number | null => (v.length === 0 ? null : [...v].sort((x, y) => x - y)[Math.min(v.length - 1, Math.floor(q * v.length))] ?? null);
      const timings = acked.flatMap((a) => a.timings).filter((x) => x.at >= startedAt);
      const speed: { fromMin: number; records: number; fsyncP50Ms: number | null; fsyncP99Ms: number | null }[] = [];
      for (let from = 0; from * 60_000 < endAt - startedAt; from += 5) {
        const w = timings.filter((x) => x.at - startedAt >= from * 60_000 && x.at - startedAt < (from + 5) * 60_000).map((x) => x.ms);
        speed.push({ fromMin: from, records: w.length, fsyncP50Ms: quantile(w, 0.5), fsyncP99Ms: quantile(w, 0.99) });
      }
      const resyncs: Record<string, MirrorResyncs> = {};
      // What each node logged about the module (its transitions, warnings and errors), for the reader of a surprise.
      const told: Record<string, string[]> = {};
      const transitions: Record<string, number> = {};
      for (const [node, evs] of events) {
        const r: MirrorResyncs = { passes: 0, incomplete: 0, byMode: {}, widened: 0, keptAside: 0 };
        for (const e of evs) {
          if (e.at < startedAt || e.fields["module"] !== MIRROR_MODULE) continue;
          if (e.msg === "mirror resync pass ended") {
            r.passes++;
            if (e.fields["completed"] !== "true") r.incomplete++;
            const mode = String(e.fields["mode"] ?? "?");
            r.byMode[mode] = (r.byMode[mode] ?? 0) + 1;
          } else if (e.msg.startsWith("mirror resync widened")) r.widened++;
          else if (e.msg.startsWith("mirror resync ended: this copy's changed paths were kept aside")) r.keptAside++;
        }
        resyncs[node] = r;
        told[node] = evs
          .filter((e) => e.at >= startedAt && (e.fields["module"] === MIRROR_MODULE || e.msg.startsWith(`module ${MIRROR_MODULE} `)))
          .map((e) => `${atMin(e.at)} min ${e.level} ${e.msg} ${JSON.stringify(Object.fromEntries(Object.entries(e.fields).filter(([k]) => k !== "module")))}`);
        transitions[node] = evs.filter((e) => e.at >= startedAt && e.msg.startsWith(`module ${MIRROR_MODULE} `) && typeof e.fields["from"] === "string" && typeof e.fields["to"] === "string").length;
      }
      const mine = states.filter((s) => s.t >= 0);
      const second = mine.filter((s) => s.state === "SECOND");
      const secondUpToDate = second.filter((s) => s.data === "uptodate" && s.link === "up").length;
      const runner = mine.filter((s) => s.state === "PRIM" || s.state === "ALONE");
      const replicating = runner.filter((s) => s.writes === "replicate").length;
      const md = [
        `## Mirror module \`${MIRROR_MODULE}\``,
        "",
        `A writer appends a ${"record".length + 106}-byte record every ${INTERVAL_MS} ms, each fsynced, renames rec.log into a segment every ${SEGMENT_RECORDS} records (folders fsynced) and keeps the last ${KEEP_SEGMENTS}; mode sync. A loss: a record the writer was told was durable, missing from the copy of the node the module moved to.`,
        "",
        `- Writes acknowledged: ${records} records, ${segments} segment renames; writer errors (its daemon killed, its folder gone): ${errors.length}${errors.length === 0 ? "" : ` (${errors.slice(0, 8).join("; ")})`}.`,
        `- Write + fsync of a record, per 5 minutes (records, p50 / p99 ms): ${speed.map((x) => `${x.fromMin}-${x.fromMin + 5}: ${x.records}, ${x.fsyncP50Ms?.toFixed(2) ?? "-"} / ${x.fsyncP99Ms?.toFixed(1) ?? "-"}`).join("; ")}.`,
        `- Moves: ${moved.length} (${moved.length - unexpected.length} in a kill or swap window, ${unexpected.length} outside); overlaps (both writers running): ${both.length}, ${both.reduce((s, x) => s + x.ms, 0)} ms.`,
        `- **Losses: ${lost} records** in ${losses.length} moves checked${losses.length === 0 ? "" : ` (${losses.map((l) => `${atMin(l.at)} min to ${l.node}: ${l.missing} of ${l.expected}${l.missing === 0 ? "" : `, first ${l.firstMissing.join(" ")}; copies kept in ${l.keptIn ?? "-"}`}`).join("; ")})`}.`,
        `- Resync passes: ${Object.entries(resyncs).map(([n, r]) => `${n} ${r.passes} (${Object.entries(r.byMode).map(([m, c]) => `${m} ${c}`).join(", ") || "none"}; ${r.incomplete} cut short; widened ${r.widened}; kept aside ${r.keptAside})`).join(", ")}.`,
        `- Module transitions logged: ${Object.entries(transitions).map(([n, c]) => `${n} ${c}`).join(", ")}.`,
        `- Status samples: **no node ran the module in ${rounds.filter((r) => r === false).length} of ${rounds.length} sampling rounds** (and no runner seen while a node's state was unknown in ${rounds.filter((r) => r === null).length}: its \`vigil status --json\` gave no state for the module); runner replicating in ${replicating} of ${runner.length}; SECOND up to date with its link up in ${secondUpToDate} of ${second.length}.`,
        ...unexpected.slice(0, 10).map((r) => `- unexpected move to ${r.node} at ${atMin(r.from)} min`),
        ...both.slice(0, 10).map((x) => `- overlap ${x.nodes} at ${atMin(x.from)} min for ${x.ms} ms`),
        ...Object.entries(told).flatMap(([n, lines]) => lines.filter((l) => / (warn|error) /.test(l)).slice(0, 12).map((l) => `- ${n}: ${l.slice(0, 300)}`)),
        "",
      ];
      return {
        md,
        json: {
          module: MIRROR_MODULE, intervalMs: INTERVAL_MS, segmentRecords: SEGMENT_RECORDS, keepSegments: KEEP_SEGMENTS,
          recordsAcked: records, segmentsAcked: segments, speed, writerErrors: errors,
          moves: moved.length, unexpectedMoves: unexpected.length, overlaps: both, losses, lostRecords: lost,
          resyncs, transitions, logged: Object.fromEntries(Object.entries(told).map(([n, l]) => [n, l.slice(0, 600)])), samples: { rounds: rounds.length, roundsRunNowhere: rounds.filter((r) => r === false).length, roundsUnknown: rounds.filter((r) => r === null).length, runner: runner.length, replicating, second: second.length, secondUpToDate }, states,
        },
      };
    },
  };
}
