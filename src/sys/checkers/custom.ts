/**
 * custom checker: a command of the operator's; exit 0 within the timeout
 * means healthy. It runs like a start script (run-script.ts): own process
 * group, killed with everything it started when it overruns, VIGIL_*
 * variables set from `context`.
 */
import { runScript, type ScriptContext } from "../run-script.ts";
import { measure } from "./measure.ts";
import type { Checker } from "./types.ts";

export interface CustomCheckerOptions {
  readonly command: string;
  readonly args?: readonly string[];
  /** Default 10 s; the schedule's own timeout (via the signal) also applies. */
  readonly timeoutMs?: number;
  readonly graceMs?: number;
  readonly context?: ScriptContext;
  readonly env?: Readonly<Record<string, string>>;
}

export const DEFAULT_CUSTOM_TIMEOUT_MS = 10_000;

export function customChecker(opts: CustomCheckerOptions): Checker {
  const target = [opts.command, ...(opts.args ?? [])].join(" ");
  return {
    kind: "custom",
    target,
    run: (signal) =>
      measure(target, async () => {
        const r = await runScript(opts.command, {
          timeoutMs: opts.timeoutMs ?? DEFAULT_CUSTOM_TIMEOUT_MS,
          signal,
          ...(opts.args !== undefined ? { args: opts.args } : {}),
          ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
          ...(opts.context !== undefined ? { context: opts.context } : {}),
          ...(opts.env !== undefined ? { env: opts.env } : {}),
        });
        return { ok: r.ok, detail: `${target}: ${r.message}` };
      }),
  };
}
