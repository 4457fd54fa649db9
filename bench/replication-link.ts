/**
 * Throughput of the replication data path on loopback: PRIM client -> TCP
 * link (handshake, AES-256-GCM records) -> SECOND server in another process
 * -> applier (on its own thread, as in the daemon) writing into a folder. Writes of 1 MiB and of 4 KiB, each
 *
 *   - pipelined: --depth sends outstanding (FUSE bounds a writer's requests
 *     in flight the same way);
 *   - one at a time: each send waits for its ack (a single writer's
 *     synchronous write: the round trip dominates);
 *
 * once applied to a real folder (in $TMPDIR, default /tmp; overwrites of a
 * 64 MiB region written once before timing) and once with a
 * SECOND that only acknowledges (the link alone). Also the cost of the
 * record protection alone: seal + open of the same sizes in one thread.
 *
 *   node_modules/.bin/bun bench/replication-link.ts [--mib 512] [--small 20000] [--depth 32]
 *
 * Prints a table; no files are left behind.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { ReplicationClient, ReplicationServer, type SendOutcome } from "../src/net/replication-link.ts";
import { RecordOpener, RecordSealer } from "../src/proto/replication-handshake.ts";
import { encodeReplication } from "../src/proto/replication.ts";
import { startApplier } from "../src/replicator/apply-threaded.ts";
import { type MirrorOp, relPath } from "../src/replicator/ops.ts";

const KEY = new Uint8Array(32).fill(42);
const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

async function second(mode: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-bench-repl-"));
  const applier = mode === "apply" ? (await startApplier(dir)).applier : null;
  if (applier !== null) {
    for (const name of ["big", "small"]) await applier.apply({ op: "create", path: relPath(name), mode: 0o644, uid: 0, gid: 0 });
  }
  const server = new ReplicationServer({
    cluster: "bench",
    node: "b",
    peer: "a",
    key: KEY,
    listen: [{ address: "127.0.0.1", port: 0 }],
    apply: (op) => (applier === null ? { ok: true } : applier.apply(op)),
  });
  await server.start();
  process.stdout.write(`listening ${server.bound()[0]?.port}\n`);
  process.stdin.on("end", async () => {
    await applier?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  process.stdin.resume();
}

async function startSecond(mode: string): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [import.meta.filename, "--second", mode], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (c) => reject(new Error(`second exited ${c}`)));
  });
  return { port, stop: () => child.stdin.end() };
}

const SPAN = 64 * 1024 * 1024;

/** Writes the whole region once, untimed, so later rows overwrite allocated blocks. */
async function warm(client: ReplicationClient, seqStart: number, name: string): Promise<number> {
  let seq = seqStart;
  const data = new Uint8Array(1024 * 1024);
  for (let off = 0; off < SPAN; off += data.length) {
    const o = await client.send(++seq, { op: "write", path: relPath(name), offset: off, data, mtimeNs: 1n });
    if (!o.delivered || !o.result.ok) throw new Error(`warm-up failed: ${JSON.stringify(o)}`);
  }
  return seq;
}

interface Row {
  what: string;
  ops: number;
  bytes: number;
  seconds: number;
}

async function run(client: ReplicationClient, seqStart: number, count: number, size: number, name: string, pipelined: boolean, depth: number): Promise<{ seconds: number; next: number }> {
  const data = new Uint8Array(size).fill(7);
  // Overwrites of a region written once before timing: every row measures the same thing (no block allocation).
  const span = SPAN;
  let seq = seqStart;
  const t0 = performance.now();
  const check = (o: SendOutcome): void => {
    if (!o.delivered || !o.result.ok) throw new Error(`op failed: ${JSON.stringify(o)}`);
  };
  if (pipelined) {
    // At most `depth` sends outstanding, as FUSE bounds a writer's requests in flight.
    let outstanding = 0;
    let wake: (() => void) | null = null;
    for (let i = 0; i < count; i++) {
      const op: MirrorOp = { op: "write", path: relPath(name), offset: (i * size) % span, data, mtimeNs: 1n };
      outstanding++;
      void client.send(++seq, op).then((o) => {
        check(o);
        outstanding--;
        wake?.();
      });
      while (outstanding >= depth) await new Promise<void>((r) => (wake = r));
    }
    while (outstanding > 0) await new Promise<void>((r) => (wake = r));
  } else {
    for (let i = 0; i < count; i++) check(await client.send(++seq, { op: "write", path: relPath(name), offset: (i * size) % span, data, mtimeNs: 1n }));
  }
  return { seconds: (performance.now() - t0) / 1000, next: seq };
}

function cryptoOnly(size: number, count: number): number {
  const key = new Uint8Array(32).fill(1);
  const s = new RecordSealer(key);
  const o = new RecordOpener(key);
  const plain = encodeReplication({ type: "op", seq: 1, op: { op: "write", path: relPath("big"), offset: 0, data: new Uint8Array(size), mtimeNs: 1n } });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const r = s.seal(plain);
    if (o.open(r.subarray(4)) === null) throw new Error("open failed");
  }
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const mib = arg("mib", 512);
  const small = arg("small", 20000);
  const depth = arg("depth", 32);
  const rows: Row[] = [];
  for (const mode of ["apply", "ack-only"]) {
    const s = await startSecond(mode);
    const client = new ReplicationClient({ cluster: "bench", node: "a", peer: "b", key: KEY, addresses: [`127.0.0.1:${s.port}`] });
    client.start();
    while (!client.up) await new Promise((r) => setTimeout(r, 10));
    let seq = await warm(client, 0, "big");
    seq = await warm(client, seq, "small");
    for (const [size, count, name] of [
      [1024 * 1024, mib, "big"],
      [4096, small, "small"],
    ] as const) {
      for (const pipelined of [true, false]) {
        const n = pipelined ? count : Math.max(1, Math.floor(count / 4));
        const r = await run(client, seq, n, size, name, pipelined, depth);
        seq = r.next;
        rows.push({ what: `${size === 4096 ? "4 KiB" : "1 MiB"} writes, ${pipelined ? "pipelined (" + depth + " outstanding)" : "one at a time"}, ${mode === "apply" ? "applied to a folder" : "ack only"}`, ops: n, bytes: n * size, seconds: r.seconds });
      }
    }
    await client.close();
    s.stop();
  }
  rows.push({ what: "1 MiB records, seal + open only (AES-256-GCM)", ops: 512, bytes: 512 * 1024 * 1024, seconds: cryptoOnly(1024 * 1024, 512) });
  rows.push({ what: "4 KiB records, seal + open only (AES-256-GCM)", ops: 50000, bytes: 50000 * 4096, seconds: cryptoOnly(4096, 50000) });
  console.log(`replication link on loopback, ${os.cpus().length} CPUs, ${process.versions.bun ? `Bun ${process.versions.bun}` : `Node ${process.versions.node}`}, folder in ${os.tmpdir()}`);
  console.log("| what | ops | ops/s | MB/s |\n|---|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.what} | ${r.ops} | ${Math.round(r.ops / r.seconds)} | ${(r.bytes / r.seconds / 1e6).toFixed(0)} |`);
}

if (args[0] === "--second") await second(args[1] ?? "apply");
else await main();
