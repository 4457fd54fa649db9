/**
 * The fallback fencing watchdog process (`vigil __fence`, started by the
 * daemon only where no bash runs the small one, guard.ts; see watchdog.ts):
 * reads arm/disarm lines on stdin, keeps its own timers, and when a
 * module's deadline passes takes it down by itself: its VIPs removed first
 * (ip addr del), then its stop scripts in the order given. It works on
 * while the daemon is frozen, and once the daemon died (stdin closed) it
 * fences every armed module at once, then leaves.
 *
 * Log lines go to stderr as JSON ({level, msg, ...fields}); the daemon puts
 * them into its own log. Once stdin closed (the daemon stopped or died) or
 * stderr failed, they go to the daemon's log file instead, if the daemon
 * named it (child-log-file.ts): nobody may read stderr any more.
 *
 * SIGINT, SIGTERM and SIGHUP are ignored: a Ctrl-C or a service stop
 * reaches the daemon too, which stops its modules and then closes our
 * stdin; a fence must not be lost to the signal meanwhile.
 */
import { runScript, type RunOptions, type RunResult } from "../../sys/run-script.ts";
import { removeVip } from "../../sys/vip.ts";
import { type FenceAction, type FenceEvent, type FenceState, initFence, nextFenceWake, stepFence } from "../../core/fence/watchdog.ts";
import { parseFenceMessage } from "./messages.ts";
import { stdioOutlet } from "../../sys/outlet.ts";
import { FenceLogFile } from "./child-log-file.ts";

/** The internal verb that starts this process; not listed in the help. */
export const FENCE_VERB = "__fence";

type Fields = Record<string, string | number | boolean>;

export interface FenceChildIo {
  /** Monotonic ms of this process. */
  now(): number;
  removeVip(address: string, iface: string): Promise<{ ok: true; removed: boolean } | { ok: false; message: string }>;
  run(command: string, opts: RunOptions): Promise<RunResult>;
  log(level: "info" | "warn" | "error", msg: string, fields: Fields): void;
  setTimer(fn: () => void, ms: number): () => void;
  exit(): void;
  /** The daemon's log file and its line format (its `logfile` message). */
  useLogFile?(path: string, format: "text" | "json"): void;
  /** Stdin closed: nobody may read stderr from now on. */
  daemonGone?(): void;
}

export class FenceChild {
  private state: FenceState = initFence();
  private cancelTimer: (() => void) | null = null;
  private pending = "";

  constructor(private readonly io: FenceChildIo) {}

  /** Bytes from stdin: complete lines are taken, a partial one waits for the rest. */
  data(chunk: string): void {
    this.pending += chunk;
    let nl = this.pending.indexOf("\n");
    while (nl >= 0) {
      const line = this.pending.slice(0, nl).trim();
      this.pending = this.pending.slice(nl + 1);
      if (line !== "") this.line(line);
      nl = this.pending.indexOf("\n");
    }
  }

  line(line: string): void {
    const p = parseFenceMessage(line);
    if (!p.ok) {
      this.io.log("error", "fence watchdog: message ignored", { detail: p.message });
      return;
    }
    const m = p.message;
    if (m.type === "logfile") this.io.useLogFile?.(m.path, m.format);
    else if (m.type === "disarm") this.input(m);
    else this.input({ type: "arm", module: m.module, deadline: this.io.now() + m.inMs, plan: { vips: m.vips, stops: m.stops } });
  }

  closed(): void {
    if (this.pending.trim() !== "") this.line(this.pending.trim());
    this.pending = "";
    this.io.daemonGone?.();
    this.input({ type: "closed" });
  }

  get armed(): readonly string[] {
    return [...this.state.armed.keys()];
  }

  private input(ev: FenceEvent): void {
    const s = stepFence(this.state, ev, this.io.now());
    this.state = s.state;
    // The fences first: a log line (a write to a file now) never delays one.
    for (const a of s.actions) if (a.type === "fence") this.carryOut(a);
    for (const a of s.actions) if (a.type !== "fence") this.carryOut(a);
    this.schedule();
  }

  private schedule(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    const at = nextFenceWake(this.state);
    if (at === null) return;
    // +1: a timer that fires a hair early would find nothing due and not re-arm.
    this.cancelTimer = this.io.setTimer(() => {
      this.cancelTimer = null;
      this.input({ type: "tick" });
    }, Math.max(0, at - this.io.now()) + 1);
  }

