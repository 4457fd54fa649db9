/** Summaries of samples: medians and percentiles, as the benchmark tables report them. */

export interface Summary {
  n: number;
  min: number;
  median: number;
  p90: number;
  p95: number;
  max: number;
  mean: number;
}

/**
 * The p-th percentile (0..100) by linear interpolation between the two
 * nearest ranks, so the median of [1, 2, 3, 4] is 2.5. NaN for no samples.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be within 0..100, got ${p}`);
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (rank - lo);
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { n: 0, min: Number.NaN, median: Number.NaN, p90: Number.NaN, p95: Number.NaN, max: Number.NaN, mean: Number.NaN };
  return {
    n: xs.length,
    min: Math.min(...xs),
    median: median(xs),
    p90: percentile(xs, 90),
    p95: percentile(xs, 95),
    max: Math.max(...xs),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  };
}

/** a / b for the tables: null when either side is missing or b is 0, so nothing divides by zero silently. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/** Least-squares slope of y over x (e.g. MiB per hour); null for fewer than 3 points or no spread in x. */
export function slope(points: readonly { x: number; y: number }[]): number | null {
  if (points.length < 3) return null;
  const mx = points.reduce((s, p) => s + p.x, 0) / points.length;
  const my = points.reduce((s, p) => s + p.y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}
