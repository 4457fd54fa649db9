/**
 * Membership: which peers are alive, link by link, from authenticated
 * heartbeat frames. A pure reducer (see step.ts); the driver owns sockets,
 * the codec and the clock.
 *
 * Liveness rules
 * - A link of a peer is "up" while it delivers accepted frames; it goes
 *   "down" after deadtime of silence. One silent link is a degraded link
 *   (a link event), never a dead node.
 * - A peer is "late" after warntime without an accepted frame on any link,
 *   and "dead" after deadtime without one on ANY link (one deadtime more
 *   while the peer is in its own start-up: "Start-up grace" below).
 * - A peer never heard since our start is not declared dead before initdead
 *   has elapsed from our start (links never heard likewise stay "unknown").
 * - Time-based verdicts are taken on ticks only. A frame event can only
 *   bring news, so a rejected frame changes no belief about any peer.
 *
 * Anti-replay (frames arrive already MAC-verified by the codec)
 * - The epoch orders a peer's incarnations: an older epoch than one already
 *   heard is rejected; a newer one means the peer restarted (event
 *   "restarted") and resets its sequence windows.
 * - Within an epoch, seq is shared across the sender's links, so the links
 *   interleave: a strict "newer than anything seen" rule would reject every
 *   frame of a slightly slower link and it would never count as alive. So the
 *   window is kept per SENDER link index (the MAC-covered `frame.link`): a
 *   frame is accepted if its seq is newer than the last one accepted from
 *   that sender link. A duplicate, a reordered older frame or a replay on any
 *   of our links is therefore rejected, while each link's own stream counts.
 * - Liveness is credited to OUR link the frame arrived on; when that differs
 *   from `frame.link` the links are cross-wired (counted, still alive).
 * - Rejected frames never count as a sign of life and never feed the RTT.
 * - Limit: the windows live in memory. After OUR restart, a frame captured
 *   earlier in the peer's current epoch would be accepted once. The MAC keeps
 *   outsiders from forging; this is a replay window for an on-path attacker
 *   only, bounded by the peer's next restart.
 *
 * An epoch that went back (the peer rebooted with its wall clock behind)
 * - The epoch comes from the peer's wall clock, so a node whose clock went
 *   back across a reboot comes back with a LOWER epoch than its previous
 *   life, and would be refused as stale until we restart. Such an epoch is
 *   accepted (event "restarted") only when both hold:
 *   1. the peer is dead here: no accepted frame on any link for deadtime;
 *   2. the frame is provably fresh: it echoes (to us) the sentAt of one of
 *      OUR rounds of the last deadtime, kept exactly in `recentSends`. The
 *      echo is MAC-covered and the peer can only echo a frame after it got
 *      it, so the frame was made less than deadtime ago; an old capture
 *      echoes an old sentAt (or none) and stays refused.
 * - Why this bounds a replay: any frame of an earlier incarnation was made
 *   before the incarnation we follow began, hence before the last frame we
 *   accepted from it, hence (condition 1) more than deadtime ago; condition 2
 *   then refuses it, however it was captured. What remains is delaying a
 *   frame of a live incarnation by less than deadtime, which an on-path
 *   attacker can do to any frame anyway. Exact matching (not "recent enough")
 *   matters because a driver's monotonic clock may restart with our process:
 *   a sentAt echoed to our previous life can fall inside today's window, but
 *   is not one of the values we sent.
 * - Once accepted, `highestEpoch` keeps the highest epoch ever heard: only an
 *   epoch above it is a plain restart. Frames of the abandoned (higher)
 *   incarnation are stale from then on and pass only by the same two
 *   conditions, so a replay of the old life cannot flip us back.
 * - A peer that does not hear us (one-way link) echoes nothing and stays
 *   refused until we restart: safe, and logged as stale-epoch rejects.
 *
 * Our own freezes
 * - The driver ticks at nextWakeAt(), never more than one interval away, so
 *   consecutive events (ticks or frames) are never further apart than that
 *   while we run. A gap longer than two intervals means WE did not run (CPU
 *   starvation, SIGSTOP, VM pause): every pending deadline is pushed back by
 *   the gap minus one interval and a "stall" action reports it. This is done
 *   by whichever event comes first after the freeze, so deadlines set by
 *   frames processed just before the freeze are credited too, and frames
 *   that queued up during it then count normally.
 * - A shorter delay shows first in our own sending: the periodic round is
 *   due at nextSendAt, and an event that finds it overdue by more than
 *   interval / 2 (a timer that fired late because the event loop was busy,
 *   e.g. under a flood of datagrams) means we did not run on time either.
 *   Frames of our peers may be waiting unread in the socket for that long,
 *   so the overdue time counts as a stall too (credited and reported the
 *   same way), and a peer is not convicted for our own starvation. Only the
 *   part after our last event counts, so nothing is credited twice. A
 *   deadline that the credit still leaves passed is moved just past now
 *   (LATE_SEND_GRACE_MS): the driver's next wake-up then comes after the
 *   runtime has read the socket, and a peer whose frames were waiting there
 *   is heard before it is judged. That is one extra wake-up, not a delay
 *   that a loop late on every round could stretch for ever: the round sent
 *   now makes the next one due an interval later.
 *
 * Start-up grace (the peer's own start-up, not ours)
 * - A node that (re)starts sends its first rounds before its heaviest
 *   start-up work (VRRP's raw socket and its thread, the console's
 *   listener, the modules' start): services hear peers from their first
 *   step. Each is one call that a loaded host can stretch past deadtime, and
 *   its peers would then call a node dead that is only starting.
 * - So a peer's incarnation that we met young gets `startGraceMs` more
 *   (the daemon gives one deadtime) while it is in its start-up: a frame we
 *   accept less than initdead after the first frame we accepted of that
 *   epoch, while the epoch's highest seq shows at most initdead / interval
 *   rounds sent (seq starts at 1 in each epoch and takes one per link per
 *   round, extra rounds included), puts the peer's dead and link-down
 *   deadlines deadtime + startGraceMs ahead instead of deadtime. An
 *   incarnation first heard with a higher seq (it ran long before we heard
 *   it, as after our own restart) gets none. Warntime is unchanged: a
 *   silent starting peer is still reported late.
 * - Bound: a node that dies or freezes during its start-up is declared dead
 *   at most deadtime + startGraceMs + interval after its last frame (the
 *   daemon's: 2 x deadtime + interval, 1.1 s at lan); from initdead after
 *   we first heard it on, deadtime + interval as ever (startGraceBoundMs in
 *   config.ts).
 * - It reads only the epoch and seq every frame version carries, so it
 *   covers a restarting peer of an earlier release too; a peer of an
 *   earlier release gives none itself.
 * - A frame of the peer's current epoch captured early and replayed after
 *   our own restart (see "Anti-replay") looks young; the next genuine frame
 *   carries a higher seq and ends the grace.
 *
 * Reading before judging: a frame already waiting in our socket when a
 * deadline comes was sent before it, so it is news we have not read yet,
 * not silence. The runtime may run a due timer before it reads what came
 * in meanwhile, or stop delivering a socket's datagrams altogether. So
 * before a tick that would take a verdict (verdictDue: a peer late or
 * dead, a link down), the driver reads what the kernel holds for its
 * sockets and feeds those frames first. verdictDue is cheap (no
 * allocation), and true only at a deadline, never while peers are heard.
 *
 * Sending: the core owns the schedule. Every interval it emits one
 * "send-heartbeat" per link, each with the next seq, carrying RTT echoes.
 * When seq would pass 2^32-1 the epoch is bumped by one and seq restarts at 1
 * (peers then report "restarted"): every ~500 days at the fast preset.
 *
 * Goodbye (a clean stop)
 * - A daemon that stops (not a reload) sends a round of frames flagged
 *   "leaving" after its services stopped: it runs nothing any more. A peer
 *   that accepts such a frame marks it "stopped" at once (event
 *   "said-goodbye"), instead of waiting deadtime and calling it dead.
 *   A stopped peer has no deadlines; any later frame without the flag
 *   (its next life, or the same one if it did not stop after all) brings
 *   it up again as usual.
 * - A goodbye passes every check a frame passes (MAC, cluster, epoch, the
 *   per-link seq window), so a duplicate or replay is rejected as old-seq
 *   or stale-epoch. It must also be provably fresh: it echoes (to us) the
 *   sentAt of one of OUR rounds of the last deadtime (kept exactly in
 *   recentSends, as for an epoch that went back). So a goodbye captured and
 *   replayed later, even after our own restart emptied the seq windows,
 *   cannot mark a live peer stopped. A goodbye that is authentic and new
 *   but not provably fresh (the peer did not hear us) counts as an ordinary
 *   frame: the peer is declared dead after deadtime as before.
 *
 * Other channels (a mirror module's replication link counts as a heartbeat
 * link, as SafeKit's does): the driver reports an answer the peer's vigil
 * gave on it to a probe of ours sent `ageMs` ago ("alive"). The probe's
 * answer is fresh by construction (it echoes our probe), so it proves the
 * peer ran after the probe left: an up or late peer's deadlines run from
 * then, as after a frame, and a late one is up again. It never brings back
 * a peer already dead, stopped or never heard: that takes a frame, which
 * also carries its epoch and adverts. Heartbeat links keep their own states
 * (silent links still go down), so the operator sees what failed.
 *
 * Records (proof "record"): any other authenticated record the peer sent on
 * such a channel (a resync op, an acknowledgement, a request), reported
 * with the time WE read it. A peer whose timers run late (heartbeat rounds,
 * probes) while its main thread keeps working and sending is alive, and a
 * SECOND that calls its busy PRIM dead cuts nothing but its own view; yet a
 * record proves less than an answer: it was written at some moment before
 * we read it, and the queues between the two processes can hold it for a
 * while. Where it can wait, and what that costs:
 * - in the sender's memory: only while the sender runs (a frozen or killed
 *   process sends nothing more from there), so that wait ends at a moment
 *   the peer ran;
 * - in OUR kernel's receive queue, while we do not read: our own freeze
 *   (the stall credit above covers the freeze, and the driver does not
 *   report what it reads in the first moments after one) or a connection
 *   that stopped reading for backpressure (likewise after it resumes); what
 *   is read later counts from its reading, as a frame read after our
 *   freeze does;
 * - in the sender's kernel send queue and the network: this one drains
 *   without the sender's process. A frozen (SIGSTOP) or killed (SIGKILL
 *   with nothing unread: a FIN after the queue) peer still delivers what
 *   its kernel held, for as long as that takes at the path's rate: tens of
 *   ms on a LAN for a few MiB, longer on a slow path.
 * So the time of reading is honest up to that last drain, which no clock
 * of ours can measure. Hence the bound: records keep a peer alive from
 * their reading time, but never past `recordCapAt`, RECORD_VOUCH_DEADTIMES
 * beyond the deadline its last frame or probe answer gave. A peer whose
 * only sign for that long is records is dead, however many arrive; and a
 * real death stops records (a pulled cable at once, a killed or frozen
 * process once its kernel's queue drained), so the verdict still comes one
 * deadtime after the last one. The bound is not tighter because an answer
 * proves only the time its probe left: on a loaded pair, or behind a
 * resync's data on the same connection, answers come back late (h2 in
 * the lab, under a load of 30, answered 2 s apart) while records and the
 * sync flow. Like answers, records never bring back a peer dead, stopped
 * or never heard.
 *
 * Publishing: what the driver adds to our frames (module roles) changes
 * between rounds, and a handover should not wait up to one interval for the
 * next one. A "publish" input sends an extra round on every link at once.
 * Extra rounds are at least interval/4 apart, so a flapping publisher adds
 * at most four rounds per interval to the wire; a publish inside that
 * spacing is owed and sent when the spacing ends, even when a periodic
 * round came first: extra rounds are news (the action's `news`), which a
 * peer reads at once, while it may read periodic rounds once per round of
 * its own (udp-transport.ts, "News"). Extra rounds leave the periodic
 * rhythm alone: peers' deadlines only ever gain from them. A publish `now`
 * leaves at once whatever the spacing (a mirror PRIM holds its first write
 * acknowledged alone until its ALONE has left); it is asked about once per
 * ALONE, and the spacing runs again from it.
 */
