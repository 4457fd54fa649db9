/**
 * One VRRP instance (RFC 5798 section 6.4, keepalived's additions): who is
 * master of a VRID. A pure reducer (see step.ts); the driver owns the raw
 * socket, the codec, the clock, the addresses and the GARPs.
 *
 * States: Initialize (not running), Backup, Master, and Fault (keepalived's:
 * the interface is down, a weight-0 tracked object is down, or the sync
 * group holds us there).
 *
 * Timers: the core keeps its deadlines in its state and announces every
 * change with a "set-timer" action. The driver either arms one OS timer per
 * name from those actions, or wakes at nextWakeAt(state); both deliver
 * { type: "tick" }, and a tick acts on whatever deadline has passed.
 *
 * Election rules
 * - Startup: an address owner (255) becomes Master at once; anyone else
 *   becomes Backup and waits Master_Down_Interval (config.ts).
 * - Backup: an advert with priority 0 (the master resigns) shortens the
 *   wait to Skew_Time, so the highest backup takes over first. An advert
 *   with a priority >= ours, or any advert without preemption, restarts the
 *   wait (and in v3 teaches us the master's interval). With preemption, a
 *   lower advert is discarded so that the wait runs out and we take over.
 * - preempt_delay: a backup that would preempt waits that long from the
 *   first lower advert it hears, keeping the lower master meanwhile, then
 *   takes over; a higher or equal advert cancels the wait.
 * - Master: a higher advert, or an equal one from a higher primary
 *   address, makes us Backup. A lower one (or an equal one from a lower
 *   address) means two masters, e.g. after a healed partition: we advertise
 *   and send GARP at once so the other steps down and clients come back.
 *   A priority-0 advert from another router is answered with an advert.
 *   Either answer goes at most once per advert interval to one source: the
 *   first advert tells the other master, repeats within the interval would
 *   only multiply our adverts and GARP bursts (a replayed or forged flood of
 *   1000 adverts used to draw 1000 answers). Our regular adverts still go
 *   out every interval. At most ANSWER_MEMORY sources are answered per
 *   interval, so forged source addresses cannot grow our state or our output.
 * - Leaving Master for Initialize or Fault sends priority 0, after the
 *   addresses are removed, so a backup takes over after Skew_Time instead
 *   of Master_Down_Interval.
 *
 * Heartbeat takeover (heartbeatTakeover, default on): the heartbeat can tell
 * a dead node from a quiet one in its deadtime (500 ms by default), well
 * before Master_Down_Interval (3.6 s at a 1 s advert interval). When it
 * declares a cluster node dead ("peer-dead") and our master sends from one
 * of that node's cluster addresses, a Backup brings its master-down timer
 * forward to one advert interval and a quarter after the master's last
 * advert (or to now, if that is past), and takes over then with reason
 * "peer-dead". Why not at once: the heartbeat's links may be cut while the
 * VRRP network still works. A master alive there sends its next advert
 * within one interval, which (like any advert we accept) cancels the early
 * takeover and restores the normal timer; the quarter interval absorbs the
 * sender's timer jitter. Two silences must agree: the heartbeat's on every
 * link and VRRP's for one advert. The verdict is an edge, used once: if we
 * took over and then hear the old master's higher advert, the usual rules
 * make us Backup again and nothing repeats it, so a wrong verdict costs at
 * most one round trip of the VIPs, never a loop. A master that is not a
 * cluster node (a keepalived router) never matches, nor does one whose
 * advert source is not a cluster address: the heartbeat did not watch
 * that address. Nor does a node the heartbeat never heard: during a
 * one-node-at-a-time migration the node still running keepalived is listed
 * in the cluster but speaks no heartbeat, so initdead declares it dead while
 * it is a live VRRP master; a silence the heartbeat never broke is no news,
 * and only Master_Down_Interval may end that master. With several Backups the verdicts may land together; as
 * after any simultaneous takeover, the adverts sort the masters out. The
 * price: a master frozen (SIGSTOP, a stalled host) for longer than the
 * deadtime plus one advert now loses the VIPs and takes them back when it
 * resumes, where Master_Down_Interval alone would have waited 3.6 s; VRRP
 * becomes exactly as patient as the heartbeat.
 *
 * Heartbeat hold (heartbeatHold, default on; the rule is in hold.ts): the
 * other way round, when Master_Down_Interval runs out while the heartbeat
 * still hears the master's node say it is MASTER of this instance, the
 * adverts were lost on the way: a Backup waits up to one more interval,
 * and takes over at once when that node says it left MASTER, goes silent
 * or is declared dead. Masters that are not cluster nodes, or whose
 * heartbeat never said so, keep the RFC rule.
 *
 * Misconfiguration (reported once per distinct disagreement, like keepalived
 * logs it): another advert interval (v2: the advert is also dropped, as
 * keepalived does; v3: it is used, and a backup learns it), other addresses,
 * another protocol version (dropped), another owner, our own address.
 */
