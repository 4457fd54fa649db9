/**
 * What must hold after every step of a membership simulation, judged
 * against the simulator's own ground truth of deliveries.
 *
 * Ground truth: "news" from P at observer O is a genuine frame of P that O
 * processed (delivered, not queued behind a pause) in O's current
 * incarnation, and that was newer than anything P's sending link had
 * delivered to O before: a newer epoch of P, or the same epoch with a
 * higher seq on that sender link. Duplicates, reordered older frames,
 * frames of an older incarnation of P and anything injected by the attacker
 * are not news. Network delay is accounted for by construction: what counts
 * is when a frame was processed, not when it was sent.
 *
 * (a) detection: O live and not paused during the silence; P gave O no news
 *     on any link for longer than deadtime + interval (or, never heard,
 *     longer than initdead + interval from O's start) => O says P is dead.
 *     Checked tightly too: the verdict may not come later than the deadline.
 * (b) no false verdicts: O says P dead (late) => no news on any link for at
 *     least deadtime (warntime), or never heard and initdead has passed;
 *     O says a link down => no news on that link for deadtime (or never and
 *     initdead passed). Time O itself spent paused does not count as the
 *     peer's silence (up to two intervals per pause, which look like jitter).
 * Start-up grace: where P's last news came while P's incarnation was in its
 *     start-up as O met it (its first news at O had a seq of at most
 *     initdead / interval rounds, less than initdead had passed since, and
 *     no news of it had a higher seq than that), deadtime in (a) and (b) is
 *     deadtime + the grace, for the peer and for that link.
 * (c) forged frames never reach the core, and replayed frames change no
 *     belief of the core and cause no event or send.
 * (d) each node's event stream is numbered 1, 2, 3... without gaps.
 * A peer O calls "stopped" said goodbye (checked by the goodbye scenario):
 * it is exempt from (a) and from the link rules, as it runs no deadlines.
 */
import type { HeartbeatTimers, MembershipState, PeerTrack } from "../../src/core/membership/membership.ts";
import type { StepRecord } from "./harness/sim.ts";
import type { HbMsg, MembershipSim } from "./membership-world.ts";

interface PeerTruth {
  epoch: bigint | null;
  /** Sim time of the first news of `epoch`, and whether its seq said the incarnation was young. */
  firstNews: number | null;
  young: boolean;
  /** Highest seq of `epoch` in any news. */
  maxSeq: number;
  /** The last news, and the last per receiving link, came in P's start-up grace. */
  graced: boolean;
  linkGraced: boolean[];
  /** Highest seq per sender link in `epoch`. */
  linkSeq: number[];
  /** Sim time of the last news per receiving link. */
  linkNews: (number | null)[];
  news: number | null;
}

/** The start-up grace as the cores run it: none when `ms` is 0. */
export interface GraceRule {
  readonly ms: number;
  readonly initdeadMs: number;
  /** The highest seq of a young incarnation (startGraceSeqs). */
  readonly seqs: number;
}

export class MembershipTruth {
  private readonly byObserver = new Map<string, Map<string, PeerTruth>>();
  private readonly links: number;
  readonly grace: GraceRule;

  constructor(links: number, grace: GraceRule = { ms: 0, initdeadMs: 0, seqs: 0 }) {
    this.links = links;
    this.grace = grace;
  }

  get(observer: string, peer: string): PeerTruth {
    let table = this.byObserver.get(observer);
    if (table === undefined) {
      table = new Map();
      this.byObserver.set(observer, table);
    }
    let t = table.get(peer);
    if (t === undefined) {
      t = {
        epoch: null,
        firstNews: null,
        young: false,
        maxSeq: 0,
        graced: false,
        linkGraced: new Array<boolean>(this.links).fill(false),
        linkSeq: new Array<number>(this.links).fill(0),
        linkNews: new Array<number | null>(this.links).fill(null),
        news: null,
      };
      table.set(peer, t);
    }
    return t;
  }

