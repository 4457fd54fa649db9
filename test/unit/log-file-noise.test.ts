import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../src/daemon/log.ts";
import { RotatingLogFile } from "../../src/daemon/log-file.ts";
import { NoiseGate, RAN_LATE_RULE } from "../../src/daemon/log-noise.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-log-"));
  dirs.push(d);
  return d;
}

const LATE = "this node ran late; peer deadlines stretched so the delay is not blamed on peers";

describe("RotatingLogFile", () => {
  it("keeps the file under its size by moving it to .1, and drops what is older", () => {
    const dir = tmp();
    const f = new RotatingLogFile(join(dir, "vigil.log"), 100, 1);
    for (let i = 0; i < 30; i++) f.write(`line ${String(i).padStart(2, "0")} ${"x".repeat(10)}`);
    f.close();
    const cur = readFileSync(join(dir, "vigil.log"), "utf8");
    const old = readFileSync(join(dir, "vigil.log.1"), "utf8");
    expect(Buffer.byteLength(cur)).toBeLessThanOrEqual(100);
    expect(Buffer.byteLength(old)).toBeLessThanOrEqual(100);
    expect(existsSync(join(dir, "vigil.log.2"))).toBe(false);
    expect(cur.trimEnd().split("\n").at(-1)).toBe(`line 29 ${"x".repeat(10)}`);
    // read() gives the lines in order, the rotated file first, without gaps between the two.
    const lines = f.read().trimEnd().split("\n").map((l) => Number(l.slice(5, 7)));
    expect(lines).toEqual(Array.from({ length: lines.length }, (_, i) => 30 - lines.length + i));
  });

  it("appends to the file an earlier run left", () => {
    const dir = tmp();
    const a = new RotatingLogFile(join(dir, "vigil.log"));
    a.write("first run");
    a.close();
    const b = new RotatingLogFile(join(dir, "vigil.log"));
    b.write("second run");
    b.close();
    expect(readFileSync(join(dir, "vigil.log"), "utf8")).toBe("first run\nsecond run\n");
  });

  it("says why it cannot write, once, and the daemon goes on", () => {
    const f = new RotatingLogFile("/nonexistent-dir-for-vigil/vigil.log");
    f.write("lost");
    expect(f.problem()).toMatch(/cannot write the log file \/nonexistent-dir-for-vigil\/vigil.log: .*ENOENT/);
  });

  it("gets every line the logger writes", () => {
    const dir = tmp();
    const log = new Logger("text", () => {}, 10, () => new Date("2026-11-22T08:00:00.000Z"));
    log.attachFile(new RotatingLogFile(join(dir, "vigil.log")));
    log.info("config loaded", { file: "/etc/vigil/vigil.yaml" });
    log.debug("detail");
    expect(readFileSync(join(dir, "vigil.log"), "utf8")).toBe(
      "2026-11-22T08:00:00.000Z info  config loaded file=/etc/vigil/vigil.yaml\n2026-11-22T08:00:00.000Z debug detail\n");
  });
});

describe("NoiseGate", () => {
  it("lets the first ran-late line through, holds the rest of the minute and sums them up", () => {
    const g = new NoiseGate([RAN_LATE_RULE]);
    expect(g.offer(LATE, { gap_ms: 120 }, 0)).toEqual({ verdict: "pass", flushAt: 60_000 });
    expect(g.offer(LATE, { gap_ms: 310 }, 8_000).verdict).toBe("hold");
    expect(g.offer(LATE, { gap_ms: 200 }, 20_000).verdict).toBe("hold");
    expect(g.offer("peer b dead", {}, 21_000)).toEqual({ verdict: "pass", flushAt: null });
    expect(g.flush(59_999)).toEqual({ summaries: [], next: 60_000 });
    const f = g.flush(60_000);
    expect(f.summaries).toEqual([{
      msg: "this node ran late 2 times in the last minute, worst 310 ms; peer deadlines stretched",
      fields: { times: 2, worst_gap_ms: 310, window_s: 60 },
    }]);
    // The burst goes on: the next line is held too, until a window passes without one.
    expect(f.next).toBe(120_000);
    expect(g.offer(LATE, { gap_ms: 90 }, 70_000).verdict).toBe("hold");
    expect(g.flush(120_000).summaries[0]?.msg).toBe("this node ran late 1 time in the last minute, worst 90 ms; peer deadlines stretched");
    expect(g.flush(180_000)).toEqual({ summaries: [], next: null });
    expect(g.offer(LATE, { gap_ms: 50 }, 190_000).verdict).toBe("pass");
  });
});