import type { Stepped } from "../step.ts";
import { vipAddress, masterDownIntervalMs, resolveVrrpConfig, skewTimeMs, VRRP_OWNER_PRIORITY, type VrrpInstanceConfig } from "./config.ts";
import { effectivePriority, faultingTracks } from "./track.ts";
import { claimFor, judgeHold, type HoldDecision } from "./hold.ts";
import type {
  MisconfigurationKind,
  TransitionReason,
  VrrpAction,
  VrrpCounters,
  VrrpDiscardReason,
  VrrpHeard,
  VrrpInput,
  VrrpRole,
  VrrpState,
  VrrpTimer,
} from "./types.ts";
import { ipv4ToNumber, parseIpv4, type VrrpAdvert } from "../../proto/vrrp.ts";

export * from "./types.ts";
export * from "./config.ts";
export { effectivePriority, faultingTracks } from "./track.ts";
export { holdFreshnessMs, judgeHold } from "./hold.ts";

/** After a heartbeat verdict, the master's next advert is awaited this fraction of its interval beyond the due time. */
const TAKEOVER_GRACE = 0.25;

/** How many sources a Master answers per advert interval (see "Master" above). */
const ANSWER_MEMORY = 64;

/** How many distinct disagreements we remember, so a noisy peer cannot grow our state. */
const MISCONFIG_MEMORY = 64;

type Writable<T> = { -readonly [K in keyof T]: T[K] };
interface Draft extends Omit<Writable<VrrpState>, "timers" | "counters" | "health" | "misconfigReported"> {
  timers: Record<VrrpTimer, number | null>;
  counters: Omit<Writable<VrrpCounters>, "discarded"> & { discarded: Record<VrrpDiscardReason, number> };
  health: Record<string, boolean>;
  misconfigReported: string[];
}

function zeroDiscards(): Record<VrrpDiscardReason, number> {
  return {
    "not-running": 0,
    "other-vrid": 0,
    "version-mismatch": 0,
    "own-address": 0,
    "interval-mismatch": 0,
    "zero-interval": 0,
    "lower-priority": 0,
    "answered-recently": 0,
  };
}

/**
 * The state before startup. Throws RangeError on a config that
 * resolveVrrpConfig() rejects: the config loader reports those first.
 */
