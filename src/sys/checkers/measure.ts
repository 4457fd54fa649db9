/**
 * Helpers every checker shares: timing a run, turning anything thrown into
 * a failed result, and combining the caller's signal with a checker's own
 * timeout.
 */
import type { CheckResult } from "./types.ts";

export type Outcome = { readonly ok: boolean; readonly detail: string };

/** Runs `body`, timing it; a throw or rejection becomes a failure naming `target`. */
export async function measure(target: string, body: () => Promise<Outcome>): Promise<CheckResult> {
  const started = performance.now();
  let outcome: Outcome;
  try {
    outcome = await body();
  } catch (e) {
    outcome = { ok: false, detail: `${target}: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { ...outcome, durationMs: Math.round(performance.now() - started) };
}

/** `signal`, also aborted after `timeoutMs` when one is given. */
export function withTimeout(signal: AbortSignal, timeoutMs: number | undefined): AbortSignal {
  if (timeoutMs === undefined) return signal;
  return AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
}

/** Why a run was cut short, for its detail. */
export function abortText(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name === "TimeoutError") return "timed out";
  return "aborted";
}

export function errorCode(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
}

const WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "name not found",
  EAI_AGAIN: "name lookup failed",
  EADDRNOTAVAIL: "address not available",
  EPIPE: "connection closed",
};

/** "connection refused (ECONNREFUSED)", or the error's own message. */
export function describeError(e: unknown): string {
  const code = errorCode(e);
  const word = WORDS[code];
  if (word !== undefined) return `${word} (${code})`;
  if (e instanceof Error) return e.message;
  return String(e);
}
