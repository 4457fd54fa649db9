/**
 * The kernel's preemption model, for `vigil doctor`: whether a real-time
 * thread that wakes up gets its CPU at once, or waits for a normal task on
 * that CPU to leave the kernel.
 *
 * With the model `none` (or `voluntary`) a task inside a system call is not
 * preempted until the call returns or reaches a voluntary rescheduling
 * point, and the kernel's real-time balancing does not move the woken
 * thread to the other CPU either (it counts on the preemption being
 * immediate). vigil's main thread at SCHED_RR was seen waiting 28-47 ms that
 * way on a loaded 2-core host, at the fast preset and a 20 ms VRRP advert.
 * `full` (and `lazy`, `rt`) preempt a normal task for a woken real-time
 * thread at once. A kernel built with PREEMPT_DYNAMIC picks its model at
 * boot: `preempt=full` on the kernel command line.
 *
 * Where the model is read, first found wins:
 * 1. /sys/kernel/debug/sched/preempt (debugfs mounted): "none (voluntary) full",
 *    the one in parentheses in force;
 * 2. `preempt=` on /proc/cmdline, on a kernel built with PREEMPT_DYNAMIC;
 * 3. the kernel's build config, /boot/config-$(uname -r) or /proc/config.gz:
 *    CONFIG_PREEMPT_NONE / _VOLUNTARY / CONFIG_PREEMPT / _LAZY / _RT;
 * 4. uname -v: "PREEMPT(voluntary)" and the like, "PREEMPT_RT", "PREEMPT"
 *    (full), "PREEMPT_DYNAMIC" (model not told), none of these (none or
 *    voluntary).
 */
import { readFileSync } from "node:fs";
import { release, version } from "node:os";
import { gunzipSync } from "node:zlib";

export type PreemptionModel = "none" | "voluntary" | "full" | "lazy" | "rt";

export interface PreemptionFacts {
  /** /sys/kernel/debug/sched/preempt, undefined when unreadable (debugfs not mounted, not root). */
  readonly debugfs: string | undefined;
  /** /proc/cmdline */
  readonly cmdline: string | undefined;
  /** The kernel's build config as text, and the file it came from; undefined when none was readable. */
  readonly config: { readonly text: string; readonly from: string } | undefined;
  /** uname -v, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.12.6-1". */
  readonly unameVersion: string;
}

export interface PreemptionVerdict {
  /** undefined: not told (see `maybe`). */
  readonly model: PreemptionModel | undefined;
  /** What the model could still be when it was not told exactly ("none or voluntary"). */
  readonly maybe?: string;
  /** Where the answer came from, for the operator to check. */
  readonly from: string;
  /** Built with PREEMPT_DYNAMIC (the model can be chosen at boot); undefined when not known. */
  readonly dynamic: boolean | undefined;
}

const MODELS: readonly PreemptionModel[] = ["none", "voluntary", "full", "lazy", "rt"];
const isModel = (s: string): s is PreemptionModel => (MODELS as readonly string[]).includes(s);

/** The model in force in debugfs's list, e.g. "none (voluntary) full lazy" -> voluntary. */
export function modelFromDebugfs(text: string): PreemptionModel | undefined {
  const m = /\((\w+)\)/.exec(text);
  return m?.[1] !== undefined && isModel(m[1]) ? m[1] : undefined;
}

/** `preempt=` of the kernel command line (the last one counts, as for the kernel). */
export function modelFromCmdline(cmdline: string): PreemptionModel | undefined {
  const all = [...cmdline.matchAll(/(?:^|\s)preempt=(\S+)/g)].map((m) => m[1] ?? "");
  const last = all.at(-1);
  return last !== undefined && isModel(last) ? last : undefined;
}

/** The model a build config selects, and whether it can be changed at boot. */
export function modelFromConfig(text: string): { model: PreemptionModel | undefined; dynamic: boolean } {
  const set = (name: string): boolean => new RegExp(`^${name}=y\\s*$`, "m").test(text);
  const model: PreemptionModel | undefined = set("CONFIG_PREEMPT_RT")
    ? "rt"
    : set("CONFIG_PREEMPT")
      ? "full"
      : set("CONFIG_PREEMPT_LAZY")
        ? "lazy"
        : set("CONFIG_PREEMPT_VOLUNTARY")
          ? "voluntary"
          : set("CONFIG_PREEMPT_NONE")
            ? "none"
            : undefined;
  return { model, dynamic: set("CONFIG_PREEMPT_DYNAMIC") };
}