export function initVrrp(input: VrrpInstanceConfig, now: number): VrrpState {
  const resolved = resolveVrrpConfig(input);
  if (!resolved.ok) {
    throw new RangeError(`invalid VRRP instance config: ${resolved.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  }
  const config = resolved.config;
  return {
    config,
    role: "initialize",
    priority: effectivePriority(config.priority, config.track, {}),
    masterAdverIntervalMs: config.advertIntCs * 10,
    timers: { advert: null, "master-down": null, preempt: null },
    preemptAgainst: null,
    resignHeard: false,
    lowerHeard: null,
    health: {},
    interfaceUp: true,
    interfaceDetail: "",
    syncFault: null,
    master: null,
    deadMaster: null,
    peerMasters: [],
    hold: null,
    since: now,
    transitionSeq: 0,
    misconfigReported: [],
    answered: [],
    counters: {
      advertsReceived: 0,
      advertsSent: 0,
      priorityZeroReceived: 0,
      priorityZeroSent: 0,
      becameMaster: 0,
      takeoversHeld: 0,
      discarded: zeroDiscards(),
    },
  };
}

/** The earliest armed deadline, or null when nothing is pending. */
export function nextWakeAt(s: VrrpState): number | null {
  let at: number | null = null;
  for (const t of Object.values(s.timers)) if (t !== null && (at === null || t < at)) at = t;
  return at;
}

/** The Master_Down_Interval this instance uses right now. */
export function currentMasterDownIntervalMs(s: VrrpState): number {
  return masterDownIntervalMs(s.priority, s.masterAdverIntervalMs, s.config.downTimerAdverts);
}

export function stepVrrp(state: VrrpState, input: VrrpInput, now: number): Stepped<VrrpState, VrrpAction> {
  const d: Draft = {
    ...state,
    timers: { ...state.timers },
    counters: { ...state.counters, discarded: { ...state.counters.discarded } },
    health: { ...state.health },
    misconfigReported: [...state.misconfigReported],
  };
  const out: VrrpAction[] = [];
  switch (input.type) {
    case "startup":
      if (d.role === "initialize") start(d, out, now, "startup");
      break;
    case "shutdown":
      shutdown(d, out, now);
      break;
    case "tick":
      onTick(d, out, now);
      break;
    case "advert":
      onAdvert(d, out, now, input.advert);
      break;
    case "track":
      d.health[input.name] = input.up;
      reassess(d, out, now);
      break;
    case "interface":
      d.interfaceUp = input.up;
      d.interfaceDetail = input.up ? "" : (input.detail ?? "");
      if (input.primaryAddress !== undefined && parseIpv4(input.primaryAddress) !== null) {
        d.config = { ...d.config, primaryAddress: input.primaryAddress };
      }
      reassess(d, out, now);
      break;
    case "sync":
      onSync(d, out, now, input.group, input.to);
      break;
    case "peer-dead":
      d.peerMasters = d.peerMasters.filter((p) => p.node !== input.node);
      if (input.everHeard) onPeerDead(d, out, now, input.node, input.addresses);
      if (d.role === "backup" && d.hold?.node === input.node) takeOverAfterHold(d, out, now, `the heartbeat declared node ${input.node} dead`);
      break;
    case "peer-vrrp":
      onPeerVrrp(d, out, now, input.node, input.says, input.address, input.heardAt);
      break;
  }
  return { state: d, actions: out };
}

// ---- helpers ----------------------------------------------------------------

const isOwner = (d: Draft): boolean => d.config.priority === VRRP_OWNER_PRIORITY;
const advertIntMs = (d: Draft): number => d.config.advertIntCs * 10;
const vipAddresses = (d: Draft): string[] => d.config.vips.map(vipAddress);

function setTimer(d: Draft, out: VrrpAction[], timer: VrrpTimer, at: number | null): void {
  if (d.timers[timer] === at) return;
  d.timers[timer] = at;
  out.push({ type: "set-timer", timer, at });
}

function cancelTimers(d: Draft, out: VrrpAction[]): void {
  setTimer(d, out, "advert", null);
  setTimer(d, out, "master-down", null);
  setTimer(d, out, "preempt", null);
  d.preemptAgainst = null;
}

function sendAdvert(d: Draft, out: VrrpAction[], priority: number): void {
  const c = d.config;
  const advert: VrrpAdvert = {
    version: c.version,
    vrid: c.vrid,
    priority,
    advertIntCs: c.advertIntCs,
    addresses: vipAddresses(d),
    ...(c.version === 2 ? { auth: c.auth } : {}),
  };
  out.push({ type: "send-advert", advert, src: c.primaryAddress });
  d.counters.advertsSent += 1;
  if (priority === 0) d.counters.priorityZeroSent += 1;
}

function transition(d: Draft, out: VrrpAction[], now: number, to: VrrpRole, reason: TransitionReason, detail: string): void {
  const from = d.role;
  d.role = to;
  d.since = now;
  d.transitionSeq += 1;
  const c = d.config;
  out.push({ type: "transition", instance: c.name, vrid: c.vrid, seq: d.transitionSeq, at: now, from, to, reason, priority: d.priority, detail });
}

function misconfiguration(d: Draft, out: VrrpAction[], now: number, kind: MisconfigurationKind, source: string, value: string, detail: string): void {
  const key = `${kind}|${source}|${value}`;
  if (d.misconfigReported.includes(key)) return;
  d.misconfigReported.push(key);
  if (d.misconfigReported.length > MISCONFIG_MEMORY) d.misconfigReported.shift();
  const c = d.config;
  out.push({ type: "misconfiguration", instance: c.name, vrid: c.vrid, at: now, kind, source, detail });
}

function discard(d: Draft, reason: VrrpDiscardReason): void {
  d.counters.discarded[reason] += 1;
}

/** Why we must be in Fault, or null. */
function faultCause(d: Draft): { reason: TransitionReason; detail: string } | null {
  if (!d.interfaceUp) return { reason: "interface-down", detail: d.interfaceDetail || "the interface is down" };
  const failing = faultingTracks(d.config.track, d.health);
  if (failing.length > 0) return { reason: "tracked-object-down", detail: `tracked ${failing.map((n) => `"${n}"`).join(", ")} down (weight 0)` };
  if (d.syncFault !== null) return { reason: "sync-group", detail: `sync group "${d.syncFault}" is in fault` };
  return null;
}

// ---- role changes -----------------------------------------------------------

function becomeMaster(d: Draft, out: VrrpAction[], now: number, reason: TransitionReason, detail: string): void {
  sendAdvert(d, out, d.priority);
  out.push({ type: "add-vips", vips: d.config.vips, acceptMode: d.config.acceptMode || isOwner(d) });
  out.push({ type: "send-garp", addresses: vipAddresses(d) });
  setTimer(d, out, "master-down", null);
  setTimer(d, out, "preempt", null);
  setTimer(d, out, "advert", now + advertIntMs(d));
  d.preemptAgainst = null;
  d.resignHeard = false;
  d.lowerHeard = null;
  d.master = null;
  d.deadMaster = null;
  d.hold = null;
  d.masterAdverIntervalMs = advertIntMs(d);
  d.counters.becameMaster += 1;
  transition(d, out, now, "master", reason, detail);
}

/** `learnedMs` is the master's interval (v3) when an advert sent us here. */
function becomeBackup(d: Draft, out: VrrpAction[], now: number, reason: TransitionReason, detail: string, learnedMs?: number): void {
  if (d.role === "master") out.push({ type: "remove-vips", vips: d.config.vips });
  setTimer(d, out, "advert", null);
  setTimer(d, out, "preempt", null);
  d.preemptAgainst = null;
  d.resignHeard = false;
  d.lowerHeard = null;
  d.deadMaster = null;
  d.hold = null;
  d.masterAdverIntervalMs = learnedMs ?? advertIntMs(d);
  setTimer(d, out, "master-down", now + masterDownIntervalMs(d.priority, d.masterAdverIntervalMs, d.config.downTimerAdverts));
  transition(d, out, now, "backup", reason, detail);
}

/** Master -> anything but Backup: give the addresses up, then resign so a backup takes over after Skew_Time. */
function resign(d: Draft, out: VrrpAction[]): void {
  if (d.role !== "master") return;
  out.push({ type: "remove-vips", vips: d.config.vips });
  if (d.interfaceUp) sendAdvert(d, out, 0);
}

function enterFault(d: Draft, out: VrrpAction[], now: number, reason: TransitionReason, detail: string): void {
  resign(d, out);
  cancelTimers(d, out);
  d.resignHeard = false;
  d.master = null;
  d.deadMaster = null;
  d.hold = null;
  transition(d, out, now, "fault", reason, detail);
}

/** From Initialize (startup) or Fault (cause gone). */
function start(d: Draft, out: VrrpAction[], now: number, reason: "startup" | "fault-cleared"): void {
  const fault = faultCause(d);
  if (fault !== null) {
    if (d.role !== "fault") enterFault(d, out, now, fault.reason, fault.detail);
    return;
  }
  if (isOwner(d)) {
    becomeMaster(d, out, now, reason === "startup" ? "address-owner" : reason, "priority 255: we own the virtual addresses");
    return;
  }
  const mdi = masterDownIntervalMs(d.priority, advertIntMs(d), d.config.downTimerAdverts);
  becomeBackup(d, out, now, reason, `priority ${d.priority}; master down after ${Math.round(mdi)} ms without adverts`);
}

function shutdown(d: Draft, out: VrrpAction[], now: number): void {
  if (d.role === "initialize") return;
  resign(d, out);
  cancelTimers(d, out);
  d.resignHeard = false;
  d.master = null;
  d.deadMaster = null;
  d.hold = null;
  transition(d, out, now, "initialize", "shutdown", "instance stopped");
}

/** After a change of health, link or priority: enter or leave Fault as needed. */
function reassess(d: Draft, out: VrrpAction[], now: number): void {
  d.priority = effectivePriority(d.config.priority, d.config.track, d.health);
  if (d.role === "initialize") return;
  const fault = faultCause(d);
  if (fault !== null && d.role !== "fault") enterFault(d, out, now, fault.reason, fault.detail);
  else if (fault === null && d.role === "fault") start(d, out, now, "fault-cleared");
}

function onSync(d: Draft, out: VrrpAction[], now: number, group: string, to: "master" | "backup" | "fault"): void {
  if (to === "fault") {
    d.syncFault = group;
    if (d.role === "master" || d.role === "backup") enterFault(d, out, now, "sync-group", `sync group "${group}" is in fault`);
    return;
  }
  d.syncFault = null;
  if (d.role === "initialize") return;
  if (d.role === "fault") {
    const fault = faultCause(d);
    if (fault !== null) return;
  }
  const detail = `following sync group "${group}" to ${to}`;
  if (to === "master" && d.role !== "master") becomeMaster(d, out, now, "sync-group", detail);
  else if (to === "backup" && d.role !== "backup") becomeBackup(d, out, now, "sync-group", detail);
}

// ---- timers -----------------------------------------------------------------

function due(d: Draft, timer: VrrpTimer, now: number): boolean {
  const at = d.timers[timer];
  return at !== null && at <= now;
}

function onTick(d: Draft, out: VrrpAction[], now: number): void {
  if (d.role === "master" && due(d, "advert", now)) {
    sendAdvert(d, out, d.priority);
    setTimer(d, out, "advert", now + advertIntMs(d));
    return;
  }
  if (d.role !== "backup") return;
  if (due(d, "master-down", now)) {
    if (d.deadMaster !== null) {
      becomeMaster(d, out, now, "peer-dead", peerDeadDetail(d, now));
      return;
    }
    const judged = d.resignHeard ? null : judgeHold(d, now);
    if (judged?.hold === true) {
      holdOn(d, out, now, judged);
      return;
    }
    if (d.hold !== null && judged !== null) {
      takeOverAfterHold(d, out, now, judged.why);
      return;
    }
    // Whole ms in messages: the clock is fractional.
    const mdi = Math.round(currentMasterDownIntervalMs(d));
    const lower = d.lowerHeard;
    const wait = d.resignHeard
      ? `the master resigned (priority 0); Skew_Time ${Math.round(skewTimeMs(d.priority, d.masterAdverIntervalMs))} ms passed`
      : lower !== null
      ? `only lower-priority adverts for ${mdi} ms (Master_Down_Interval; the last from ${lower.address}, priority ${lower.priority}, ours ${d.priority}): preempting`
      : `no advert for ${mdi} ms (Master_Down_Interval)`;
    becomeMaster(d, out, now, d.resignHeard ? "master-resigned" : "master-down", wait);
    return;
  }
  if (due(d, "preempt", now)) {
    const against = d.preemptAgainst;
    if (against !== null && d.priority > against) {
      becomeMaster(d, out, now, "preempt-delay-over", `preempt_delay ${d.config.preemptDelayMs} ms over; our priority ${d.priority} beats the master's ${against}`);
    } else {
      setTimer(d, out, "preempt", null);
      d.preemptAgainst = null;
    }
  }
}

