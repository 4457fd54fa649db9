/**
 * One row of bench/soak.ts's samples, as its JSON report stores them; the
 * per-window report (bench/soak-windows.ts) reads the same rows back.
 */
export interface SoakSample {
  t: number;
  node: string;
  /** Which life of the node's daemon (1 = the first; a kill and restart starts the next). */
  life: number;
  rssKiB: number;
  /** The anonymous part of RSS (heap, stacks): RSS also counts pages of the binary read in as new code runs. */
  anonKiB: number;
  cpuPercent: number;
  fds: number;
  falseDead: number;
  unexpectedTransitions: number;
  unexpectedVrrp: number;
  stalls: number;
  statusFailures: number;
}
