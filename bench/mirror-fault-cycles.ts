/**
 * What a mirror PRIM keeps per fault: the same PRIM (h1) through many cycles
 * of one fault kind at a time, its heap read after each cycle, so that a
 * count that grows by the cycle names the fault that leaks and the object
 * types it leaks. A soak mixes every fault and shows only RSS over hours;
 * this run takes minutes and answers per kind.
 *
 * Lab: h1 and h2 run vigil (lan preset) on two links with the soak's mirror
 * module (bench/soak-mirror.ts: a writer appending fsynced records, prefer
 * h1, mode sync); each state dir is a 32 MiB tmpfs. Kinds, each run for
 * --cycles cycles in the order given:
 *
 *   idle      nothing (10 s): what the writer alone adds, the control;
 *   kill      SIGKILL of h2 (the SECOND), restarted 2 s later: h1 keeps a
 *             journal, then a journal resync;
 *   cut       the replication link (TCP 7696) dropped on h2 by nft for 4 s,
 *             then lifted: the link goes down and comes back, a resync;
 *   diskfull  h1's state dir filled, h2 killed and restarted while it is
 *             full (the copy record cannot be saved), then freed;
 *   swap      the module swapped to h2 and back to h1;
 *   stop      three SIGSTOPs of h2 of 250 ms (half the deadtime), 2 s apart;
 *   loss      30 % loss both ways on both links of h2 for 5 s;
 *   hbflood   5 s of h2's heartbeat frames replayed at h1 from h3 (signed
 *             with the real key, one C sender, as the soak's flood).
 *
 * After each cycle, once the SECOND is up to date again, h1 gets SIGUSR2
 * (src/daemon/heap-stats.ts: a full collection, then bun:jsc's heapStats())
 * and its RSS by region (smaps), threads and fds are read. Per kind the
 * report gives first and last sample and the growth per cycle (least-squares
 * slope) of the live objects, plain Objects, the object heap, the extra
 * memory (here compiled code), JIT code, other anonymous memory, and the
 * object types that grew most. Objects kept in a bounded ring (the log's last
 * 500 lines, the heartbeat's last 1000 membership events) grow by the cycle
 * until the ring is full: a leak is a count that keeps growing past that,
 * or one a later kind does not stop.
 *
 *   VIGIL_BIN=/path/to/vigil node_modules/.bin/bun bench/mirror-fault-cycles.ts [--kinds idle,kill,...] [--cycles 12] [--name NAME] [--dir DIR] [--preset wan]
 *   node_modules/.bin/bun bench/mirror-fault-cycles.ts --from DIR/NAME.json --name NAME   (the report again)
 *
 * Root only. Writes NAME.json and .md (default mirror-fault-cycles) to --dir
 * (default bench/results). Namespaces, mounts and processes go at the end.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { fmt, markdownTable, writeResults } from "./lib/report.ts";
import { slope } from "./lib/stats.ts";
import { MIRROR_MODULE, setUpSoakMirror } from "./soak-mirror.ts";
import { createLab, type Lab } from "../test/lab/lab.ts";
import { buildFlooder, flood, writeReplayFrames } from "../test/lab/udp-flood.ts";
import { signalPid } from "../test/lab/procfs.ts";
import { startVigilCluster, type VigilCluster, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { sleep, waitUntil } from "../test/lab/wait.ts";

const KINDS = ["idle", "kill", "cut", "diskfull", "swap", "stop", "loss", "hbflood"] as const;
type Kind = (typeof KINDS)[number];
const { values: args } = benchArgs({
  options: {
    kinds: { type: "string", default: KINDS.join(",") },
    cycles: { type: "string", default: "12" },
    name: { type: "string", default: "mirror-fault-cycles" },
    // The heartbeat preset (lan, wan): wan's deadtime lets a slow heap dump pass without a dead verdict.
    preset: { type: "string", default: "lan" },
    // Where the results go (default bench/results).
    dir: { type: "string" },
    // Writes the report again from a run's JSON (its samples), without a lab.
    from: { type: "string" },
  },
});
const saved = args.from === undefined ? undefined : (JSON.parse(readFileSync(args.from, "utf8")) as { samples: Sample[] }).samples;
const kinds = saved === undefined ? (String(args.kinds).split(",").map((k) => k.trim()) as Kind[]) : ([...new Set(saved.map((s) => s.kind).filter((k) => k !== "start"))] as Kind[]);
for (const k of kinds) if (!(KINDS as readonly string[]).includes(k)) throw new Error(`--kinds: unknown kind ${k} (${KINDS.join(", ")})`);
const cycles = saved === undefined ? Number(args.cycles) : Math.max(...saved.map((s) => s.cycle));
const MIRROR_PORT = 7696;

interface Sample {
  kind: Kind | "start";
  cycle: number;
  at: number;
  rssKiB: number;
  anonKiB: number;
  heapSize: number;
  objectCount: number;
  /** process.memoryUsage()'s external and arrayBuffers, and bun:jsc's extraMemorySize: memory the heap's objects hold outside it, bytes. */
  external: number;
  arrayBuffers: number;
  extraMemorySize: number;
  /** The binary's pages, JIT code and other anonymous memory in RSS (/proc/PID/smaps), KiB. */
  regions: { exeKiB: number; jitKiB: number; anonKiB: number };
  threads: number;
  fds: number;
  types: Record<string, number>;
  load: string;
}

