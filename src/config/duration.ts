/**
 * Durations as operators write them in vigil.yaml: a number and a unit
 * (`100ms`, `2s`, `1.5s`, `1m`, `1h`); `0s` for none. Internally every
 * duration is a whole number of milliseconds.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Milliseconds, or undefined when `s` is not a duration or not a whole number of milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = DURATION.exec(s);
  if (m === null) return undefined;
  const unit = UNIT_MS[m[2] as keyof typeof UNIT_MS];
  const [whole, frac = ""] = (m[1] as string).split(".");
  // Decimal arithmetic on the digits: 1.1s must be exactly 1100 ms, which
  // floating point multiplication does not promise.
  const digits = BigInt(`${whole}${frac}`);
  const scale = 10n ** BigInt(frac.length);
  const total = digits * BigInt(unit);
  if (total % scale !== 0n) return undefined;
  const ms = total / scale;
  if (ms > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(ms);
}

/**
 * The most readable exact spelling: whole hours, minutes or seconds when they
 * fit, decimal seconds from one second up, milliseconds below. Always parses
 * back to the same number with parseDuration.
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in whole milliseconds: ${ms}`);
  if (ms === 0) return "0s";
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  if (ms % UNIT_MS.s === 0) return `${ms / UNIT_MS.s}s`;
  if (ms < UNIT_MS.s) return `${ms}ms`;
  const frac = String(ms % UNIT_MS.s).padStart(3, "0").replace(/0+$/, "");
  return `${Math.floor(ms / UNIT_MS.s)}.${frac}s`;
}