import type { Stepped } from "../step.ts";
import { validateMembershipConfig, type MembershipConfig } from "./config.ts";
import { MembershipDraft, type DraftPeer } from "./draft.ts";
import type {
  LinkChangeReason,
  LinkLiveness,
  MembershipAction,
  MembershipCounters,
  MembershipFrame,
  MembershipInput,
  MembershipState,
  PeerChangeReason,
  PeerLiveness,
  PeerState,
  PeerTrack,
  RejectReason,
} from "./types.ts";

export * from "./types.ts";
export * from "./config.ts";
export { viewMembership } from "./view.ts";
export type { MembershipView, PeerView, LinkView } from "./view.ts";

const MAX_SEQ = 0xffff_ffff;
/** Extra (published) rounds are at least interval / this apart. */
const EXTRA_ROUNDS_PER_INTERVAL = 4;
/** Our periodic round overdue by more than interval / this counts as a stall (see the header). */
const LATE_SEND_FRACTION = 2;
/** How far past now a late round moves a deadline it found passed (see the header). */
const LATE_SEND_GRACE_MS = 1;
/** Records alone keep a peer alive at most this many deadtimes past the deadline its last frame or answer gave ("Records"). */
export const RECORD_VOUCH_DEADTIMES = 2;
/** Echo arithmetic may round; an RTT this little below zero is taken as 0. */
const RTT_ROUNDING_SLACK_MS = 1;

