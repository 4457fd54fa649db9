/**
 * Turns the `vrrp:` section of the config into the VRRP engine's options
 * for this node: its priority, its own address on each interface, the
 * tracked objects as probes, notify scripts, GARP policy and the host's
 * I/O (raw socket, `ip addr`, gratuitous ARP, sysfs).
 *
 * The node's primary address on an instance's interface, the advert source
 * and election tiebreak, is, in order: unicast_src_ip for this node; the
 * node's cluster address when it sits on that interface; else the
 * interface's first IPv4 address that is not one of the instance's VIPs.
 * An interface that is down or missing at start (os.networkInterfaces()
 * lists only interfaces that are up) is not an error: the engine starts its
 * instances in FAULT and makes the same choice once the interface is up.
 */
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import type { VigilConfig, VrrpInstance, VrrpTrack } from "../../config/types.ts";
import { resolveVrrpConfig, vipAddress, type VrrpInstanceConfig } from "../../core/vrrp/config.ts";
import { loadLibc } from "../../sys/ffi/libc.ts";
import { openVrrpSocket } from "../../net/raw-vrrp.ts";
import type { VrrpAuth } from "../../proto/vrrp.ts";
import { sendGratuitousArp } from "../../sys/garp.ts";
import type { NotifyScripts } from "../../sys/notify.ts";
import { addVip, removeVip } from "../../sys/vip.ts";
import { acceptTableName, blockVipTraffic, unblockVipTraffic } from "../../sys/vrrp-accept.ts";
import { fileTrackEffect, fileTrackHealth, fileTrackParts, readTrackFile } from "../../sys/track-file.ts";
import { readLink } from "../../sys/track-interface.ts";
import { countProcesses } from "../../sys/track-process.ts";
import { debounce, INITIAL_SCRIPT_STATE, runScript, type ScriptRunner } from "../../sys/track-script.ts";
import { fenceGuard, startFenceGuard } from "../fence/guard.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { SourceChoice, TrackProbe, VrrpEngineOptions, VrrpInstanceSpec, VrrpIo } from "./spec.ts";

export type VrrpSetup =
  | { ok: true; options: VrrpEngineOptions }
  | { ok: true; options: undefined; why: string }
  | { ok: false; message: string };

export interface VrrpSetupDeps {
  /** The node's interfaces and addresses; os.networkInterfaces() by default. */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  io?: VrrpIo;
  runScript?: ScriptRunner;
}

/** Polling bounds for processes, interfaces and files: as often as adverts go out, within these. */
const MIN_POLL_MS = 100;
const MAX_POLL_MS = 1_000;

/** The host's real I/O: raw socket (Bun FFI), `ip addr`, AF_PACKET GARP, sysfs, nftables. */
export function hostVrrpIo(): VrrpIo {
  return {
    async checkRuntime() {
      await loadLibc("VRRP");
    },
    openSocket: openVrrpSocket,
    async addVip(vip, iface) {
      // The fencing watchdog removes it if the daemon dies (fence/guard.ts); told before the add.
      fenceGuard()?.vipAdding(vip, iface);
      const r = await addVip({ address: vip, interface: iface });
      return r.ok ? { ok: true } : { ok: false, message: r.message };
    },
    async removeVip(vip, iface) {
      const r = await removeVip({ address: vip, interface: iface });
      if (r.ok) fenceGuard()?.vipRemoved(vip, iface);
      return r.ok ? { ok: true, removed: !r.alreadyGone } : { ok: false, message: r.message };
    },
    async sendGarp(iface, address, count, intervalMs) {
      const r = await sendGratuitousArp({ interface: iface, address, count, intervalMs });
      return r.ok ? { ok: true } : { ok: false, message: r.message };
    },
    linkState(iface) {
      const link = readLink(iface);
      return { up: link.up, detail: link.detail, present: link.operstate !== "notpresent" };
    },
    interfaceAddresses: (iface) => ipv4Of(networkInterfaces(), iface),
    async dropVipTraffic(iface, vrid, addresses) {
      return blockVipTraffic(acceptTableName(iface, vrid), addresses);
    },
    async acceptVipTraffic(iface, vrid) {
      return unblockVipTraffic(acceptTableName(iface, vrid));
    },
  };
}

/** IPv4 addresses of one interface, in the kernel's order (the primary first). */
function ipv4Of(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>, iface: string): string[] {
  // Node before 18.4 reported the family as the number 4.
  return (interfaces[iface] ?? []).filter((a) => a.family === "IPv4" || (a.family as unknown) === 4).map((a) => a.address);
}

