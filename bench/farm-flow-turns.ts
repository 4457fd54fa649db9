/**
 * How long the farm's work over a full flow memory (65536 UDP flow records)
 * holds the main thread in one turn of the event loop, for two source trees
 * back to back (the same machine, its load said with each run).
 *
 *   bun bench/farm-flow-turns.ts --trees OLD_ROOT,NEW_ROOT [--rounds 2] [--flows 65536] [--out NAME]
 *
 * Root only: each run gets a network namespace of its own (fturn-<pid>-<n>,
 * removed after), a farm table (src/sys/farm/table.ts) and its `flows` map
 * filled by nft: a third of the records the node's own, the rest three
 * peers'. Then, with a 1 ms timer chain as the probe (its longest gap is the
 * longest turn), in order:
 * - read: the tree's readFlowRecords (netlink dump, records built);
 * - tell: a read, the own flows, every report part signed (what a tell does);
 * - check: a read, the flows of half the buckets left to each peer, the parts signed;
 * - record: the tree's recordFlows of the own flows (a third) as a peer's (a read, then the writes).
 * tell and check are this file's copies of the driver's code
 * (src/daemon/farm/instance.ts) of each tree: in slices when the tree has
 * src/sys/farm/slices.ts, in one go before that.
 *
 * Writes bench/results/<out>.json and .md (default farm-flow-turns).
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";

const { values: args } = benchArgs({
  options: {
    trees: { type: "string" },
    rounds: { type: "string", default: "2" },
    flows: { type: "string", default: "65536" },
    out: { type: "string", default: "farm-flow-turns" },
    inner: { type: "string" },
  },
});

const FLOWS = Number(args.flows);
const MODULE = "fturn";

interface Phase {
  readonly phase: string;
  readonly wallMs: number;
  readonly longestTurnMs: number;
  readonly longestTurnCpuMs: number;
  readonly turns: number;
  readonly items: number;
  readonly error?: string;
}

async function inner(tree: string): Promise<void> {
  const src = (p: string) => join(tree, "src", p);
  const table = await import(src("sys/farm/table.ts"));
  const records = await import(src("sys/farm/flow-records.ts"));
  const ruleset = await import(src("sys/farm/ruleset.ts"));
  const nft = await import(src("sys/nft.ts"));
  const proto = await import(src("proto/farm-flows.ts"));
  const jhash = await import(src("core/farm/jhash.ts"));
  const sliced = existsSync(src("sys/farm/slices.ts"));
  const slices = sliced ? await import(src("sys/farm/slices.ts")) : undefined;
  const name = ruleset.farmTableName(MODULE);
  const SELF: number = ruleset.FLOW_SELF;
  const key = new Uint8Array(32).fill(7);
  const ipText = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  const ip = (i: number) => `198.51.100.${i % 250}`;
  const setup = await table.setupFarmTable({ module: MODULE, vip: "198.51.100.250", ports: [53], split: "client_ip_port", seed: 1, leaseMs: 3_600_000 });
  if (!setup.ok) throw new Error(setup.message);
  const lines: string[] = [];
  for (let i = 0; i < FLOWS; i += 1000) {
    const elems = Array.from({ length: Math.min(1000, FLOWS - i) }, (_, k) => `${ip(i + k)} . ${1024 + Math.floor((i + k) / 250)} . 53 : 0x${((i + k) % 3 === 0 ? SELF : ((i + k) % 3) + 1).toString(16)}`);
    lines.push(`add element inet ${name} flows { ${elems.join(", ")} }`);
  }
  const add = await nft.applyRuleset(`${lines.join("\n")}\n`);
  if (!add.ok) throw new Error(add.message);

  // The probe: a 1 ms timer chain; a gap between two of its callbacks is a turn that held the thread.
  // On a loaded machine a gap also holds time the process waited for a CPU: the CPU time the process
  // used in the gap (all its threads, so an upper bound of the main thread's) tells the two apart.
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let longest = 0;
  let longestCpu = 0;
  let turns = 0;
  let probing = true;
  const tick = () => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    longest = Math.max(longest, now - last);
    longestCpu = Math.max(longestCpu, (cpu.user + cpu.system) / 1000);
    last = now;
    lastCpu = process.cpuUsage();
    turns++;
    if (probing) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  const phases: Phase[] = [];
  let failed: string | undefined;
  const measure = async (phase: string, work: () => Promise<number>) => {
    await new Promise((r) => setTimeout(r, 50));
    longest = 0;
    longestCpu = 0;
    turns = 0;
    last = performance.now();
    const t0 = performance.now();
    const items = await work();
    const wallMs = performance.now() - t0;
    phases.push({ phase, wallMs, longestTurnMs: Math.max(longest, performance.now() - last), longestTurnCpuMs: longestCpu, turns, items, ...(failed === undefined ? {} : { error: failed }) });
    failed = undefined;
  };
  const read = async () => {
    const r = await records.readFlowRecords(MODULE);
    if (!r.ok) throw new Error(r.message);
    return r.records as Map<string, { key: { client: number; port: number; vipPort: number }; value: number }>;
  };
  const header = { cluster: "c", module: MODULE, from: "a", to: "b", askedAt: 1 };
  const send = (type: "tell" | "check", part: number, parts: number, flows: unknown[]) => proto.encodeFarmFlows({ type, ...header, part, parts, flows }, key);
  const eachPart = async (parts: unknown[][], type: "tell" | "check") => {
    if (slices !== undefined) await slices.forEachInSlices(parts, (p: unknown[], i: number) => void send(type, i, parts.length, p), { checkEvery: 1 });
    else parts.forEach((p, i) => send(type, i, parts.length, p));
  };
  await measure("read", async () => (await read()).size);
  await measure("tell", async () => {
    const r = await read();
    const own = slices !== undefined ? await records.ownFlowsInSlices(r) : records.ownFlows(r);
    await eachPart(proto.flowParts(own), "tell");
    return own.length;
  });
  await measure("check", async () => {
    const r = await read();
    const mine = new Set(Array.from({ length: 128 }, (_, i) => i * 2));
    const bucket = (k: { client: number; port: number }) => jhash.nftBucket(ipText(k.client), k.port, 256, 1);
    let n = 0;
    if (slices !== undefined) {
      const by = new Map([1, 2, 3].map((v) => [v, [] as unknown[]]));
      await slices.forEachInSlices(r.values(), (x: { key: { client: number; port: number }; value: number }) => {
        const l = by.get(x.value);
        if (l !== undefined && mine.has(bucket(x.key))) l.push(x.key);
      });
      for (const l of by.values()) {
        n += l.length;
        await eachPart(proto.flowParts(l), "check");
      }
    } else {
      for (const v of [1, 2, 3]) {
        const l = [...r.values()].filter((x) => x.value === v).map((x) => x.key).filter((k) => mine.has(bucket(k)));
        n += l.length;
        await eachPart(proto.flowParts(l), "check");
      }
    }
    return n;
  });
  // The flows a peer told, as the driver gets them: made before the phase.
  const told = [...(await read()).values()].filter((x) => x.value === SELF).map((x) => x.key);
  await measure("record", async () => {
    const own = told;
    const w = await records.recordFlows(MODULE, own, 2);
    if (!w.ok) failed = w.message;
    return w.ok ? w.changed : 0;
  });
  probing = false;
  await table.removeFarmTable(MODULE);
  console.log(JSON.stringify({ sliced, phases }));
}

function run(cmd: string, argv: string[]): string {
  const r = spawnSync(cmd, argv, { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function outer(): Promise<void> {
  const trees = (args.trees ?? "").split(",").filter((t) => t !== "");
  if (trees.length === 0) throw new Error("usage: bun bench/farm-flow-turns.ts --trees OLD_ROOT,NEW_ROOT [--rounds 2] [--flows 65536] [--out NAME]");
  const rows: { round: number; tree: string; sliced: boolean; load: number; phases: Phase[] }[] = [];
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const tree of trees) {
      const ns = `fturn-${process.pid}-${rows.length}`;
      run("ip", ["netns", "add", ns]);
      try {
        const load = loadavg()[0] ?? 0;
        const out = run("ip", ["netns", "exec", ns, process.execPath, import.meta.path, "--inner", tree, "--flows", String(FLOWS)]);
        const line = out.trim().split("\n").pop() ?? "{}";
        const r = JSON.parse(line) as { sliced: boolean; phases: Phase[] };
        rows.push({ round, tree, sliced: r.sliced, load, phases: r.phases });
        console.log(`round ${round} ${tree} (load ${load.toFixed(1)}): ${r.phases.map((p) => `${p.phase} ${p.longestTurnMs.toFixed(0)} ms longest turn (CPU ${p.longestTurnCpuMs.toFixed(0)} ms), ${p.wallMs.toFixed(0)} ms${p.error === undefined ? "" : ` (failed: ${p.error})`}`).join("; ")}`);
      } finally {
        spawnSync("ip", ["netns", "del", ns]);
      }
    }
  }
  const md = [
    `# Longest turn of the event loop over a full flow memory (${FLOWS} records)`,
    "",
    "`bun bench/farm-flow-turns.ts` (see its header). Longest turn = longest gap of a 1 ms timer chain during the phase (wall time, which on a loaded machine includes waiting for a CPU); most CPU in one turn = the largest CPU time the process used within one such gap; load = 1-minute load average at the run's start.",
    "",
    "| round | tree | sliced | load | phase | longest turn ms | most CPU in one turn ms | wall ms | records |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows.flatMap((r) => r.phases.map((p) => `| ${r.round} | ${r.tree} | ${r.sliced ? "yes" : "no"} | ${r.load.toFixed(1)} | ${p.phase} | ${p.longestTurnMs.toFixed(1)} | ${p.longestTurnCpuMs.toFixed(1)} | ${p.wallMs.toFixed(0)} | ${p.items}${p.error === undefined ? "" : ` (failed: ${p.error})`} |`)),
    "",
  ].join("\n");
  const base = join(import.meta.dir, "results", args.out ?? "farm-flow-turns");
  writeFileSync(`${base}.json`, `${JSON.stringify({ flows: FLOWS, rows }, null, 2)}\n`);
  writeFileSync(`${base}.md`, md);
  console.log(md);
}

if (args.inner !== undefined) await inner(args.inner);
else await outer();
