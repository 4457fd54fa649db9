/**
 * The membership core in the simulator, wired the way the daemon wires it:
 * frames are encoded and signed with the real codec on send, and decoded
 * and MAC-checked on receive before the core sees them (a bad frame is
 * dropped in front of the core, as the driver does).
 *
 * Also the attacker: forged frames (wrong key, tampered or junk bytes) and
 * replays of frames the target has already processed.
 */
import {
  initMembership,
  nextWakeAt,
  stepMembership,
  type HeartbeatTimers,
  type MembershipAction,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipInput,
  type MembershipState,
} from "../../src/core/membership/membership.ts";
import { decodeHeartbeat, encodeHeartbeat, type HeartbeatFrame } from "../../src/proto/heartbeat.ts";
import type { LinkProfile } from "./harness/network.ts";
import { Sim, type Envelope, type SimAdapter } from "./harness/sim.ts";

export const CLUSTER = "sim-cluster";
export const CLUSTER_KEY = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
export const WRONG_KEY = new Uint8Array(32).map((_, i) => (i * 53 + 5) & 0xff);
/** Wall-clock ms at sim time 0, for epochs: (wall ms << 16) | random16, as the driver makes them. */
const WALL_CLOCK_AT_ZERO = 1_750_000_000_000;

export interface HbMsg {
  readonly bytes: Uint8Array;
  /** What the sender meant to send: ground truth for the checks, never read by the receive path. */
  readonly origin: { readonly node: string; readonly epoch: bigint; readonly seq: number; readonly link: number };
}

export type MembershipSim = Sim<MembershipState, MembershipInput, MembershipAction, HbMsg>;

export interface ObservedEvent {
  readonly simTime: number;
  readonly observer: string;
  readonly incarnation: number;
  readonly event: MembershipEvent;
}

export interface WorldLog {
  readonly events: ObservedEvent[];
  readonly stalls: { simTime: number; node: string; creditedMs: number }[];
  /** Nodes asked to stop cleanly: their next wake-up is a "leave" (goodbye). */
  readonly stopping: Set<string>;
  /** Goodbyes actually sent: node -> the incarnation that sent it. */
  readonly saidGoodbye: Map<string, number>;
}

const ADDRESS_BLOCKS = ["198.51.100", "203.0.113", "192.0.2"];

export function membershipConfig(self: string, nodes: readonly string[], links: number, timers: HeartbeatTimers, startGraceMs?: number): MembershipConfig {
  return {
    ...(startGraceMs === undefined ? {} : { startGraceMs }),
    self,
    cluster: CLUSTER,
    nodes: nodes.map((name, i) => ({
      name,
      links: Array.from({ length: links }, (_, l) => `${ADDRESS_BLOCKS[l % ADDRESS_BLOCKS.length]}.${10 + i}`),
    })),
    ...timers,
  };
}