  observe(rec: StepRecord<MembershipState, unknown, unknown, HbMsg>): void {
    if (rec.kind === "lifecycle" && (rec.change === "start" || rec.change === "restart" || rec.change === "crash")) {
      this.byObserver.delete(rec.node);
      return;
    }
    if (rec.kind !== "step" || rec.envelope === null || rec.envelope.tag !== "genuine") return;
    const o = rec.envelope.msg.origin;
    const t = this.get(rec.node, o.node);
    if (t.epoch !== null && o.epoch < t.epoch) return;
    if (t.epoch === null || o.epoch > t.epoch) {
      t.epoch = o.epoch;
      t.linkSeq.fill(0);
      t.firstNews = rec.time;
      t.young = o.seq <= this.grace.seqs;
      t.maxSeq = 0;
    } else if (o.seq <= (t.linkSeq[o.link] ?? 0)) {
      return;
    }
    t.linkSeq[o.link] = o.seq;
    t.maxSeq = Math.max(t.maxSeq, o.seq);
    t.graced = this.grace.ms > 0 && t.young && rec.time < (t.firstNews ?? -Infinity) + this.grace.initdeadMs && t.maxSeq <= this.grace.seqs;
    t.linkNews[rec.envelope.link] = rec.time;
    t.linkGraced[rec.envelope.link] = t.graced;
    t.news = rec.time;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** What the core believes, without counters and clock bookkeeping; deadlines only when asked. */
function beliefs(s: MembershipState, withDeadlines: boolean): unknown {
  const peer = (p: PeerTrack) =>
    withDeadlines ? p : { ...p, deadAt: null, lateAt: null, links: p.links.map((l) => ({ ...l, downAt: null })) };
  return { epoch: s.epoch, nextSeq: s.nextSeq, nextSendAt: s.nextSendAt, eventSeq: s.eventSeq, peers: s.peers.map(peer) };
}

function pausedSince(sim: MembershipSim, node: string, since: number): boolean {
  return sim.node(node).pauses.some((p) => p.to === null || p.to > since);
}

/** How long `node` was frozen within [from, to], and in how many pauses. */
function frozenWithin(sim: MembershipSim, node: string, from: number, to: number): { ms: number; pauses: number } {
  let ms = 0;
  let pauses = 0;
  for (const p of sim.node(node).pauses) {
    const overlap = Math.min(p.to ?? to, to) - Math.max(p.from, from);
    if (overlap > 0) {
      ms += overlap;
      pauses += 1;
    }
  }
  return { ms, pauses };
}

export function installMembershipInvariants(sim: MembershipSim, timers: HeartbeatTimers, truth: MembershipTruth): void {
  const { intervalMs: interval, warntimeMs: warn, deadtimeMs: dead, initdeadMs: initdead } = timers;

  sim.invariant("ground truth", (_s, rec) => truth.observe(rec));

  sim.invariant("(c) forged and replayed frames change nothing", (_s, rec) => {
    if (rec.kind !== "step" || rec.envelope === null || rec.envelope.tag === "genuine") return;
    const tag = rec.envelope.tag;
    if (tag === "forged") throw new Error(`a forged frame (#${rec.envelope.id}) got past the codec to ${rec.node}'s core`);
    const others = rec.actions.filter((a) => a.type !== "stall");
    if (others.length > 0) throw new Error(`${tag} frame #${rec.envelope.id} made ${rec.node} act: ${others.map((a) => a.type).join(", ")}`);
    const stalled = rec.actions.length > 0;
    if (!deepEqual(beliefs(rec.before, !stalled), beliefs(rec.after, !stalled))) {
      throw new Error(`${tag} frame #${rec.envelope.id} changed ${rec.node}'s beliefs`);
    }
  });

  sim.invariant("(d) events are numbered without gaps", (_s, rec) => {
    if (rec.kind !== "step") return;
    let expected = rec.before.eventSeq;
    for (const a of rec.actions) {
      if (a.type !== "event") continue;
      expected += 1;
      if (a.seq !== expected) throw new Error(`${rec.node} emitted event seq ${a.seq}, expected ${expected}`);
    }
  });

  sim.invariant("(a)+(b) verdicts match the ground truth", (s, rec) => {
    if (rec.kind === "control") return;
    const now = s.now;
    for (const o of s.nodes.values()) {
      if (!o.alive || o.state === undefined) continue;
      for (const p of o.state.peers) {
        if (p.state === "stopped") continue;
        const t = truth.get(o.name, p.name);
        const heard = t.news !== null;
        const base = t.news ?? o.startedAt;
        const silent = now - base;
        const bound = heard ? dead + (t.graced ? truth.grace.ms : 0) : initdead;
        // Messages are built only on failure: this runs for every pair after every step.
        const what = () => (heard ? `no news for ${silent} ms` : `never heard, ${silent} ms after its start`);
        const say = () => `${o.name} says ${p.name} is ${p.state}`;
        // (b) lower bounds: never earlier than the rules allow.
        if (p.state === "dead" && silent < bound) throw new Error(`(b) ${say()} but ${what()} (limit ${bound} ms)`);
        if (p.state === "late" && (!heard || silent < warn)) throw new Error(`(b) ${say()} but ${what()} (warntime ${warn} ms)`);
        if (p.state === "unknown" && heard) throw new Error(`${say()} but it had news from it`);
        if (p.state === "dead" && o.pauses.length > 0) {
          // O's own frozen time is not the peer's silence. A pause of up to
          // two intervals is indistinguishable from jitter, so each pause may
          // leave that much uncredited.
          const frozen = frozenWithin(s, o.name, base, now);
          if (silent - frozen.ms < bound - 2 * interval * frozen.pauses) {
            throw new Error(`(b) ${say()} after ${silent} ms, of which ${o.name} itself was frozen ${frozen.ms} ms (limit ${bound} ms)`);
          }
        }
        for (let i = 0; i < p.links.length; i++) {
          const l = p.links[i];
          if (l === undefined) continue;
          const ln = t.linkNews[i] ?? null;
          const lsilent = now - (ln ?? o.startedAt);
          const lbound = ln === null ? initdead : dead + (t.linkGraced[i] === true ? truth.grace.ms : 0);
          if (l.state === "down" && lsilent < lbound) {
            throw new Error(`(b) ${o.name} says link ${i} of ${p.name} is down but ${ln === null ? "never heard" : "had news"} ${lsilent} ms ago (limit ${lbound} ms)`);
          }
          if (l.state !== "down" && lsilent > lbound && !pausedSince(s, o.name, (ln ?? o.startedAt) - interval)) {
            throw new Error(`${o.name} still says link ${i} of ${p.name} is ${l.state} after ${lsilent} ms of silence on it (limit ${lbound} ms)`);
          }
        }
        // (a) and its tight form: never later than the rules say, unless O itself was frozen.
        if (o.paused || pausedSince(s, o.name, base - interval)) continue;
        if (p.state !== "dead" && silent > bound + interval) {
          throw new Error(`(a) ${p.name} silent towards ${o.name} beyond the detection bound: ${what()}, but ${say()}`);
        }
        if (p.state !== "dead" && silent > bound) throw new Error(`${say()} although ${what()} (limit ${bound} ms): verdict late`);
        if (p.state === "up" && silent > warn) throw new Error(`${say()} although ${what()} (warntime ${warn} ms)`);
      }
    }
  });
}
