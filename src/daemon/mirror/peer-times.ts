/**
 * Whether the SECOND reads namespace ops with their times folded in
 * (ops.ts). A peer that takes part in the link's feature exchange (this
 * release and later, src/core/link-features.ts) says so at each session's
 * start: the foldedTimes bit of both sides decides, nothing is guessed and
 * no connection is lost to find out.
 *
 * A peer that announces no features (a release before the exchange) is
 * guessed at, as before: some such releases read folded ops, the earliest
 * do not and drop the connection on the first one (an unknown op kind), so
 * the PRIM would go alone and resync again and again. Until one folded op is
 * acknowledged the answer is unknown; a connection that ends with a folded
 * op in flight before any was acknowledged means "no", and from then on such
 * ops travel unfolded (the op, then its utimes ops), as before, until the
 * peer is seen gone (it may come back upgraded). A real link failure at that
 * moment only costs the folding until then.
 */
import { type AgreedFeatures, LINK_FEATURE } from "../../core/link-features.ts";
import type { SendOutcome } from "../../net/replication-link-client.ts";
import { type MirrorOp, timesOf, unfoldTimes } from "../../replicator/ops.ts";

export type PeerTimesSupport = "unknown" | "yes" | "no";

export class PeerTimes {
  private support: PeerTimesSupport = "unknown";
  /** `support` was told by the peer's features (not guessed): no dropped connection changes it. */
  private told = false;

  get state(): PeerTimesSupport {
    return this.support;
  }

  /**
   * A link session started with what its feature exchange agreed on. A peer
   * that announced features decides by the foldedTimes bit; one that
   * announced none (a release before the exchange) keeps the guess made of
   * it so far, or is guessed at afresh after a peer that told (a rollback).
   */
  session(agreed: AgreedFeatures): void {
    if (agreed.peer !== null) {
      this.support = (agreed.common & LINK_FEATURE.foldedTimes) !== 0 ? "yes" : "no";
      this.told = true;
    } else if (this.told) {
      this.support = "unknown";
      this.told = false;
    }
  }

  /** The ops to send for `op`, in order (one, or the op unfolded for a peer that cannot read it). */
  wire(op: MirrorOp): MirrorOp[] {
    return this.support === "no" ? unfoldTimes(op) : [op];
  }

  /**
   * What became of `sent` (as wire() gave it for `op`); returns a line for
   * the log when the peer was just found not to read folded times.
   */
  outcome(op: MirrorOp, sent: readonly MirrorOp[], out: SendOutcome): string | null {
    if (sent.length !== 1 || timesOf(op) === undefined) return null;
    if (out.delivered) {
      if (this.support === "unknown") this.support = "yes";
      return null;
    }
    if (this.told || this.support !== "unknown" || !out.maybeApplied) return null;
    this.support = "no";
    return "the connection ended with a namespace op carrying its times before the peer acknowledged any: it may run an earlier release; they now travel as separate utimes ops until the peer is seen gone";
  }

  /** The peer was seen dead or stopped: it may return upgraded (or rolled back); its next session tells. */
  peerGone(): void {
    this.support = "unknown";
    this.told = false;
  }
}

/**
 * One outcome for ops sent in a row: not delivered if one was not (maybe
 * applied if any part may have been), else the first not applied, else the last.
 */
export function combineOutcomes(outs: readonly SendOutcome[]): SendOutcome {
  const undelivered = outs.find((o) => !o.delivered);
  if (undelivered !== undefined && !undelivered.delivered) {
    return { delivered: false, maybeApplied: outs.some((o) => o.delivered || o.maybeApplied), reason: undelivered.reason };
  }
  const failed = outs.find((o) => o.delivered && !o.result.ok);
  return failed ?? outs[outs.length - 1]!;
}
