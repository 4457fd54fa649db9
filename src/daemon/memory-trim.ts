/**
 * What start-up leaves behind, given back once the engines run.
 *
 * Start-up is the most expensive thing the daemon does: it compiles the
 * config schema, loads and checks the config, makes the console's
 * certificate, opens every socket. That touches far more of the runtime's
 * code (its executable pages are counted in our RSS as soon as they are
 * mapped in) and of the heap than a running node needs; idle, a node only
 * sends and reads heartbeats. Without a trim, the idle RSS is the start-up
 * peak's leftovers, and with memory locked (realtime.ts) the whole peak
 * stays pinned for the life of the process.
 *
 * - A full garbage collection, so the allocator can return the heap pages
 *   start-up's garbage held.
 * - The executable's read-only pages (code, constants, the embedded
 *   program) dropped from our page tables with MADV_DONTNEED. They stay in
 *   the page cache; the few the running daemon uses fault back in (a minor
 *   fault, no disk read) on the next tick. Writable mappings are never
 *   touched: their private copies are our data.
 *
 * Locking memory (realtime.ts) must come after the trim: locked pages
 * cannot be dropped, and the trim is what keeps locking affordable. Where
 * memory is not locked the trim waits until initdead has passed
 * (startTrimPlan): each step holds the main thread, and a peer that has just
 * heard a node start must not hear it go silent.
 */
import { readFileSync, realpathSync } from "node:fs";
import { loadMemoryCalls, MADV_DONTNEED } from "../sys/ffi/memory.ts";
import type { Logger } from "./log.ts";

export interface MappedRange {
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * The mappings of `file` the trim may drop, from a /proc/PID/smaps text:
 * private, not writable, and holding no private copy of a page (Anonymous:
 * 0 kB). The last rule leaves out what the loader or the runtime wrote
 * before making it read-only (relocations, frozen runtime settings):
 * dropping those would bring back the file's bytes in their place.
 * Mappings of other files, anonymous, writable or shared ones, and text
 * that does not parse are left out.
 */
export function droppableRangesOf(smaps: string, file: string): MappedRange[] {
  const out: MappedRange[] = [];
  let current: { range: MappedRange; ok: boolean } | undefined;
  for (const line of smaps.split("\n")) {
    // address perms offset dev inode pathname (the pathname may hold spaces)
    const head = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) [0-9a-f]+ \S+ \d+\s*(.*)$/.exec(line);
    if (head !== null) {
      const [, from, to, perms, path] = head;
      const ok = path === file && perms !== undefined && perms[1] === "-" && perms[3] === "p";
      current = { range: { start: BigInt(`0x${from}`), end: BigInt(`0x${to}`) }, ok };
      continue;
    }
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anon === null || current === undefined) continue;
    if (current.ok && anon[1] === "0") out.push(current.range);
    current = undefined;
  }
  return out;
}

export interface TrimOutcome {
  /** Ranges dropped / refused (a locked range refuses: EINVAL). */
  readonly dropped: number;
  readonly refused: number;
  readonly rssBeforeKiB: number;
  readonly rssAfterKiB: number;
}

function rssKiB(): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function fullGc(): void {
  const bun = (globalThis as { Bun?: { gc?: (sync: boolean) => void } }).Bun;
  bun?.gc?.(true);
}

/**
 * Runs the trim on this process at the end of start-up (where memory is
 * locked: startTrimPlan); undefined where it cannot (no FFI: Node, Deno; no
 * /proc). Never throws: a daemon that cannot trim runs on, larger.
 */
export async function trimAfterStart(log: Logger, beforeStep: () => Promise<void> = async () => {}): Promise<TrimOutcome | undefined> {
  const before = rssKiB();
  fullGc();
  // The collection and the drop are each long on a loaded host: a heartbeat round between them (startup-pace.ts).
  await beforeStep();
  return dropExecutablePages(log, before, START_TRIM_LINE);
}

/** The drop alone (no collection): `before` is the RSS the outcome reports as before. */
async function dropExecutablePages(log: Logger, before: number, what: string): Promise<TrimOutcome | undefined> {
  let calls;
  let maps: string;
  let exe: string;
  try {
    calls = await loadMemoryCalls();
    maps = readFileSync("/proc/self/smaps", "utf8");
    exe = realpathSync(process.execPath);
  } catch (e) {
    log.debug(`${what}: not done`, { error: (e as Error).message });
    return undefined;
  }
  let dropped = 0;
  let refused = 0;
  for (const r of droppableRangesOf(maps, exe)) {
    if (calls.madvise(r.start, r.end - r.start, MADV_DONTNEED) === 0) dropped += 1;
    else refused += 1;
  }
  const outcome = { dropped, refused, rssBeforeKiB: before, rssAfterKiB: rssKiB() };
  log.debug(what, { ranges: dropped, refused, rss_before_kib: before, rss_after_kib: outcome.rssAfterKiB });
  return outcome;
}

/**
 * How long after its start a node with modules or VRRP instances drops the
 * executable's pages (its trim after start, startTrimPlan; never where
 * memory is locked, see dropAgainLater): past initdead
 * (when elections have happened at the latest) by this much, for the start
 * scripts, addresses and announcements that follow.
 */
export const LATER_DROP_AFTER_INITDEAD_MS = 20_000;

/**
 * Whether a node runs start-up work of its own after the trim at start:
 * module elections and their start scripts, VIPs and their announcements,
 * VRRP's first transitions. That work maps in code an idle node then never
 * runs again: a failover module's daemon went from 53.5 to 45.5-47 MiB RSS
 * (file pages 37.3 -> 28.1 MiB, 31.0 two minutes later and so for the
 * three and a half minutes watched). A node with heartbeats only does not:
 * what it maps after the trim is what it runs, and a later drop came back
 * within 15 s.
 */
