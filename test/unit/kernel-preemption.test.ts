/**
 * `vigil doctor`'s kernel preemption line, from files a test writes (the
 * debugfs list, the command line, a build config plain or gzipped) or
 * leaves out, and a made-up uname -v.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import {
  judgePreemption, modelFromCmdline, modelFromConfig, modelFromDebugfs, modelFromUname, preemptionHostCheck, readPreemptionFacts, type PreemptionSources,
} from "../../src/sys/kernel-preemption.ts";
import { hostChecks } from "../../src/sys/host-check.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Sources pointing into a fresh folder; only the files given are written. */
function host(files: { debugfs?: string; cmdline?: string; bootConfig?: string; configGz?: string }, uname = "#1 SMP PREEMPT_DYNAMIC Debian 6.12.6-1"): PreemptionSources {
  const dir = mkdtempSync(join(tmpdir(), "vigil-preempt-"));
  dirs.push(dir);
  const s: PreemptionSources = {
    debugfs: join(dir, "preempt"),
    cmdline: join(dir, "cmdline"),
    bootConfig: join(dir, "config-6.12.6"),
    procConfigGz: join(dir, "config.gz"),
    unameVersion: () => uname,
  };
  if (files.debugfs !== undefined) writeFileSync(s.debugfs, files.debugfs);
  if (files.cmdline !== undefined) writeFileSync(s.cmdline, files.cmdline);
  if (files.bootConfig !== undefined) writeFileSync(s.bootConfig, files.bootConfig);
  if (files.configGz !== undefined) writeFileSync(s.procConfigGz, gzipSync(files.configGz));
  return s;
}

const NONE_DYNAMIC = "CONFIG_PREEMPT_BUILD=y\nCONFIG_PREEMPT_NONE=y\n# CONFIG_PREEMPT_VOLUNTARY is not set\n# CONFIG_PREEMPT is not set\nCONFIG_PREEMPTION=y\nCONFIG_PREEMPT_DYNAMIC=y\n";
const VOLUNTARY_STATIC = "CONFIG_PREEMPT_VOLUNTARY=y\n# CONFIG_PREEMPT is not set\n";
const FULL = "# CONFIG_PREEMPT_NONE is not set\nCONFIG_PREEMPT=y\nCONFIG_PREEMPT_DYNAMIC=y\n";

const line = (s: PreemptionSources) => preemptionHostCheck(readPreemptionFacts(s));

