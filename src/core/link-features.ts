/**
 * The replication link's feature exchange at the start of a session (pure).
 *
 * Each side tells a protocol version and a set of feature bits; each uses
 * only what both have (the bits of both). The previous release, version 1,
 * tells nothing and reads nothing of it, and its decoders refuse what they
 * do not know, so nothing may reach it that it did not speak before:
 *
 * - a side that can take part says so in its handshake nonce (its last bytes
 *   are a fixed mark, src/proto/replication-handshake.ts); the nonces are in
 *   the handshake's transcript, which both proofs cover, so no one on the
 *   path can take the mark away;
 * - only towards a peer that showed the mark does a side send its
 *   "features" message, as its first sealed record: the client (the PRIM)
 *   right after its proof, the server (the SECOND) once it checked that
 *   proof; the server's "ready" follows the client's features, so a PRIM
 *   is never up on a session its SECOND did not take whole;
 * - a peer without the mark (the previous release) has no features: the
 *   session starts as before, with none in use;
 * - a peer of a later version tells bits this one does not know: they are
 *   left out by the intersection, and the fields it may add after them are
 *   skipped by the decoder; it is served with what both have.
 *
 * The client is up once it has the server's features (when owed) and its
 * "ready"; the server once it has the client's features (when owed), which
 * must come before anything else; they were sent with the client's proof,
 * so the ready waits for no extra round trip. A peer that breaks the order, or tells its
 * features unasked or twice, has the connection closed with a reason naming
 * it; a features message that does not decode closes it in the session
 * (src/net/replication-link-session.ts), as any malformed message does.
 */

import { REPLICATION_VERSION } from "../proto/replication.ts";
import type { ResyncRequest } from "../proto/replication-resync.ts";

/** This release's announcement: its version of the link protocol (src/proto/replication.ts) and every feature it has. */
export function ourFeatures(): LinkFeatures {
  return { version: REPLICATION_VERSION, bits: LINK_FEATURES_ALL };
}

/** Feature bits. A bit once given keeps its meaning for good. */
export const LINK_FEATURE = {
  /** A listing request may ask for entries without their xattrs (src/proto/replication-resync.ts). */
  listingWithoutXattrs: 1 << 0,
  /**
   * The side reads namespace ops with their times folded in (src/replicator/ops.ts);
   * without it they travel as the op, then its utimes ops (src/daemon/mirror/peer-times.ts).
   */
  foldedTimes: 1 << 1,
  /**
   * The side reads a mirror control message's copy with its "may hold unsent
   * writes" flag after it (src/proto/mirror-control.ts); the previous release
   * refuses the extra byte, so it is sent only where both agreed on this.
   */
  unsentWrites: 1 << 2,
} as const;

/** Every feature this release has. */
export const LINK_FEATURES_ALL = LINK_FEATURE.listingWithoutXattrs | LINK_FEATURE.foldedTimes | LINK_FEATURE.unsentWrites;

export interface LinkFeatures {
  readonly version: number;
  /** A u32 of feature bits. */
  readonly bits: number;
}

/** What a session agreed on: the peer's announcement (null: it told none) and the bits both have. */
export interface AgreedFeatures {
  readonly peer: LinkFeatures | null;
  readonly common: number;
}

/** Nothing in use: a peer that told none. */
export const NO_FEATURES: AgreedFeatures = { peer: null, common: 0 };

export type LinkRole = "client" | "server";

export type SessionStartState =
  /** The peer's features are owed (it showed the mark). */
  | { readonly phase: "owed" }
  /** The client has what it needs of the features and waits for the server's "ready". */
  | { readonly phase: "awaiting-ready"; readonly agreed: AgreedFeatures }
  | { readonly phase: "open"; readonly agreed: AgreedFeatures }
  | { readonly phase: "closed"; readonly reason: string };

/** A message of the session as the exchange sees it: its own two kinds, and any other by name. */
export type SessionStartEvent =
  | { readonly type: "features"; readonly features: LinkFeatures }
  | { readonly type: "ready" }
  | { readonly type: "other"; readonly what: string };

/** In order. "open" comes once per session; "deliver" hands the event's message on to the link. */
export type SessionStartAction =
  | { readonly type: "send-features"; readonly features: LinkFeatures }
  | { readonly type: "send-ready" }
  | { readonly type: "open"; readonly agreed: AgreedFeatures }
  | { readonly type: "deliver" }
  | { readonly type: "close"; readonly reason: string };

