/**
 * How far a resync is, as the daemon shows it (status, console, metrics).
 * A value object: the driver fills it, `withRate` derives rate and ETA.
 */

export type ResyncPhase = "scanning" | "renames" | "namespace" | "data" | "metadata" | "revisit" | "done" | "interrupted";

export interface ResyncProgress {
  readonly phase: ResyncPhase;
  /** "full": every entry compared; "journal": only what the ALONE journal marked. */
  readonly mode: "full" | "journal";
  /** Regular files whose data the resync looks at, and how many are finished. */
  readonly filesTotal: number;
  readonly filesDone: number;
  /** Bytes to look at (compared or sent) and looked at so far. */
  readonly bytesTotal: number;
  readonly bytesDone: number;
  /** Payload bytes of write ops sent to the SECOND. */
  readonly bytesSent: number;
  /** Bytes of block checksums received from the SECOND. */
  readonly sumBytesReceived: number;
  /** Ops sent (namespace, data and metadata). */
  readonly opsSent: number;
  readonly startedAtMs: number;
  readonly elapsedMs: number;
  /** bytesDone per second since the start; 0 before any. */
  readonly bytesPerSec: number;
  /** Seconds left at that rate; null while unknown. */
  readonly etaSec: number | null;
}

export type ProgressCounts = Omit<ResyncProgress, "elapsedMs" | "bytesPerSec" | "etaSec">;

export function withRate(c: ProgressCounts, nowMs: number): ResyncProgress {
  const elapsedMs = Math.max(0, nowMs - c.startedAtMs);
  const bytesPerSec = elapsedMs > 0 ? (c.bytesDone * 1000) / elapsedMs : 0;
  const left = Math.max(0, c.bytesTotal - c.bytesDone);
  const etaSec = c.phase === "done" ? 0 : bytesPerSec > 0 ? left / bytesPerSec : null;
  return { ...c, elapsedMs, bytesPerSec, etaSec };
}