function run(cmd: string, argv: readonly string[], timeoutMs = 30_000): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...argv], { encoding: "utf8", timeout: timeoutMs }, (error, stdout, stderr) => resolve({ ok: error === null, stdout, stderr }));
  });
}

async function mirrorState(n: VigilNode): Promise<{ state: string; data: string; link: string }> {
  const r = await run(n.bin, ["status", "--json", "--state-dir", n.stateDir], 15_000);
  try {
    const m = (JSON.parse(r.stdout) as { modules?: { name: string; state: string; mirror?: { data?: string; link?: string } }[] }).modules?.find((x) => x.name === MIRROR_MODULE);
    return { state: m?.state ?? "?", data: m?.mirror?.data ?? "?", link: m?.mirror?.link ?? "?" };
  } catch {
    return { state: "?", data: "?", link: "?" };
  }
}

/** h1 PRIM, h2 SECOND up to date with the link up. */
async function settled(c: VigilCluster, what: string): Promise<void> {
  await waitUntil(
    async () => {
      const [a, b] = [await mirrorState(c.node("h1")), await mirrorState(c.node("h2"))];
      return a.state === "PRIM" && b.state === "SECOND" && b.data === "uptodate" && b.link === "up";
    },
    { timeoutMs: 120_000, intervalMs: 500, what },
  );
}