/** The advert source among `here`, the addresses of the instance's interface (see the header for the order). */
function sourceChooser(inst: VrrpInstance, self: string, config: VigilConfig): (here: readonly string[]) => SourceChoice {
  const explicit = inst.unicast_src_ip?.[self];
  const mine = config.cluster.nodes.find((n) => n.name === self)?.addresses ?? [];
  const vips = new Set(inst.vips.map(vipAddress));
  return (here) => {
    if (explicit !== undefined) {
      if (here.includes(explicit)) return { ok: true, address: explicit };
      return { ok: false, why: `unicast_src_ip ${explicit} is not an address of ${inst.interface} on this node (it has ${here.join(", ") || "none"})` };
    }
    const nodeAddress = mine.find((a) => here.includes(a));
    if (nodeAddress !== undefined) return { ok: true, address: nodeAddress };
    const other = here.find((a) => !vips.has(a));
    if (other !== undefined) return { ok: true, address: other };
    return { ok: false, why: `interface ${inst.interface} has no IPv4 address of its own to send adverts from; add one, or set unicast_src_ip` };
  };
}

/**
 * The source chosen now when the interface is up; when it is not, a stand-in
 * (unicast_src_ip, else the node's first cluster address) that the engine
 * replaces once the interface is up, and that nothing is sent from before.
 */
function primaryAddress(
  inst: VrrpInstance,
  self: string,
  config: VigilConfig,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  choose: (here: readonly string[]) => SourceChoice,
): { ok: true; address: string; known: boolean } | { ok: false; why: string } {
  if (interfaces[inst.interface] === undefined) {
    const standIn = inst.unicast_src_ip?.[self] ?? config.cluster.nodes.find((n) => n.name === self)?.addresses[0];
    if (standIn === undefined) return { ok: false, why: `node ${self} has no address to stand in while ${inst.interface} is missing` };
    return { ok: true, address: standIn, known: false };
  }
  const chosen = choose(ipv4Of(interfaces, inst.interface));
  return chosen.ok ? { ...chosen, known: true } : chosen;
}

/** Display names of tracks, unique within the instance (a name listed twice gets " #2"). */
function trackNames(tracks: readonly VrrpTrack[]): string[] {
  const seen = new Map<string, number>();
  return tracks.map((t) => {
    const base = "process" in t ? `process ${t.process}` : "script" in t ? `script ${t.script}` : "interface" in t ? `interface ${t.interface}` : `file ${t.file}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base} #${n}`;
  });
}

function probeFor(t: VrrpTrack, name: string, pollMs: number, run: ScriptRunner): { probe: TrackProbe; core: { name: string; weight: number }[] } {
  const weight = t.weight;
  if ("file" in t) {
    const path = t.file;
    return {
      core: fileTrackParts(name, weight),
      probe: {
        name,
        weight,
        intervalMs: pollMs,
        check: () => {
          const r = readTrackFile(path);
          const effect = fileTrackEffect(r.ok ? r.value : null, weight);
          const detail = r.ok ? `value ${r.value}${weight === 0 ? "" : ` x weight ${weight} = ${effect.delta}`}` : r.message;
          return Promise.resolve({ up: !effect.fault && (r.ok || weight !== 0), detail, health: fileTrackHealth(name, weight, effect) });
        },
      },
    };
  }
  const core = [{ name, weight }];
  if ("process" in t) {
    const proc = t.process;
    return {
      core,
      probe: {
        name,
        weight,
        intervalMs: pollMs,
        check: () => {
          const r = countProcesses(proc);
          if (!r.ok) return Promise.resolve({ up: false, detail: r.message, health: { [name]: false } });
          const up = r.count > 0;
          const detail = up ? `${r.count} running (PID ${r.pids.slice(0, 5).join(", ")}${r.count > 5 ? ", ..." : ""})` : "not running";
          return Promise.resolve({ up, detail, health: { [name]: up } });
        },
      },
    };
  }
  if ("interface" in t) {
    const iface = t.interface;
    return {
      core,
      probe: {
        name,
        weight,
        intervalMs: pollMs,
        check: () => {
          const link = readLink(iface);
          return Promise.resolve({ up: link.up, detail: link.detail, health: { [name]: link.up } });
        },
      },
    };
  }
  const script = t.script;
  let state = INITIAL_SCRIPT_STATE;
  return {
    core,
    probe: {
      name,
      weight,
      intervalMs: t.interval,
      async check(signal) {
        const r = await run(script, [], { timeoutMs: t.timeout, signal });
        state = debounce(state, r.ok, { rise: t.rise, fall: t.fall });
        const pending = state.streak > 0 ? ` (${state.streak} of ${state.up ? t.fall : t.rise} in a row to change)` : "";
        return { up: state.up, detail: `last run ${r.message}${pending}`, health: { [name]: state.up } };
      },
    },
  };
}