export function membershipAdapter(
  nodes: readonly string[],
  links: number,
  timers: HeartbeatTimers,
  log: WorldLog,
  incarnationOf: (node: string) => number,
  startGraceMs?: number,
): SimAdapter<MembershipState, MembershipInput, MembershipAction, HbMsg> {
  // A broadcast hands the same bytes to every peer; decoding is a pure
  // function of (bytes, key), so one decode per byte array gives the same
  // answers at a fraction of the HMAC cost.
  const decoded = new WeakMap<Uint8Array, ReturnType<typeof decodeHeartbeat>>();
  const decode = (bytes: Uint8Array) => {
    let got = decoded.get(bytes);
    if (got === undefined) {
      got = decodeHeartbeat(bytes, CLUSTER_KEY);
      decoded.set(bytes, got);
    }
    return got;
  };
  return {
    step: stepMembership,
    start: (node, ctx) =>
      initMembership(membershipConfig(node, nodes, links, timers, startGraceMs), {
        now: ctx.now,
        epoch: (BigInt(WALL_CLOCK_AT_ZERO + Math.floor(ctx.simNow)) << 16n) | BigInt(ctx.rng.int(0, 0xffff)),
      }),
    tick: (node) => {
      if (!log.stopping.has(node)) return { type: "tick" };
      log.stopping.delete(node);
      log.saidGoodbye.set(node, incarnationOf(node));
      return { type: "leave" };
    },
    receive: (_node, env) => {
      const got = decode(env.msg.bytes);
      if (!got.ok) return { ok: false, drop: `${got.error.kind}: ${got.error.detail}` };
      return { ok: true, event: { type: "frame", link: env.link, frame: got.frame } };
    },
    nextWakeAt,
    perform: (node, actions, io) => {
      for (const a of actions) {
        if (a.type === "send-heartbeat") {
          const f = a.frame;
          const bytes = encodeHeartbeat({ ...f, echoes: f.echoes.map((e) => ({ ...e })), modules: [] }, CLUSTER_KEY);
          io.broadcast(f.link, { bytes, origin: { node, epoch: f.epoch, seq: f.seq, link: f.link } });
        } else if (a.type === "event") {
          log.events.push({ simTime: io.simNow, observer: node, incarnation: incarnationOf(node), event: a });
        } else {
          log.stalls.push({ simTime: io.simNow, node, creditedMs: a.creditedMs });
        }
      }
    },
    describeEvent: (e) => (e.type === "tick" || e.type === "publish" || e.type === "leave" ? e.type : e.type === "alive" ? `alive ${e.node} via ${e.via} ${e.ageMs}ms ago` : `frame ${e.frame.node} e${e.frame.epoch & 0xffffn} #${e.frame.seq} L${e.frame.link}`),
    describeAction: (a) => {
      if (a.type === "send-heartbeat") return `send #${a.frame.seq} L${a.frame.link}`;
      if (a.type === "stall") return `stall ${a.gapMs}ms`;
      return `${a.node}${a.scope === "link" ? ` link${a.link}` : ""} ${a.from}->${a.to} (${a.reason})`;
    },
    describeMsg: (m) => `hb ${m.origin.node} e${m.origin.epoch & 0xffffn} #${m.origin.seq} L${m.origin.link}`,
  };
}

export interface WorldOptions {
  readonly seed: number;
  readonly nodes: readonly string[];
  readonly links: number;
  readonly timers: HeartbeatTimers;
  /** The cores' start-up grace ("Start-up grace" in membership.ts); absent: none. */
  readonly startGraceMs?: number;
  readonly profile: LinkProfile | readonly LinkProfile[];
  readonly startAt?: Readonly<Record<string, number | null>>;
}

export function createWorld(opts: WorldOptions): { sim: MembershipSim; log: WorldLog } {
  const log: WorldLog = { events: [], stalls: [], stopping: new Set(), saidGoodbye: new Map() };
  let sim: MembershipSim | undefined;
  const incarnationOf = (node: string) => sim?.node(node).incarnation ?? 0;
  sim = new Sim(membershipAdapter(opts.nodes, opts.links, opts.timers, log, incarnationOf, opts.startGraceMs), {
    seed: opts.seed,
    nodes: opts.nodes,
    links: opts.links,
    profile: opts.profile,
    ...(opts.startAt === undefined ? {} : { startAt: opts.startAt }),
  });
  return { sim, log };
}

/** A random noisy link: loss, delay spread (reordering) and duplication. */
export function noisyProfile(sim: MembershipSim, limits: { maxLoss: number; maxSpreadMs: number; maxDuplicate: number }): LinkProfile {
  const lo = sim.rng.int(0, 20);
  return {
    loss: sim.rng.range(0, limits.maxLoss),
    delayMs: [lo, lo + sim.rng.int(0, limits.maxSpreadMs)],
    duplicate: sim.rng.range(0, limits.maxDuplicate),
  };
}

// ---- the attacker -----------------------------------------------------------

interface Capture {
  readonly envelope: Envelope<HbMsg>;
  readonly incarnation: number;
}

/**
 * Keeps genuine frames each node has processed, to replay them later: the
 * latest ones plus a uniform sample of older ones (so replays of a peer's
 * earlier incarnation happen too). Only frames the target itself already
 * processed in its current incarnation are replayed: anything else would be
 * news to it, not a replay.
 */
export class Recorder {
  private readonly recent = new Map<string, Capture[]>();
  private readonly older = new Map<string, { seen: number; sample: Capture[] }>();
  private readonly keep: number;