async function heapOf(n: VigilNode, kind: Sample["kind"], cycle: number): Promise<Sample> {
  const file = join(n.stateDir, "heap-stats.json");
  const before = existsSync(file) ? statSync(file).mtimeMs : 0;
  signalPid(n.proc.pid, "SIGUSR2");
  await waitUntil(() => existsSync(file) && statSync(file).mtimeMs > before, { timeoutMs: 60_000, intervalMs: 100, what: "heap-stats.json written" });
  const s = JSON.parse(readFileSync(file, "utf8")) as { heapSize?: number; objectCount?: number; extraMemorySize?: number; memory?: Record<string, number>; objectTypeCounts?: Record<string, number> };
  const st = readFileSync(`/proc/${n.proc.pid}/status`, "utf8");
  const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(st)?.[1] ?? 0);
  return {
    kind, cycle, at: Date.now(), rssKiB: kib("VmRSS"), anonKiB: kib("RssAnon"), heapSize: s.heapSize ?? 0, objectCount: s.objectCount ?? 0,
    external: s.memory?.["external"] ?? 0, arrayBuffers: s.memory?.["arrayBuffers"] ?? 0, extraMemorySize: s.extraMemorySize ?? 0,
    regions: regionsOf(n.proc.pid), threads: kib("Threads"), fds: readdirSync(`/proc/${n.proc.pid}/fd`).length,
    types: s.objectTypeCounts ?? {}, load: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** RSS by kind of mapping: the executable's file pages, JIT code (rwx), the rest of the anonymous memory; KiB. */
function regionsOf(pid: number): Sample["regions"] {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const out = { exeKiB: 0, jitKiB: 0, anonKiB: 0 };
  let kind: keyof typeof out | null = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      const [, perms = "", path = ""] = head;
      kind = path === exe ? "exeKiB" : perms.startsWith("rwx") ? "jitKiB" : path === "" || path.startsWith("[") ? "anonKiB" : null;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null && kind !== null) out[kind] += Number(rss[1]);
  }
  return out;
}

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), "vigil-fault-cycles-"));
  let lab: Lab | undefined;
  const mounts: string[] = [];
  const samples: Sample[] = [];
  try {
    lab = await createLab({ hosts: 3, links: 2 });
    const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
    const mirror = setUpSoakMirror(join(workDir, "mirror"), { bun: process.execPath, vigilBin: process.env["VIGIL_BIN"] ?? "", nodes: [h1.name, h2.name] });
    const c = await startVigilCluster({ hosts: [h1, h2], dir: join(workDir, "cluster"), heartbeat: { preset: args.preset === "wan" ? "wan" : "lan" }, start: [], extraYaml: ["modules:", ...mirror.moduleYaml({ prefer: h1.name })] });
    for (const n of c.nodes) {
      const r = await run("mount", ["-t", "tmpfs", "-o", "size=32m,mode=0700", `cycles-${n.name}`, n.stateDir]);
      if (!r.ok) throw new Error(`mount tmpfs on ${n.stateDir}: ${r.stderr.trim()}`);
      mounts.push(n.stateDir);
    }
    const start = (n: VigilNode) => n.start(mirror.binFor(n.name));
    await start(c.node("h1"));
    await sleep(3_000);
    await start(c.node("h2"));
    await c.waitForMesh();
    await settled(c, "h1 PRIM, h2 SECOND up to date");
    const flooder = kinds.includes("hbflood") ? await buildFlooder(join(workDir, "bin")) : "";
    const replayed = join(workDir, "frames-h2.bin");
    if (kinds.includes("hbflood")) writeReplayFrames(replayed, { keyFile: c.keyFile, cluster: "lab", node: "h2" });
    const h1n = c.node("h1");
    const h2n = c.node("h2");
    // Past the later collection and drop (initdead + 20 s), so they do not land in a cycle.
    await sleep(30_000);
    samples.push(await heapOf(h1n, "start", 0));
    const restart = async (n: VigilNode, downMs: number) => {
      signalPid(n.proc.pid, "SIGKILL");
      await n.proc.exited;
      await sleep(downMs);
      await start(n);
    };
    const swap = async (from: VigilNode, to: VigilNode) => {
      const r = await run(from.bin, ["swap", MIRROR_MODULE, "--state-dir", from.stateDir], 60_000);
      if (!r.ok) console.log(`swap from ${from.name}: ${r.stdout.trim()} ${r.stderr.trim()}`);
      await waitUntil(async () => (await mirrorState(to)).state === "PRIM" && (await mirrorState(from)).state === "SECOND", { timeoutMs: 60_000, intervalMs: 500, what: `${to.name} PRIM` });
    };
    for (const kind of kinds) {
      for (let i = 1; i <= cycles; i++) {
        const t0 = Date.now();
        if (kind === "idle") await sleep(10_000);
        else if (kind === "kill") await restart(h2n, 2_000);
        else if (kind === "cut") {
          const table = "cycles_cut";
          await h2.exec(["nft", "-f", "-"], { check: true, input: `table inet ${table} {\n chain in { type filter hook input priority 0; tcp sport ${MIRROR_PORT} drop; tcp dport ${MIRROR_PORT} drop; }\n chain out { type filter hook output priority 0; tcp sport ${MIRROR_PORT} drop; tcp dport ${MIRROR_PORT} drop; }\n}\n` });
          await sleep(4_000);
          await h2.exec(["nft", "delete", "table", "inet", table]);
        } else if (kind === "diskfull") {
          const fill = join(h1n.stateDir, "cycles-fill");
          await run("dd", ["if=/dev/zero", `of=${fill}`, "bs=1M"]);
          await restart(h2n, 2_000);
          await sleep(4_000);
          rmSync(fill, { force: true });
        } else if (kind === "stop") {
          for (let k = 0; k < 3; k++) {
            signalPid(h2n.proc.pid, "SIGSTOP");
            await sleep(250);
            signalPid(h2n.proc.pid, "SIGCONT");
            await sleep(2_000);
          }
        } else if (kind === "loss") {
          await lab.netem(h2, "loss 30%", { side: "both" });
          await sleep(5_000);
          await lab.clearNetem(h2);
        } else if (kind === "hbflood") {
          await flood(h3, { flooder, frames: replayed, address: h1.addr(1), port: 7694, seconds: 5, processes: 1 });
        } else if (kind === "swap") {
          await swap(h1n, h2n);
          await sleep(2_000);
          await swap(h2n, h1n);
        }
        await settled(c, `${kind} cycle ${i}: settled`);
        await sleep(2_000);
        const s = await heapOf(h1n, kind, i);
        samples.push(s);
        console.log(`${kind} ${i}: ${((Date.now() - t0) / 1000).toFixed(1)} s, objects ${s.objectCount}, heap ${(s.heapSize / 1048576).toFixed(2)} MiB, extra ${(s.extraMemorySize / 1024).toFixed(0)} KiB, anon ${s.anonKiB} KiB (jit ${s.regions.jitKiB}, other ${s.regions.anonKiB}), rss ${s.rssKiB} KiB, threads ${s.threads}, fds ${s.fds}, load ${s.load}`);
      }
    }
  } finally {
    await lab?.destroy();
    for (const m of mounts) await run("umount", ["-l", m]);
    rmSync(workDir, { recursive: true, force: true });
    report(samples);
  }
}

