/**
 * The mirror's FUSE paths alone, without a SECOND: the folder mounted in place
 * by the handler (mountInPlace) with every op acknowledged at once, beside the
 * bare folder, in one process's private mount namespace.
 *
 *   node_modules/.bin/bun bench/mirror-fuse-paths.ts [--dir PATH] [--mib 256]
 *       [--rounds 5] [--files 1000] [--ways WAY,...] [--name RESULTS]
 *
 * - storm: FUSE requests per file of bench/mirror-app.ts's create/rename/delete
 *   storm, by opcode (the kernel's own, counted by the handler), and its rate;
 * - reads: `dd bs=1M` and `dd bs=4k` of a file of --mib MiB, the bare folder
 *   and the mount taking turns (the order flips every round), cold (the pages
 *   dropped with POSIX_FADV_DONTNEED through the mount and beneath, checked
 *   with fincore) and warm beneath (only the mount's pages dropped: what the
 *   FUSE path costs by itself), each through the three ways a read can take:
 *   the mount's page cache (the default), the reader opening O_DIRECT (the
 *   handler answers FOPEN_DIRECT_IO: each read() spliced from the file
 *   beneath into the reader's buffer), the mount with read "direct" (every
 *   read-only open answered so, the reader asking nothing; its own mount)
 *   and read passthrough (opt-in, readPassthrough; its own mount). --ways
 *   takes some of them ("page cache,read: direct"); all by default.
 *
 * --dir: where the bare and the mounted folder live (default /tmp). Root only.
 * --name writes bench/results/RESULTS.{json,md}. Figures are medians and
 * ratios of the rounds; the machine's 1-minute load average goes with them.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { benchArgs, runBench, UsageError } from "./lib/args.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { median, ratio } from "./lib/stats.ts";
import { mountInPlace, type MountedFolder } from "../src/replicator/intercept.ts";
import { APP, BUN, ddRate } from "./mirror-measure.ts";

const { values } = benchArgs({ options: {
  dir: { type: "string" }, mib: { type: "string" }, rounds: { type: "string" }, files: { type: "string" }, ways: { type: "string" }, name: { type: "string" },
} });
const MIB = Number(values.mib ?? "256");
const ROUNDS = Number(values.rounds ?? "5");
const FILES = Number(values.files ?? "1000");
const INNER = "VIGIL_FUSE_PATHS_INNER";
/** Linux FUSE opcodes the storm uses (linux/fuse.h). */
const OPCODES: Record<number, string> = { 1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 10: "UNLINK", 12: "RENAME", 18: "RELEASE", 35: "CREATE", 42: "BATCH_FORGET" };

interface Out { code: number | null; text: string }
function run(argv: string[]): Promise<Out> {
  return new Promise((resolve) => {
    const c = spawn(argv[0] ?? "false", argv.slice(1));
    let text = "";
    c.stdout.on("data", (d: Buffer) => (text += d.toString()));
    c.stderr.on("data", (d: Buffer) => (text += d.toString()));
    c.on("exit", (code) => resolve({ code, text }));
  });
}
async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`\`${argv.join(" ")}\` exited ${String(r.code)}: ${r.text.trim().slice(-400)}`);
  return r.text;
}

const loads: number[] = [];
const sampleLoad = (): void => void loads.push(loadavg()[0] ?? 0);

async function mount(dir: string, way: Way | "storm"): Promise<{ m: MountedFolder; beneath: string }> {
  const m = await mountInPlace({ dir, name: "fuse-paths", readPassthrough: way === "passthrough", read: way === "read: direct" ? "direct" : "cache", log: (level, msg) => console.error(`${level} ${msg}`), onMutation: () => Promise.resolve() });
  // dd runs in a process of its own: /proc/self there is not ours.
  return { m, beneath: m.backing.replace("/proc/self/", `/proc/${process.pid}/`) };
}

async function storm(dir: string): Promise<Record<string, unknown>> {
  const { m } = await mount(dir, "storm");
  try {
    const before = m.stats().byOpcode;
    const app = JSON.parse((await must([BUN, APP, "storm", dir, String(FILES)])).trim().split("\n").at(-1) ?? "{}") as { totalMs: number };
    const after = m.stats().byOpcode;
    const perFile: Record<string, number> = {};
    for (const [op, n] of Object.entries(after)) {
      const d = n - (before[Number(op)] ?? 0);
      if (d / FILES >= 0.01) perFile[OPCODES[Number(op)] ?? `opcode ${op}`] = Math.round((d / FILES) * 100) / 100;
    }
    sampleLoad();
    return { files: FILES, filesPerSec: FILES / (app.totalMs / 1000), requestsPerFile: perFile, total: Object.values(perFile).reduce((a, b) => a + b, 0) };
  } finally {
    await m.unmount();
  }
}

async function drop(files: readonly string[]): Promise<void> {
  for (const f of files) await must(["dd", `if=${f}`, "iflag=nocache", "count=0", "status=none"]);
  const left = (await must(["fincore", "-n", "-b", "-o", "RES", ...files])).split("\n").map((l) => l.trim()).filter((l) => l !== "").map(Number);
  if (left.some((n) => n !== 0)) throw new Error(`pages still cached after the drop: ${left.join(", ")} bytes (${files.join(", ")})`);
}