function notifyScripts(inst: VrrpInstance): NotifyScripts {
  return {
    ...(inst.notify === undefined ? {} : { notify: inst.notify }),
    ...(inst.notify_master === undefined ? {} : { master: inst.notify_master }),
    ...(inst.notify_backup === undefined ? {} : { backup: inst.notify_backup }),
    ...(inst.notify_fault === undefined ? {} : { fault: inst.notify_fault }),
    ...(inst.notify_stop === undefined ? {} : { stop: inst.notify_stop }),
  };
}

function instanceSpec(
  inst: VrrpInstance,
  index: number,
  config: VigilConfig,
  self: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  run: ScriptRunner,
): { ok: true; spec: VrrpInstanceSpec } | { ok: false; message: string } {
  const where = `vrrp[${index}] (${inst.name})`;
  const priority = inst.priority[self];
  if (priority === undefined) return { ok: false, message: `${where}: no priority for node ${self}` };
  const choose = sourceChooser(inst, self, config);
  const primary = primaryAddress(inst, self, config, interfaces, choose);
  if (!primary.ok) return { ok: false, message: `${where}: ${primary.why}` };
  const peers = primary.known ? inst.unicast_peer.filter((p) => p !== primary.address) : inst.unicast_peer;
  if (inst.unicast_peer.length > 0 && peers.length === 0) {
    return { ok: false, message: `${where}: unicast_peer lists only this node's own address ${primary.address}; list the other routers` };
  }
  const pollMs = Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, inst.advert_int));
  const names = trackNames(inst.track);
  const tracks = inst.track.map((t, i) => probeFor(t, names[i] ?? `track ${i}`, pollMs, run));
  const auth: VrrpAuth = inst.authentication === undefined ? { type: "none" } : { type: "pass", password: inst.authentication.auth_pass };
  const core: VrrpInstanceConfig = {
    name: inst.name,
    vrid: inst.vrid,
    priority,
    version: inst.version,
    advertIntCs: Math.round(inst.advert_int / 10),
    preempt: inst.preempt,
    preemptDelayMs: inst.preempt_delay,
    acceptMode: inst.accept_mode,
    heartbeatTakeover: inst.heartbeat_takeover,
    heartbeatHold: inst.heartbeat_hold,
    downTimerAdverts: inst.down_timer_adverts,
    primaryAddress: primary.address,
    vips: [...inst.vips],
    auth,
    track: tracks.flatMap((t) => t.core),
  };
  const resolved = resolveVrrpConfig(core, `vrrp[${index}]`);
  if (!resolved.ok) return { ok: false, message: `${where}: ${resolved.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}` };
  return {
    ok: true,
    spec: {
      core,
      interface: inst.interface,
      sourceAddress: choose,
      unicastPeers: peers,
      ...(inst.sync_group === undefined ? {} : { syncGroup: inst.sync_group }),
      probes: tracks.map((t) => t.probe),
      notify: notifyScripts(inst),
      garp: { repeat: inst.garp_master_repeat, intervalMs: inst.garp_interval, delayMs: inst.garp_master_delay, refreshMs: inst.garp_master_refresh },
    },
  };
}

export function vrrpSetup(config: VigilConfig, self: string, log: Logger, metrics: Metrics, deps: VrrpSetupDeps = {}): VrrpSetup {
  if (config.vrrp.length === 0) return { ok: true, options: undefined, why: "no vrrp instances in the config" };
  const interfaces = (deps.interfaces ?? networkInterfaces)();
  const run = deps.runScript ?? runScript;
  const specs: VrrpInstanceSpec[] = [];
  for (const [i, inst] of config.vrrp.entries()) {
    const r = instanceSpec(inst, i, config, self, interfaces, run);
    if (!r.ok) return { ok: false, message: r.message };
    specs.push(r.spec);
  }
  // The host's own VIPs: the fencing watchdog removes them if the daemon dies (fence/guard.ts).
  if (deps.io === undefined) startFenceGuard(log);
  return {
    ok: true,
    options: { instances: specs, io: deps.io ?? hostVrrpIo(), log, metrics, runScript: run },
  };
}
