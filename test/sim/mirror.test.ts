/**
 * The mirror core under simulation: two nodes with the real mirror core, a
 * simplified module election (the first node whose copy may serve runs the
 * module while its peer does not), a writer on the running node, and seeded
 * faults: daemon crashes and restarts, replication-link cuts while the
 * heartbeat still works (each side noticing at its own time), a full state
 * dir (every persist of that node fails for a while; rule 8: the node
 * applies nothing, takes no resync, and a takeover it claims is refused
 * until its record is saved), and, in the split-brain scenario, full
 * partitions.
 *
 * Checked at every step:
 * - no stale copy is ever promoted: a node that starts running the module
 *   (without forceprim) holds every write acknowledged so far;
 * - no never-synced copy is promoted: once a node ran the module on its
 *   copy (the cluster's first data, files its folder held before), a node
 *   that starts running later holds those files too;
 * - an acknowledged write is never missing from the running node's copy;
 * - a file a folder held before the first contact is never resynced away
 *   without being kept aside (a resync that says so keeps what it removes).
 * At the end (everything healed): both copies hold the same writes, in sync.
 * Split brain: when both sides wrote while apart, it is always detected.
 * First contact: each folder may hold files of its own when the two new
 * nodes first meet (drawn per seed, as are `prefer:` and whether a node is
 * of the previous release, which does not tell whether its folder holds
 * files), and the node that goes first is killed at once (before it ran,
 * or within 30 ms of its start: before or while its first sync begins),
 * stays dead past the deadtime, and comes back. When both folders hold
 * files and nothing is preferred, neither may run until an operator runs
 * forceprim on one (the sim's operator does, on either node, once both
 * wait naming that choice). Checked too: the first node to run is the one
 * rule 7 names (prefer; else the only folder holding files; else the lower
 * name), never an empty folder over one holding files unasked.
 * Stalls (stallFault): a node whose loop is not scheduled sends no frame and
 * notices nothing until it runs again, then takes what reached it, each
 * frame with its arrival; it gives a silent peer its stall credit and a
 * start-up grace on top of the deadtime, as the membership does.
 * Frames: every node sends one each interval; a mirror core's
 * "announce-alone" sends one at once, and the driver answers
 * "alone-announced" once it left. In the "alone-ack-kill" scenario a role
 * change also goes out as an extra round, at once or up to interval/4 later
 * (the spacing of extra rounds), as the module core's publish does.
 *
 * Seeds: SIM_SEEDS=<k> runs k seeds per scenario; SIM_SEED=<n> replays one.
 */
import { describe, expect, it } from "vitest";
import type { CopyRecord } from "../../src/core/mirror/copy.ts";
import { initMirror, stepMirror } from "../../src/core/mirror/mirror.ts";
import { copyOnDisk } from "../../src/core/mirror/unsaved.ts";
import type { DataMark, MirrorAction, MirrorInput, MirrorModuleRole, MirrorState } from "../../src/core/mirror/types.ts";
import { Prng } from "./harness/prng.ts";
import { replayCommand, seedsFromEnv } from "./harness/seeds.ts";

const TICK = 10;
const INTERVAL = 100;
const DEADTIME = 500;
const timers = { detachGraceMs: DEADTIME + INTERVAL + 100, resyncRetryMs: 2000 };

interface SimNode {
  readonly name: string;
  up: boolean;
  core: MirrorState | null;
  disk: CopyRecord | null;
  /** The writes in this node's folder. */
  files: Set<number>;
  role: MirrorModuleRole;
  /** When this node last heard its peer's heartbeat, and what the peer published then. */
  heardAt: number;
  seenRole: MirrorModuleRole | null;
  seenMark: DataMark | null;
  liveness: "unknown" | "up" | "dead";
  /** This side believes the link is up (it noticed the last change). */
  linkUp: boolean;
  linkNoticeAt: number | null;
  splitBrainSeen: boolean;
  /** Files a resync removed from this copy after keeping them aside. */
  kept: Set<number>;
  /** Files this folder held before the first contact (negative ids). */
  own: Set<number>;
  /** This node tells whether its folder holds files (false: the previous release). */
  readonly tells: boolean;
  /** The operator ran forceprim here. */
  forced: boolean;
  /** Its state dir is full: every persist fails. */
  full: boolean;
  /**
   * Stalled (its loop not scheduled) until this time: it sends no frame,
   * notices nothing, and what reaches it waits in `inbox`, handed over when
   * it runs again, each frame with its arrival (heardAt).
   */
  stalledUntil: number;
  stallFrom: number;
  inbox: MirrorInput[];
  /** Extra time before this node calls its peer dead: the start-up grace of a young peer. */
  startGrace: number;
  /** An extra round of this node (its role changed) leaves at this time; null: none owed. */
  newsAt: number | null;
}

