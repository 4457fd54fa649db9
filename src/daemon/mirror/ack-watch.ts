/**
 * The PRIM's watch over the acknowledgements and answers its SECOND owes
 * (the policy: src/core/mirror/ack-bound.ts). Every tenth of the bound
 * (100 ms to 1 s) it reads the age of the oldest op on the wire and of the
 * oldest question (a resync's) not answered; past the bound it drops
 * the link with the reason and connects again only after a pause
 * (reconnectPauseMs), so the writes waiting for that peer are handled
 * as after any outage of the link, and the pings a deaf SECOND no longer
 * reads stop piling up in its socket.
 */
import { ackCheckEveryMs, type OwedAck, type OwedAnswer, owedOverdue, reconnectPauseMs } from "../../core/mirror/ack-bound.ts";

export interface OwingLink {
  /** The oldest op on the wire not acknowledged (its seq, its age in ms); null when none. */
  owedAck(): OwedAck | null;
  /** The oldest question not answered (what was asked, its age in ms); null when none. */
  owedAnswer(): OwedAnswer | null;
  /** Ops acknowledged so far, over every connection. */
  readonly ackedOps: number;
  /** Closes the connection with this reason; it connects again after `pauseMs`. */
  drop(reason: string, pauseMs: number): void;
}

export class AckWatch {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Drops in a row with no acknowledgement since, and the acknowledged count at the last one. */
  private strikes = 0;
  private ackedAtDrop = 0;

  constructor(
    private readonly link: OwingLink,
    private readonly peer: string,
    private readonly boundMs: number,
    /** Told the reason and the pause before the next connection, just before the link is dropped. */
    private readonly onOverdue: (reason: string, pauseMs: number) => void,
  ) {}

  start(): void {
    if (this.timer !== null || this.boundMs <= 0) return;
    this.timer = setInterval(() => this.check(), ackCheckEveryMs(this.boundMs));
    this.timer.unref?.();
  }

  /** One look: drops the link when the oldest acknowledgement or answer is overdue. */
  check(): void {
    const why = owedOverdue(this.peer, { ack: this.link.owedAck(), answer: this.link.owedAnswer() }, this.boundMs);
    if (why === null) return;
    // A peer that acknowledged an op since the last drop is not the same stuck peer. Answers do not
    // count: a SECOND whose applier is stuck still answers what its copy holds from its main thread,
    // then leaves the start of the resync unanswered, at every connection.
    if (this.link.ackedOps !== this.ackedAtDrop) this.strikes = 0;
    this.strikes++;
    this.ackedAtDrop = this.link.ackedOps;
    const pauseMs = reconnectPauseMs(this.boundMs, this.strikes);
    this.onOverdue(why, pauseMs);
    this.link.drop(why, pauseMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