  private carryOut(a: FenceAction): void {
    switch (a.type) {
      case "log":
        this.io.log(a.level, a.msg, a.fields);
        break;
      case "exit":
        this.cancelTimer?.();
        this.io.exit();
        break;
      case "fence":
        // Started before its line is written: the VIPs' `ip addr del` are spawned by then.
        void this.fence(a).then(() => this.input({ type: "fenced", module: a.module }));
        this.io.log("warn", "fence watchdog: deadline passed, fencing the module here", { module: a.module, late_ms: Math.round(a.lateMs) });
        break;
    }
  }

  private async fence(a: Extract<FenceAction, { type: "fence" }>): Promise<void> {
    // Addresses first and all at once: a VIP left up is what lets two nodes answer.
    await Promise.all(a.plan.vips.map(async (v) => {
      const r = await this.io.removeVip(v.address, v.interface).catch((e: unknown) => ({ ok: false as const, message: String(e) }));
      if (r.ok) this.io.log("warn", r.removed ? "fence watchdog: VIP removed" : "fence watchdog: VIP was not there", { module: a.module, vip: v.address, interface: v.interface });
      else this.io.log("error", "fence watchdog: VIP not removed", { module: a.module, vip: v.address, interface: v.interface, detail: r.message });
    }));
    for (const s of a.plan.stops) {
      const r = await this.io.run(s.command, { args: s.args, timeoutMs: s.timeoutMs, env: s.env });
      const fields = { module: a.module, command: [s.command, ...s.args].join(" "), detail: r.message };
      if (r.ok) this.io.log("warn", "fence watchdog: stop ran", fields);
      else this.io.log("error", "fence watchdog: stop failed", fields);
    }
    this.io.log("warn", "fence watchdog: module fenced", { module: a.module });
  }
}

/**
 * The last lines (what was removed, what was stopped) are what the operator
 * reads after a fence, and under Bun process.exit drops what stderr still
 * buffers: the exit waits for them, after the fencing is done. Bounded, as
 * the reader may be a frozen daemon: what its pipe cannot take waits in our
 * memory up to STDERR_MAX_BACKLOG (then lines are dropped and counted, never
 * blocking a fence), and the exit waits at most STDERR_STALL_MS without
 * progress and EXIT_WAIT_MAX_MS in all.
 */
const STDERR_MAX_BACKLOG = 1024 * 1024;
const STDERR_STALL_MS = 3000;
const EXIT_WAIT_MAX_MS = 10_000;

function hostIo(): FenceChildIo {
  const stderr = stdioOutlet("stderr");
  const file = new FenceLogFile();
  /** Stdin closed or stderr failed (EPIPE): lines go to the log file, if it is known. */
  let unread = false;
  process.stderr.on("error", () => {
    unread = true;
  });
  const log = (level: "info" | "warn" | "error", msg: string, fields: Fields): void => {
    const at = new Date();
    if (unread && file.write(level, msg, fields, at)) return;
    // `at`: when it happened; the daemon may relay the line much later (it was frozen).
    stderr.write(JSON.stringify({ level, msg, at: at.toISOString(), ...fields }) + "\n");
  };
  stderr.limit({
    maxBacklogBytes: STDERR_MAX_BACKLOG,
    stallMs: STDERR_STALL_MS,
    resumed: (dropped) => log("warn", "fence watchdog: log lines dropped while stderr was not read", { dropped }),
  });
  let leaving = false;
  return {
    now: () => performance.now(),
    async removeVip(address, iface) {
      const r = await removeVip({ address, interface: iface });
      return r.ok ? { ok: true, removed: !r.alreadyGone } : { ok: false, message: r.message };
    },
    run: runScript,
    log,
    useLogFile: (path, format) => file.use(path, format),
    daemonGone() {
      unread = true;
    },
    setTimer(fn, ms) {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    },
    exit() {
      if (leaving) return;
      leaving = true;
      setTimeout(() => process.exit(0), EXIT_WAIT_MAX_MS);
      void stderr.flushed().then(() => process.exit(0));
    },
  };
}

/** `vigil __fence`: runs until the daemon closed stdin and nothing armed is left. */
export function runFenceChild(): Promise<number> {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => {});
  const child = new FenceChild(hostIo());
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (c: string) => child.data(c));
  process.stdin.on("end", () => child.closed());
  process.stdin.on("error", () => child.closed());
  // Never resolves: the process leaves through exit() once it is done.
  return new Promise(() => {});
}
