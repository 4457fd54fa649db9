/**
 * What the VRRP engine is given: its instances (built from the config by
 * setup.ts) and the OS effects, injectable so tests run over in-memory twins.
 */
import type { VrrpInstanceConfig } from "../../core/vrrp/config.ts";
import type { VrrpSocket, VrrpSocketOptions } from "../../net/raw-vrrp.ts";
import type { NotifyScripts } from "../../sys/notify.ts";
import type { ScriptRunner } from "../../sys/track-script.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

export type IoResult = { readonly ok: true } | { readonly ok: false; readonly message: string };
export type VipRemoval = { readonly ok: true; readonly removed: boolean } | { readonly ok: false; readonly message: string };

/** The OS effects, injectable so tests run over the in-memory twins. */
export interface VrrpIo {
  openSocket(opts: VrrpSocketOptions): Promise<VrrpSocket>;
  /** Adds (or keeps) a VIP, "a.b.c.d" or "a.b.c.d/len", on the interface. */
  addVip(vip: string, iface: string): Promise<IoResult>;
  /** Removes a VIP; `removed` is false when it was not there. */
  removeVip(vip: string, iface: string): Promise<VipRemoval>;
  /** `count` gratuitous ARPs for `address`, `intervalMs` apart. */
  sendGarp(iface: string, address: string, count: number, intervalMs: number): Promise<IoResult>;
  /** Whether the interface's link is usable now; `present` false when it does not exist. */
  linkState(iface: string): { readonly up: boolean; readonly detail: string; readonly present?: boolean };
  /** The IPv4 addresses of an interface that is up, primary first. */
  interfaceAddresses(iface: string): readonly string[];
  /** accept_mode false: drop IPv4 packets addressed to `addresses` (bare IPv4) while we are MASTER. */
  dropVipTraffic(iface: string, vrid: number, addresses: readonly string[]): Promise<IoResult>;
  /** Undoes dropVipTraffic; succeeds when there was nothing to undo. */
  acceptVipTraffic(iface: string, vrid: number): Promise<IoResult>;
  /** Rejects with a one-line reason when this runtime cannot speak VRRP at all (no FFI). */
  checkRuntime?(): Promise<void>;
}

export type SourceChoice = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly why: string };

export interface TrackReading {
  /** For status: is the object healthy. */
  readonly up: boolean;
  readonly detail: string;
  /** What to tell the core: up/down per core tracked-object name this probe stands for. */
  readonly health: Readonly<Record<string, boolean>>;
}

/** One configured tracked object, checked every `intervalMs`. */
export interface TrackProbe {
  /** For logs and status, e.g. "process node_exporter". */
  readonly name: string;
  readonly weight: number;
  readonly intervalMs: number;
  /** Never rejects; `signal` aborts a running check at stop. */
  check(signal: AbortSignal): Promise<TrackReading>;
}

export interface GarpPolicy {
  /** ARPs per VIP in a burst. */
  readonly repeat: number;
  readonly intervalMs: number;
  /** A second burst this long after becoming master; 0 = none. */
  readonly delayMs: number;
  /** While master, a burst every this many ms (keepalived's garp_master_refresh); 0 or absent = none. */
  readonly refreshMs?: number;
}

export interface VrrpInstanceSpec {
  /** The core's config; its `track` lists the core objects the probes report on. */
  readonly core: VrrpInstanceConfig;
  readonly interface: string;
  /**
   * Picks the advert source among the interface's addresses once it is up;
   * absent = core.primaryAddress as given. core.primaryAddress is then only
   * a stand-in until the interface is seen.
   */
  readonly sourceAddress?: (addresses: readonly string[]) => SourceChoice;
  /** Unicast destinations (our own address is skipped when sending); empty = multicast to 224.0.0.18. */
  readonly unicastPeers: readonly string[];
  readonly syncGroup?: string;
  readonly probes: readonly TrackProbe[];
  readonly notify: NotifyScripts;
  readonly garp: GarpPolicy;
}

export interface VrrpEngineOptions {
  readonly instances: readonly VrrpInstanceSpec[];
  readonly io: VrrpIo;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Monotonic ms; injectable for tests. */
  readonly clock?: () => number;
  readonly wallClock?: () => Date;
  /** How often each instance's interface link is checked; default 500 ms. */
  readonly linkPollMs?: number;
  /**
   * The heartbeat's interval now, undefined while its rounds do not run;
   * given when rounds call afterRound(). With rounds at most half
   * linkPollMs apart, the link checks ride them (no wake-ups of their own)
   * and a timer of their own fires only when no round came (link-rides.ts).
   */
  readonly roundIntervalMs?: () => number | undefined;
  /** Runs notify scripts; runScript by default. */
  readonly runScript?: ScriptRunner;
  readonly notifyTimeoutMs?: number;
  /**
   * Reads the heartbeat frames that wait unread (a heartbeat that reads its
   * sockets once per round) and hands their claims over, each with its
   * arrival time, before a hold is judged: see onTimer.
   */
  readonly readHeartbeat?: () => void;
}
