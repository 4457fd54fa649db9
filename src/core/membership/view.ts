/**
 * A plain, JSON-friendly status view of the membership core for the API,
 * the CLI table and the console.
 */
import type { LinkLiveness, MembershipState, PeerState, RejectReason } from "./types.ts";

export interface LinkView {
  readonly index: number;
  readonly address: string;
  readonly state: LinkLiveness;
  readonly lastHeardMsAgo: number | null;
}

export interface PeerView {
  readonly name: string;
  readonly state: PeerState;
  /** Decimal string: JSON has no 64-bit integers. */
  readonly epoch: string | null;
  readonly lastHeardMsAgo: number | null;
  readonly links: readonly LinkView[];
  readonly rttMs: number | null;
  readonly rttVarMs: number | null;
  readonly accepted: number;
  readonly crossWired: number;
  readonly restarts: number;
  /** Only the reasons that occurred. */
  readonly rejected: Partial<Record<RejectReason, number>>;
  /** Sum of `rejected`. */
  readonly badFrames: number;
}

export interface MembershipView {
  readonly self: string;
  readonly cluster: string;
  readonly epoch: string;
  readonly uptimeMs: number;
  readonly peers: readonly PeerView[];
  /** Frames from other clusters, unknown nodes or with our own name. */
  readonly rejectedUnattributed: Partial<Record<RejectReason, number>>;
}

function nonZero(r: Readonly<Record<RejectReason, number>>): Partial<Record<RejectReason, number>> {
  const out: Partial<Record<RejectReason, number>> = {};
  for (const [k, v] of Object.entries(r) as [RejectReason, number][]) if (v > 0) out[k] = v;
  return out;
}

const ago = (now: number, at: number | null): number | null => (at === null ? null : Math.max(0, now - at));
const round1 = (n: number): number => Math.round(n * 10) / 10;

export function viewMembership(s: MembershipState, now: number): MembershipView {
  return {
    self: s.config.self,
    cluster: s.config.cluster,
    epoch: s.epoch.toString(),
    uptimeMs: Math.max(0, now - s.startedAt),
    peers: s.peers.map((p) => {
      const c = s.counters.peers[p.name];
      const rejected = c === undefined ? {} : nonZero(c.rejected);
      const addresses = s.config.nodes.find((n) => n.name === p.name)?.links ?? [];
      return {
        name: p.name,
        state: p.state,
        epoch: p.epoch === null ? null : p.epoch.toString(),
        lastHeardMsAgo: ago(now, p.lastHeardAt),
        links: p.links.map((l, index) => ({
          index,
          address: addresses[index] ?? "?",
          state: l.state,
          lastHeardMsAgo: ago(now, l.lastHeardAt),
        })),
        rttMs: p.rtt === null ? null : round1(p.rtt.srttMs),
        rttVarMs: p.rtt === null ? null : round1(p.rtt.rttVarMs),
        accepted: c?.accepted ?? 0,
        crossWired: c?.crossWired ?? 0,
        restarts: c?.restarts ?? 0,
        rejected,
        badFrames: Object.values(rejected).reduce((a, b) => a + b, 0),
      };
    }),
    rejectedUnattributed: nonZero(s.counters.unattributed),
  };
}