interface World {
  readonly rng: Prng;
  now: number;
  readonly nodes: [SimNode, SimNode];
  replCut: boolean;
  netCut: boolean;
  nextWrite: number;
  acked: Set<number>;
  /** Writes applied on the running node, not yet acknowledged. */
  pending: number[];
  /** Ops sent on the current connection and not acknowledged yet (TCP delivers them once a blip ends). */
  unsent: number[];
  resync: { from: SimNode; to: SimNode; beginAt: number; begun: boolean; doneAt: number; keep: boolean } | null;
  failures: string[];
  trace: string[];
  /** Split-brain scenario: acknowledged writes of the losing side are kept aside, not required on the winner. */
  readonly split: boolean;
  /** Nodes that acknowledged writes alone during the current full partition, and whether both ever did. */
  wroteApart: Set<string>;
  bothWroteApart: boolean;
  /** The node the module core prefers (the other yields to it when both may run): `prefer:`, else the lower name. */
  readonly prefer: string;
  /** `prefer:` as configured (null: none), what the mirror core is told. */
  readonly configuredPrefer: string | null;
  /** First contact: when the operator runs forceprim, once both nodes wait for that choice (null: not yet due). */
  operatorAt: number | null;
  /** The first node that ran the module: its folder's own files are the cluster's first data. */
  origin: SimNode | null;
  /** First-contact scenario: how the node that goes first is killed (null: not armed, or done). */
  firstContactKill: { delay: number; beforeRun: boolean; downFor: number } | null;
  /** A killed node's link is noticed gone within 20 ms (connection refused), not up to 400. */
  readonly refusedAtOnce: boolean;
  /** No new connection before this time (the client's pause before it connects again). */
  linkBackAt: number;
  /** A node the first-contact fault kills at `at`, down until `until`. */
  revive: { node: SimNode; at: number; until: number } | null;
  /** A role change goes out as an extra round, at once or up to interval/4 later (null: only periodic rounds). */
  readonly news: boolean;
  /** Called right after a write was acknowledged alone (the "alone-ack-kill" fault). */
  onAloneAck: (() => void) | null;
}

function other(w: World, n: SimNode): SimNode {
  return w.nodes[0] === n ? w.nodes[1] : w.nodes[0];
}

const running = (r: MirrorModuleRole | null): boolean => r === "PRIM" || r === "ALONE";

function stalled(w: World, n: SimNode): boolean {
  return n.up && w.now >= n.stallFrom && w.now < n.stalledUntil;
}

function feed(w: World, n: SimNode, ev: MirrorInput): void {
  if (!n.up || n.core === null) return;
  if (stalled(w, n)) {
    n.inbox.push(ev);
    return;
  }
  if (ev.type !== "tick" && ev.type !== "peer-mark") w.trace.push(`t=${w.now} ${n.name} <- ${JSON.stringify(ev)}`);
  const r = stepMirror(n.core, ev, w.now);
  n.core = r.state;
  act(w, n, r.actions);
}

function act(w: World, n: SimNode, actions: readonly MirrorAction[]): void {
  let saved = false;
  let failed = false;
  let announced = false;
  for (const a of actions) {
    w.trace.push(`t=${w.now} ${n.name} -> ${JSON.stringify(a)}`);
    if (a.type === "persist" && n.full) {
      // The driver's rule: nothing after a failed persist is carried out; the core is told.
      feed(w, n, { type: "persist-failed", detail: "state dir full (ENOSPC)", saved: n.disk });
      failed = true;
      break;
    }
    if (a.type === "announce-alone") {
      // A round at once, whatever the spacing; the driver is told once it left (after this step's actions).
      send(w, n);
      announced = true;
    }
    if (a.type === "persist") {
      n.disk = a.copy;
      saved = true;
    }
    if (a.type === "note" && a.kind === "split-brain") n.splitBrainSeen = true;
    if (a.type === "writes" && a.mode === "alone" && w.pending.length > 0) {
      for (const id of w.pending) w.acked.add(id);
      w.pending = [];
      w.onAloneAck?.();
    }
    if (a.type === "resync") {
      const p = other(w, n);
      if (running(p.role)) {
        // The driver's rule: a node that runs the module refuses to be resynced.
        feed(w, n, { type: "resync-failed", detail: "peer runs the module", touched: false });
        continue;
      }
      if (p.core?.unsaved != null) {
        // The driver's rule 8: a copy whose record is not saved takes no resync.
        feed(w, n, { type: "resync-failed", detail: "peer's record not saved", touched: false });
        continue;
      }
      // The peer hears of it one to three ticks later (the driver asks its state, then begins): the
      // window in which a PRIM that dies leaves a peer that was never told.
      const beginAt = w.now + TICK * w.rng.int(1, 3);
      w.resync = { from: n, to: p, beginAt, begun: false, doneAt: beginAt + w.rng.int(20, 300), keep: a.keepConflicts };
    }
  }
  if (!failed && saved && n.core?.unsaved != null) feed(w, n, { type: "persisted" });
  if (announced) feed(w, n, { type: "alone-announced" });
}

/** `p` hears a frame of `n` now: what `n` publishes at this moment (its role and mark). */
function hear(w: World, p: SimNode, n: SimNode): void {
  p.heardAt = w.now;
  p.seenRole = n.role;
  p.seenMark = n.core?.mark ?? null;
  if (p.liveness !== "up") {
    p.liveness = "up";
    feed(w, p, { type: "peer", liveness: "up" });
  }
  feed(w, p, { type: "peer-mark", mark: p.seenMark, running: running(n.role), alone: n.role === "ALONE", heardAt: w.now });
}

/** `n` sends a round now: its peer hears it unless it is down or the network is cut (a stalled peer takes it later). */
function send(w: World, n: SimNode): void {
  const p = other(w, n);
  if (n.up && p.up && !w.netCut) hear(w, p, n);
}

