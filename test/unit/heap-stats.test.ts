import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dumpHeapStats, dumpHeapStatsOnSignal, HEAP_STATS_FILE } from "../../src/daemon/heap-stats.ts";
import { Logger } from "../../src/daemon/log.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-heap-"));
  dirs.push(d);
  return d;
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger("json", (l) => lines.push(l)), lines };
}

describe("heap stats dump", () => {
  it("writes this process's memory figures to the state dir and logs where", async () => {
    const dir = stateDir();
    const { log, lines } = capture();
    await dumpHeapStats(dir, log);
    const stats = JSON.parse(readFileSync(join(dir, HEAP_STATS_FILE), "utf8")) as { pid: number; memory: { rss: number; heapUsed: number } };
    expect(stats.pid).toBe(process.pid);
    expect(stats.memory.rss).toBeGreaterThan(0);
    expect(stats.memory.heapUsed).toBeGreaterThan(0);
    expect(existsSync(join(dir, `${HEAP_STATS_FILE}.tmp`))).toBe(false);
    expect(lines.some((l) => l.includes("heap stats written"))).toBe(true);
  });

  it("logs a warning and does not throw when the file cannot be written", async () => {
    const { log, lines } = capture();
    await dumpHeapStats(join(stateDir(), "no", "such", "dir"), log);
    expect(lines.some((l) => l.includes("heap stats not written"))).toBe(true);
  });

  it("dumps on SIGUSR2 and gives the signal back", async () => {
    const dir = stateDir();
    const { log, lines } = capture();
    const before = process.listenerCount("SIGUSR2");
    const release = dumpHeapStatsOnSignal(dir, log);
    expect(process.listenerCount("SIGUSR2")).toBe(before + 1);
    process.emit("SIGUSR2", "SIGUSR2");
    for (let i = 0; i < 100 && !lines.some((l) => l.includes("heap stats written")); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(join(dir, HEAP_STATS_FILE))).toBe(true);
    release();
    expect(process.listenerCount("SIGUSR2")).toBe(before);
  });
});
