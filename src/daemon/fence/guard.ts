/**
 * The fencing watchdog: a small bash process beside the daemon (its program
 * is guard-script.ts, about 4 MiB of RSS) that takes down what this daemon
 * runs when the daemon can no longer do it itself.
 *
 * - The daemon dies (SIGKILL, the OOM killer, a crash), with or without an
 *   arbiter: the watchdog's stdin (a pipe only the daemon holds) ends. It
 *   then removes every VIP the daemon added (module VIPs and VRRP VIPs
 *   alike), at once, and fences every module that may run here: its VIPs,
 *   then its stops in order, each bounded by its stop timeout (SIGTERM to
 *   the stop's process group, SIGKILL FENCE_KILL_GRACE_MS later). Then it
 *   leaves. Bound: the VIPs are gone a few milliseconds after the daemon
 *   (one `ip addr del` each); the services are stopped within the module's
 *   stop budget (fenceStopBudgetMs). A daemon that stopped cleanly held
 *   nothing any more, and the watchdog just leaves.
 * - The daemon freezes (SIGSTOP, a stalled disk) while it holds an arbiter
 *   lease: the module core's watchdog deadline, armed here, passes without
 *   being moved, and the watchdog fences that module on its own timer
 *   (bash's `read -t`).
 *
 * What the daemon tells it, one line per message, fields separated by TAB,
 * every field with %, \, TAB, CR and LF written as %XX; each line is in the
 * watchdog's pipe when the call that sends it returns (child-pipes.ts), so
 * "before" below holds even for a daemon killed right after:
 *
 *   node NAME                         VIGIL_NODE for the stops
 *   logfile PATH FORMAT               where its log lines go once the daemon is gone:
 *                                     the daemon's log file in its line format (text
 *                                     or json), else STATE_DIR/fence-watchdog.log (json)
 *   vip+ ADDRESS INTERFACE            sent BEFORE `ip addr add`: a daemon killed
 *                                     during the add still has it removed; ADDRESS
 *                                     carries the prefix it is added with (a.b.c.d/24)
 *   vip- ADDRESS INTERFACE            sent AFTER the address is gone
 *   plan MODULE                       forget MODULE's fence plan; the lines below rebuild it
 *   pvip MODULE ADDRESS INTERFACE     one of its VIPs
 *   stop MODULE TIMEOUT_MS GRACE_MS COMMAND ARG...   one of its stops, in the order to run them
 *   hold MODULE / free MODULE         something of MODULE may run here / nothing does
 *   arm MODULE IN_MS / disarm MODULE  the arbiter deadline, in ms from now (no shared clock)
 *
 * While the daemon lives, the watchdog's stderr lines (JSON) go into the
 * daemon's log; afterwards into `logfile`. The daemon keeps everything it
 * said, so a watchdog that died is started again and told it all anew.
 *
 * One watchdog per daemon process, started by the first setup that has
 * something for it (startFenceGuard); it lives as long as the daemon, across
 * reloads. It needs bash 4.2 or later; without one, a warning says what is
 * not covered.
 */
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FENCE_KILL_GRACE_MS } from "../../core/module/config.ts";
import type { Logger } from "../log.ts";
import { FENCE_GUARD_SCRIPT } from "./guard-script.ts";
import type { FencePlan, FenceWatchdog } from "./messages.ts";
import { relayFenceLine } from "./relay.ts";
import { type FenceSpawnHooks, type FenceStdin, spawnFenceChild, watchFenceChild } from "./child-pipes.ts";

/** argv[0] of the watchdog: how it shows in ps. */
export const FENCE_GUARD_NAME = "vigil-fence-watchdog";
const BASH_PATHS = ["/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash"];
/** After the watchdog died, wait this long before starting another (one that cannot start must not spin). */
const RESTART_DELAY_MS = 1000;

/** A field of a line: what the line format cannot carry written as %XX. */
export function encodeField(text: string): string {
  return text.replace(/[%\\\t\r\n]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);
}

/** The lines that give `module` its fence plan. */
export function planLines(module: string, plan: FencePlan, graceMs = FENCE_KILL_GRACE_MS): string[] {
  const m = encodeField(module);
  return [
    `plan\t${m}`,
    ...plan.vips.map((v) => `pvip\t${m}\t${encodeField(v.address)}\t${encodeField(v.interface)}`),
    ...plan.stops.map((s) => ["stop", m, String(Math.ceil(s.timeoutMs)), String(graceMs), s.command, ...s.args].map((f, i) => (i < 2 ? f : encodeField(f))).join("\t")),
  ];
}