function physicalLink(w: World): boolean {
  // A stalled node's end of the connection takes and acknowledges nothing until it runs again.
  return w.nodes[0].up && w.nodes[1].up && !w.replCut && !w.netCut && !w.nodes.some((n) => stalled(w, n)) && w.now >= w.linkBackAt;
}

function start(w: World, n: SimNode): void {
  // The peer's connection to our previous life is gone: it sees it reset at the latest now.
  const p = other(w, n);
  w.unsent = [];
  if (p.up && p.linkUp) {
    p.linkUp = false;
    p.linkNoticeAt = null;
    if (w.resync !== null) w.resync = null;
    feed(w, p, { type: "link-down", detail: "peer restarted" });
  }
  n.up = true;
  n.role = "SECOND";
  n.liveness = "unknown";
  n.seenMark = null;
  n.seenRole = null;
  n.heardAt = -1;
  n.linkUp = false;
  n.linkNoticeAt = null;
  // Measured at the start, before any mount: whether the folder holds files, if this node's release tells.
  const holdsFiles = n.tells ? n.files.size > 0 : null;
  const r = initMirror({ module: "m", self: n.name, peer: other(w, n).name, timers, copy: n.disk, boot: "boot-1", prefer: w.configuredPrefer, holdsFiles }, w.now);
  n.core = r.state;
  act(w, n, r.actions);
  feed(w, n, { type: "role", role: "SECOND" });
}

function crash(w: World, n: SimNode): void {
  w.trace.push(`t=${w.now} ${n.name} CRASH`);
  // Writes not acknowledged die with the application's requests (they stay in this node's files).
  if (running(n.role)) w.pending = [];
  n.up = false;
  n.core = null;
  n.role = "STOP";
  n.stalledUntil = 0;
  n.inbox = [];
  n.newsAt = null;
  if (w.resync !== null && (w.resync.from === n || w.resync.to === n)) w.resync = null;
}

function setRole(w: World, n: SimNode, role: MirrorModuleRole): void {
  if (n.role === role) return;
  const was = n.role;
  n.role = role;
  if (running(role) && !running(was)) {
    const missing = [...w.acked].filter((id) => !n.files.has(id));
    if (missing.length > 0 && !w.split) w.failures.push(`t=${w.now}: ${n.name} took over without acknowledged writes ${missing.slice(0, 5).join(",")}`);
    if (w.origin === null) {
      w.origin = n;
      const why = wrongSource(w, n);
      if (why !== null) w.failures.push(`t=${w.now}: ${n.name} went first: ${why}`);
    }
    const neverSynced = [...w.origin.own].filter((id) => !n.files.has(id));
    if (neverSynced.length > 0) w.failures.push(`t=${w.now}: ${n.name} runs a copy that never received the first sync (it lacks ${w.origin.name}'s files ${neverSynced.slice(0, 5).join(",")})`);
    const k = w.firstContactKill;
    if (k !== null && !k.beforeRun) {
      w.firstContactKill = null;
      w.revive = { node: n, at: w.now + k.delay, until: w.now + k.delay + k.downFor };
    }
  }
  if (!running(role) && running(was)) w.pending = [];
  if (w.news) {
    // The module core publishes the new role as an extra round: at once, or owed until the spacing ends.
    const delay = TICK * w.rng.int(0, 2);
    if (delay === 0) send(w, n);
    else n.newsAt = w.now + delay;
  }
  feed(w, n, { type: "role", role });
  // The mirror resource refuses to mount while the takeover's record is not saved: the module core waits (WAIT).
  if (running(role) && !running(was) && n.core?.unsaved != null) {
    w.trace.push(`t=${w.now} ${n.name} takeover refused: record not saved`);
    n.role = "WAIT";
    w.pending = [];
    feed(w, n, { type: "role", role: "WAIT" });
  }
}

/**
 * When `n` calls its silent peer dead: a deadtime after the last frame, plus
 * the start-up grace it gives, plus its own stall credit when it was stalled
 * since that frame (it gives a peer the time it could not listen itself).
 */
function deadAfter(w: World, n: SimNode): number {
  const credit = n.heardAt < n.stalledUntil && n.stalledUntil <= w.now ? n.stalledUntil - Math.max(n.stallFrom, n.heardAt) : 0;
  return n.heardAt + DEADTIME + n.startGrace + credit;
}

function heartbeat(w: World): void {
  for (const n of w.nodes) {
    if (!n.up) continue;
    const p = other(w, n);
    const extra = p.newsAt !== null && w.now >= p.newsAt;
    if (p.up && !stalled(w, p) && extra) p.newsAt = null;
    if (p.up && !stalled(w, p) && !w.netCut && (w.now % INTERVAL === 0 || extra)) {
      hear(w, n, p);
    } else if (stalled(w, n)) {
      continue;
    } else if (n.liveness === "up" && w.now > deadAfter(w, n)) {
      n.liveness = "dead";
      n.seenRole = null;
      feed(w, n, { type: "peer", liveness: "dead" });
    } else if (n.liveness === "unknown" && n.heardAt < 0 && w.now % 1000 === 0 && w.rng.chance(0.5)) {
      n.liveness = "dead";
      feed(w, n, { type: "peer", liveness: "dead" });
    }
  }
}