describe("Logger with bursts", () => {
  it("puts one ran-late event and one summary in the ring for a burst, and every line in the file", () => {
    let now = 0;
    const timers: { at: number; fn: () => void }[] = [];
    const lines: string[] = [];
    const log = new Logger("text", (l) => lines.push(l), 100, () => new Date(now), (fn, ms) => timers.push({ at: now + ms, fn }));
    for (const [t, gap] of [[0, 120], [7_000, 310], [15_000, 150], [22_000, 180]] as const) {
      now = t;
      log.warn(LATE, { gap_ms: gap, credited_ms: gap - 50 });
    }
    expect(timers.map((t) => t.at)).toEqual([60_000]);
    now = 60_000;
    timers.shift()?.fn();
    const ring = log.recent.toArray();
    expect(ring.map((e) => e.text)).toEqual([
      "This node ran late by 120 ms; peer deadlines were stretched by 70 ms so the delay is not blamed on peers.",
      "This node ran late 3 times in the last minute, worst 310 ms; peer deadlines stretched.",
    ]);
    expect(ring[1]?.fields).toEqual({ times: 3, worst_gap_ms: 310, window_s: 60 });
    // The log keeps every one of them, as warnings (lab tests and log tools count them).
    expect(lines.filter((l) => l.includes(" warn  this node ran late;")).length).toBe(4);
  });

  it("the heartbeat still logs the line the rule matches", () => {
    const src = readFileSync(new URL("../../src/daemon/heartbeat/engine.ts", import.meta.url), "utf8");
    expect(src).toContain(`"${LATE}"`);
    expect(RAN_LATE_RULE.matches(LATE)).toBe(true);
  });
});

describe("the log: section of vigil.yaml", () => {
  const base = ["cluster:", "  name: c", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }"];
  it("sets the file size and how many older files are kept; absent, the daemon's defaults apply", async () => {
    const { parseConfig } = await import("../../src/config/load.ts");
    const r = parseConfig([...base, "log: { file_size: 16, files: 3 }", ""].join("\n"), "/etc/vigil/vigil.yaml");
    expect(r.ok && r.config.log).toEqual({ file_size: 16, files: 3 });
    const d = parseConfig([...base, "log: {}", ""].join("\n"), "/etc/vigil/vigil.yaml");
    expect(d.ok && d.config.log).toEqual({ file_size: 4, files: 1 });
    const none = parseConfig([...base, ""].join("\n"), "/etc/vigil/vigil.yaml");
    expect(none.ok && none.config.log).toBeUndefined();
  });

  it("refuses a size of 0 with the key and line", async () => {
    const { parseConfig } = await import("../../src/config/load.ts");
    const { formatConfigError } = await import("../../src/config/errors.ts");
    const r = parseConfig([...base, "log: { file_size: 0 }", ""].join("\n"), "/etc/vigil/vigil.yaml");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(formatConfigError).join("\n")).toMatch(/^\/etc\/vigil\/vigil.yaml:5:\d+: log\.file_size: found 0, expected .*1/);
  });
});

describe("the printed config", () => {
  it("keeps the log: section", async () => {
    const { parseConfig, effectiveConfigYaml } = await import("../../src/config/load.ts");
    const text = ["cluster:", "  name: c", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }", "log: { file_size: 8, files: 2 }", ""].join("\n");
    const r = parseConfig(text, "/etc/vigil/vigil.yaml");
    if (!r.ok) throw new Error("config refused");
    const again = parseConfig(effectiveConfigYaml(r.config), "/etc/vigil/vigil.yaml");
    expect(again.ok && again.config.log).toEqual({ file_size: 8, files: 2 });
  });
});
