/**
 * The application side of bench/mirror.ts: small workloads run inside the
 * mount namespace that sees the folder under test (bare, vigil's FUSE mount,
 * the GlusterFS client mount). Prints one JSON line.
 *
 *   bun bench/mirror-app.ts fsync4k DIR MAX_OPS MAX_MS   latencies of 4 KiB write + fsync
 *   bun bench/mirror-app.ts storm DIR N                  create, rename, delete N files
 *   bun bench/mirror-app.ts stall DIR MS                 write + fsync for MS, ack times
 *   bun bench/mirror-app.ts tree DIR FILES MIB           a tree of random files
 *   bun bench/mirror-app.ts change DIR FRACTION SEED     scattered 4 KiB rewrites of FRACTION of the tree
 *   bun bench/mirror-app.ts sink ADDR PORT MB            receive MB megabytes once, answer one byte
 *   bun bench/mirror-app.ts source ADDR PORT MB          send MB megabytes, time until the answer
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";

const [cmd, dir, a1, a2] = process.argv.slice(2);
const now = (): number => performance.now();
const out = (x: unknown): void => console.log(JSON.stringify(x));
const need = (s: string | undefined, what: string): string => {
  if (s === undefined) throw new Error(`mirror-app ${cmd}: missing ${what}`);
  return s;
};
/** DIR for the file workloads, ADDR for sink and source. */
const root = need(dir, "DIR");

function fsync4k(maxOps: number, maxMs: number): void {
  const f = join(root, "fsync4k.dat");
  const fd = openSync(f, "w");
  const buf = Buffer.alloc(4096);
  randomFillSync(buf);
  const lat: number[] = [];
  const start = now();
  while (lat.length < maxOps && now() - start < maxMs) {
    const t = now();
    writeSync(fd, buf);
    fsyncSync(fd);
    lat.push(now() - t);
  }
  const elapsed = now() - start;
  closeSync(fd);
  unlinkSync(f);
  out({ ops: lat.length, elapsedMs: elapsed, lat });
}

function storm(n: number): void {
  const d = join(root, "storm");
  mkdirSync(d);
  const t0 = now();
  for (let i = 0; i < n; i++) closeSync(openSync(join(d, `f${i}`), "w"));
  const t1 = now();
  for (let i = 0; i < n; i++) renameSync(join(d, `f${i}`), join(d, `g${i}`));
  const t2 = now();
  for (let i = 0; i < n; i++) unlinkSync(join(d, `g${i}`));
  const t3 = now();
  rmSync(d, { recursive: true });
  out({ files: n, createMs: t1 - t0, renameMs: t2 - t1, deleteMs: t3 - t2, totalMs: t3 - t0 });
}

function stall(ms: number): void {
  const f = join(root, "stall.dat");
  const fd = openSync(f, "w");
  const buf = Buffer.alloc(4096, 7);
  const acks: number[] = [];
  const start = Date.now();
  const errors: Record<string, number> = {};
  let firstErrorAt: number | null = null;
  while (Date.now() - start < ms) {
    try {
      writeSync(fd, buf);
      fsyncSync(fd);
      acks.push(performance.timeOrigin + now());
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? e);
      errors[code] = (errors[code] ?? 0) + 1;
      firstErrorAt ??= performance.timeOrigin + now();
    }
  }
  closeSync(fd);
  unlinkSync(f);
  let maxGap = 0;
  let maxGapAt = start;
  for (let i = 1; i < acks.length; i++) {
    const g = (acks[i] as number) - (acks[i - 1] as number);
    if (g > maxGap) {
      maxGap = g;
      maxGapAt = acks[i - 1] as number;
    }
  }
  out({ acks: acks.length, errors, firstErrorAt, maxGapMs: maxGap, maxGapAt, first: acks[0] ?? null, last: acks.at(-1) ?? null });
}

/** One TCP stream's goodput over the link, for the "what the link carries" row. */
function sink(addr: string, port: number, mb: number): void {
  const want = mb * 1e6;
  const server = createServer((sock) => {
    let got = 0;
    sock.on("data", (b: Buffer) => {
      got += b.length;
      if (got >= want) {
        sock.end("k");
        server.close();
      }
    });
  });
  server.listen(port, addr, () => out({ listening: true }));
}

function source(addr: string, port: number, mb: number): void {
  const chunk = Buffer.alloc(1 << 20);
  randomFillSync(chunk);
  const total = mb * 1e6;
  const start = now();
  const sock = createConnection({ host: addr, port }, () => {
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          sock.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
  sock.on("data", () => {
    const s = (now() - start) / 1000;
    out({ bytes: total, seconds: s, mbPerSec: total / s / 1e6 });
    sock.destroy();
  });
}

function tree(files: number, mib: number): void {
  const size = Math.floor((mib * 1024 * 1024) / files);
  const buf = Buffer.alloc(Math.min(size, 1 << 20));
  for (let i = 0; i < files; i++) {
    const sub = join(root, `d${i % 16}`);
    mkdirSync(sub, { recursive: true });
    const fd = openSync(join(sub, `f${i}.bin`), "w");
    for (let done = 0; done < size; done += buf.length) {
      randomFillSync(buf);
      writeSync(fd, buf, 0, Math.min(buf.length, size - done));
    }
    fsyncSync(fd);
    closeSync(fd);
  }
  out({ files, bytes: size * files });
}

/** Deterministic PRNG so the same change can be described by its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function change(fraction: number, seed: number): void {
  const list: { path: string; size: number }[] = [];
  for (const sub of readdirSync(root).sort()) {
    for (const name of readdirSync(join(root, sub)).sort()) {
      const p = join(root, sub, name);
      list.push({ path: p, size: statSync(p).size });
    }
  }
  const total = list.reduce((s, f) => s + f.size, 0);
  const blocks = Math.round((total * fraction) / 4096);
  const rand = rng(seed);
  const buf = Buffer.alloc(4096);
  const touched = new Map<string, Set<number>>();
  let written = 0;
  while (written < blocks) {
    const f = list[Math.floor(rand() * list.length)] as { path: string; size: number };
    const off = Math.floor(rand() * Math.floor(f.size / 4096)) * 4096;
    const set = touched.get(f.path) ?? new Set<number>();
    if (set.has(off)) continue;
    set.add(off);
    touched.set(f.path, set);
    written++;
  }
  for (const [path, offs] of touched) {
    const fd = openSync(path, "r+");
    for (const off of offs) {
      randomFillSync(buf);
      writeSync(fd, buf, 0, 4096, off);
    }
    fsyncSync(fd);
    closeSync(fd);
  }
  out({ treeBytes: total, blocks, bytes: blocks * 4096, files: touched.size });
}

switch (cmd) {
  case "fsync4k":
    fsync4k(Number(need(a1, "MAX_OPS")), Number(need(a2, "MAX_MS")));
    break;
  case "storm":
    storm(Number(need(a1, "N")));
    break;
  case "stall":
    stall(Number(need(a1, "MS")));
    break;
  case "tree":
    tree(Number(need(a1, "FILES")), Number(need(a2, "MIB")));
    break;
  case "sink":
    sink(root, Number(need(a1, "PORT")), Number(need(a2, "MB")));
    break;
  case "source":
    source(root, Number(need(a1, "PORT")), Number(need(a2, "MB")));
    break;
  case "change":
    change(Number(need(a1, "FRACTION")), Number(need(a2, "SEED")));
    break;
  default:
    throw new Error(`mirror-app: unknown command ${String(cmd)}; expected fsync4k, storm, stall, tree, change, sink or source`);
}