/**
 * When `n` notices the link's change: a stalled peer is silent on it, found
 * after the link's deadtime of silence; in a stall scenario a killed peer's
 * kernel refuses at once (the random faults keep their slower notice).
 */
function linkNoticeAt(w: World, n: SimNode, phys: boolean): number {
  if (phys) return w.now;
  const p = other(w, n);
  if (stalled(w, p) && !w.replCut && !w.netCut) return Math.max(w.now, p.stallFrom + DEADTIME) + w.rng.int(0, 100);
  if (!p.up && w.refusedAtOnce) return w.now + w.rng.int(0, 2) * TICK;
  return w.now + w.rng.int(0, 400);
}

function link(w: World): void {
  const phys = physicalLink(w);
  for (const n of w.nodes) {
    if (!n.up) continue;
    if (stalled(w, n)) continue;
    if (n.linkUp !== phys && n.linkNoticeAt === null) n.linkNoticeAt = linkNoticeAt(w, n, phys);
    if (n.linkNoticeAt !== null && w.now >= n.linkNoticeAt) {
      n.linkNoticeAt = null;
      if (n.linkUp === phys) continue;
      n.linkUp = phys;
      if (phys) {
        const p = other(w, n);
        if (p.core === null) continue;
        // The PRIM's ops held or maybe applied during the outage are journaled: a gap the resync closes.
        const gap = running(n.role) && w.pending.length > 0;
        // The driver's hello: while the record is unsaved, the one on disk (rule 8).
        const c = p.core.unsaved === null ? p.core.copy : copyOnDisk(p.core.unsaved);
        const told = c.gen === "0:" && p.core.holdsFiles !== null ? { holdsFiles: p.core.holdsFiles } : {};
        feed(w, n, { type: "link-up", peer: { gen: c.gen, history: c.history, data: c.data, running: running(p.role), unclean: p.core.unclean, ...told }, gap });
      } else {
        if (w.resync !== null && (w.resync.from === n || w.resync.to === n)) {
          w.resync = null;
        }
        w.unsent = [];
        feed(w, n, { type: "link-down", detail: "sim" });
        // One connection: once a side closes it, the other side loses it too before any new one comes up.
        const p = other(w, n);
        if (p.up && p.linkUp) {
          p.linkUp = false;
          p.linkNoticeAt = null;
          feed(w, p, { type: "link-down", detail: "closed by peer" });
        }
      }
    }
  }
  const r = w.resync;
  if (phys && w.unsent.length > 0 && w.nodes.every((m) => m.linkUp)) {
    const runner = w.nodes.find((m) => running(m.role));
    if (runner !== undefined) {
      for (const id of w.unsent) other(w, runner).files.add(id);
      w.unsent = [];
      // In order: everything pending was sent on this connection, so all of it is acknowledged now.
      if (w.pending.length > 0 && runner.core?.writes === "replicate" && !runner.core.resyncing && !runner.core.gap) {
        for (const id of w.pending) w.acked.add(id);
        w.pending = [];
      }
    }
  }
  if (r !== null && !r.begun && w.now >= r.beginAt && phys && r.to.core?.unsaved != null) {
    w.resync = null;
    feed(w, r.from, { type: "resync-failed", detail: "peer's record not saved", touched: false });
  } else if (r !== null && !r.begun && w.now >= r.beginAt && phys) {
    r.begun = true;
    feed(w, r.to, { type: "resync-incoming" });
  }
  // A short cut that neither side noticed delays the resync (TCP retransmits); a noticed one cancels it above.
  if (r !== null && r.begun && w.now >= r.doneAt && phys) {
    w.resync = null;
    if (r.from.core !== null) {
      const removed = [...r.to.files].filter((id) => !r.from.files.has(id));
      if (r.keep) for (const id of removed) r.to.kept.add(id);
      const lost = removed.filter((id) => id < 0 && !r.to.kept.has(id));
      if (lost.length > 0) w.failures.push(`t=${w.now}: the resync from ${r.from.name} removed ${r.to.name}'s own files ${lost.slice(0, 5).join(",")} without keeping them aside`);
      r.to.files = new Set(r.from.files);
      // Every op held at the start of the resync is on the peer now.
      for (const id of w.pending) w.acked.add(id);
      w.pending = [];
      feed(w, r.to, { type: "resync-complete", gen: r.from.core.copy.gen, history: r.from.core.copy.history });
      feed(w, r.from, { type: "resync-done" });
    }
  }
}

function elect(w: World): void {
  for (const n of w.nodes) {
    if (!n.up || n.core === null || stalled(w, n)) continue;
    const peerRuns = running(n.seenRole);
    if (running(n.role)) {
      // The module core's conflict rule, simplified: the preferred node keeps it.
      if (peerRuns && n.name !== w.prefer) setRole(w, n, "SECOND");
      else if (n.liveness !== "dead" && n.role === "ALONE") setRole(w, n, "PRIM");
      else if (n.liveness === "dead" && n.role === "PRIM") setRole(w, n, "ALONE");
      continue;
    }
    if (n.core.gate !== null) {
      setRole(w, n, "WAIT");
      continue;
    }
    if (n.role === "WAIT") setRole(w, n, "SECOND");
    if (n.liveness === "unknown" || peerRuns) continue;
    const peerEligible = n.liveness === "up" && n.seenRole === "SECOND" && n.seenMark === "u";
    if (peerEligible && n.name !== w.prefer) continue;
    setRole(w, n, n.liveness === "dead" ? "ALONE" : "PRIM");
  }
}

