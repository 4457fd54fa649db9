// The fencing watchdog process (driven with a fake clock and fake host effects),
// the daemon's side of it (with a stand-in child process), and the arbiter link
// handing it the core's deadlines.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../src/config/load.ts";
import type { ModuleResource } from "../../src/core/module/types.ts";
import { openArbiterLink } from "../../src/daemon/module/arbiter-link.ts";
import { FenceChild, type FenceChildIo } from "../../src/daemon/fence/child.ts";
import type { FenceWatchdog } from "../../src/daemon/fence/messages.ts";
import { type FencePlan, fencePlanOf, startFenceWatchdog } from "../../src/daemon/fence/watchdog.ts";
import { encodeFenceMessage } from "../../src/daemon/fence/messages.ts";
import { Logger } from "../../src/daemon/log.ts";
import { RotatingLogFile } from "../../src/daemon/log-file.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import type { LogEvent } from "../../src/api/status.ts";
import type { RunResult } from "../../src/sys/run-script.ts";
import { until } from "./until.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const PLAN: FencePlan = {
  vips: [{ address: "198.51.100.100", interface: "eth0" }, { address: "198.51.100.101", interface: "eth1" }],
  stops: [
    { command: "/srv/app-stop.sh", args: [], timeoutMs: 5000, env: { VIGIL_MODULE: "web" } },
    { command: "systemctl", args: ["stop", "db.service"], timeoutMs: 7000, env: { VIGIL_MODULE: "web" } },
  ],
};

/** A FenceChild on a fake clock; host effects are recorded in order. */
function fakeChild() {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  const done: string[] = [];
  const logs: string[] = [];
  /** Host effects and log lines, in one order. */
  const events: string[] = [];
  let exited = false;
  const ok: RunResult = { ok: true, exitCode: 0, signal: null, timedOut: false, aborted: false, durationMs: 1, outputTail: "", message: "exited 0" };
  const io: FenceChildIo = {
    now: () => now,
    removeVip: async (address, iface) => {
      done.push(`del ${address} ${iface}`);
      events.push(`del ${address}`);
      return { ok: true, removed: true };
    },
    run: async (command, opts) => {
      done.push(`run ${[command, ...(opts.args ?? [])].join(" ")} timeout=${opts.timeoutMs} module=${opts.env?.["VIGIL_MODULE"] ?? "-"}`);
      return ok;
    },
    log: (level, msg, fields) => {
      logs.push(`${level} ${msg}${fields["module"] === undefined ? "" : ` ${String(fields["module"])}`}`);
      events.push(`log ${msg}`);
    },
    useLogFile: (path, format) => events.push(`logfile ${path} ${format}`),
    daemonGone: () => events.push("daemon gone"),
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => (t.live = false);
    },
    exit: () => (exited = true),
  };
  const child = new FenceChild(io);
  return {
    child,
    done,
    logs,
    events,
    exited: () => exited,
    /** Moves the clock on, firing due timers in order, and lets their work finish. */
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        now = due.at;
        due.live = false;
        due.fn();
        await flush();
      }
      now = end;
      await flush();
    },
  };
}

const armLine = (module: string, inMs: number, plan: FencePlan = PLAN): string => encodeFenceMessage({ type: "arm", module, inMs, ...plan }) + "\n";

