/**
 * What the connections of one replication link know together: when a
 * record of the peer was last read on any of them. The link is two TCP
 * connections (this node's client to the peer's server, the peer's client
 * to ours) and the peer's vigil is one process: a record on one is a sign
 * of life for the other too. A peer whose timers run late while its main
 * thread keeps working (a long resync on a loaded host) still sends
 * acknowledgements, answers and ops on one connection when its timed pings
 * on the other are late; each connection judging its own silence alone then
 * cut the link, and the resync under way with it, although the peer was
 * demonstrably running.
 *
 * What a connection may borrow, and why it is bounded (the session's tick
 * applies it, see LinkSession): a connection silent for deadtime stays open
 * while the peer was heard on another one within deadtime, except where a
 * path failed under that connection only (two links, each connection on
 * another) would leave something waiting on it:
 * - a client connection that owes us an answer (an op not acknowledged, a
 *   question not answered) for longer than deadtime borrows nothing: what
 *   it carries is stuck, which is the failure the deadtime is there to find.
 *   Owing nothing, it carries nothing anybody waits for, and the first op
 *   or question it carries later is judged so;
 * - a server connection owes nothing (the peer's client asks, we answer):
 *   nothing tells it that an op of the peer is on its way. The peer's
 *   client does know: once its op waits for deadtime it closes, the link is
 *   down on the peer's side, and the peer's driver then closes the link's
 *   other connection too (MirrorDriver.linkDown), which reaches us over the
 *   path that still works. So a SECOND whose PRIM's ops cannot reach it
 *   still sees its link go down, outdates its copy (mirror rule 4), and the
 *   PRIM does not hold its writes for longer than before (rule 3).
 * Records read in the first moments after a stall of ours or a read pause
 * waited in our kernel: they are not lent (the session forgives its own
 * silence across such moments anyway).
 * A dead peer (killed, frozen, its cable pulled) sends on no connection, so
 * every connection still closes one deadtime after the last record read on
 * any of them, as before.
 */
export class PeerHearing {
  private last = -Infinity;

  /** A record of the peer was read at `at` (monotonic ms). */
  heard(at: number): void {
    if (at > this.last) this.last = at;
  }

  /** When a record of the peer was last read on any connection of the link; -Infinity before the first. */
  get lastHeardAt(): number {
    return this.last;
  }
}