function write(w: World): void {
  const n = w.nodes.find((x) => x.up && !stalled(w, x) && running(x.role) && x.core !== null);
  if (n === undefined || n.core === null || !w.rng.chance(0.3)) return;
  const id = w.nextWrite++;
  n.files.add(id);
  w.trace.push(`t=${w.now} ${n.name} write ${id} mode=${n.core.writes} linkUp=${n.linkUp} phys=${physicalLink(w)} pending=${w.pending.length}`);
  const p = other(w, n);
  if (n.core.writes === "replicate" && n.linkUp && physicalLink(w) && p.core?.unsaved != null) {
    // Rule 8: the peer applies nothing while its record is not saved; it says the op failed.
    w.pending.push(id);
    feed(w, p, { type: "apply-failed", detail: "record not saved" });
    if (n.core.resyncing) {
      // During a resync the PRIM journals it and acknowledges (the resync covers it).
      w.pending = w.pending.filter((x) => x !== id);
      w.acked.add(id);
    } else feed(w, n, { type: "peer-apply-failed", detail: "peer's record not saved" });
  } else if (n.core.writes === "replicate" && n.linkUp && physicalLink(w) && w.pending.length === 0) {
    p.files.add(id);
    w.acked.add(id);
  } else if (n.core.writes === "replicate" && n.linkUp && physicalLink(w)) {
    // Sent live, but acknowledged only after the older held ones.
    p.files.add(id);
    w.pending.push(id);
  } else if (n.core.writes === "replicate" && n.linkUp) {
    // The link is cut but nobody noticed yet: TCP retransmits it if the cut ends first.
    w.unsent.push(id);
    w.pending.push(id);
  } else if (n.core.writes === "alone") {
    w.acked.add(id);
    w.onAloneAck?.();
    if (w.netCut) {
      w.wroteApart.add(n.name);
      if (w.wroteApart.size === 2) w.bothWroteApart = true;
    }
  } else {
    // Held; sent just before the link broke, it may or may not have reached the peer.
    if (physicalLink(w) && p.up && w.rng.chance(0.3)) p.files.add(id);
    w.pending.push(id);
  }
  for (const m of w.nodes) {
    if (m.up && running(m.role)) {
      const lost = [...w.acked].filter((x) => !m.files.has(x));
      if (lost.length > 0 && !w.split && m === n) w.failures.push(`t=${w.now}: running ${m.name} misses acknowledged ${lost.slice(0, 5).join(",")}`);
    }
  }
}

/** Why the first node to run is not the one rule 7 names, or null. */
function wrongSource(w: World, n: SimNode): string | null {
  if (n.forced) return null;
  const p = other(w, n);
  if (w.configuredPrefer !== null) return n.name === w.configuredPrefer ? null : `${w.configuredPrefer} is preferred`;
  if (!n.tells || !p.tells) return n.name < p.name ? null : "with a node that does not tell, the lower name goes first";
  if (n.own.size === 0 && p.own.size > 0) return `its folder was empty and ${p.name}'s held files`;
  if (n.own.size > 0 && p.own.size > 0) return "both folders held files and nobody named one";
  if (n.own.size === 0 && p.own.size === 0 && n.name > p.name) return "both folders were empty: the lower name goes first";
  return null;
}

/**
 * The operator: both new copies hold files, nothing is preferred, and both
 * nodes wait naming that choice; some time later forceprim on one of them.
 */
function operator(w: World): void {
  const asks = w.nodes.every((n) => n.up && n.core !== null && /both new copies hold files/.test(n.core.gate ?? ""));
  if (!asks) {
    w.operatorAt = null;
    return;
  }
  if (w.operatorAt === null) {
    w.operatorAt = w.now + w.rng.int(100, 1500);
    return;
  }
  if (w.now < w.operatorAt) return;
  w.operatorAt = null;
  const n = w.rng.chance(0.5) ? w.nodes[0] : w.nodes[1];
  n.forced = true;
  w.trace.push(`t=${w.now} operator: forceprim on ${n.name}`);
  feed(w, n, { type: "forced" });
}

/**
 * The first-contact fault: the node that goes first dies either the moment
 * the two copies were first compared (before it could run), or `delay` ms
 * after it started running (its gen bumped, its first sync about to begin
 * or just begun); it stays down past the deadtime, then comes back.
 */
function firstContactFault(w: World): void {
  const k = w.firstContactKill;
  if (k !== null && k.beforeRun && w.nodes.every((n) => n.up && n.linkUp)) {
    w.firstContactKill = null;
    // The node that goes first: the source rule 7 picked (ungated now); both gated: the preferred one.
    const n = w.nodes.find((x) => x.core?.gate === null) ?? w.nodes.find((x) => x.name === w.prefer) ?? w.nodes[0];
    w.revive = { node: n, at: w.now, until: w.now + k.downFor };
  }
  const r = w.revive;
  if (r === null) return;
  if (w.now >= r.at && r.node.up && w.now < r.until) crash(w, r.node);
  if (w.now >= r.until && !r.node.up) {
    start(w, r.node);
    w.revive = null;
  }
}