describe("fence watchdog process", () => {
  it("is told the daemon's log file, and hears the daemon is gone before it fences and logs", async () => {
    const f = fakeChild();
    f.child.data(encodeFenceMessage({ type: "logfile", path: "/var/lib/vigil/vigil.log", format: "json" }) + "\n");
    f.child.data(armLine("web", 600_000));
    expect(f.events).toEqual(["logfile /var/lib/vigil/vigil.log json"]);
    f.child.closed();
    // Synchronously: the VIPs' removal is started before any line is written (a write to a file now).
    expect(f.events.slice(1, 4)).toEqual(["daemon gone", "del 198.51.100.100", "del 198.51.100.101"]);
    await f.advance(10);
    expect(f.logs).toContain("warn fence watchdog: the daemon is gone; fencing what is still armed now");
    expect(f.logs).toContain("warn fence watchdog: module fenced web");
    expect(f.logs.some((l) => l.includes("message ignored"))).toBe(false);
  });

  it("at the deadline removes every VIP first, then runs the stops in the order given", async () => {
    const f = fakeChild();
    f.child.data(armLine("web", 1000));
    await f.advance(999);
    expect(f.done).toEqual([]);
    await f.advance(10);
    expect(f.done).toEqual([
      "del 198.51.100.100 eth0",
      "del 198.51.100.101 eth1",
      "run /srv/app-stop.sh timeout=5000 module=web",
      "run systemctl stop db.service timeout=7000 module=web",
    ]);
    expect(f.logs).toContain("warn fence watchdog: module fenced web");
    expect(f.exited()).toBe(false);
  });

  it("a re-arm before the deadline keeps the module up; a disarm too", async () => {
    const f = fakeChild();
    f.child.data(armLine("web", 1000));
    await f.advance(800);
    f.child.data(armLine("web", 1000));
    await f.advance(800);
    f.child.data(encodeFenceMessage({ type: "disarm", module: "web" }) + "\n");
    await f.advance(10_000);
    expect(f.done).toEqual([]);
  });

  it("takes lines split across reads, and logs a bad line without acting on it", async () => {
    const f = fakeChild();
    const line = armLine("web", 100);
    f.child.data(line.slice(0, 10));
    f.child.data(line.slice(10) + "{oops\n");
    expect(f.child.armed).toEqual(["web"]);
    expect(f.logs).toEqual(["error fence watchdog: message ignored"]);
  });

  it("when the daemon is gone, fences what is armed at once, then exits", async () => {
    const f = fakeChild();
    f.child.data(armLine("web", 1000));
    f.child.closed();
    await f.advance(10);
    expect(f.done).toHaveLength(4);
    expect(f.exited()).toBe(true);
  });

  it("exits at once when the daemon closes with nothing armed", async () => {
    const f = fakeChild();
    f.child.data(armLine("web", 1000) + encodeFenceMessage({ type: "disarm", module: "web" }) + "\n");
    f.child.closed();
    expect(f.exited()).toBe(true);
    expect(f.done).toEqual([]);
  });
});

describe("fence plan of a module", () => {
  it("lists every VIP and the stops in reverse start order, with their timeouts", () => {
    const resources: ModuleResource[] = [
      { kind: "vip", address: "198.51.100.100/24", interface: "eth0" },
      { kind: "vip", address: "203.0.113.7/24", interface: null },
      { kind: "script", start: "/srv/start.sh", stop: "/srv/stop.sh", timeouts: { startMs: 1000, stopMs: 3000 } },
      { kind: "script", start: "/srv/only-start.sh", stop: null },
      { kind: "service", unit: "app.service" },
    ];
    const plan = fencePlanOf(resources, { module: "web", node: "h1", stopTimeoutMs: 9000, interfaceFor: (a) => (a.startsWith("203.0.113.") ? "eth1" : null) });
    const env = { VIGIL_MODULE: "web", VIGIL_NODE: "h1", VIGIL_REASON: "fenced" };
    expect(plan).toEqual({
      vips: [{ address: "198.51.100.100/24", interface: "eth0" }, { address: "203.0.113.7/24", interface: "eth1" }],
      stops: [
        { command: "systemctl", args: ["stop", "app.service"], timeoutMs: 9000, env },
        { command: "/srv/stop.sh", args: [], timeoutMs: 3000, env },
      ],
    });
  });

  it("leaves out a VIP no interface holds the subnet of", () => {
    expect(fencePlanOf([{ kind: "vip", address: "192.0.2.9/24", interface: null }], { module: "web", node: "h1", interfaceFor: () => null }).vips).toEqual([]);
  });
});

