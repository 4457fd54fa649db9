// The fencing watchdog's decisions (pure) and its arm/disarm lines.
import { describe, expect, it } from "vitest";
import { type FenceAction, type FenceEvent, type FenceState, initFence, nextFenceWake, stepFence } from "../../src/core/fence/watchdog.ts";
import { encodeFenceMessage, parseFenceMessage } from "../../src/daemon/fence/messages.ts";

const PLAN = { vips: [{ address: "198.51.100.100", interface: "eth0" }], stops: [{ command: "/srv/stop.sh", args: [], timeoutMs: 5000, env: { VIGIL_MODULE: "web" } }] };
const arm = (module: string, deadline: number): FenceEvent => ({ type: "arm", module, deadline, plan: PLAN });

/** Feeds events at their times; returns the last state and every action with its time. */
function run(events: readonly [number, FenceEvent][]): { state: FenceState; actions: [number, FenceAction][] } {
  let state = initFence();
  const actions: [number, FenceAction][] = [];
  for (const [now, ev] of events) {
    const s = stepFence(state, ev, now);
    state = s.state;
    for (const a of s.actions) actions.push([now, a]);
  }
  return { state, actions };
}

const kinds = (actions: [number, FenceAction][]): string[] =>
  actions.filter(([, a]) => a.type !== "log").map(([t, a]) => `${t} ${a.type}${a.type === "fence" ? ` ${a.module}` : ""}`);

describe("fence watchdog decisions", () => {
  it("fences an armed module once its deadline passes, with its plan, and only once", () => {
    const r = run([[0, arm("web", 1000)], [999, { type: "tick" }], [1001, { type: "tick" }], [1500, { type: "tick" }]]);
    expect(kinds(r.actions)).toEqual(["1001 fence web"]);
    const fence = r.actions.find(([, a]) => a.type === "fence")?.[1];
    expect(fence).toEqual({ type: "fence", module: "web", deadline: 1000, lateMs: 1, plan: PLAN });
    expect(nextFenceWake(r.state)).toBeNull();
  });

  it("a re-arm moves the deadline; a disarm cancels it", () => {
    const moved = run([[0, arm("web", 1000)], [800, arm("web", 2000)], [1500, { type: "tick" }], [2000, { type: "tick" }]]);
    expect(kinds(moved.actions)).toEqual(["2000 fence web"]);
    const cancelled = run([[0, arm("web", 1000)], [800, { type: "disarm", module: "web" }], [5000, { type: "tick" }]]);
    expect(kinds(cancelled.actions)).toEqual([]);
  });

  it("an arm whose deadline already passed fences at once", () => {
    expect(kinds(run([[100, arm("web", 50)]]).actions)).toEqual(["100 fence web"]);
  });

  it("keeps modules apart and wakes at the earliest deadline", () => {
    const r = run([[0, arm("web", 3000)], [0, arm("db", 1000)]]);
    expect(nextFenceWake(r.state)).toBe(1000);
    const after = run([[0, arm("web", 3000)], [0, arm("db", 1000)], [1000, { type: "tick" }]]);
    expect(kinds(after.actions)).toEqual(["1000 fence db"]);
    expect(nextFenceWake(after.state)).toBe(3000);
  });

  it("after the daemon is gone, fences what is armed at once, then leaves once the fences are done", () => {
    const r = run([
      [0, arm("web", 1000)],
      [10, { type: "closed" }],
      [500, { type: "tick" }],
      [700, { type: "fenced", module: "web" }],
    ]);
    expect(kinds(r.actions)).toEqual(["10 fence web", "700 exit"]);
    expect(r.actions.some(([t, a]) => t === 10 && a.type === "log" && a.level === "warn")).toBe(true);
  });

  it("leaves at once when the daemon closes with nothing armed", () => {
    expect(kinds(run([[0, arm("web", 1000)], [5, { type: "disarm", module: "web" }], [6, { type: "closed" }]]).actions)).toEqual(["6 exit"]);
  });

  it("does not leave while a fence still runs", () => {
    const r = run([[0, arm("web", 10)], [10, { type: "tick" }], [11, { type: "closed" }]]);
    expect(kinds(r.actions)).toEqual(["10 fence web"]);
  });
});

describe("fence watchdog lines", () => {
  it("round-trips arm and disarm", () => {
    const arm = { type: "arm", module: "web", inMs: 1500, ...PLAN } as const;
    expect(parseFenceMessage(encodeFenceMessage(arm))).toEqual({ ok: true, message: arm });
    expect(parseFenceMessage(encodeFenceMessage({ type: "disarm", module: "web" }))).toEqual({ ok: true, message: { type: "disarm", module: "web" } });
  });

  it("round-trips logfile; a logfile without a format is text", () => {
    const m = { type: "logfile", path: "/var/lib/vigil/vigil.log", format: "json" } as const;
    expect(parseFenceMessage(encodeFenceMessage(m))).toEqual({ ok: true, message: m });
    expect(parseFenceMessage('{"type":"logfile","path":"/v/vigil.log"}')).toEqual({ ok: true, message: { type: "logfile", path: "/v/vigil.log", format: "text" } });
  });

  it("takes an arm without vips or stops as an empty plan", () => {
    expect(parseFenceMessage('{"type":"arm","module":"web","inMs":-5}')).toEqual({ ok: true, message: { type: "arm", module: "web", inMs: -5, vips: [], stops: [] } });
  });

  it.each([
    ["garbage", 'not JSON: "garbage"'],
    ["[1]", "not a JSON object"],
    ['{"type":"logfile","path":"vigil.log"}', 'logfile message: "path" must be an absolute path'],
    ['{"type":"logfile","path":"/v/vigil.log","format":"xml"}', 'logfile message: "format" must be "text" or "json"'],
    ['{"type":"arm","inMs":1}', 'arm message without a "module" name'],
    ['{"type":"wake","module":"web"}', 'unknown message type "wake" for module web (arm or disarm)'],
    ['{"type":"arm","module":"web","inMs":"soon"}', 'arm of web: "inMs" must be a number (ms from now)'],
    ['{"type":"arm","module":"web","inMs":1,"vips":{}}', 'arm of web: "vips" and "stops" must be lists'],
    ['{"type":"arm","module":"web","inMs":1,"vips":[{"address":"198.51.100.1"}]}', 'arm of web: vips[0] needs "address" and "interface" strings'],
    ['{"type":"arm","module":"web","inMs":1,"stops":[{"command":"/x","timeoutMs":0}]}', "arm of web: stops[0].timeoutMs must be a positive number of ms"],
    ['{"type":"arm","module":"web","inMs":1,"stops":[{"command":"/x","timeoutMs":5,"args":[1]}]}', "arm of web: stops[0].args must be a list of strings"],
    ['{"type":"arm","module":"web","inMs":1,"stops":[{"command":"/x","timeoutMs":5,"env":{"A":1}}]}', "arm of web: stops[0].env must map names to strings"],
  ])("rejects %s with one line", (line, message) => {
    expect(parseFenceMessage(line)).toEqual({ ok: false, message });
  });
});