/**
 * The detach grace against a late dead verdict (rule 4), one fault per run
 * at `t0`, the pair in sync with a PRIM and an up-to-date SECOND then:
 * - "stall-kill": the PRIM is killed, and its SECOND stalls for 300-900 ms
 *   right after, then gives the silent PRIM that much more (stall credit)
 *   plus 0-500 ms of start-up grace before it calls it dead. It must take
 *   over: the PRIM never wrote alone.
 * - "stall-alone-kill": the SECOND stalls for 0.8-2 s; its PRIM calls it dead,
 *   drops the link and acknowledges writes alone; the SECOND runs again and
 *   hears that, and the PRIM is killed 0-150 ms later. The SECOND must not
 *   take over without those writes (its verdict now comes on time).
 * - "stall-cut": the link is cut with both alive, and the SECOND stalls for
 *   100-350 ms meanwhile (its deadlines stretched). It must still become
 *   outdated, and its PRIM go on alone, within 2.5 s of the cut.
 * - "alone-ack-kill": the SECOND stalls for 0.8-2 s and the replication link
 *   breaks as it does (cut, or given up by the PRIM before its heartbeat's
 *   verdict: 0-400 ms); the PRIM calls the SECOND dead and goes ALONE (that
 *   role's extra round leaving at once or up to interval/4 later), and is
 *   killed right after its first write acknowledged alone. The SECOND runs
 *   again, takes what reached it, and must not take over without that write.
 */
type StallScenario = "stall-kill" | "stall-alone-kill" | "stall-cut" | "alone-ack-kill";
type Scenario = "faults" | "split" | "first-contact" | StallScenario;

/** Whether the pair is in sync: `prim` runs and replicates, `second` stands by up to date. */
function inSyncPair(w: World): { prim: SimNode; second: SimNode } | null {
  const prim = w.nodes.find((n) => n.up && running(n.role));
  if (prim === undefined) return null;
  const second = other(w, prim);
  const ok = second.up && second.role === "SECOND" && second.core?.mark === "u" && prim.core?.writes === "replicate" && prim.linkUp && second.linkUp && w.resync === null;
  return ok ? { prim, second } : null;
}

/** The scheduled fault of a stall scenario: armed at `t0` (the pair must be in sync then), then steps by time. */
function stallFault(w: World, scenario: StallScenario, t0: number): (() => void) {
  const rng = w.rng;
  let pair: { prim: SimNode; second: SimNode } | null = null;
  let killAt = 0;
  let reviveAt = 0;
  let tookOver = false;
  let killedAlone = false;
  return () => {
    if (w.now === t0) {
      pair = inSyncPair(w);
      if (pair === null) {
        w.failures.push(`t=${w.now}: the pair is not in sync when the fault is due`);
        return;
      }
      const { prim, second } = pair;
      w.trace.push(`t=${w.now} fault ${scenario}`);
      if (scenario === "stall-kill") {
        crash(w, prim);
        // It saw the link refused at once, then stalls.
        second.stallFrom = w.now + TICK * rng.int(3, 10);
        second.stalledUntil = second.stallFrom + TICK * rng.int(30, 90);
        second.startGrace = TICK * rng.int(0, 50);
        reviveAt = w.now + 5000;
      } else if (scenario === "stall-alone-kill") {
        second.stallFrom = w.now;
        second.stalledUntil = w.now + TICK * rng.int(80, 200);
        killAt = second.stalledUntil + TICK * rng.int(0, 15);
        // The PRIM dropped the link during the stall and connects again every 500 ms: up to that after the stall.
        w.linkBackAt = second.stalledUntil + TICK * rng.int(0, 50);
        reviveAt = killAt + 4000;
      } else if (scenario === "alone-ack-kill") {
        w.replCut = true;
        second.stallFrom = w.now;
        second.stalledUntil = w.now + TICK * rng.int(80, 200);
        w.linkBackAt = second.stalledUntil + TICK * rng.int(0, 50);
        w.onAloneAck = () => {
          w.onAloneAck = null;
          killedAlone = true;
          crash(w, prim);
          reviveAt = w.now + 4000;
        };
      } else {
        w.replCut = true;
        second.stallFrom = w.now + TICK * rng.int(0, 60);
        second.stalledUntil = second.stallFrom + TICK * rng.int(10, 35);
      }
      w.trace.push(`t=${w.now} ${second.name} stalls ${second.stallFrom}-${second.stalledUntil}, start-up grace ${second.startGrace}`);
      return;
    }
    if (pair === null) return;
    const { prim, second } = pair;
    if (scenario === "stall-kill" && !prim.up && second.up && running(second.role)) tookOver = true;
    if (killAt > 0 && w.now === killAt) crash(w, prim);
    if (scenario === "stall-cut" && w.now === t0 + 2500) {
      if (second.disk?.data !== "outdated") w.failures.push(`t=${w.now}: ${second.name} is still ${second.disk?.data} 2.5 s after the link was cut`);
      if (prim.core?.writes !== "alone") w.failures.push(`t=${w.now}: ${prim.name} writes ${prim.core?.writes} 2.5 s after the link was cut`);
    }
    if (scenario === "stall-cut" && w.now === t0 + 3000) w.replCut = false;
    if (scenario === "alone-ack-kill" && w.now === t0 + 6000 && !killedAlone) w.failures.push(`t=${w.now}: ${prim.name} acknowledged nothing alone`);
    if (reviveAt > 0 && w.now === reviveAt) {
      w.replCut = false;
      if (scenario === "stall-kill" && !tookOver) w.failures.push(`t=${w.now}: ${second.name} never took over from the killed ${prim.name} (gate: ${second.core?.gate ?? "open"})`);
      start(w, prim);
    }
  };
}