/** What uname -v's build string tells. */
export function modelFromUname(v: string): Omit<PreemptionVerdict, "from"> {
  const words = v.split(/\s+/);
  // Some builds name the model itself: "PREEMPT(full)".
  const named = words.map((w) => /^PREEMPT\((\w+)\)$/.exec(w)?.[1]).find((m) => m !== undefined);
  if (named !== undefined && isModel(named)) return { model: named, dynamic: words.includes("PREEMPT_DYNAMIC") };
  if (words.includes("PREEMPT_RT")) return { model: "rt", dynamic: false };
  if (words.includes("PREEMPT_DYNAMIC")) return { model: undefined, dynamic: true };
  if (words.includes("PREEMPT_LAZY")) return { model: "lazy", dynamic: false };
  if (words.includes("PREEMPT")) return { model: "full", dynamic: false };
  return { model: undefined, maybe: "none or voluntary", dynamic: false };
}

export function judgePreemption(f: PreemptionFacts): PreemptionVerdict {
  const config = f.config === undefined ? undefined : modelFromConfig(f.config.text);
  const dynamic = config?.dynamic ?? modelFromUname(f.unameVersion).dynamic;
  const fromDebugfs = f.debugfs === undefined ? undefined : modelFromDebugfs(f.debugfs);
  if (fromDebugfs !== undefined) return { model: fromDebugfs, from: "/sys/kernel/debug/sched/preempt", dynamic };
  const fromCmdline = f.cmdline === undefined || dynamic !== true ? undefined : modelFromCmdline(f.cmdline);
  if (fromCmdline !== undefined) return { model: fromCmdline, from: `preempt=${fromCmdline} on the kernel command line`, dynamic };
  if (config?.model !== undefined && f.config !== undefined) return { model: config.model, from: `the kernel's config (${f.config.from})`, dynamic };
  return { ...modelFromUname(f.unameVersion), from: `uname -v "${f.unameVersion.trim()}"` };
}

/** The `vigil doctor` line: an advice (`note`), never a failure, where a woken real-time thread can wait. */
export function preemptionHostCheck(facts: PreemptionFacts = readPreemptionFacts()): { name: string; ok: boolean; note?: true; detail: string; neededBy: string } {
  const v = judgePreemption(facts);
  const name = "kernel preemption";
  const neededBy = "timers that stay on time under CPU load (heartbeat deadtime under 500 ms, VRRP advert_int under 100 ms)";
  const remedy =
    v.dynamic === true
      ? "booting with preempt=full on the kernel command line removes that wait (this kernel is built with PREEMPT_DYNAMIC)"
      : v.dynamic === false
        ? "a kernel built with CONFIG_PREEMPT, or with PREEMPT_DYNAMIC and booted with preempt=full, removes that wait"
        : "booting with preempt=full (a kernel built with PREEMPT_DYNAMIC) removes that wait";
  const wait = "a real-time main thread can still wait for its CPU while a normal task there finishes a system call (tens of ms under load)";
  if (v.model === "full" || v.model === "lazy" || v.model === "rt") {
    return { name, ok: true, detail: `${v.model} (from ${v.from}): a woken real-time thread preempts a normal task at once`, neededBy };
  }
  const model = v.model ?? v.maybe ?? "not told";
  const detail = v.model === undefined && v.maybe === undefined ? `model not told (from ${v.from}); if it is none or voluntary, ${wait}; ${remedy}` : `${model} (from ${v.from}): ${wait}; ${remedy}`;
  return { name, ok: true, note: true, detail, neededBy };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function readGzipText(path: string): string | undefined {
  try {
    return gunzipSync(readFileSync(path)).toString("utf8");
  } catch {
    return undefined;
  }
}

/** Where readPreemptionFacts looks; a test points them at files of its own. */
export interface PreemptionSources {
  readonly debugfs: string;
  readonly cmdline: string;
  readonly bootConfig: string;
  readonly procConfigGz: string;
  readonly unameVersion: () => string;
}

export function defaultPreemptionSources(): PreemptionSources {
  let kernel = "";
  try {
    kernel = release();
  } catch {}
  return {
    debugfs: "/sys/kernel/debug/sched/preempt",
    cmdline: "/proc/cmdline",
    bootConfig: `/boot/config-${kernel}`,
    procConfigGz: "/proc/config.gz",
    unameVersion: () => {
      try {
        return version();
      } catch {
        return "";
      }
    },
  };
}

/** Reads what there is; a file that is missing or unreadable is simply not used. Never throws. */
export function readPreemptionFacts(s: PreemptionSources = defaultPreemptionSources()): PreemptionFacts {
  const boot = readText(s.bootConfig);
  const gz = boot === undefined ? readGzipText(s.procConfigGz) : undefined;
  const config = boot !== undefined ? { text: boot, from: s.bootConfig } : gz !== undefined ? { text: gz, from: s.procConfigGz } : undefined;
  return { debugfs: readText(s.debugfs), cmdline: readText(s.cmdline), config, unameVersion: s.unameVersion() };
}