/** A stand-in for `vigil __fence`: records its stdin lines, says one JSON line on stderr, leaves on EOF. */
function standIn(dir: string): { argv: string[]; lines: () => string[]; pid: () => number } {
  const script = join(dir, "stand-in.mjs");
  const out = join(dir, "lines");
  writeFileSync(out, "");
  writeFileSync(script, [
    'import { appendFileSync, writeFileSync } from "node:fs";',
    `writeFileSync(${JSON.stringify(join(dir, "pid"))}, String(process.pid));`,
    'process.stderr.write(JSON.stringify({ level: "warn", msg: "stand-in up", at: "2026-01-01T00:00:00.000Z", n: 1 }) + "\\nnot json\\n");',
    'let buf = "";',
    'process.stdin.setEncoding("utf8");',
    `process.stdin.on("data", (c) => { buf += c; let i; while ((i = buf.indexOf("\\n")) >= 0) { appendFileSync(${JSON.stringify(out)}, buf.slice(0, i) + "\\n"); buf = buf.slice(i + 1); } });`,
    'process.stdin.on("end", () => process.exit(0));',
    "",
  ].join("\n"));
  return {
    // "__fence" in its command line, as a real one has.
    argv: [process.execPath, script, "__fence"],
    lines: () => readFileSync(out, "utf8").split("\n").filter((l) => l !== ""),
    pid: () => Number(readFileSync(join(dir, "pid"), "utf8")),
  };
}

describe("the daemon's side", () => {
  it("sends arms as ms from now, relays the child's log, and arms a restarted child again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-"));
    const s = standIn(dir);
    const events: LogEvent[] = [];
    const log = new Logger("text", () => {});
    const orig = log.log.bind(log);
    log.log = (level, msg, fields = {}) => {
      const e = orig(level, msg, fields);
      events.push(e);
      return e;
    };
    let now = 10_000;
    const w = startFenceWatchdog(log, { command: { ok: true, argv: s.argv }, clock: () => now, pidFile: join(dir, "fence.pid") }) as FenceWatchdog;
    cleanup.push(() => w.close());
    w.arm("web", 1500, PLAN);
    w.arm("db", 4000, { vips: [], stops: [] });
    w.disarm("db");
    await until(() => s.lines().length === 3, "three lines");
    expect(s.lines().map((l) => JSON.parse(l) as unknown)).toEqual([
      { type: "arm", module: "web", inMs: 1500, ...PLAN },
      { type: "arm", module: "db", inMs: 4000, vips: [], stops: [] },
      { type: "disarm", module: "db" },
    ]);
    await until(() => events.some((e) => e.msg === "fence watchdog said"), "the child's log lines");
    expect(events.find((e) => e.msg === "stand-in up")).toMatchObject({ level: "warn", fields: { at: "2026-01-01T00:00:00.000Z", n: 1 } });
    expect(events.find((e) => e.msg === "fence watchdog said")?.fields).toEqual({ line: "not json" });

    const first = s.pid();
    now += 500;
    process.kill(first, "SIGKILL");
    await until(() => s.lines().length === 4, "a new child", 15_000);
    expect(s.pid()).not.toBe(first);
    expect(JSON.parse(s.lines()[3] ?? "")).toEqual({ type: "arm", module: "web", inMs: 1000, ...PLAN });
    expect(events.find((e) => e.msg === "fence watchdog process ended; starting it again")).toMatchObject({ level: "error", fields: { detail: "killed by SIGKILL", armed: "web" } });
  }, 20_000);

  it("tells the child the log file and its format first, and a restarted child again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-"));
    const s = standIn(dir);
    const log = new Logger("json", () => {});
    log.attachFile(new RotatingLogFile(join(dir, "vigil.log")));
    const w = startFenceWatchdog(log, { command: { ok: true, argv: s.argv } }) as FenceWatchdog;
    cleanup.push(() => w.close());
    w.arm("web", 60_000, PLAN);
    await until(() => s.lines().length === 2, "two lines");
    const told = { type: "logfile", path: join(dir, "vigil.log"), format: "json" };
    expect(JSON.parse(s.lines()[0] ?? "")).toEqual(told);
    process.kill(s.pid(), "SIGKILL");
    await until(() => s.lines().length === 4, "a new child told again", 15_000);
    expect(JSON.parse(s.lines()[2] ?? "")).toEqual(told);
  }, 20_000);

  it("ends the child an earlier run left (its PID in the pid file), and nothing else", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-"));
    const s = standIn(dir);
    const pidFile = join(dir, "fence.pid");
    // A PID that is not a fencing watchdog (this test's own) is left alone.
    writeFileSync(pidFile, `${process.pid}\n`);
    const lines: string[] = [];
    const earlier = startFenceWatchdog(new Logger("text", (l) => lines.push(l)), { command: { ok: true, argv: s.argv }, pidFile }) as FenceWatchdog;
    cleanup.push(() => earlier.close());
    expect(lines.join("\n")).not.toMatch(/earlier run/);
    await until(() => readFileSync(pidFile, "utf8").trim() !== String(process.pid), "the first child's pid");
    const old = Number(readFileSync(pidFile, "utf8"));
    earlier.arm("web", 60_000, PLAN);
    await until(() => s.lines().length === 1, "the arm to reach it");
    const later = startFenceWatchdog(new Logger("text", (l) => lines.push(l)), { command: { ok: true, argv: s.argv }, pidFile }) as FenceWatchdog;
    cleanup.push(() => later.close());
    expect(lines.join("\n")).toMatch(new RegExp(`fence watchdog of an earlier run ended.* pid=${old}`));
    await until(() => {
      try {
        process.kill(old, 0);
        return false;
      } catch {
        return true;
      }
    }, "the old child to be gone");
    earlier.close();
  });

  it("without a way to start the child, says so and gives none", () => {
    const events: string[] = [];
    const w = startFenceWatchdog(new Logger("text", (l) => events.push(l)), { command: { ok: false, why: "no runtime" } });
    expect(w).toBeUndefined();
    expect(events.join("\n")).toMatch(/fence watchdog not started.*reason="no runtime"/);
  });
});