// ---- heartbeat hold (hold.ts) ------------------------------------------------------

function holdOn(d: Draft, out: VrrpAction[], now: number, j: Extract<HoldDecision, { hold: true }>): void {
  if (d.hold === null) {
    d.hold = { node: j.claim.node, address: j.claim.address, since: now, until: j.until };
    d.counters.takeoversHeld += 1;
    const mdi = Math.round(currentMasterDownIntervalMs(d));
    const silent = d.master === null ? mdi : Math.round(now - d.master.heardAt);
    const c = d.config;
    out.push({
      type: "held",
      instance: c.name,
      vrid: c.vrid,
      at: now,
      node: j.claim.node,
      until: j.until,
      detail: `no advert from ${j.claim.address} for ${silent} ms (Master_Down_Interval ${mdi} ms), but the heartbeat heard node ${j.claim.node} say it is MASTER ${Math.round(now - j.claim.heardAt)} ms ago: adverts lost on the way; taking over only if it stays so for up to ${Math.round(j.until - now)} ms more`,
    });
  }
  setTimer(d, out, "master-down", j.recheckAt);
}

/** A hold ends without an advert: take over now, saying why. */
function takeOverAfterHold(d: Draft, out: VrrpAction[], now: number, why: string): void {
  const hold = d.hold;
  if (hold === null) return;
  const silent = d.master === null ? "" : ` from ${d.master.address} for ${Math.round(now - d.master.heardAt)} ms`;
  const detail = `no advert${silent} (Master_Down_Interval ${Math.round(currentMasterDownIntervalMs(d))} ms, then held ${Math.round(now - hold.since)} ms while the heartbeat heard node ${hold.node} say it is MASTER): ${why}`;
  becomeMaster(d, out, now, "master-down", detail);
}

