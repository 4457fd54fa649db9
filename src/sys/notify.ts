/**
 * Notify scripts on VRRP state changes, with keepalived's conventions so
 * existing scripts keep working:
 * - notify_master / notify_backup / notify_fault / notify_stop run with no
 *   arguments, for the state they are named after;
 * - then `notify` runs for every change with four arguments:
 *   INSTANCE|GROUP, the name, MASTER|BACKUP|FAULT|STOP, the priority.
 *
 * Scripts run one at a time, in the order the changes happened, each with a
 * timeout: a script still running when the next change comes delays the
 * next script, never the change itself (the driver does not wait for
 * notifications before moving addresses).
 */
import { runScript, type ScriptRunner, type ScriptRunResult } from "./track-script.ts";

export type NotifyState = "MASTER" | "BACKUP" | "FAULT" | "STOP";
export type NotifySubject = "INSTANCE" | "GROUP";

export interface NotifyScripts {
  readonly notify?: string;
  readonly master?: string;
  readonly backup?: string;
  readonly fault?: string;
  readonly stop?: string;
}

export interface NotifyCommand {
  readonly path: string;
  readonly args: readonly string[];
}

export const DEFAULT_NOTIFY_TIMEOUT_MS = 10_000;

const SPECIFIC: Readonly<Record<NotifyState, keyof NotifyScripts>> = {
  MASTER: "master",
  BACKUP: "backup",
  FAULT: "fault",
  STOP: "stop",
};

/** What to run for one change, in order: the state's own script, then `notify`. */
export function notifyCommands(scripts: NotifyScripts, subject: NotifySubject, name: string, state: NotifyState, priority: number): NotifyCommand[] {
  const out: NotifyCommand[] = [];
  const own = scripts[SPECIFIC[state]];
  if (own !== undefined) out.push({ path: own, args: [] });
  if (scripts.notify !== undefined) out.push({ path: scripts.notify, args: [subject, name, state, String(priority)] });
  return out;
}

export interface NotifyQueueOptions {
  readonly timeoutMs?: number;
  /** Injectable for tests; runScript by default. */
  readonly run?: ScriptRunner;
  /** Every finished script, passed or failed, for the log. */
  readonly onDone: (command: NotifyCommand, result: ScriptRunResult) => void;
}

/** Runs notify commands one after another, in the order pushed. */
export class NotifyQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly abort = new AbortController();
  private readonly run: ScriptRunner;
  private readonly timeoutMs: number;

  constructor(private readonly opts: NotifyQueueOptions) {
    this.run = opts.run ?? runScript;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  }

  /** Commands waiting or running. */
  get backlog(): number {
    return this.pending;
  }

  push(commands: readonly NotifyCommand[]): void {
    for (const command of commands) {
      this.pending += 1;
      this.tail = this.tail.then(async () => {
        try {
          if (this.abort.signal.aborted) return;
          const result = await this.run(command.path, command.args, { timeoutMs: this.timeoutMs, signal: this.abort.signal });
          this.opts.onDone(command, result);
        } catch {
          // A failing reporter must not stop later notifications.
        } finally {
          this.pending -= 1;
        }
      });
    }
  }

  /** Resolves once everything pushed so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  /** Kills the running script and drops the rest. */
  cancel(): void {
    this.abort.abort();
  }
}