function report(samples: Sample[]): void {
  const rows: string[][] = [];
  const perKind: Record<string, unknown> = {};
  for (const kind of kinds) {
    const from = samples.findIndex((s) => s.kind === kind);
    if (from < 1) continue;
    const mine = samples.slice(from - 1).filter((s, i) => i === 0 || s.kind === kind);
    if (mine.length < 3) continue;
    const per = (f: (s: Sample) => number): number => slope(mine.map((s, i) => ({ x: i, y: f(s) }))) ?? Number.NaN;
    const first = mine[0];
    const last = mine.at(-1);
    if (first === undefined || last === undefined) continue;
    const names = new Set([...Object.keys(first.types), ...Object.keys(last.types)]);
    const growth = [...names].map((t) => ({ type: t, perCycle: per((s) => s.types[t] ?? 0), first: first.types[t] ?? 0, last: last.types[t] ?? 0 })).sort((a, b) => b.perCycle - a.perCycle);
    const top = growth.slice(0, 8).filter((g) => g.perCycle > 0.3);
    const objectHeap = (x: Sample): number => x.heapSize - x.extraMemorySize;
    const kib = (b: number): string => fmt(b / 1024, 0);
    perKind[kind] = {
      cycles: mine.length - 1, objectsPerCycle: per((x) => x.objectCount), objectHeapBytesPerCycle: per(objectHeap), extraBytesPerCycle: per((x) => x.extraMemorySize),
      anonKiBPerCycle: per((x) => x.anonKiB), jitKiBPerCycle: per((x) => x.regions.jitKiB), otherAnonKiBPerCycle: per((x) => x.regions.anonKiB), top, loads: mine.map((x) => x.load),
    };
    rows.push([
      kind, String(mine.length - 1),
      `${first.objectCount} -> ${last.objectCount} (${fmt(per((x) => x.objectCount), 1)})`,
      `${first.types["Object"] ?? 0} -> ${last.types["Object"] ?? 0} (${fmt(per((x) => x.types["Object"] ?? 0), 1)})`,
      `${kib(objectHeap(first))} -> ${kib(objectHeap(last))} (${fmt(per(objectHeap) / 1024, 1)})`,
      `${kib(first.extraMemorySize)} -> ${kib(last.extraMemorySize)} (${fmt(per((x) => x.extraMemorySize) / 1024, 1)})`,
      `${first.regions.jitKiB} -> ${last.regions.jitKiB} (${fmt(per((x) => x.regions.jitKiB), 0)})`,
      `${first.regions.anonKiB} -> ${last.regions.anonKiB} (${fmt(per((x) => x.regions.anonKiB), 0)})`,
      `${first.threads} -> ${last.threads}`, `${first.fds} -> ${last.fds}`,
      top.map((g) => `${g.type} ${fmt(g.perCycle, 1)}`).join(", "), `${first.load} .. ${last.load}`,
    ]);
  }
  const md = [
    `# Mirror PRIM heap per fault cycle (${args.name})`,
    "",
    `\`VIGIL_BIN=... node_modules/.bin/bun bench/mirror-fault-cycles.ts --kinds ${kinds.join(",")} --cycles ${cycles} --name ${args.name}\`. Each cell: first -> last sample (growth per cycle, least-squares); a kind's first sample is the one before its first cycle. Objects and the object heap are live JS objects after a full collection (bun:jsc heapStats: heapSize less extraMemorySize); extra memory is what the heap's cells hold outside it (here compiled code: it follows the code blocks' count); JIT code and other anonymous memory are RSS (smaps).`,
    "",
    markdownTable(["kind", "cycles", "objects", "plain Objects", "object heap KiB", "extra memory KiB", "JIT code KiB", "other anon KiB", "threads", "fds", "types growing most (per cycle)", "load first .. last"], rows),
    "",
  ];
  const json = { kinds, cycles, samples, perKind };
  if (args.dir === undefined) writeResults(String(args.name), json, md.join("\n"));
  else writeResults(String(args.name), json, md.join("\n"), args.dir);
  console.log(md.join("\n"));
}

if (saved === undefined) await main();
else report(saved);