function zeroRejects(): Record<RejectReason, number> {
  return { "other-cluster": 0, "own-name": 0, "unknown-node": 0, "bad-link": 0, "stale-epoch": 0, "old-seq": 0 };
}

/** For consumers that know only liveness: a peer that said goodbye is as gone as a dead one. */
export function deadIfStopped(s: PeerState): PeerLiveness {
  return s === "stopped" ? "dead" : s;
}

/** No deadline runs for a peer in this state. */
function settled(state: PeerTrack["state"]): boolean {
  return state === "dead" || state === "stopped";
}

function linkCount(config: MembershipConfig): number {
  return config.nodes.find((n) => n.name === config.self)?.links.length ?? 0;
}

/**
 * The state at our start. `epoch` comes from the driver (wall clock and
 * randomness are not the core's business). Throws RangeError on a config that
 * validateMembershipConfig() rejects: the config loader reports those first.
 */
export function initMembership(config: MembershipConfig, start: { now: number; epoch: bigint }): MembershipState {
  const problems = validateMembershipConfig(config);
  if (problems.length > 0) {
    throw new RangeError(`invalid membership config: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  }
  const links = linkCount(config);
  const initdeadAt = start.now + config.initdeadMs;
  const peers: PeerTrack[] = config.nodes
    .filter((n) => n.name !== config.self)
    .map((n) => ({
      name: n.name,
      state: "unknown",
      epoch: null,
      highestEpoch: null,
      maxSeq: 0,
      linkSeq: new Array<number>(links).fill(0),
      links: Array.from({ length: links }, () => ({ state: "unknown", lastHeardAt: null, downAt: initdeadAt })),
      lastHeardAt: null,
      lateAt: null,
      deadAt: initdeadAt,
      startGraceUntil: null,
      recordCapAt: initdeadAt,
      echo: null,
      rtt: null,
    }));
  const counters: MembershipCounters = {
    peers: Object.fromEntries(
      peers.map((p) => [p.name, { accepted: 0, crossWired: 0, restarts: 0, rejected: zeroRejects() }]),
    ),
    unattributed: zeroRejects(),
  };
  return {
    config,
    epoch: start.epoch,
    startedAt: start.now,
    nextSeq: 1,
    recentSends: [],
    nextSendAt: start.now,
    nextExtraAt: start.now,
    extraOwed: false,
    lastRunAt: start.now,
    eventSeq: 0,
    leaving: false,
    peers,
    counters,
  };
}

/** The time the driver must deliver the next tick. */
export function nextWakeAt(s: MembershipState): number {
  let at = s.extraOwed ? Math.min(s.nextSendAt, s.nextExtraAt) : s.nextSendAt;
  for (const p of s.peers) {
    if (!settled(p.state)) at = Math.min(at, p.deadAt);
    if (p.state === "up" && p.lateAt !== null) at = Math.min(at, p.lateAt);
    for (const l of p.links) if (l.state !== "down") at = Math.min(at, l.downAt);
  }
  return at;
}

/**
 * A tick at `now` would change some peer's or link's state (late, dead,
 * down): the driver reads its sockets first (see "Reading before judging").
 */
export function verdictDue(s: MembershipState, now: number): boolean {
  for (const p of s.peers) if (deadlineDue(p, now)) return true;
  return false;
}

/**
 * An input at `now` would find us late (see "Our own freezes") and credit a
 * stall. When it would not, no input at an earlier time would either: a
 * driver that feeds frames stamped before `now` needs no input at `now`
 * first to keep their times from reading as moments we ran.
 */
export function stallAt(s: MembershipState, now: number): boolean {
  const cfg = s.config;
  if (now - s.lastRunAt > 2 * cfg.intervalMs) return true;
  return now - Math.max(s.nextSendAt, s.lastRunAt) > cfg.intervalMs / LATE_SEND_FRACTION;
}

export function stepMembership(
  state: MembershipState,
  input: MembershipInput,
  now: number,
): Stepped<MembershipState, MembershipAction> {
  const d = new MembershipDraft(state);
  const out: MembershipAction[] = [];
  creditStall(d, now, out);
  if (input.type === "tick") onTick(d, now, out);
  else if (input.type === "publish") onPublish(d, now, out, input.now === true);
  else if (input.type === "leave") onLeave(d, now, out);
  else if (input.type === "alive") {
    if (input.proof === "record") onRecord(d, input.node, input.via, input.ageMs, now, out);
    else onAlive(d, input.node, input.via, input.ageMs, now, out);
  }
  else onFrame(d, input.link, input.frame, now, out);
  return { state: d.finish(), actions: out };
}

function addressOf(d: MembershipDraft, node: string, link: number): string {
  return d.config.nodes.find((n) => n.name === node)?.links[link] ?? "?";
}

function emitPeer(d: MembershipDraft, out: MembershipAction[], now: number, p: DraftPeer, to: PeerState, reason: PeerChangeReason, detail: string): void {
  d.eventSeq += 1;
  out.push({ type: "event", scope: "peer", seq: d.eventSeq, at: now, node: p.name, from: p.state, to, reason, detail });
  p.state = to;
}

function emitLink(d: MembershipDraft, out: MembershipAction[], now: number, p: DraftPeer, index: number, to: LinkLiveness, reason: LinkChangeReason, detail: string): void {
  const link = p.links[index];
  if (link === undefined) return;
  d.eventSeq += 1;
  out.push({ type: "event", scope: "link", seq: d.eventSeq, at: now, node: p.name, link: index, from: link.state, to, reason, detail });
  link.state = to;
}

/** Pushes pending deadlines back by the time we were frozen (see the header). */
function creditStall(d: MembershipDraft, now: number, out: MembershipAction[]): void {
  const cfg = d.config;
  const gap = now - d.lastRunAt;
  const sendLate = now - Math.max(d.nextSendAt, d.lastRunAt);
  d.lastRunAt = Math.max(d.lastRunAt, now);
  let credit: number;
  let floor = -Infinity;
  if (gap > 2 * cfg.intervalMs) credit = gap - cfg.intervalMs;
  else if (sendLate > cfg.intervalMs / LATE_SEND_FRACTION) {
    credit = sendLate;
    floor = now + LATE_SEND_GRACE_MS;
  } else return;
  const later = (t: number): number => Math.max(t + credit, floor);
  for (let i = 0; i < d.peers.length; i++) {
    const p = d.writable(i);
    if (!settled(p.state)) {
      p.deadAt = later(p.deadAt);
      p.recordCapAt = later(p.recordCapAt);
    }
    if (p.state === "up" && p.lateAt !== null) p.lateAt = later(p.lateAt);
    for (const l of p.links) if (l.state !== "down") l.downAt = later(l.downAt);
  }
  out.push({ type: "stall", at: now, gapMs: gap, creditedMs: credit });
}

function onTick(d: MembershipDraft, now: number, out: MembershipAction[]): void {
  for (let i = 0; i < d.peers.length; i++) checkDeadlines(d, i, now, out);
  if (now >= d.nextSendAt) sendPeriodicRound(d, now, out);
  else if (d.extraOwed && now >= d.nextExtraAt) sendExtraRound(d, now, out);
}

function onPublish(d: MembershipDraft, now: number, out: MembershipAction[], atOnce: boolean): void {
  if (atOnce || now >= d.nextExtraAt) sendExtraRound(d, now, out);
  else d.extraOwed = true;
  if (now >= d.nextSendAt) sendPeriodicRound(d, now, out);
}

function onLeave(d: MembershipDraft, now: number, out: MembershipAction[]): void {
  d.leaving = true;
  // Not rate-limited: it is the last word, and the driver sends at most a couple.
  sendHeartbeats(d, now, out, true);
  d.extraOwed = false;
}

function sendPeriodicRound(d: MembershipDraft, now: number, out: MembershipAction[]): void {
  sendHeartbeats(d, now, out, false);
  d.nextSendAt += d.config.intervalMs;
  // After a freeze, resume the rhythm from now rather than bursting to catch up.
  if (d.nextSendAt <= now) d.nextSendAt = now + d.config.intervalMs;
}

function sendExtraRound(d: MembershipDraft, now: number, out: MembershipAction[]): void {
  sendHeartbeats(d, now, out, true);
  d.nextExtraAt = now + d.config.intervalMs / EXTRA_ROUNDS_PER_INTERVAL;
  d.extraOwed = false;
}

function deadlineDue(p: PeerTrack, now: number): boolean {
  if (p.state === "stopped") return false;
  if (p.state !== "dead" && now >= p.deadAt) return true;
  if (p.state === "up" && p.lateAt !== null && now >= p.lateAt) return true;
  for (const l of p.links) if (l.state !== "down" && now >= l.downAt) return true;
  return false;
}

function checkDeadlines(d: MembershipDraft, index: number, now: number, out: MembershipAction[]): void {
  const current = d.peers[index];
  if (current === undefined || !deadlineDue(current, now)) return;
  const p = d.writable(index);
  const cfg = d.config;
  p.links.forEach((l, i) => {
    if (l.state === "down" || now < l.downAt) return;
    const address = addressOf(d, p.name, i);
    if (l.state === "unknown") {
      emitLink(d, out, now, p, i, "down", "initdead-expired", `link ${i} (${address}) to ${p.name}: never heard within initdead (${cfg.initdeadMs} ms)`);
      return;
    }
    const silent = l.lastHeardAt === null ? "" : ` for ${Math.round(now - l.lastHeardAt)} ms`;
    const others = p.links.map((o, j) => (o.state === "up" && j !== i ? j : -1)).filter((j) => j >= 0);
    const still = others.length > 0 ? `; ${p.name} still heard on link ${others.join(", ")} (degraded)` : "";
    emitLink(d, out, now, p, i, "down", "link-silent", `link ${i} (${address}) to ${p.name} is down: silent${silent} (deadtime ${cfg.deadtimeMs} ms${graceNote(cfg, p, l.lastHeardAt)})${still}`);
  });
  if (p.state !== "dead" && now >= p.deadAt) {
    if (p.state === "unknown") {
      emitPeer(d, out, now, p, "dead", "initdead-expired", `${p.name} is dead: never heard within initdead (${cfg.initdeadMs} ms)`);
    } else {
      const silent = p.lastHeardAt === null ? "" : ` for ${Math.round(now - p.lastHeardAt)} ms`;
      emitPeer(d, out, now, p, "dead", "silent-deadtime", `${p.name} is dead: silent on all ${p.links.length} links${silent} (deadtime ${cfg.deadtimeMs} ms${graceNote(cfg, p, p.lastHeardAt)})`);
    }
    p.lateAt = null;
  } else if (p.state === "up" && p.lateAt !== null && now >= p.lateAt) {
    const silent = p.lastHeardAt === null ? "" : ` for ${Math.round(now - p.lastHeardAt)} ms`;
    emitPeer(d, out, now, p, "late", "silent-warntime", `${p.name} is late: silent on all links${silent} (warntime ${cfg.warntimeMs} ms)`);
    p.lateAt = null;
  }
}

function sendHeartbeats(d: MembershipDraft, now: number, out: MembershipAction[], news: boolean): void {
  // Loops, not filter/map: this runs every round, and each array made is work for the collector.
  const echoes: { node: string; sentAt: number; heldMs: number }[] = [];
  for (const p of d.peers) {
    if (p.echo !== null && (p.state === "up" || p.state === "late")) echoes.push({ node: p.name, sentAt: p.echo.sentAt, heldMs: now - p.echo.receivedAt });
  }
  const links = linkCount(d.config);
  const keepFrom = now - d.config.deadtimeMs;
  const recent: number[] = [];
  for (const t of d.recentSends) if (t >= keepFrom) recent.push(t);
  recent.push(now);
  d.recentSends = recent;
  for (let link = 0; link < links; link++) {
    if (d.nextSeq > MAX_SEQ) {
      d.epoch += 1n;
      d.nextSeq = 1;
    }
    const frame = { cluster: d.config.cluster, node: d.config.self, epoch: d.epoch, seq: d.nextSeq, sentAt: now, link, echoes };
    out.push({ type: "send-heartbeat", frame: d.leaving ? { ...frame, leaving: true } : frame, news });
    d.nextSeq += 1;
  }
}

function onFrame(d: MembershipDraft, link: number, f: MembershipFrame, now: number, out: MembershipAction[]): void {
  const cfg = d.config;
  if (f.cluster !== cfg.cluster) return d.countUnattributed("other-cluster");
  if (f.node === cfg.self) return d.countUnattributed("own-name");
  const index = d.indexOf(f.node);
  const seen = d.peers[index];
  if (seen === undefined) return d.countUnattributed("unknown-node");
  const links = seen.links.length;
  if (!validLink(link, links) || !validLink(f.link, links)) return d.countRejected(seen.name, "bad-link");
  const newest = seen.highestEpoch !== null && f.epoch > seen.highestEpoch;
  const wentBack = seen.epoch !== null && f.epoch !== seen.epoch && !newest;
  if (wentBack && (!settled(seen.state) || freshEcho(d, f, now) === undefined)) return d.countRejected(seen.name, "stale-epoch");
  const restarted = seen.epoch !== null && f.epoch !== seen.epoch;
  if (!restarted && seen.epoch !== null && f.seq <= (seen.linkSeq[f.link] ?? 0)) return d.countRejected(seen.name, "old-seq");

  const c = d.countersOf(seen.name);
  if (c !== undefined) {
    c.accepted += 1;
    if (f.link !== link) c.crossWired += 1;
    if (restarted) c.restarts += 1;
  }
  const p = d.writable(index);
  const firstHeard = p.epoch === null;
  if (p.epoch === null || restarted) {
    p.epoch = f.epoch;
    if (p.highestEpoch === null || f.epoch > p.highestEpoch) p.highestEpoch = f.epoch;
    p.maxSeq = 0;
    p.linkSeq.fill(0);
    p.startGraceUntil = f.seq <= startGraceSeqs(cfg) ? now + cfg.initdeadMs : null;
  }
  p.linkSeq[f.link] = f.seq;
  if (f.seq > p.maxSeq) {
    p.maxSeq = f.seq;
    p.echo = { sentAt: f.sentAt, receivedAt: now };
  }

  const goodbye = f.leaving === true && !wentBack && freshEcho(d, f, now) !== undefined;
  if (goodbye || (f.leaving === true && p.state === "stopped")) {
    // The last word of a life: no deadline, no sign of life, and a repeat of it changes nothing.
    if (p.state !== "stopped") {
      const how = restarted ? ` (new epoch ${f.epoch})` : "";
      emitPeer(d, out, now, p, "stopped", "said-goodbye", `${p.name} stopped: it said goodbye on link ${link}${how}; not dead, its services are stopped`);
    }
    p.lastHeardAt = now;
    p.lateAt = null;
    for (const l of p.links) {
      if (l.state === "up") l.lastHeardAt = now;
      // Silently: the peer's event says why; a link event per link would read as a fault.
      l.state = "down";
    }
    updateRtt(d, p, f, now);
    return;
  }
  if (wentBack) {
    const ago = Math.round(now - (freshEcho(d, f, now) ?? now));
    emitPeer(d, out, now, p, "up", "restarted", `${p.name} restarted with an earlier epoch ${f.epoch} (its wall clock went back); accepted as it was dead and the frame echoes ours of ${ago} ms ago; heard on link ${link}`);
  } else if (restarted) {
    emitPeer(d, out, now, p, "up", "restarted", `${p.name} restarted (new epoch ${f.epoch}); heard on link ${link}`);
  } else if (p.state !== "up") {
    // A peer declared dead by initdead and heard now is heard for the first time.
    const reason: PeerChangeReason = firstHeard ? "first-heard" : "heard-again";
    emitPeer(d, out, now, p, "up", reason, `${p.name} is up: heard on link ${link} (${addressOf(d, p.name, link)})`);
  }
  const deadtime = cfg.deadtimeMs + startGraceMs(cfg, p, now);
  p.lastHeardAt = now;
  p.lateAt = now + cfg.warntimeMs;
  p.deadAt = now + deadtime;
  p.recordCapAt = now + (1 + RECORD_VOUCH_DEADTIMES) * cfg.deadtimeMs;

  const l = p.links[link];
  if (l !== undefined) {
    if (l.state !== "up") {
      emitLink(d, out, now, p, link, "up", "link-heard", `link ${link} (${addressOf(d, p.name, link)}) to ${p.name} is up`);
    }
    l.lastHeardAt = now;
    l.downAt = now + deadtime;
  }

  updateRtt(d, p, f, now);
}

function onAlive(d: MembershipDraft, node: string, via: string, ageMs: number, now: number, out: MembershipAction[]): void {
  const index = d.indexOf(node);
  const seen = d.peers[index];
  if (seen === undefined || !(ageMs >= 0) || (seen.state !== "up" && seen.state !== "late")) return;
  const since = now - ageMs;
  const cfg = d.config;
  // Deadlines only move forward: an answer to an old probe says less than the last frame did.
  const dead = since + cfg.deadtimeMs > seen.deadAt;
  const capAt = since + (1 + RECORD_VOUCH_DEADTIMES) * cfg.deadtimeMs;
  const cap = capAt > seen.recordCapAt;
  if (!dead && !cap) return;
  const p = d.writable(index);
  if (cap) p.recordCapAt = capAt;
  if (!dead) return;
  if (p.state === "late") {
    emitPeer(d, out, now, p, "up", "heard-elsewhere", `${p.name} is up: it answered on ${via} (its heartbeat links are silent)`);
  }
  p.deadAt = since + cfg.deadtimeMs;
  p.lateAt = since + cfg.warntimeMs;
}

/** A record of the peer read `ageMs` ago on another channel: see "Records" in the header. */
function onRecord(d: MembershipDraft, node: string, via: string, ageMs: number, now: number, out: MembershipAction[]): void {
  const index = d.indexOf(node);
  const seen = d.peers[index];
  if (seen === undefined || !(ageMs >= 0) || (seen.state !== "up" && seen.state !== "late")) return;
  const cfg = d.config;
  const readAt = now - ageMs;
  const deadAt = Math.min(readAt + cfg.deadtimeMs, seen.recordCapAt);
  if (deadAt <= seen.deadAt) return;
  const p = d.writable(index);
  const lateAt = deadAt - cfg.deadtimeMs + cfg.warntimeMs;
  if (p.state === "late" && lateAt > now) {
    emitPeer(d, out, now, p, "up", "heard-elsewhere", `${p.name} is up: its records arrive on ${via} (its heartbeat links are silent)`);
  }
  p.deadAt = deadAt;
  if (p.state === "up") p.lateAt = lateAt;
}

/** The sentAt of ours that `f` echoes, if it is one of our rounds of the last deadtime. */
function freshEcho(d: MembershipDraft, f: MembershipFrame, now: number): number | undefined {
  const echo = echoOf(d, f);
  // The list is trimmed only when we send, so it may hold a round a little older than deadtime.
  if (echo === undefined || echo.sentAt < now - d.config.deadtimeMs) return undefined;
  return d.recentSends.includes(echo.sentAt) ? echo.sentAt : undefined;
}

/** The echo of our own rounds that `f` carries, if any. */
function echoOf(d: MembershipDraft, f: MembershipFrame): MembershipFrame["echoes"][number] | undefined {
  const self = d.config.self;
  for (const e of f.echoes) if (e.node === self) return e;
  return undefined;
}

/** The highest seq of an epoch still in its start-up: initdead / interval rounds, one seq per link each ("Start-up grace"). */
export function startGraceSeqs(cfg: MembershipConfig): number {
  return linkCount(cfg) * Math.ceil(cfg.initdeadMs / cfg.intervalMs);
}

/** What a frame of `p` accepted at `t` adds to deadtime: the start-up grace while its incarnation starts up, else 0. */
function startGraceMs(cfg: MembershipConfig, p: PeerTrack, t: number): number {
  const young = p.startGraceUntil !== null && t < p.startGraceUntil && p.maxSeq <= startGraceSeqs(cfg);
  return young ? (cfg.startGraceMs ?? 0) : 0;
}

/** The words a verdict adds when the frame that set its deadline had the start-up grace. */
function graceNote(cfg: MembershipConfig, p: PeerTrack, heardAt: number | null): string {
  const grace = heardAt === null ? 0 : startGraceMs(cfg, p, heardAt);
  return grace > 0 ? ` + ${grace} ms of start-up grace` : "";
}

function validLink(i: number, links: number): boolean {
  return Number.isInteger(i) && i >= 0 && i < links;
}

function updateRtt(d: MembershipDraft, p: DraftPeer, f: MembershipFrame, now: number): void {
  const echo = echoOf(d, f);
  // An echo of a sentAt we cannot have sent (before our start, or in the
  // future) belongs to an earlier incarnation of us: no sample.
  if (echo === undefined || echo.sentAt < d.startedAt || echo.sentAt > now || !(echo.heldMs >= 0)) return;
  const raw = now - echo.sentAt - echo.heldMs;
  if (raw < -RTT_ROUNDING_SLACK_MS) return;
  const sample = Math.max(0, raw);
  if (p.rtt === null) {
    p.rtt = { srttMs: sample, rttVarMs: sample / 2, samples: 1 };
    return;
  }
  const rttVarMs = 0.75 * p.rtt.rttVarMs + 0.25 * Math.abs(p.rtt.srttMs - sample);
  const srttMs = 0.875 * p.rtt.srttMs + 0.125 * sample;
  p.rtt = { srttMs, rttVarMs, samples: p.rtt.samples + 1 };
}
