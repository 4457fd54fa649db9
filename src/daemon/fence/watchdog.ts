/**
 * The daemon's side of the fencing watchdog: a second process of the same
 * program (`vigil __fence`, child.ts) that takes a module
 * down when its watchdog deadline passes, even while this daemon is frozen
 * (SIGSTOP, a stalled disk, a swap storm) or after it died. The module core
 * also fences itself on its own ticks; this process is what makes the
 * deadline hold when those ticks do not come.
 *
 * - Deadlines go over as "ms from now", read off the core's clock at send
 *   time: the two processes share no clock (see messages.ts).
 * - Each arm carries the module's fence plan (VIPs, stop commands), so the
 *   child needs no config and keeps no state beyond what it was sent.
 * - If the child dies, it is started again and every armed deadline is sent
 *   to the new one.
 * - Its stderr lines (JSON) go into the daemon's log; it is told the log
 *   file, where it writes them itself once this daemon is gone.
 *
 * How the child is started: the built binary runs itself (process.execPath
 * __fence); under `bun src/main.ts` and `deno run src/main.ts` the runtime
 * runs main.ts again. Node cannot run the TypeScript source by itself, so
 * there (tests) no child is started unless a command is given.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModuleResource } from "../../core/module/types.ts";
import { FENCE_VERB } from "./child.ts";
import { encodeFenceMessage, type FenceMessage, type FencePlan, type FenceStop, type FenceVip, type FenceWatchdog } from "./messages.ts";
import type { Logger } from "../log.ts";
import { startFenceGuard } from "./guard.ts";
import { relayFenceLine } from "./relay.ts";
import { type FenceStdin, spawnFenceChild, watchFenceChild } from "./child-pipes.ts";
import { DEFAULT_RESOURCE_TIMEOUT_MS } from "../module/resources.ts";

export type { FencePlan } from "./messages.ts";

export type FenceCommand = { ok: true; argv: readonly string[] } | { ok: false; why: string };

/** How this program starts itself as the fencing watchdog, under the runtime it runs on. */
export function fenceCommand(): FenceCommand {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  const compiled = import.meta.url.includes("$bunfs") || (process.argv[1] ?? "").startsWith("/$bunfs/");
  if (compiled) return { ok: true, argv: [process.execPath, FENCE_VERB] };
  const main = fileURLToPath(new URL("../../main.ts", import.meta.url));
  if (g.Deno !== undefined) return { ok: true, argv: [process.execPath, "run", "--allow-all", main, FENCE_VERB] };
  if (g.Bun !== undefined) return { ok: true, argv: [process.execPath, main, FENCE_VERB] };
  return { ok: false, why: "Node cannot run the TypeScript source as a second process; use the built binary, bun or deno" };
}

/** What the child must take down for a module: every VIP, and the stops in reverse start order. */
export function fencePlanOf(
  resources: readonly ModuleResource[],
  o: { module: string; node: string; stopTimeoutMs?: number; interfaceFor: (address: string) => string | null },
): FencePlan {
  const env = { VIGIL_MODULE: o.module, VIGIL_NODE: o.node, VIGIL_REASON: "fenced" };
  const vips: FenceVip[] = [];
  const stops: FenceStop[] = [];
  for (const r of resources) {
    if (r.kind !== "vip") continue;
    const iface = r.interface ?? o.interfaceFor(r.address);
    // No interface holds its subnet: the address cannot be on one either.
    // With its prefix: the watchdog removes it as it was added.
    if (iface !== null) vips.push({ address: r.address, interface: iface });
  }
  for (const r of [...resources].reverse()) {
    const timeoutMs = ("timeouts" in r ? r.timeouts?.stopMs : undefined) ?? o.stopTimeoutMs ?? DEFAULT_RESOURCE_TIMEOUT_MS;
    if (r.kind === "script" && r.stop !== null) stops.push({ command: r.stop, args: [], timeoutMs, env });
    if (r.kind === "service") stops.push({ command: "systemctl", args: ["stop", r.unit], timeoutMs, env });
  }
  return { vips, stops };
}

/** After the child died, wait this long before starting another (a child that cannot start must not spin). */
const RESTART_DELAY_MS = 1000;

export interface FenceWatchdogOptions {
  /** Default: fenceCommand(). */
  readonly command?: FenceCommand;
  /** The module cores' clock (monotonic ms); performance.now() by default. */
  readonly clock?: () => number;
  /**
   * Where the child's PID is kept (in the state dir). A child left by an
   * earlier run of the daemon (one that crashed) is ended at our start:
   * it would otherwise fence, at its old deadline, what this run starts.
   * Our own start-up cleanup stops whatever it was guarding.
   */
  readonly pidFile?: string;
}

/**
 * The fencing watchdog for the arbiter's deadlines: the daemon's small bash
 * watchdog (guard.ts), which also covers a daemon that dies; where no bash
 * can be found, or a command is given (tests), a second process of this
 * program as described above. Undefined (logged) when neither can run.
 */