export function findBash(): string | undefined {
  for (const p of BASH_PATHS) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // Next.
    }
  }
  return undefined;
}

export interface FenceGuardOptions {
  /** Default: findBash(). */
  readonly bash?: string;
  /** The daemon's monotonic ms; performance.now() by default. */
  readonly clock?: () => number;
  /** Extra environment for the watchdog (tests put a fake `ip` first on PATH). */
  readonly env?: Readonly<Record<string, string>>;
}

export class FenceGuard {
  private child: ChildProcess | null = null;
  private stdin: FenceStdin | null = null;
  private node: string | null = null;
  /** The fields of its `logfile` line, encoded. */
  private logfile: string | null = null;
  private pidFile: string | null = null;
  private readonly vips = new Set<string>();
  private readonly plans = new Map<string, { plan: FencePlan; key: string }>();
  private readonly holding = new Set<string>();
  /** Deadlines on our clock. */
  private readonly armed = new Map<string, number>();
  private restart: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly clock: () => number;

  constructor(private readonly log: Logger, private readonly bash: string, private readonly o: FenceGuardOptions = {}) {
    this.clock = o.clock ?? (() => performance.now());
    this.spawn();
  }

  /** The watchdog's PID while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * The state dir: the PID goes to fence-watchdog.pid. The log lines after
   * the daemon's death go to the daemon's own log file (vigil.log), so that
   * what the watchdog did is where the operator reads the rest; to
   * fence-watchdog.log in the state dir if the daemon logs to no file.
   */
  useStateDir(dir: string): void {
    this.pidFile = join(dir, "fence-watchdog.pid");
    const file = this.log.logFile();
    this.logfile = file === undefined ? `${encodeField(join(dir, "fence-watchdog.log"))}\tjson` : `${encodeField(resolve(file.path))}\t${this.log.lineFormat()}`;
    this.writePid();
    this.send(`logfile\t${this.logfile}`);
  }

  /**
   * Before `ip addr add`: the line is in the watchdog's pipe when this
   * returns (child-pipes.ts), so a daemon killed right after the add still
   * has the address removed.
   */
  vipAdding(address: string, iface: string): void {
    const key = `${encodeField(address)}\t${encodeField(iface)}`;
    this.vips.add(key);
    this.send(`vip+\t${key}`);
  }

  /** After the address is gone from the interface. */
  vipRemoved(address: string, iface: string): void {
    const key = `${encodeField(address)}\t${encodeField(iface)}`;
    if (!this.vips.delete(key)) return;
    this.send(`vip-\t${key}`);
  }

  /** What to take down for `module`: sent again only when it changed. */
  plan(module: string, plan: FencePlan): void {
    const node = plan.stops.find((s) => s.env["VIGIL_NODE"] !== undefined)?.env["VIGIL_NODE"];
    if (node !== undefined && node !== this.node) {
      this.node = node;
      this.send(`node\t${encodeField(node)}`);
    }
    const key = JSON.stringify(plan);
    if (this.plans.get(module)?.key === key) return;
    this.plans.set(module, { plan, key });
    for (const line of planLines(module, plan)) this.send(line);
  }

  /** `yes`: something of `module` may run here (set before its first start), until everything stopped. */
  hold(module: string, yes: boolean): void {
    if (yes === this.holding.has(module)) return;
    if (yes) this.holding.add(module);
    else this.holding.delete(module);
    this.send(`${yes ? "hold" : "free"}\t${encodeField(module)}`);
  }

  arm(module: string, inMs: number): void {
    this.armed.set(module, this.clock() + inMs);
    this.send(`arm\t${encodeField(module)}\t${Math.max(0, Math.round(inMs))}`);
  }

  disarm(module: string): void {
    if (!this.armed.delete(module)) return;
    this.send(`disarm\t${encodeField(module)}`);
  }

  /** The arbiter link's view: arm carries the plan; close leaves the watchdog running (it outlives a reload). */
  watchdog(): FenceWatchdog {
    return {
      arm: (module, inMs, plan) => {
        this.plan(module, plan);
        this.arm(module, inMs);
      },
      disarm: (module) => this.disarm(module),
      close: () => {},
    };
  }