function run(seed: number, scenario: Scenario): World {
  const rng = Prng.fromSeed(seed);
  const splitBrain = scenario === "split";
  const first = scenario === "first-contact";
  const mk = (name: string, base: number): SimNode => {
    // First contact: each folder holds 0-3 files of its own; one node in five is of the previous release.
    const own = new Set<number>();
    if (first) for (let i = 1, k = rng.int(0, 3); i <= k; i++) own.add(-(base + i));
    return {
      name, up: false, core: null, disk: null, files: new Set(own), role: "STOP", heardAt: -1, seenRole: null, seenMark: null,
      liveness: "unknown", linkUp: false, linkNoticeAt: null, splitBrainSeen: false, kept: new Set(), own,
      tells: !first || !rng.chance(0.2), forced: false, full: false, stalledUntil: 0, stallFrom: 0, inbox: [], startGrace: 0, newsAt: null,
    };
  };
  const nodes: [SimNode, SimNode] = [mk("a", 0), mk("b", 10)];
  const configuredPrefer = first ? rng.pick([null, "a", "b"] as const) : "a";
  const w: World = {
    rng, now: 0, nodes, replCut: false, netCut: false, nextWrite: 1, acked: new Set(), pending: [], unsent: [], resync: null, failures: [], trace: [],
    split: splitBrain, wroteApart: new Set(), bothWroteApart: false, prefer: configuredPrefer ?? "a", configuredPrefer, operatorAt: null, origin: null,
    firstContactKill: first ? { delay: TICK * rng.int(0, 3), beforeRun: rng.chance(0.3), downFor: rng.int(DEADTIME + 100, 4000) } : null,
    revive: null, refusedAtOnce: scenario.startsWith("stall") || scenario === "alone-ack-kill", linkBackAt: 0,
    news: scenario === "alone-ack-kill", onAloneAck: null,
  };
  // First contact: the second node may start a little later (the first one waits alone meanwhile).
  const lateStart = first && rng.chance(0.5) ? { node: rng.chance(0.5) ? nodes[0] : nodes[1], at: TICK * rng.int(1, 200) } : null;
  for (const n of nodes) if (lateStart?.node !== n) start(w, n);
  const stall = scenario === "stall-kill" || scenario === "stall-alone-kill" || scenario === "stall-cut" || scenario === "alone-ack-kill" ? scenario : null;
  const END = first ? 20_000 : stall !== null ? 12_000 : 60_000;
  // First contact: the random faults begin once that fault has played out. A stall scenario has only its own.
  let faultUntil = first ? 10_000 : stall !== null ? END : 0;
  const scheduled = stall === null ? null : stallFault(w, stall, TICK * rng.int(300, 500));
  let heal: (() => void) | null = null;
  for (w.now = 0; w.now < END + 10_000; w.now += TICK) {
    if (lateStart !== null && w.now === lateStart.at) start(w, lateStart.node);
    if (w.now < END && w.now >= faultUntil) {
      heal?.();
      heal = null;
      if (rng.chance(0.02)) {
        const n = rng.chance(0.5) ? w.nodes[0] : w.nodes[1];
        const k = rng.int(0, splitBrain ? 3 : 2);
        if (k === 0 && n.up) {
          crash(w, n);
          heal = () => start(w, n);
        } else if (k === 1) {
          w.replCut = true;
          heal = () => (w.replCut = false);
        } else if (k === 3) {
          w.netCut = true;
          w.wroteApart = new Set();
          heal = () => (w.netCut = false);
        } else if (k === 2 && rng.chance(0.5)) {
          w.trace.push(`t=${w.now} ${n.name} state dir full`);
          n.full = true;
          // Half the time its peer dies meanwhile (as in the soak): a takeover on a full disk.
          const p = other(w, n);
          const peerDies = p.up && rng.chance(0.5);
          if (peerDies) crash(w, p);
          heal = () => {
            w.trace.push(`t=${w.now} ${n.name} state dir freed`);
            n.full = false;
            if (peerDies) start(w, p);
          };
        }
        faultUntil = w.now + rng.int(200, 3000);
      }
    }
    if (w.now === END) {
      heal?.();
      heal = null;
      for (const n of w.nodes) if (!n.up) start(w, n);
    }
    // A node that runs again after a stall takes what reached it meanwhile, in order.
    for (const n of w.nodes) if (!stalled(w, n) && n.inbox.length > 0) for (const ev of n.inbox.splice(0)) feed(w, n, ev);
    scheduled?.();
    heartbeat(w);
    link(w);
    firstContactFault(w);
    if (first) operator(w);
    for (const n of w.nodes) if (n.core !== null && w.now % INTERVAL === 0) feed(w, n, { type: "tick" });
    elect(w);
    write(w);
    if (w.failures.length > 0) {
      if (process.env["SIM_TRACE"]) console.log(w.trace.slice(-80).join("\n"));
      break;
    }
  }
  return w;
}

