/**
 * The fencing watchdog's bash program, run for real with a fake `ip` first
 * on PATH (it only logs its arguments) and stop scripts that write what
 * they saw: the daemon's death removes what it held and stops what ran,
 * a deadline fences on its own timer, a slow stop is killed with its group.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { encodeField, FenceGuard, findBash, planLines } from "../../src/daemon/fence/guard.ts";
import type { FencePlan } from "../../src/daemon/fence/messages.ts";
import { Logger } from "../../src/daemon/log.ts";
import { RotatingLogFile } from "../../src/daemon/log-file.ts";
import { until } from "./until.ts";

const bash = findBash();
const guards: FenceGuard[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const g of guards.splice(0)) g.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/** Polls; the limit only keeps a broken watchdog from hanging the suite. */
/** `logFile`: the daemon also logs to DIR/vigil.log in that line format. */
function rig(logFile?: "text" | "json") {
  const dir = mkdtempSync(join(tmpdir(), "vigil-guard-"));
  dirs.push(dir);
  const bin = join(dir, "bin");
  spawnSync("mkdir", [bin]);
  writeFileSync(join(bin, "ip"), `#!/bin/sh\necho "$*" >> ${dir}/ip.log\n`);
  chmodSync(join(bin, "ip"), 0o755);
  // A stop that records its environment and arguments, then sleeps $2 seconds with a child of its own.
  const stop = join(dir, "stop.sh");
  writeFileSync(stop, `#!/bin/sh\nprintf '%s\\n' "$VIGIL_MODULE $VIGIL_NODE $VIGIL_REASON $1" >> ${dir}/stops.log\nsleep "\${2:-0}" &\necho $! > ${dir}/child-$1.pid\nwait\nprintf '%s\\n' "done $1" >> ${dir}/stops.log\n`);
  chmodSync(stop, 0o755);
  const lines: string[] = [];
  const log = new Logger(logFile ?? "json", (l) => lines.push(l));
  if (logFile !== undefined) log.attachFile(new RotatingLogFile(join(dir, "vigil.log")));
  const guard = new FenceGuard(log, bash ?? "/bin/bash", { env: { PATH: `${bin}:${process.env["PATH"] ?? ""}` } });
  guards.push(guard);
  const read = (f: string): string => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
  const plan = (module: string, vip: string, ...stops: { arg: string; sleep?: number; timeoutMs?: number }[]): FencePlan => ({
    vips: [{ address: vip, interface: "eth0" }],
    stops: stops.map((s) => ({ command: stop, args: [s.arg, String(s.sleep ?? 0)], timeoutMs: s.timeoutMs ?? 5000, env: { VIGIL_MODULE: module, VIGIL_NODE: "h1", VIGIL_REASON: "fenced" } })),
  });
  return { dir, guard, lines, read, plan };
}