function onPeerVrrp(d: Draft, out: VrrpAction[], now: number, node: string, says: "master" | "not-master" | "unknown", address: string, heardAt: number): void {
  const others = d.peerMasters.filter((p) => p.node !== node);
  d.peerMasters = says === "master" ? [...others, { node, address, heardAt }] : others;
  if (d.role !== "backup" || d.hold === null || claimFor(d) !== undefined) return;
  takeOverAfterHold(d, out, now, says === "unknown" ? `node ${node}'s heartbeat no longer says which instances it is MASTER of` : `node ${node} says it is no longer MASTER`);
}

// ---- heartbeat takeover -------------------------------------------------------

function onPeerDead(d: Draft, out: VrrpAction[], now: number, node: string, addresses: readonly string[]): void {
  if (!d.config.heartbeatTakeover || d.role !== "backup" || d.resignHeard) return;
  const m = d.master;
  if (m === null || !addresses.includes(m.address)) return;
  const at = Math.max(now, m.heardAt + Math.floor(d.masterAdverIntervalMs * (1 + TAKEOVER_GRACE)));
  const down = d.timers["master-down"];
  // The normal timer runs out first anyway: let it say so.
  if (down !== null && down <= at) return;
  d.deadMaster = { node, address: m.address };
  if (at <= now) {
    becomeMaster(d, out, now, "peer-dead", peerDeadDetail(d, now));
    return;
  }
  setTimer(d, out, "master-down", at);
}