export function startFenceWatchdog(log: Logger, o: FenceWatchdogOptions = {}): FenceWatchdog | undefined {
  if (o.command === undefined) {
    const guard = startFenceGuard(log, o.pidFile === undefined ? {} : { stateDir: dirname(o.pidFile) });
    if (guard !== undefined) return guard.watchdog();
  }
  const command = o.command ?? fenceCommand();
  if (!command.ok) {
    log.warn("fence watchdog not started: only the daemon's own ticks fence its modules", { reason: command.why });
    return undefined;
  }
  if (o.pidFile !== undefined) endEarlierChild(o.pidFile, log);
  return new FenceProcess(log, command.argv, o.clock ?? (() => performance.now()), o.pidFile);
}

/** Ends the fencing watchdog an earlier run recorded in `pidFile`, if that PID is still one. */
function endEarlierChild(pidFile: string, log: Logger): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return; // No earlier run, or it never started one.
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return; // Gone.
  }
  // The PID may have been reused by now: only a fencing watchdog is ended.
  if (!cmdline.includes(FENCE_VERB)) return;
  try {
    process.kill(pid, "SIGKILL");
    log.warn("fence watchdog of an earlier run ended: this run's start-up cleanup stops what it guarded", { pid });
  } catch {
    // Gone meanwhile.
  }
}

interface Armed {
  /** On our clock. */
  readonly deadline: number;
  readonly plan: FencePlan;
}

class FenceProcess implements FenceWatchdog {
  private child: ChildProcess | null = null;
  private stdin: FenceStdin | null = null;
  private readonly armed = new Map<string, Armed>();
  private closed = false;
  private restart: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly log: Logger, private readonly argv: readonly string[], private readonly clock: () => number, private readonly pidFile: string | undefined) {
    this.spawn();
  }

  arm(module: string, inMs: number, plan: FencePlan): void {
    this.armed.set(module, { deadline: this.clock() + inMs, plan });
    this.send({ type: "arm", module, inMs, vips: plan.vips, stops: plan.stops });
  }

  disarm(module: string): void {
    this.armed.delete(module);
    this.send({ type: "disarm", module });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.restart);
    // Nothing armed: the child leaves at once, and the next start (a reload) must not take it for a crashed run's.
    if (this.armed.size === 0 && this.pidFile !== undefined) rmSync(this.pidFile, { force: true });
    this.stdin?.end();
    this.stdin = null;
    // Not waited for: with a module still armed it stays until that deadline.
    this.child?.unref();
    this.child = null;
  }

  /** In the child's pipe when this returns (child-pipes.ts): an arm is heard before the lease is used. */
  private send(m: FenceMessage): void {
    this.stdin?.write(encodeFenceMessage(m) + "\n"); // None: sent again to the next child.
  }

  private spawn(): void {
    const [command, ...args] = this.argv;
    if (command === undefined) return;
    let child: ChildProcess;
    try {
      const started = spawnFenceChild(command, args, {}, {
        onBacklog: (waiting) => {
          if (waiting > 0) this.log.warn("fence watchdog is not reading its pipe: what it is told waits, and a daemon killed meanwhile leaves it unsaid", { waiting_bytes: waiting, pid: this.child?.pid ?? 0 });
          else this.log.info("fence watchdog reads its pipe again");
        },
        onStuck: () => this.log.error("fence watchdog owes too much of its pipe: killing it (a new one is told everything)", { pid: this.child?.pid ?? 0 }),
      });
      child = started.child;
      this.stdin = started.stdin;
    } catch (e) {
      this.died(`cannot be started: ${(e as Error).message}`);
      return;
    }
    this.child = child;
    watchFenceChild(
      child,
      (line) => relayFenceLine(this.log, line),
      (why) => {
        if (this.child === child) this.died(why);
      },
    );
    this.log.info("fence watchdog on", { pid: child.pid ?? 0 });
    if (this.pidFile !== undefined && child.pid !== undefined) {
      try {
        writeFileSync(this.pidFile, `${child.pid}\n`);
      } catch (e) {
        this.log.warn("fence watchdog PID not saved; after a crash, a restart will not end it", { file: this.pidFile, detail: (e as Error).message });
      }
    }
    // Where its lines go once we are gone: nobody reads its stderr then.
    const file = this.log.logFile();
    if (file !== undefined) this.send({ type: "logfile", path: resolve(file.path), format: this.log.lineFormat() });
    // A new child after a restart: every deadline still armed, now (a passed one fences at once).
    const now = this.clock();
    for (const [module, a] of this.armed) this.send({ type: "arm", module, inMs: a.deadline - now, vips: a.plan.vips, stops: a.plan.stops });
  }

  private died(how: string): void {
    this.stdin?.end();
    this.stdin = null;
    this.child = null;
    if (this.closed) return;
    this.log.error("fence watchdog process ended; starting it again", { detail: how, armed: [...this.armed.keys()].join(" ") });
    clearTimeout(this.restart);
    this.restart = setTimeout(() => this.spawn(), RESTART_DELAY_MS);
  }
}