describe.skipIf(bash === undefined)("fencing watchdog (bash)", () => {
  it("the daemon gone: every VIP it still holds is removed and every module that may run is fenced; a freed one is left alone", async () => {
    const { guard, read, plan, dir } = rig();
    guard.useStateDir(dir);
    guard.vipAdding("198.51.100.100", "eth0");
    // With the prefix it was added with (the kernel matches it on removal); a bare address is a /32.
    guard.vipAdding("198.51.100.50/25", "eth1");
    guard.vipAdding("198.51.100.51", "eth1");
    guard.vipRemoved("198.51.100.51", "eth1");
    guard.plan("web", plan("web", "198.51.100.100", { arg: "web-app" }));
    guard.plan("db", plan("db", "198.51.100.101", { arg: "db-app" }));
    guard.hold("web", true);
    guard.hold("db", true);
    guard.hold("db", false);
    const pid = guard.pid;
    expect(alive(pid)).toBe(true);
    guard.close();
    await until(() => !alive(pid), "the watchdog to leave");
    const ip = read("ip.log");
    expect(ip).toContain("addr del 198.51.100.100/32 dev eth0");
    expect(ip).toContain("addr del 198.51.100.50/25 dev eth1");
    expect(ip).not.toContain("198.51.100.51");
    expect(ip).not.toContain("198.51.100.101");
    expect(read("stops.log")).toBe("web h1 fenced web-app\ndone web-app\n");
    // Its log lines went to the state dir: nobody read its stderr any more.
    expect(read("fence-watchdog.log")).toMatch(/"msg":"fence watchdog: module fenced".*"module":"web"/);
  });

  it("what it does after the daemon's death goes to the daemon's log file, in the daemon's line format", async () => {
    for (const format of ["text", "json"] as const) {
      const { guard, read, plan, dir } = rig(format);
      guard.useStateDir(dir);
      guard.plan("web", plan("web", "198.51.100.100", { arg: "web-app" }));
      guard.hold("web", true);
      const pid = guard.pid;
      guard.close();
      await until(() => !alive(pid), "the watchdog to leave");
      expect(existsSync(join(dir, "fence-watchdog.log")), format).toBe(false);
      const logged = read("vigil.log").split("\n").filter((l) => l.includes("fence watchdog"));
      const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
      if (format === "text") {
        expect(logged).toContain(`${logged.find((l) => l.includes("module fenced"))?.slice(0, 24)} warn  fence watchdog: module fenced module=web`);
        const stopRan = logged.find((l) => l.includes("stop ran")) ?? "";
        expect(stopRan.slice(0, 24)).toMatch(time);
        expect(stopRan.slice(24)).toBe(` warn  fence watchdog: stop ran module=web command="${dir}/stop.sh web-app 0" detail="exited 0"`);
      } else {
        const events = logged.map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(events.find((e) => e["msg"] === "fence watchdog: module fenced")).toEqual({ time: expect.stringMatching(time), level: "warn", msg: "fence watchdog: module fenced", module: "web" });
        expect(events.find((e) => e["msg"] === "fence watchdog: stop ran")).toMatchObject({ level: "warn", command: `${dir}/stop.sh web-app 0`, detail: "exited 0" });
      }
    }
  });

  it("a deadline nobody moves fences the module on the watchdog's own timer while the daemon lives; a disarmed one does nothing", async () => {
    const { guard, read, plan, lines } = rig();
    guard.plan("web", plan("web", "198.51.100.100/24", { arg: "web-1" }, { arg: "web-2" }));
    guard.plan("db", plan("db", "198.51.100.101", { arg: "db-app" }));
    guard.arm("db", 100);
    guard.arm("web", 200);
    guard.disarm("db");
    await until(() => read("stops.log").includes("done web-2"), "web to be fenced");
    expect(alive(guard.pid)).toBe(true);
    expect(read("stops.log")).toBe("web h1 fenced web-1\ndone web-1\nweb h1 fenced web-2\ndone web-2\n");
    expect(read("ip.log")).toBe("addr del 198.51.100.100/24 dev eth0\n");
    await until(() => lines.some((l) => l.includes("fence watchdog: module fenced")), "its lines to reach the log");
    expect(lines.some((l) => /"msg":"fence watchdog: deadline passed \d+ ms ago, fencing the module here".*"module":"web"/.test(l))).toBe(true);
  });

  it("a stop that outlives its timeout is killed with everything it started, and the next stop still runs", async () => {
    const { guard, read, plan, dir } = rig();
    // A timeout long enough for the script to have started its child even on a busy machine.
    guard.plan("web", plan("web", "198.51.100.100", { arg: "slow", sleep: 30, timeoutMs: 1000 }, { arg: "next" }));
    guard.hold("web", true);
    const pid = guard.pid;
    guard.close();
    await until(() => !alive(pid), "the watchdog to leave");
    const child = Number(readFileSync(join(dir, "child-slow.pid"), "utf8"));
    // Signalled with its group; gone once the kernel has delivered it.
    await until(() => !alive(child), "the slow stop's child to be gone");
    expect(read("stops.log")).toBe("web h1 fenced slow\nweb h1 fenced next\ndone next\n");
  });

  it("fields the line format cannot carry are written as %XX and come out whole", async () => {
    expect(encodeField("a\tb%c\\d\ne")).toBe("a%09b%25c%5Cd%0Ae");
    expect(planLines("web", { vips: [], stops: [{ command: "/x y/stop", args: ["a\tb"], timeoutMs: 1000, env: {} }] }, 2000)).toEqual([
      "plan\tweb",
      "stop\tweb\t1000\t2000\t/x y/stop\ta%09b",
    ]);
    const { guard, read, plan } = rig();
    guard.plan("web", plan("web", "198.51.100.100", { arg: "tab\there 100% \\back" }));
    guard.hold("web", true);
    const pid = guard.pid;
    guard.close();
    await until(() => !alive(pid), "the watchdog to leave");
    expect(read("stops.log")).toBe("web h1 fenced tab\there 100% \\back\ndone tab\there 100% \\back\n");
  });

  it("a watchdog that died is started again and told everything it knew", async () => {
    const { guard, read, plan, lines } = rig();
    guard.vipAdding("198.51.100.100", "eth0");
    guard.plan("web", plan("web", "198.51.100.100", { arg: "web-app" }));
    guard.hold("web", true);
    const first = guard.pid ?? 0;
    process.kill(first, "SIGKILL");
    await until(() => guard.pid !== undefined && guard.pid !== first, "a new watchdog");
    expect(lines.some((l) => l.includes("fence watchdog process ended; starting it again"))).toBe(true);
    const second = guard.pid;
    guard.close();
    await until(() => !alive(second), "the new watchdog to leave");
    expect(read("stops.log")).toBe("web h1 fenced web-app\ndone web-app\n");
    expect(read("ip.log")).toContain("addr del 198.51.100.100/32 dev eth0");
  });

  it("is small: a shell, not a second runtime", async () => {
    const { guard, read, plan } = rig();
    // Measured once it has run its loop and a fence.
    guard.plan("web", plan("web", "198.51.100.100", { arg: "web-app" }));
    guard.arm("web", 10);
    await until(() => read("stops.log").includes("done web-app"), "a fence");
    const status = readFileSync(`/proc/${guard.pid ?? 0}/status`, "utf8");
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    console.log(`fence watchdog RSS: ${rssKiB} KiB`);
    expect(rssKiB).toBeLessThan(16 * 1024);
  });
});