export function wantsLaterDrop(config: { readonly modules: readonly unknown[]; readonly vrrp: readonly unknown[] }): boolean {
  return config.modules.length > 0 || config.vrrp.length > 0;
}

/**
 * The later drop at most once a run: at start for a node with modules or
 * VRRP, else at the first reload that brings one (its elections, start
 * scripts and announcements come after that reload as they would after a
 * start). `schedule` is dropAgainLater with its steps; it gets the delay
 * from now and returns its cancel.
 */
export class LaterDropOnce {
  private cancel: (() => void) | undefined;

  constructor(private readonly schedule: (afterMs: number) => () => void) {}

  /** At start, and after each reload with the config the engines run now. */
  consider(config: Parameters<typeof wantsLaterDrop>[0] & { readonly cluster: { readonly heartbeat: { readonly initdead: number } } }): void {
    if (this.cancel !== undefined || !wantsLaterDrop(config)) return;
    this.cancel = this.schedule(config.cluster.heartbeat.initdead + LATER_DROP_AFTER_INITDEAD_MS);
  }

  /** A stop: what has not run yet does not. */
  cancelPending(): void {
    this.cancel?.();
  }
}

/** What the later drop is given: the pace of its steps, and the collection (tests put their own). */
export interface LaterDropSteps {
  /** Awaited before the collection and before the drop (startup-pace.ts: right after a heartbeat round). */
  readonly beforeStep?: () => Promise<void>;
  readonly collect?: () => void;
  /** The drop's log line; by default the later drop's. */
  readonly what?: string;
}

/**
 * When the trim after start (the collection and the drop) runs.
 *
 * - "end-of-start-up", right after "vigil started": only on a node that
 *   locks its memory (tight timers, realtime.ts), which must trim before it
 *   locks, and whose SCHED_RR main thread the host's load does not hold up.
 * - "later-drop": a node with modules or VRRP instances: the later
 *   collection and drop (initdead + 10 s and + 20 s) are its trim.
 * - "after-initdead": a node with heartbeats only: the same two steps from
 *   initdead on (collection at initdead, drop 10 s later).
 *
 * Not at the end of start-up elsewhere: the collection and the page faults
 * after the drop each held the main thread for 100-440 ms beside
 * stress-ng (a few tens of ms of CPU, stretched by the host's load), while
 * the peers had heard the new life for only a second: at `lan` one such
 * silence with the console's start before it made a peer call a starting
 * node dead. After initdead the node's start-up work is done, and the
 * collection is one step with a heartbeat round right before it.
 */
export type StartTrimPlan =
  | { readonly when: "end-of-start-up" }
  | { readonly when: "later-drop" }
  | { readonly when: "after-initdead"; readonly dropAfterMs: number };

export function startTrimPlan(
  config: Parameters<typeof wantsLaterDrop>[0] & { readonly cluster: { readonly heartbeat: { readonly initdead: number } } },
  locksMemory: boolean,
): StartTrimPlan {
  if (locksMemory) return { when: "end-of-start-up" };
  if (wantsLaterDrop(config)) return { when: "later-drop" };
  return { when: "after-initdead", dropAfterMs: config.cluster.heartbeat.initdead + LATER_COLLECTION_BEFORE_DROP_MS };
}

/** The after-initdead trim's log line: the same words as the trim at the end of start-up. */
export const START_TRIM_LINE = "memory trimmed after start";

/**
 * How long before the later drop the heap is collected: the collection
 * throws away compiled code that start-up alone ran, and what runs on
 * compiles again within seconds, which maps the compiler's own pages back in;
 * the drop after that gives those back too.
 */
export const LATER_COLLECTION_BEFORE_DROP_MS = 10_000;

/**
 * A full collection at `afterMs` - LATER_COLLECTION_BEFORE_DROP_MS, then
 * the executable's pages dropped once more at `afterMs`, each right after a
 * heartbeat round (`beforeStep`), as at start. The collection gives back
 * what the engines' start-up work left on the heap and the code compiled
 * for it: on an idle module or VRRP node 3.0-3.4 MiB of anonymous memory,
 * for 67-125 ms of the main thread once at load 10 (heap-stats.ts's gcMs),
 * with most of an interval before the next round. Skipped where memory is
 * locked (realtime.ts): locked pages cannot be dropped, and such a node runs
 * tight timers. Returns a cancel for a stop that comes first. Never throws.
 */
export function dropAgainLater(log: Logger, afterMs: number, steps: LaterDropSteps = {}): () => void {
  const beforeStep = steps.beforeStep ?? (async () => {});
  const collect = steps.collect ?? fullGc;
  let cancelled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = (ms: number, fn: () => Promise<void>): void => {
    timer = setTimeout(() => {
      if (cancelled || lockedKiB() > 0) return;
      void fn().catch(() => undefined);
    }, Math.max(0, ms));
    if (typeof timer === "object" && "unref" in timer) timer.unref();
  };
  const collectAt = Math.max(0, afterMs - LATER_COLLECTION_BEFORE_DROP_MS);
  later(collectAt, async () => {
    await beforeStep();
    if (cancelled) return;
    const before = rssKiB();
    collect();
    later(afterMs - collectAt, async () => {
      await beforeStep();
      if (cancelled) return;
      await dropExecutablePages(log, before, steps.what ?? "memory trimmed again once the engines' start-up work was done");
    });
  });
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

function lockedKiB(): number {
  try {
    return Number(/^VmLck:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
