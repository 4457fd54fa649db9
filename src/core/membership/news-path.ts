/**
 * News paths (udp-transport.ts, "News"): per peer, whether we read its
 * frames once per round of ours (polled, with their arrival times) and
 * whether our news leaves for it from our port + 1. Pure; the heartbeat
 * driver asks at each round and reopens sockets when the answer changes.
 *
 * - Our news goes from port + 1 to a peer that reads it there: one whose
 *   current incarnation sent a frame of version 4 or later.
 * - We read a peer's frames late only while its news path is proven: a
 *   frame of its came from its port + 1 within the last NEWS_SILENT_PROBES
 *   probes (after every NEWS_PROBE_EVERY_ROUNDS periodic rounds a
 *   version-4 node sends an extra round as news). Otherwise its news, which it sends from
 *   port + 1, would reach us only with its next periodic frame; so while
 *   nothing comes from there (a firewall that drops datagrams by source
 *   port, a peer of an older release) its frames are read as they come.
 * - Liveness never rests on port + 1: only extra rounds (news, probes) and
 *   goodbyes take it, never a periodic round, so a path that drops them
 *   costs no periodic frame.
 */

/** After every this many periodic rounds, an extra round goes out as news (a probe): from port + 1 to news-path peers. */
export const NEWS_PROBE_EVERY_ROUNDS = 50;
/** A news path is taken for broken after this many probes' worth of rounds without a frame on it. */
export const NEWS_SILENT_PROBES = 3;
/** The first frame version whose nodes read news from a peer's port + 1. */
export const NEWS_PATH_VERSION = 4;

export interface NewsPathPeer {
  /** The highest frame version its current incarnation sent; undefined: not heard. */
  readonly version: number | undefined;
  /** When a frame of its last came from its port + 1 (our clock); null: not in this incarnation. */
  readonly newsHeardAt: number | null;
}

export interface NewsPathChoice {
  readLate: boolean;
  sendNews: boolean;
}

/** `split`: this node reads a peer's frames late only over a proven news path (a node with modules or VRRP). */
export function newsPathFor(p: NewsPathPeer, now: number, intervalMs: number): NewsPathChoice {
  const capable = p.version !== undefined && p.version >= NEWS_PATH_VERSION;
  const silentMs = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * intervalMs;
  const proven = capable && p.newsHeardAt !== null && now - p.newsHeardAt <= silentMs;
  return { readLate: proven, sendNews: capable };
}

/** Whether periodic round number `round` (1, 2, ...) is a probe of the news paths. */
export function isNewsProbe(round: number): boolean {
  return round % NEWS_PROBE_EVERY_ROUNDS === 0;
}