export interface SessionStartConfig {
  readonly role: LinkRole;
  readonly ours: LinkFeatures;
  /** The peer's node name, for the reasons. */
  readonly peer: string;
}

export interface SessionStartStep {
  readonly state: SessionStartState;
  readonly actions: readonly SessionStartAction[];
}

/** The bits of both. */
export function agree(ours: LinkFeatures, theirs: LinkFeatures | null): AgreedFeatures {
  return theirs === null ? NO_FEATURES : { peer: theirs, common: (ours.bits & theirs.bits) >>> 0 };
}

/** The session starts after a handshake in which the peer did (or did not) show the mark. */
export function beginSession(cfg: SessionStartConfig, peerOffers: boolean): SessionStartStep {
  if (cfg.role === "client") {
    if (peerOffers) return { state: { phase: "owed" }, actions: [{ type: "send-features", features: cfg.ours }] };
    return { state: { phase: "awaiting-ready", agreed: NO_FEATURES }, actions: [] };
  }
  if (peerOffers) return { state: { phase: "owed" }, actions: [{ type: "send-features", features: cfg.ours }] };
  return { state: { phase: "open", agreed: NO_FEATURES }, actions: [{ type: "send-ready" }, { type: "open", agreed: NO_FEATURES }] };
}

function close(reason: string): SessionStartStep {
  return { state: { phase: "closed", reason }, actions: [{ type: "close", reason }] };
}

const DELIVER: readonly SessionStartAction[] = [{ type: "deliver" }];

export function stepSession(cfg: SessionStartConfig, state: SessionStartState, ev: SessionStartEvent): SessionStartStep {
  const who = cfg.peer;
  const what = ev.type === "other" ? `${/^[aeiou]/.test(ev.what) ? "an" : "a"} ${ev.what} message` : ev.type === "ready" ? "its ready" : "its features";
  switch (state.phase) {
    case "closed":
      return { state, actions: [] };
    case "owed":
      if (ev.type !== "features") return close(`${who} offered the link's feature exchange but sent ${what} before its features: connection closed`);
      if (cfg.role === "client") return { state: { phase: "awaiting-ready", agreed: agree(cfg.ours, ev.features) }, actions: [] };
      {
        const agreed = agree(cfg.ours, ev.features);
        return { state: { phase: "open", agreed }, actions: [{ type: "send-ready" }, { type: "open", agreed }] };
      }
    case "awaiting-ready":
      if (ev.type === "ready") return { state: { phase: "open", agreed: state.agreed }, actions: [{ type: "open", agreed: state.agreed }] };
      if (ev.type === "features") return close(unasked(who, state.agreed));
      return { state, actions: DELIVER };
    case "open":
      if (ev.type === "features") return close(unasked(who, state.agreed));
      if (ev.type === "ready" && cfg.role === "server") return close(`${who} sent a ready message, which only the SECOND sends: connection closed`);
      return { state, actions: DELIVER };
  }
}

function unasked(who: string, agreed: AgreedFeatures): string {
  return agreed.peer === null
    ? `${who} sent features without offering the link's feature exchange: connection closed`
    : `${who} sent its features twice: connection closed`;
}

/** The feature bits a request needs (0: any peer reads it). */
export function featuresNeeded(q: ResyncRequest): number {
  return q.kind === "manifest" && q.withoutXattrs === true ? LINK_FEATURE.listingWithoutXattrs : 0;
}

/** Why a request the peer sent uses a feature the session did not agree on ("asked ..."); null when it does not. */
export function unagreedUse(agreed: AgreedFeatures, q: ResyncRequest): string | null {
  const missing = (featuresNeeded(q) & ~agreed.common) >>> 0;
  return missing === 0 ? null : `asked a ${q.kind} with ${featureNames(missing)}, which the link's feature exchange did not agree on: connection closed`;
}

/** The feature names of `bits`, for logs and status ("none" for 0; an unknown bit by its value). */
export function featureNames(bits: number): string {
  const names: string[] = [];
  let rest = bits >>> 0;
  for (const [name, bit] of Object.entries(LINK_FEATURE)) {
    if ((rest & bit) === 0) continue;
    names.push(name);
    rest = (rest & ~bit) >>> 0;
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length === 0 ? "none" : names.join(", ");
}
