import { describe, expect, it } from "vitest";
import { formatText, Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";

const at = () => new Date("2026-11-22T08:00:00.000Z");

describe("Logger", () => {
  it("writes text lines with quoted values where needed", () => {
    const lines: string[] = [];
    const log = new Logger("text", (l) => lines.push(l), 10, at);
    log.info("config loaded", { file: "/media/usb stick/vigil.yaml", nodes: 2 });
    expect(lines).toEqual(['2026-11-22T08:00:00.000Z info  config loaded file="/media/usb stick/vigil.yaml" nodes=2']);
  });

  it("writes one JSON object per line", () => {
    const lines: string[] = [];
    const log = new Logger("json", (l) => lines.push(l), 10, at);
    log.warn("late", { peer: "vms2" });
    expect(JSON.parse(lines[0] ?? "")).toEqual({ time: "2026-11-22T08:00:00.000Z", level: "warn", msg: "late", seq: 1, peer: "vms2" });
  });

  it("keeps only the most recent events, numbered, without debug noise", () => {
    const log = new Logger("text", () => {}, 3, at);
    for (let i = 1; i <= 5; i++) log.info(`e${i}`);
    log.debug("hidden");
    expect(log.recent.toArray().map((e) => [e.seq, e.msg])).toEqual([[3, "e3"], [4, "e4"], [5, "e5"]]);
  });

  it("formats an event without fields", () => {
    expect(formatText({ seq: 1, time: "t", level: "error", msg: "boom", fields: {} })).toBe("t error boom");
  });
});

describe("Metrics", () => {
  it("renders counters and gauges in Prometheus text format", () => {
    const m = new Metrics();
    const frames = m.counter("vigil_frames_total", "Frames by result.");
    const up = m.gauge("vigil_up", "1 when running.");
    frames({ result: "ok" });
    frames({ result: "ok" }, 2);
    frames({ result: 'bad "mac"' });
    up(1);
    expect(m.render()).toBe([
      "# HELP vigil_frames_total Frames by result.",
      "# TYPE vigil_frames_total counter",
      'vigil_frames_total{result="ok"} 3',
      'vigil_frames_total{result="bad \\"mac\\""} 1',
      "# HELP vigil_up 1 when running.",
      "# TYPE vigil_up gauge",
      "vigil_up 1",
      "",
    ].join("\n"));
  });
});