const WAYS = ["page cache", "O_DIRECT", "read: direct", "passthrough"] as const;
type Way = (typeof WAYS)[number];
interface ReadRow { way: Way; bs: string; start: "cold" | "warm beneath"; bare: number[]; mount: number[] }

async function reads(dir: string, bareFile: string, way: Way, bs: string, start: ReadRow["start"]): Promise<ReadRow> {
  const { m, beneath } = await mount(dir, way);
  const row: ReadRow = { way, bs, start, bare: [], mount: [] };
  const through = join(dir, "seq.dat");
  const below = `${beneath}/seq.dat`;
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of r % 2 === 0 ? ["bare", "mount"] : ["mount", "bare"]) {
        if (side === "bare") {
          if (start === "cold") await drop([bareFile]);
          else await must(["dd", `if=${bareFile}`, "of=/dev/null", "bs=1M", "status=none"]);
          row.bare.push(ddRate(await must(["dd", `if=${bareFile}`, "of=/dev/null", `bs=${bs}`])));
        } else {
          // With passthrough the mount has no pages of its own: what fincore sees through it is the file beneath.
          if (start === "cold") await drop([through, below]);
          else if (way !== "passthrough") await drop([through]);
          if (start !== "cold") await must(["dd", `if=${below}`, "of=/dev/null", "bs=1M", "status=none"]);
          row.mount.push(ddRate(await must(["dd", `if=${through}`, "of=/dev/null", `bs=${bs}`, ...(way === "O_DIRECT" ? ["iflag=direct"] : [])])));
        }
        sampleLoad();
      }
    }
  } finally {
    await m.unmount();
  }
  return row;
}

async function inner(): Promise<void> {
  if (!(MIB > 0 && ROUNDS > 0 && FILES > 0)) throw new UsageError("--mib, --rounds and --files take positive numbers");
  const ways = values.ways === undefined ? [...WAYS] : values.ways.split(",").map((w) => w.trim());
  const unknown = ways.filter((w) => !(WAYS as readonly string[]).includes(w));
  if (unknown.length > 0 || ways.length === 0) throw new UsageError(`--ways: ${unknown.join(", ") || "none"}; the ways are ${WAYS.join(", ")}`);
  if (values.name !== undefined && !/^[a-z0-9][a-z0-9._-]*$/i.test(values.name)) throw new UsageError(`--name: "${values.name}" is not a plain file name`);
  const scratch = mkdtempSync(join(values.dir ?? "/tmp", "vigil-fuse-paths-"));
  const started = Date.now();
  try {
    const dir = join(scratch, "mnt");
    mkdirSync(dir);
    const bareFile = join(scratch, "bare.dat");
    await must(["dd", "if=/dev/urandom", `of=${bareFile}`, "bs=1M", `count=${MIB}`, "conv=fsync", "status=none"]);
    await must(["cp", bareFile, join(dir, "seq.dat")]);
    await must(["sync"]);
    console.error("storm through the mount");
    const stormResult = await storm(dir);
    const rows: ReadRow[] = [];
    for (const start of ["cold", "warm beneath"] as const) {
      for (const bs of ["1M", "4k"]) {
        for (const way of WAYS.filter((w) => ways.includes(w))) {
          console.error(`reads: ${start}, bs=${bs}, ${way}`);
          rows.push(await reads(dir, bareFile, way, bs, start));
        }
      }
    }
    const command = `node_modules/.bin/bun bench/mirror-fuse-paths.ts${(["dir", "mib", "rounds", "files", "ways", "name"] as const).map((k) => (values[k] !== undefined ? ` --${k} ${k === "ways" ? `"${values[k]}"` : values[k]}` : "")).join("")}`;
    const load = { min: Math.min(...loads), max: Math.max(...loads), median: median(loads) };
    const md = [
      "# The mirror's FUSE paths alone (no SECOND, ops acknowledged at once)",
      "",
      `\`${command}\` (${((Date.now() - started) / 60_000).toFixed(1)} min); 1-minute load average ${load.min.toFixed(1)}-${load.max.toFixed(1)} (median ${load.median.toFixed(1)}) on 2 shared cores.`,
      "",
      `Storm of ${FILES} files through the mount: ${(stormResult.filesPerSec as number).toFixed(0)} files/s; FUSE requests per file: ${Object.entries(stormResult.requestsPerFile as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(", ")} (${String(stormResult.total)} in all).`,
      "",
      `Reads of a ${MIB} MiB file, medians of ${ROUNDS} rounds (MB/s), bare and mount taking turns:`,
      "",
      markdownTable(["start", "dd bs", "way through the mount", "bare", "mount", "mount / bare"], rows.map((r) => [r.start, r.bs, r.way, median(r.bare), median(r.mount), ratio(median(r.mount), median(r.bare))])),
      "",
    ].join("\n");
    console.log(md);
    if (values.name !== undefined) writeResults(values.name, { command, load, storm: stormResult, reads: rows, mib: MIB, rounds: ROUNDS }, md);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.env[INNER] === "1") runBench(inner);
else {
  // The mounts live in a private mount namespace of their own, gone with the process.
  runBench(async () => {
    const child = spawn("unshare", ["-m", "--propagation", "private", BUN, ...process.argv.slice(1)], { stdio: "inherit", env: { ...process.env, [INNER]: "1" } });
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    if (code !== 0) process.exit(code ?? 1);
  });
}
