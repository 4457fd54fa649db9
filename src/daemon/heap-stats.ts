/**
 * SIGUSR2: what the daemon's memory holds, written to <state dir>/heap-stats.json.
 *
 * A node that runs for weeks must not grow; when its RSS does, the question is
 * whether the JavaScript heap grows with it (something we keep and never
 * drop) or only the runtime's own memory (compiled code, allocator pages).
 * Two dumps some time apart answer it: the object types whose counts keep
 * rising name what is kept. A full collection runs first, so the counts are
 * of live objects, not of garbage not yet collected.
 *
 * The file goes to the state dir (root only, like the daemon's other
 * files) and never to a shared temporary directory. Writing it may fail
 * (a full disk): the daemon logs that and runs on.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "./log.ts";

export interface HeapStats {
  /** ISO time of the dump. */
  readonly at: string;
  readonly pid: number;
  readonly uptimeSeconds: number;
  /** How long the full collection before the figures took, ms: the price of one on this heap. */
  readonly gcMs: number;
  /** process.memoryUsage(), bytes. */
  readonly memory: Readonly<Record<string, number>>;
  /** The JavaScript heap (bun:jsc heapStats), where the runtime has it. */
  readonly heapSize?: number;
  readonly heapCapacity?: number;
  readonly extraMemorySize?: number;
  readonly objectCount?: number;
  readonly protectedObjectCount?: number;
  readonly objectTypeCounts?: Readonly<Record<string, number>>;
  readonly protectedObjectTypeCounts?: Readonly<Record<string, number>>;
}

interface JscHeapStats {
  heapSize: number;
  heapCapacity: number;
  extraMemorySize: number;
  objectCount: number;
  protectedObjectCount: number;
  objectTypeCounts: Record<string, number>;
  protectedObjectTypeCounts: Record<string, number>;
}

type JscModule = { heapStats(): JscHeapStats };

async function jsc(): Promise<JscModule | undefined> {
  try {
    return (await import("bun:jsc")) as unknown as JscModule;
  } catch {
    return undefined;
  }
}

/** The stats of this process now, after a full collection. */
export async function collectHeapStats(): Promise<HeapStats> {
  const bun = (globalThis as { Bun?: { gc?: (sync: boolean) => void } }).Bun;
  const t0 = performance.now();
  bun?.gc?.(true);
  const gcMs = Math.round((performance.now() - t0) * 10) / 10;
  const mu = process.memoryUsage();
  const memory: Record<string, number> = { rss: mu.rss, heapTotal: mu.heapTotal, heapUsed: mu.heapUsed, external: mu.external, arrayBuffers: mu.arrayBuffers };
  const base = { at: new Date().toISOString(), pid: process.pid, uptimeSeconds: Math.round(process.uptime()), gcMs, memory };
  const j = await jsc();
  if (j === undefined) return base;
  const s = j.heapStats();
  return {
    ...base,
    heapSize: s.heapSize,
    heapCapacity: s.heapCapacity,
    extraMemorySize: s.extraMemorySize,
    objectCount: s.objectCount,
    protectedObjectCount: s.protectedObjectCount,
    objectTypeCounts: s.objectTypeCounts,
    protectedObjectTypeCounts: s.protectedObjectTypeCounts,
  };
}

export const HEAP_STATS_FILE = "heap-stats.json";

/** Writes the stats to <stateDir>/heap-stats.json (through a temporary file, so a reader never sees half). */
export async function dumpHeapStats(stateDir: string, log: Logger): Promise<void> {
  const path = join(stateDir, HEAP_STATS_FILE);
  const tmp = `${path}.tmp`;
  try {
    const stats = await collectHeapStats();
    writeFileSync(tmp, `${JSON.stringify(stats)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
    log.info("heap stats written", { file: path, rss: stats.memory.rss ?? 0, heap_size: stats.heapSize ?? 0, objects: stats.objectCount ?? 0, gc_ms: stats.gcMs });
  } catch (e) {
    rmSync(tmp, { force: true });
    log.warn("heap stats not written", { file: path, error: (e as Error).message });
  }
}

/** SIGUSR2 dumps the heap stats; the returned function gives the signal back. */
export function dumpHeapStatsOnSignal(stateDir: string, log: Logger): () => void {
  let busy = false;
  const onSignal = (): void => {
    if (busy) return;
    busy = true;
    void dumpHeapStats(stateDir, log).finally(() => (busy = false));
  };
  process.on("SIGUSR2", onSignal);
  return () => process.off("SIGUSR2", onSignal);
}