describe("mirror core simulation", () => {
  for (const seed of seedsFromEnv(60)) {
    it(`crashes and link cuts never promote a stale copy or lose an acknowledged write (seed ${seed})`, () => {
      const w = run(seed, "faults");
      expect(w.failures, replayCommand(seed)).toEqual([]);
      const [a, b] = w.nodes;
      if (process.env["SIM_TRACE"] && [...a.files].sort().join() !== [...b.files].sort().join()) {
        console.log(w.trace.filter((t) => !t.includes("peer-mark")).join("\n"), JSON.stringify(w.nodes.map((n) => [n.role, n.core?.copy, n.core?.gate, [...n.files].filter((x) => !other(w, n).files.has(x))])));
      }
      expect([...a.files].sort().join(), `copies differ at the end; ${replayCommand(seed)}`).toBe([...b.files].sort().join());
      expect(w.acked.size, "the writer wrote").toBeGreaterThan(10);
      const runner = w.nodes.find((n) => running(n.role));
      if (process.env["SIM_TRACE"] && runner === undefined) {
        console.log(w.trace.filter((t) => !t.includes("peer-mark")).slice(-50).join("\n"), JSON.stringify(w.nodes.map((n) => [n.role, n.core?.copy, n.core?.gate, n.liveness])));
      }
      expect(runner?.core?.writes, replayCommand(seed)).toBe("replicate");
    });
  }
  for (const seed of seedsFromEnv(60)) {
    it(`first contact of two new copies, the node that goes first killed at once: no never-synced copy promoted, no file of either folder lost (seed ${seed})`, () => {
      const w = run(seed, "first-contact");
      if (process.env["SIM_TRACE"] && w.failures.length > 0) console.log(w.trace.filter((t) => !t.includes("peer-mark")).slice(-120).join("\n"));
      expect(w.failures, replayCommand(seed)).toEqual([]);
      const [a, b] = w.nodes;
      expect([...a.files].sort().join(), `copies differ at the end; ${replayCommand(seed)}`).toBe([...b.files].sort().join());
      expect(w.origin, replayCommand(seed)).not.toBeNull();
      for (const n of w.nodes) {
        // The cluster's first data is on both copies; the other folder's own files are kept aside.
        expect([...(w.origin?.own ?? [])].filter((id) => !n.files.has(id)), `${n.name} lacks the first data; ${replayCommand(seed)}`).toEqual([]);
        expect([...n.own].filter((id) => !n.files.has(id) && !n.kept.has(id)), `${n.name}'s own files lost; ${replayCommand(seed)}`).toEqual([]);
      }
      expect(w.nodes.find((n) => running(n.role))?.core?.writes, replayCommand(seed)).toBe("replicate");
    });
  }
  const stallCases: [StallScenario, string][] = [
    ["stall-kill", "a SECOND stalled as its PRIM is killed, its dead verdict stretched past the detach grace, takes over"],
    ["stall-alone-kill", "a stalled SECOND whose PRIM went on alone and dies just after it runs again never takes over without those writes"],
    ["stall-cut", "a SECOND stalled while the link is cut still becomes outdated in time, and its PRIM goes on alone"],
    ["alone-ack-kill", "a PRIM killed right after its first write acknowledged alone, its ALONE maybe still owed, never leaves its stalled SECOND taking over without that write"],
  ];
  for (const [scenario, title] of stallCases) {
    for (const seed of seedsFromEnv(30)) {
      it(`${title} (seed ${seed})`, () => {
        const w = run(seed, scenario);
        if (process.env["SIM_TRACE"] && w.failures.length > 0) console.log(w.trace.filter((t) => !t.includes("peer-mark") && !t.includes("tick") && !t.includes("write")).slice(-80).join("\n"));
        expect(w.failures, replayCommand(seed)).toEqual([]);
        const [a, b] = w.nodes;
        expect([...a.files].sort().join(), `copies differ at the end; ${replayCommand(seed)}`).toBe([...b.files].sort().join());
        expect(w.nodes.find((n) => running(n.role))?.core?.writes, replayCommand(seed)).toBe("replicate");
      });
    }
  }
  for (const seed of seedsFromEnv(30)) {
    it(`split brain where both wrote is always detected (seed ${seed})`, () => {
      const w = run(seed, "split");
      const [a, b] = w.nodes;
      if (process.env["SIM_TRACE"] && [...a.files].sort().join() !== [...b.files].sort().join()) {
        console.log(w.trace.filter((t) => !t.includes("\"gate\"")).join("\n"), JSON.stringify({ resync: w.resync && { from: w.resync.from.name, doneAt: w.resync.doneAt }, replCut: w.replCut, netCut: w.netCut, now: w.now }), a.role, b.role, a.core?.writes, b.core?.writes, a.core?.link, b.core?.link);
      }
      expect([...a.files].sort().join(), replayCommand(seed)).toBe([...b.files].sort().join());
      if (w.bothWroteApart) expect(a.splitBrainSeen || b.splitBrainSeen, replayCommand(seed)).toBe(true);
      expect(w.failures, replayCommand(seed)).toEqual([]);
    });
  }
});
