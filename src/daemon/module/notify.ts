/**
 * A module's notify hooks, run on every transition, in order, one at a time,
 * never delaying the transition itself:
 * - script: `notify MODULE FROM TO REASON` (keepalived passes the instance,
 *   its name and the new state the same way, positionally), with the
 *   VIGIL_MODULE / VIGIL_NODE / VIGIL_ROLE / VIGIL_REASON environment;
 * - webhook: a JSON POST of the transition (src/sys/webhook.ts).
 */
import type { ModuleTransition } from "../../core/module/types.ts";
import { runScript, type RunOptions, type RunResult } from "../../sys/run-script.ts";
import { postWebhook, type WebhookResult } from "../../sys/webhook.ts";
import type { Logger } from "../log.ts";

export const NOTIFY_TIMEOUT_MS = 10_000;

export interface ModuleNotifyOptions {
  readonly module: string;
  readonly node: string;
  readonly cluster: string;
  readonly script?: string | undefined;
  readonly webhook?: string | undefined;
  readonly log: Logger;
  /** Injectable for tests. */
  readonly run?: (command: string, opts: RunOptions) => Promise<RunResult>;
  readonly post?: (url: string, event: unknown) => Promise<WebhookResult>;
}

export class ModuleNotify {
  private tail: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly o: ModuleNotifyOptions) {}

  get configured(): boolean {
    return this.o.script !== undefined || this.o.webhook !== undefined;
  }

  transition(t: ModuleTransition, wallTime: Date): void {
    if (!this.configured) return;
    this.tail = this.tail.then(() => this.deliver(t, wallTime)).catch(() => {});
  }

  /** Resolves once everything queued so far ran. */
  idle(): Promise<void> {
    return this.tail;
  }

  cancel(): void {
    this.abort.abort();
  }

  private async deliver(t: ModuleTransition, wallTime: Date): Promise<void> {
    if (this.abort.signal.aborted) return;
    const { script, webhook, log } = this.o;
    if (script !== undefined) {
      const run = this.o.run ?? runScript;
      const r = await run(script, {
        args: [t.module, t.from, t.to, t.reason],
        timeoutMs: NOTIFY_TIMEOUT_MS,
        signal: this.abort.signal,
        context: { module: t.module, node: this.o.node, role: t.to, reason: t.reason },
      });
      if (!r.ok) log.warn("module notify script failed", { module: t.module, script, detail: r.message });
    }
    if (webhook !== undefined && !this.abort.signal.aborted) {
      const event = {
        event: "module-transition",
        cluster: this.o.cluster,
        node: this.o.node,
        module: t.module,
        from: t.from,
        to: t.to,
        reason: t.reason,
        detail: t.detail,
        seq: t.seq,
        time: wallTime.toISOString(),
      };
      const post = this.o.post ?? ((url: string, ev: unknown) => postWebhook(url, ev, { logger: log, signal: this.abort.signal }));
      await post(webhook, event);
    }
  }
}