  constructor(sim: MembershipSim, keep = 32) {
    this.keep = keep;
    sim.invariant("record frames for replay", (s, rec) => {
      if (rec.kind !== "step" || rec.envelope === null || rec.envelope.tag !== "genuine") return;
      const capture = { envelope: rec.envelope, incarnation: s.node(rec.node).incarnation };
      const list = this.recent.get(rec.node) ?? [];
      list.push(capture);
      this.recent.set(rec.node, list);
      if (list.length <= this.keep) return;
      const evicted = list.shift() as Capture;
      // Reservoir sampling of everything that left the recent window.
      const old = this.older.get(rec.node) ?? { seen: 0, sample: [] };
      old.seen += 1;
      if (old.sample.length < this.keep) old.sample.push(evicted);
      else {
        const slot = s.rng.int(0, old.seen - 1);
        if (slot < this.keep) old.sample[slot] = evicted;
      }
      this.older.set(rec.node, old);
    });
  }

  private captures(node: string): Capture[] {
    return [...(this.recent.get(node) ?? []), ...(this.older.get(node)?.sample ?? [])];
  }

  pick(sim: MembershipSim, node: string): Envelope<HbMsg> | undefined {
    const n = sim.node(node);
    const list = this.captures(node).filter((c) => c.incarnation === n.incarnation);
    return list.length === 0 ? undefined : sim.rng.pick(list).envelope;
  }

  /** Any frame seen anywhere, as raw material for tampering. */
  any(sim: MembershipSim): Envelope<HbMsg> | undefined {
    const all = [...this.recent.keys()].flatMap((node) => this.captures(node));
    return all.length === 0 ? undefined : sim.rng.pick(all).envelope;
  }
}

function aliveNodes(sim: MembershipSim): string[] {
  return [...sim.nodes.values()].filter((n) => n.alive).map((n) => n.name);
}

/** Injects a replay of a frame `to` already processed, on a random one of its links. */
export function injectReplay(sim: MembershipSim, recorder: Recorder): boolean {
  const targets = aliveNodes(sim);
  if (targets.length === 0) return false;
  const to = sim.rng.pick(targets);
  const env = recorder.pick(sim, to);
  if (env === undefined) return false;
  sim.inject({ from: "attacker", to, link: sim.rng.int(0, sim.net.linkCount - 1), msg: env.msg, tag: "replayed" });
  return true;
}

/** Injects a frame the codec must refuse: signed with the wrong key, tampered with, or junk. */
export function injectForgery(sim: MembershipSim, recorder: Recorder, nodes: readonly string[]): boolean {
  const targets = aliveNodes(sim);
  if (targets.length === 0) return false;
  const to = sim.rng.pick(targets);
  const claimed = sim.rng.pick(nodes);
  const link = sim.rng.int(0, sim.net.linkCount - 1);
  const kind = sim.rng.int(0, 3);
  let bytes: Uint8Array;
  const sample = recorder.any(sim);
  if (kind === 0 || sample === undefined) {
    // A believable frame that would win every check in the core: newest epoch, huge seq.
    const frame: HeartbeatFrame = {
      cluster: CLUSTER,
      node: claimed,
      epoch: 0xffff_ffff_ffff_0000n,
      seq: 0xffff_fff0,
      sentAt: 1,
      link,
      echoes: [],
      modules: [],
    };
    bytes = encodeHeartbeat(frame, WRONG_KEY);
  } else if (kind === 1) {
    bytes = Uint8Array.from(sample.msg.bytes);
    const at = sim.rng.int(0, bytes.length - 1);
    bytes[at] = (bytes[at] ?? 0) ^ (1 << sim.rng.int(0, 7));
  } else if (kind === 2) {
    bytes = sample.msg.bytes.slice(0, sim.rng.int(0, sample.msg.bytes.length - 1));
  } else {
    bytes = Uint8Array.from({ length: sim.rng.int(0, 200) }, () => sim.rng.int(0, 255));
  }
  sim.inject({
    from: "attacker",
    to,
    link,
    msg: { bytes, origin: { node: claimed, epoch: 0n, seq: 0, link } },
    tag: "forged",
  });
  return true;
}