  /**
   * Ends the watchdog's stdin as the daemon's death would: it fences what is
   * still held, then leaves. For tests and for a daemon that is done.
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.restart);
    if (this.holding.size === 0 && this.vips.size === 0 && this.pidFile !== null) rmSync(this.pidFile, { force: true });
    this.stdin?.end();
    this.stdin = null;
    this.child = null;
  }

  /** In the watchdog's pipe when this returns (unless it stopped reading: then it waits, in order). */
  private send(line: string): void {
    this.stdin?.write(line + "\n"); // None: told again to the next one.
  }

  private writePid(): void {
    const pid = this.child?.pid;
    if (this.pidFile === null || pid === undefined) return;
    try {
      writeFileSync(this.pidFile, `${pid}\n`);
    } catch (e) {
      this.log.warn("fence watchdog PID not saved", { file: this.pidFile, detail: (e as Error).message });
    }
  }

  private spawn(): void {
    let child: ChildProcess;
    try {
      // Its own session: a signal to the daemon's process group (a terminal's Ctrl-C, kill -9 -PGID) leaves it be.
      const started = spawnFenceChild(this.bash, ["-c", FENCE_GUARD_SCRIPT, FENCE_GUARD_NAME], {
        detached: true,
        ...(this.o.env === undefined ? {} : { env: { ...process.env, ...this.o.env } }),
      }, this.pipeHooks());
      child = started.child;
      this.stdin = started.stdin;
    } catch (e) {
      this.died(`cannot be started: ${(e as Error).message}`);
      return;
    }
    this.child = child;
    // Neither the watchdog nor its pipes may keep the daemon's process alive.
    child.unref();
    (child.stdin as { unref?: () => void } | null)?.unref?.();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    watchFenceChild(
      child,
      (line) => relayFenceLine(this.log, line),
      (why) => {
        if (this.child === child) this.died(why);
      },
    );
    this.log.info("fence watchdog on", { pid: child.pid ?? 0 });
    this.writePid();
    this.replay();
  }

  /** A new watchdog learns everything the last one knew. */
  private replay(): void {
    if (this.node !== null) this.send(`node\t${encodeField(this.node)}`);
    if (this.logfile !== null) this.send(`logfile\t${this.logfile}`);
    for (const key of this.vips) this.send(`vip+\t${key}`);
    for (const [module, p] of this.plans) for (const line of planLines(module, p.plan)) this.send(line);
    for (const module of this.holding) this.send(`hold\t${encodeField(module)}`);
    const now = this.clock();
    for (const [module, at] of this.armed) this.send(`arm\t${encodeField(module)}\t${Math.max(0, Math.round(at - now))}`);
  }

  private pipeHooks(): FenceSpawnHooks {
    return {
      onBacklog: (waiting) => {
        if (waiting > 0) this.log.warn("fence watchdog is not reading its pipe: what it is told waits, and a daemon killed meanwhile leaves it unsaid", { waiting_bytes: waiting, pid: this.child?.pid ?? 0 });
        else this.log.info("fence watchdog reads its pipe again");
      },
      onStuck: () => this.log.error("fence watchdog owes too much of its pipe: killing it (a new one is told everything)", { pid: this.child?.pid ?? 0 }),
    };
  }

  private died(how: string): void {
    this.stdin?.end();
    this.stdin = null;
    this.child = null;
    if (this.closed) return;
    this.log.error("fence watchdog process ended; starting it again", { detail: how });
    clearTimeout(this.restart);
    this.restart = setTimeout(() => this.spawn(), RESTART_DELAY_MS);
    (this.restart as { unref?: () => void }).unref?.();
  }
}

let shared: FenceGuard | null | undefined;

/** The daemon's fencing watchdog, if one was started. */
export function fenceGuard(): FenceGuard | undefined {
  return shared ?? undefined;
}

/**
 * Starts the daemon's fencing watchdog, or returns the one already running
 * (the first caller's logger is the one it logs to). Undefined, with one
 * warning, where no bash can be found.
 */
export function startFenceGuard(log: Logger, o: { stateDir?: string } = {}): FenceGuard | undefined {
  if (shared === undefined) {
    const bash = findBash();
    if (bash === undefined) {
      log.warn("fence watchdog not started: no bash found; a daemon that dies leaves its VIPs and services running (with an arbiter, a second vigil process still fences at the lease deadline)", { looked_in: BASH_PATHS.join(" ") });
      shared = null;
    } else {
      shared = new FenceGuard(log, bash);
    }
  }
  if (shared !== null && o.stateDir !== undefined) shared.useStateDir(o.stateDir);
  return shared ?? undefined;
}