describe("arbiter link", () => {
  it("hands the core's deadlines to the fence watchdog as ms from now, with the module's plan", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-link-"));
    writeFileSync(join(dir, "vigil.key"), Uint8Array.from({ length: 32 }, (_, i) => i + 3), { mode: 0o600 });
    writeFileSync(join(dir, "vigil.yaml"), [
      "cluster:",
      "  name: pair",
      "  key_file: vigil.key",
      "  nodes:",
      "    - { name: n1, addresses: [127.0.0.2] }",
      "    - { name: n2, addresses: [127.0.0.3] }",
      '  witness: { arbiter: "127.0.0.1:9", lease: 2s, grace: 500ms }',
      "modules:",
      "  - { name: web, type: failover, vip: 198.51.100.80/24, interface: lo }",
      "",
    ].join("\n"));
    const loaded = loadConfigFile(join(dir, "vigil.yaml"));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const calls: string[] = [];
    let closed = false;
    const fake: FenceWatchdog = {
      arm: (module, inMs, plan) => calls.push(`arm ${module} ${inMs} ${plan.vips.length}`),
      disarm: (module) => calls.push(`disarm ${module}`),
      close: () => (closed = true),
    };
    const warnings: string[] = [];
    const log = new Logger("text", (l) => warnings.push(l));
    const now = 5_000;
    const r = openArbiterLink(loaded.config, "n1", log, new Metrics(), () => now, () => fake);
    if (!r.ok || r.handle === undefined) throw new Error("no arbiter link");
    const h = r.handle;
    h.link.watchdog("db", 6_000);
    expect(warnings.join("\n")).toMatch(/fence watchdog armed without a plan.*module=db/);
    h.fencePlan("web", PLAN);
    h.link.watchdog("web", 7_500);
    h.link.watchdog("web", null);
    expect(calls).toEqual(["arm db 1000 0", "arm web 2500 2", "disarm web"]);
    expect(h.watchdogs.has("web")).toBe(false);
    await h.close();
    expect(closed).toBe(true);
  });
});