function peerDeadDetail(d: Draft, now: number): string {
  const dead = d.deadMaster;
  const silent = d.master === null ? "" : `, no advert from ${d.master.address} for ${Math.round(now - d.master.heardAt)} ms`;
  return dead === null ? "" : `the heartbeat declared node ${dead.node} (master ${dead.address}) dead${silent}; Master_Down_Interval ${Math.round(currentMasterDownIntervalMs(d))} ms cut short`;
}

// ---- adverts ----------------------------------------------------------------

function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}

/** Misconfiguration checks; false when the advert must be dropped. */
function vetAdvert(d: Draft, out: VrrpAction[], now: number, a: VrrpHeard): boolean {
  const c = d.config;
  if (a.vrid !== c.vrid) {
    discard(d, "other-vrid");
    return false;
  }
  if (a.version !== c.version) {
    misconfiguration(d, out, now, "version", a.src, String(a.version), `${a.src} speaks VRRPv${a.version} on VRID ${c.vrid}; we speak VRRPv${c.version}`);
    discard(d, "version-mismatch");
    return false;
  }
  if (a.src === c.primaryAddress) {
    misconfiguration(d, out, now, "duplicate-address", a.src, "", `an advert on VRID ${c.vrid} comes from our own primary address ${a.src}: a loop, or another router with our address`);
    discard(d, "own-address");
    return false;
  }
  if (a.advertIntCs !== c.advertIntCs) {
    const detail = `${a.src} advertises every ${a.advertIntCs * 10} ms on VRID ${c.vrid}; we are configured for ${c.advertIntCs * 10} ms`;
    misconfiguration(d, out, now, "advert-interval", a.src, String(a.advertIntCs), detail);
    if (c.version === 2) {
      discard(d, "interval-mismatch");
      return false;
    }
    if (a.advertIntCs === 0) {
      discard(d, "zero-interval");
      return false;
    }
  }
  const ours = vipAddresses(d);
  if (!sameAddresses(a.addresses, ours)) {
    const detail = `${a.src} advertises [${a.addresses.join(", ")}] on VRID ${c.vrid}; we have [${ours.join(", ")}]`;
    misconfiguration(d, out, now, "addresses", a.src, [...a.addresses].sort().join(","), detail);
  }
  if (a.priority === VRRP_OWNER_PRIORITY && isOwner(d)) {
    misconfiguration(d, out, now, "owner-conflict", a.src, "", `${a.src} also claims to own the addresses of VRID ${c.vrid} (priority 255)`);
  }
  return true;
}

