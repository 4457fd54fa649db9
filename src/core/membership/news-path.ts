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
 * - Our news goes from port + 1 only while the peer is seen to read it
 *   there: it echoed (membership.ts, its echo of our newest frame it got)
 *   one of our rounds that left for it from port + 1 within the last
 *   NEWS_SILENT_PROBES probes. Otherwise our news (a publish's extra round,
 *   a goodbye) would reach it only with our next periodic frame, or never
 *   (a goodbye: the peer would call us dead instead of stopped); so it
 *   leaves from the port, as to a peer of version 3. Probes keep leaving
 *   from port + 1 to every version-4 peer: they are how the path is found
 *   again. The peer tells nothing new for this: a probe it read is the
 *   newest frame of ours it holds until our next periodic round, one
 *   interval later, and its own round within that interval echoes it.
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
  /** When it last echoed a round of ours that left for it from our port + 1 (our clock); null: not in this incarnation. */
  readonly newsEchoedAt: number | null;
}

export interface NewsPathChoice {
  /** Its frames are read once per round of ours (polled), its news as it comes. */
  readLate: boolean;
  /** Our news leaves for it from port + 1. */
  sendNews: boolean;
  /** Our probes leave for it from port + 1 (it reads news there, by its version), whether or not our news does. */
  probe: boolean;
}

/** `split`: this node reads a peer's frames late only over a proven news path (a node with modules or VRRP). */
export function newsPathFor(p: NewsPathPeer, now: number, intervalMs: number): NewsPathChoice {
  const capable = p.version !== undefined && p.version >= NEWS_PATH_VERSION;
  const silentMs = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * intervalMs;
  const recent = (at: number | null): boolean => at !== null && now - at <= silentMs;
  return { readLate: capable && recent(p.newsHeardAt), sendNews: capable && recent(p.newsEchoedAt), probe: capable };
}

/** Whether periodic round number `round` (1, 2, ...) is a probe of the news paths. */
export function isNewsProbe(round: number): boolean {
  return round % NEWS_PROBE_EVERY_ROUNDS === 0;
}

/**
 * The send times of our rounds that left for one peer from port + 1, the
 * newest last, at most this many: its echo names the newest frame of ours
 * it got, which is one of the last few we sent.
 */
export const NEWS_SENT_KEPT = 16;

/**
 * Notes that our round sent at `sentAt` left for the peer from port + 1.
 * `routineAt`: the send time of our last periodic round, which keeps the
 * port: an extra round sent in the same step shares it, and an echo of that
 * time would not tell which of the two the peer got, so such a round is not
 * noted (and one noted is forgotten when a periodic round follows at its
 * time: forgetSentAt).
 */
export function noteSentAt(sent: number[], sentAt: number, routineAt: number): void {
  if (sentAt === routineAt || sent[sent.length - 1] === sentAt) return;
  if (sent.length >= NEWS_SENT_KEPT) sent.shift();
  sent.push(sentAt);
}

/** A periodic round was sent at `routineAt`: an extra round of the same step, noted, is forgotten (see noteSentAt). */
export function forgetSentAt(sent: number[], routineAt: number): void {
  if (sent[sent.length - 1] === routineAt) sent.pop();
}

/** Whether the peer's echo of us (`echo`: the send time of our newest frame it got) names a round of ours that left for it from port + 1. */
export function echoesNews(sent: readonly number[], echo: number | undefined): boolean {
  return echo !== undefined && sent.includes(echo);
}