describe("kernel preemption model", () => {
  it("reads each source's form", () => {
    expect(modelFromDebugfs("none (voluntary) full lazy\n")).toBe("voluntary");
    expect(modelFromDebugfs("(none) voluntary full\n")).toBe("none");
    expect(modelFromDebugfs("garbage\n")).toBeUndefined();
    expect(modelFromCmdline("BOOT_IMAGE=/vmlinuz root=/dev/sda1 preempt=none quiet preempt=full\n")).toBe("full");
    expect(modelFromCmdline("root=/dev/sda1 quiet\n")).toBeUndefined();
    expect(modelFromConfig(NONE_DYNAMIC)).toEqual({ model: "none", dynamic: true });
    expect(modelFromConfig(VOLUNTARY_STATIC)).toEqual({ model: "voluntary", dynamic: false });
    expect(modelFromConfig(FULL)).toEqual({ model: "full", dynamic: true });
    expect(modelFromConfig("CONFIG_PREEMPT_RT=y\nCONFIG_PREEMPT=y\n").model).toBe("rt");
    expect(modelFromUname("#1 SMP PREEMPT_RT Debian")).toMatchObject({ model: "rt" });
    expect(modelFromUname("#1 SMP PREEMPT Tue Jan 1")).toMatchObject({ model: "full", dynamic: false });
    expect(modelFromUname("#1 SMP PREEMPT_DYNAMIC @0")).toEqual({ model: undefined, dynamic: true });
    expect(modelFromUname("#1 SMP Debian 5.10")).toEqual({ model: undefined, maybe: "none or voluntary", dynamic: false });
    expect(modelFromUname("#1 SMP PREEMPT_DYNAMIC PREEMPT(voluntary) Debian")).toEqual({ model: "voluntary", dynamic: true });
  });

  it("debugfs wins over the command line and the config; the note names the wait and preempt=full", () => {
    const c = line(host({ debugfs: "(none) voluntary full lazy\n", cmdline: "preempt=full", bootConfig: FULL }));
    expect(c.ok).toBe(true);
    expect(c.note).toBe(true);
    expect(c.detail).toBe(
      "none (from /sys/kernel/debug/sched/preempt): a real-time main thread can still wait for its CPU while a normal task there finishes a system call (tens of ms under load); " +
        "booting with preempt=full on the kernel command line removes that wait (this kernel is built with PREEMPT_DYNAMIC)",
    );
  });

  it("preempt= on the command line counts only on a PREEMPT_DYNAMIC kernel", () => {
    const s = host({ cmdline: "root=/dev/sda1 preempt=full\n", bootConfig: NONE_DYNAMIC });
    expect(judgePreemption(readPreemptionFacts(s))).toEqual({ model: "full", from: "preempt=full on the kernel command line", dynamic: true });
    expect(line(s)).toMatchObject({ ok: true, detail: "full (from preempt=full on the kernel command line): a woken real-time thread preempts a normal task at once" });
    expect(line(s).note).toBeUndefined();
    const fixed = host({ cmdline: "root=/dev/sda1 preempt=full\n", bootConfig: VOLUNTARY_STATIC }, "#1 SMP Debian");
    expect(judgePreemption(readPreemptionFacts(fixed))).toMatchObject({ model: "voluntary", dynamic: false });
    expect(line(fixed).detail).toContain("a kernel built with CONFIG_PREEMPT, or with PREEMPT_DYNAMIC and booted with preempt=full, removes that wait");
  });

  it("the build config from /boot, else /proc/config.gz", () => {
    const boot = host({ bootConfig: NONE_DYNAMIC, configGz: FULL });
    expect(line(boot).detail).toMatch(new RegExp(`^none \\(from the kernel's config \\(${boot.bootConfig}\\)\\): a real-time main thread can still wait`));
    const gz = host({ configGz: NONE_DYNAMIC });
    expect(line(gz)).toMatchObject({ ok: true, note: true });
    expect(line(gz).detail).toContain(`none (from the kernel's config (${gz.procConfigGz}))`);
  });

  it("every file missing: uname -v decides, with no stack trace and no failure", () => {
    expect(line(host({}, "#1 SMP PREEMPT_DYNAMIC @0"))).toEqual({
      name: "kernel preemption",
      ok: true,
      note: true,
      detail:
        'model not told (from uname -v "#1 SMP PREEMPT_DYNAMIC @0"); if it is none or voluntary, a real-time main thread can still wait for its CPU while a normal task there finishes a system call (tens of ms under load); ' +
        "booting with preempt=full on the kernel command line removes that wait (this kernel is built with PREEMPT_DYNAMIC)",
      neededBy: "timers that stay on time under CPU load (heartbeat deadtime under 500 ms, VRRP advert_int under 100 ms)",
    });
    expect(line(host({}, "#1 SMP Debian 5.10.0")).detail).toMatch(/^none or voluntary \(from uname -v "#1 SMP Debian 5\.10\.0"\): a real-time main thread can still wait/);
    expect(line(host({}, "#1 SMP PREEMPT_RT"))).toMatchObject({ ok: true, detail: 'rt (from uname -v "#1 SMP PREEMPT_RT"): a woken real-time thread preempts a normal task at once' });
    // A gzip file that is not one is skipped like a missing one.
    const bad = host({}, "");
    writeFileSync(bad.procConfigGz, "not gzip");
    expect(() => line(bad)).not.toThrow();
    expect(line(bad)).toMatchObject({ ok: true, note: true });
  });

  it("is one of doctor's host checks, and never fails doctor", () => {
    const c = hostChecks({ uid: 0, runtime: "bun" }).find((x) => x.name === "kernel preemption");
    expect(c?.ok).toBe(true);
  });
});