function onAdvert(d: Draft, out: VrrpAction[], now: number, a: VrrpHeard): void {
  d.counters.advertsReceived += 1;
  if (d.role !== "backup" && d.role !== "master") {
    discard(d, "not-running");
    return;
  }
  if (!vetAdvert(d, out, now, a)) return;
  if (a.priority === 0) d.counters.priorityZeroReceived += 1;
  if (d.role === "backup") onAdvertAsBackup(d, out, now, a);
  else onAdvertAsMaster(d, out, now, a);
}

function learnedIntervalMs(d: Draft, a: VrrpHeard): number {
  return d.config.version === 3 ? a.advertIntCs * 10 : advertIntMs(d);
}

function heard(a: VrrpHeard, now: number): VrrpState["master"] {
  return { address: a.src, priority: a.priority, advertIntCs: a.advertIntCs, heardAt: now };
}

function onAdvertAsBackup(d: Draft, out: VrrpAction[], now: number, a: VrrpHeard): void {
  if (a.priority === 0) {
    d.resignHeard = true;
    d.deadMaster = null;
    d.hold = null;
    setTimer(d, out, "preempt", null);
    d.preemptAgainst = null;
    setTimer(d, out, "master-down", now + skewTimeMs(d.priority, d.masterAdverIntervalMs));
    return;
  }
  const preempts = d.config.preempt || isOwner(d);
  const lower = a.priority < d.priority;
  if (lower && preempts && (d.config.preemptDelayMs === 0 || isOwner(d))) {
    discard(d, "lower-priority");
    d.lowerHeard = { address: a.src, priority: a.priority };
    return;
  }
  if (lower && preempts) {
    // Keep the lower master while the delay runs; the preempt timer ends it.
    if (d.timers.preempt === null) setTimer(d, out, "preempt", now + d.config.preemptDelayMs);
    d.preemptAgainst = a.priority;
  } else {
    setTimer(d, out, "preempt", null);
    d.preemptAgainst = null;
  }
  d.resignHeard = false;
  d.lowerHeard = null;
  // Heard from the master (or a new one): the early takeover and any hold are off.
  d.deadMaster = null;
  d.hold = null;
  d.masterAdverIntervalMs = learnedIntervalMs(d, a);
  d.master = heard(a, now);
  setTimer(d, out, "master-down", now + currentMasterDownIntervalMs(d));
}

/**
 * True, and remembered, when an advert from `source` that calls for an answer
 * may have one now: not answered within the last advert interval, and fewer
 * than ANSWER_MEMORY sources answered in it.
 */
function mayAnswer(d: Draft, now: number, source: string): boolean {
  const recent = d.answered.filter((e) => now - e.at < advertIntMs(d));
  d.answered = recent;
  if (recent.some((e) => e.source === source) || recent.length >= ANSWER_MEMORY) {
    discard(d, "answered-recently");
    return false;
  }
  d.answered = [...recent, { source, at: now }];
  return true;
}

function onAdvertAsMaster(d: Draft, out: VrrpAction[], now: number, a: VrrpHeard): void {
  const theirs = ipv4ToNumber(a.src) ?? 0;
  const ours = ipv4ToNumber(d.config.primaryAddress) ?? 0;
  if (a.priority !== 0 && (a.priority > d.priority || (a.priority === d.priority && theirs > ours))) {
    const higher = a.priority > d.priority;
    const detail = higher
      ? `advert from ${a.src} with higher priority ${a.priority} (ours ${d.priority})`
      : `advert from ${a.src} with our priority ${a.priority} and a higher address than ours (${d.config.primaryAddress})`;
    becomeBackup(d, out, now, higher ? "higher-priority" : "equal-priority-higher-address", detail, learnedIntervalMs(d, a));
    d.master = heard(a, now);
    return;
  }
  if (!mayAnswer(d, now, a.src)) return;
  if (a.priority === 0) {
    // Another master resigning while we are master: make sure everyone hears us now.
    sendAdvert(d, out, d.priority);
    setTimer(d, out, "advert", now + advertIntMs(d));
    return;
  }
  // Two masters (a healed partition, a frozen peer back): assert ourselves at once.
  sendAdvert(d, out, d.priority);
  out.push({ type: "send-garp", addresses: vipAddresses(d) });
  setTimer(d, out, "advert", now + advertIntMs(d));
}
