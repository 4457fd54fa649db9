/**
 * The engine's bookkeeping per instance and per socket, and its metrics.
 */
import type { VrrpSocket, VrrpSocketOptions } from "../../net/raw-vrrp.ts";
import type { NotifyQueue } from "../../sys/notify.ts";
import type { VrrpStatus } from "../../api/status.ts";
import type { Metrics } from "../metrics.ts";
import type { VrrpInstanceSpec } from "./spec.ts";
import type { Unit } from "./units.ts";

export const NOT_CHECKED = "not checked yet";

export interface TrackView {
  name: string;
  weight: number;
  up: boolean;
  detail: string;
}

export interface Instance {
  readonly spec: VrrpInstanceSpec;
  readonly name: string;
  unit: Unit;
  /** The socket this instance sends and receives on (shared by instances on one interface and source). */
  readonly entry: SocketEntry;
  /** The tail of the action queue. */
  queue: Promise<void>;
  readonly notify: NotifyQueue;
  garpTimer: ReturnType<typeof setTimeout> | undefined;
  refreshTimer: ReturnType<typeof setInterval> | undefined;
  /** An accept_mode filter may be installed: remove it with the VIPs. */
  dropping: boolean;
  lastTransition: VrrpStatus["lastTransition"];
  readonly tracks: TrackView[];
  linkUp: boolean | undefined;
  /**
   * Per cluster node: what its latest heartbeat frame said about this
   * instance, when (our clock), and the heardAt the core was last given.
   */
  readonly peers: Map<string, PeerSays>;
}

export interface PeerSays {
  says: "master" | "not-master" | "unknown";
  address: string;
  heardAt: number;
  fedAt: number;
}

export interface SocketEntry {
  readonly key: string;
  opts: VrrpSocketOptions;
  socket: VrrpSocket | undefined;
  readonly instances: Instance[];
  /** Why the socket is not open yet (interface missing or down, no address). */
  waiting: string | undefined;
  /** An open attempt is under way. */
  opening: boolean;
}

export type Count = (labels?: Record<string, string>, by?: number) => void;
export type Gauge = (value: number, labels?: Record<string, string>) => void;

export interface VrrpMetrics {
  sent: Count;
  received: Count;
  zeroSent: Count;
  zeroReceived: Count;
  discarded: Count;
  rejected: Count;
  transitions: Count;
  vipFailures: Count;
  garps: Count;
  notifyFailures: Count;
  state: Gauge;
  priority: Gauge;
  trackUp: Gauge;
  held: Count;
}

export function vrrpMetrics(met: Metrics): VrrpMetrics {
    return {
      sent: met.counter("vigil_vrrp_adverts_sent_total", "VRRP adverts sent, by instance (one per destination)."),
      received: met.counter("vigil_vrrp_adverts_received_total", "VRRP adverts for our VRIDs that passed the packet checks, by instance."),
      zeroSent: met.counter("vigil_vrrp_priority_zero_sent_total", "Priority-0 adverts sent (we resigned as MASTER), by instance."),
      zeroReceived: met.counter("vigil_vrrp_priority_zero_received_total", "Priority-0 adverts received (the MASTER resigned), by instance."),
      discarded: met.counter("vigil_vrrp_adverts_discarded_total", "Adverts the state machine ignored, by instance and reason."),
      rejected: met.counter("vigil_vrrp_packets_rejected_total", "VRRP packets that failed the checks (TTL, checksum, authentication...), by interface and reason."),
      transitions: met.counter("vigil_vrrp_transitions_total", "VRRP state changes, by instance and new state."),
      vipFailures: met.counter("vigil_vrrp_vip_failures_total", "Failed VIP additions or removals, by instance and operation."),
      garps: met.counter("vigil_vrrp_garp_bursts_total", "Bursts of gratuitous ARP sent, by instance and result."),
      notifyFailures: met.counter("vigil_vrrp_notify_failures_total", "Notify scripts that failed or timed out, by instance."),
      state: met.gauge("vigil_vrrp_state", "VRRP state by instance: 0 init, 1 backup, 2 master, 3 fault."),
      priority: met.gauge("vigil_vrrp_priority", "Effective VRRP priority by instance (configured priority moved by tracked objects)."),
      trackUp: met.gauge("vigil_vrrp_track_up", "1 while a tracked object is healthy, by instance and track."),
      held: met.counter("vigil_vrrp_takeovers_held_total", "Takeovers a BACKUP put off because the heartbeat still heard the silent MASTER's node say it is MASTER, by instance."),
    };
}

