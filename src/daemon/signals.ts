/**
 * SIGTERM, SIGINT and SIGHUP for the node daemon. Taken before the state lock,
 * the first thing a stop must undo: from then on a stop is always a clean
 * one, also in the middle of start-up (start-up stops at its next step and
 * undoes what has started).
 */
import type { Logger } from "./log.ts";

export interface DaemonSignals {
  /** The first stop signal so far. */
  stopAsked(): string | undefined;
  /** Resolves with the first stop signal. */
  readonly stopped: Promise<string>;
  /**
   * From now on a SIGHUP is kept, not ignored: "vigil started" has told the
   * operator that a SIGHUP reloads, but start-up's last steps are still running.
   */
  holdReloads(): void;
  /**
   * From now on SIGHUP calls `reload`, and a SIGHUP kept since holdReloads is
   * carried out now (unless a stop was asked meanwhile). Before holdReloads,
   * SIGHUP is ignored with a warning.
   */
  onReload(reload: () => void): void;
  /** Gives the signals back to the runtime. */
  release(): void;
}

export function takeSignals(log: Logger): DaemonSignals {
  let asked: string | undefined;
  let resolveStopped: (signal: string) => void = () => {};
  const stopped = new Promise<string>((r) => (resolveStopped = r));
  let reload: (() => void) | undefined;
  let holding = false;
  let held = false;
  const onStop = (signal: string): void => {
    if (asked !== undefined) return;
    asked = signal;
    resolveStopped(signal);
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGTERM", () => onStop("SIGTERM")],
    ["SIGINT", () => onStop("SIGINT")],
    ["SIGHUP", () => {
      if (reload !== undefined) reload();
      else if (holding) {
        if (!held) log.info("SIGHUP kept: the reload runs once start-up's last steps are done");
        held = true;
      } else log.warn("SIGHUP during start-up ignored: the config being started is the one just read; send SIGHUP again after \"vigil started\" to reload");
    }],
  ];
  for (const [sig, fn] of handlers) process.on(sig, fn);
  return {
    stopAsked: () => asked,
    stopped,
    holdReloads: () => {
      holding = true;
    },
    onReload: (fn) => {
      reload = fn;
      if (held && asked === undefined) fn();
      held = false;
    },
    release() {
      for (const [sig, fn] of handlers) process.off(sig, fn);
    },
  };
}
