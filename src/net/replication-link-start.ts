/**
 * Carries out the feature exchange at a session's start
 * (src/core/link-features.ts) on one LinkSession: the messages the core
 * asks for go out, the peer's features and "ready" go through it, and the
 * other messages reach the link once the core says so.
 */
import {
  type AgreedFeatures, beginSession, type LinkFeatures, type LinkRole, type SessionStartConfig, type SessionStartEvent,
  type SessionStartState, stepSession,
} from "../core/link-features.ts";
import type { ReplicationMessage } from "../proto/replication.ts";
import type { LinkSession } from "./replication-link-session.ts";

export interface SessionStartHandlers {
  /** The session is up, with what both sides have; once. */
  open(agreed: AgreedFeatures): void;
  /** A message for the link (never the exchange's own). */
  deliver(m: ReplicationMessage): void;
}

export class SessionStart {
  private readonly cfg: SessionStartConfig;
  private state: SessionStartState = { phase: "owed" };
  private session: LinkSession | null = null;

  /** `ours` null: this side does not take part (it behaves as the previous release: tells and reads no features). */
  constructor(
    role: LinkRole,
    private readonly ours: LinkFeatures | null,
    peer: string,
    private readonly handlers: SessionStartHandlers,
  ) {
    this.cfg = { role, ours: ours ?? { version: 1, bits: 0 }, peer };
  }

  /** Whether this side offers the exchange in its handshake. */
  get offers(): boolean {
    return this.ours !== null;
  }

  /** The session after its handshake, in which the peer did or did not offer the exchange. */
  begin(session: LinkSession, peerOffers: boolean): void {
    this.session = session;
    const s = beginSession(this.cfg, peerOffers && this.ours !== null);
    this.apply(s.state, s.actions, null);
  }

  /** A message of the session (SessionHandlers.message). */
  receive(m: ReplicationMessage): void {
    const ev: SessionStartEvent = m.type === "features" ? { type: "features", features: { version: m.version, bits: m.bits } } : m.type === "ready" ? { type: "ready" } : { type: "other", what: m.type };
    const s = stepSession(this.cfg, this.state, ev);
    this.apply(s.state, s.actions, m);
  }

  private apply(state: SessionStartState, actions: ReturnType<typeof stepSession>["actions"], m: ReplicationMessage | null): void {
    this.state = state;
    const session = this.session;
    if (session === null) return;
    for (const a of actions) {
      switch (a.type) {
        case "send-features":
          session.send({ type: "features", version: a.features.version, bits: a.features.bits });
          break;
        case "send-ready":
          session.send({ type: "ready" });
          break;
        case "open":
          this.handlers.open(a.agreed);
          break;
        case "deliver":
          if (m !== null) this.handlers.deliver(m);
          break;
        case "close":
          session.close(a.reason);
          break;
      }
    }
  }
}
