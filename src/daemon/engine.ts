/**
 * What the supervisor (supervisor.ts) runs: one engine per feature of a node
 * (heartbeat, VRRP, failover modules, the console; mirror and farm next).
 *
 * An engine owns its driver and everything the driver needs: it reads its
 * part of the config (through its feature's setup.ts, the one place that
 * turns YAML into the feature core's config), starts, stops, and on a reload
 * decides itself whether the new config concerns it.
 *
 * Adding an engine (the mirror, the farm):
 *   1. src/daemon/<feature>/supervised.ts exports a function that returns an
 *      Engine, built from a NodeContext (and the Membership if it needs
 *      peers); it is "off" (start resolves, runs nothing) when the config has
 *      nothing for it.
 *   2. Add it to the list in nodeEngines() (daemon.ts). Its tier says when it
 *      starts and stops; nothing else in the daemon changes.
 *   3. Peer news, heartbeat adverts and status come through the optional
 *      members below; put the feature's status fields in src/api/status.ts.
 */
import type { VigilConfig } from "../config/types.ts";
import type { PeerState } from "../core/membership/types.ts";
import type { ModuleAdvert, VrrpMasterClaim } from "../proto/heartbeat.ts";
import type { ModuleStatus } from "../api/modules.ts";
import type { FarmStatus } from "../api/farm.ts";
import type { PeerStatus, VrrpStatus } from "../api/status.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/**
 * When an engine starts and stops (the supervisor's order):
 * - "membership": the heartbeat. Starts first, so services hear peers from
 *   their first step; stops last, so peers hear the services resign.
 * - "service": what holds addresses, data or roles (VRRP, modules, mirror,
 *   farm). Starts after membership; stops first, all together, so backups
 *   take over while we are still heard.
 * - "surface": the console and control socket. Starts last (it shows and
 *   commands the services); stops between services and membership; on a
 *   reload it goes first, so a listener that cannot move rejects the reload
 *   before any engine restarted.
 */
export type EngineTier = "membership" | "service" | "surface";

/** Why an engine stops: the daemon is stopping, or start-up failed and is undone. */
export type StopReason = "shutdown" | "start-failed";

/** What a reload did: nothing this engine depends on changed, or it took the new config. */
export type ReloadResult = "kept" | "restarted";

/**
 * Thrown by reload() when the engine cannot take the new config. The engine
 * has logged why and put back what ran before; the supervisor rejects the
 * reload and touches no further engine.
 */
export class ReloadRejected extends Error {}

/** An engine's part of the status snapshot (src/api/status.ts). */
export interface EngineStatus {
  readonly peers?: ReadonlyMap<string, PeerStatus>;
  readonly vrrp?: readonly VrrpStatus[];
  readonly modules?: readonly ModuleStatus[];
  readonly farms?: readonly FarmStatus[];
}

export interface Engine {
  /** For logs: "heartbeat", "vrrp", "modules", "console". */
  readonly name: string;
  readonly tier: EngineTier;
  /**
   * Rejects with a one-line message naming the problem; the daemon then undoes start-up and exits 1.
   * `between`: awaited between the pieces of an engine's start that each hold the main thread a while
   * (startup-pace.ts: the heartbeat's rounds go out in between); an engine whose start is one piece ignores it.
   */
  start(between?: () => Promise<void>): Promise<void>;
  /** Idempotent; a no-op when nothing runs. */
  stop(reason: StopReason): Promise<void>;
  /** Applies `next` if it concerns this engine; throws ReloadRejected when it cannot. */
  reload(next: VigilConfig): Promise<ReloadResult>;
  status(): EngineStatus;
  /** A peer's liveness changed (heartbeat); `addresses` are its cluster addresses. */
  peer?(node: string, liveness: PeerState, addresses: readonly string[]): void;
  /** What this engine's modules publish in every heartbeat frame. */
  adverts?(): ModuleAdvert[];
  /**
   * The module adverts of a peer's frame; `echo` is the send time (on the
   * heartbeat's clock, performance.now) of our newest frame the peer had
   * received when it sent this one, if it has heard us. `vrrp`: the VRRP
   * instances the peer says it is MASTER of; undefined when its frame does
   * not say (an older release).
   */
  /**
   * `heardAt`: the frame's arrival (performance.now()), earlier than now when the heartbeat read it late.
   * `hears`: the nodes the peer says in this frame that it hears (its echoes); the farm keeps a node
   * that we do not hear but a peer does in its view (src/core/farm/deaths.ts).
   */
  frame?(node: string, adverts: readonly ModuleAdvert[], echo?: number, vrrp?: readonly VrrpMasterClaim[], heardAt?: number, hears?: readonly string[]): void;
  /** The VRRP instances this node is MASTER of, published in every heartbeat frame. */
  vrrpClaims?(): VrrpMasterClaim[];
}

/** What every engine of a node is built from. */
export interface NodeContext {
  /** The config the node starts with; reload() brings the next ones. */
  readonly config: VigilConfig;
  readonly configFile: string;
  readonly self: string;
  readonly stateDir: string;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** The heartbeat as other engines see it, whichever heartbeat engine runs now. */
export interface Membership {
  /** Whether heartbeats are on. */
  running(): boolean;
  /** Send frames now: what adverts() returns has changed. */
  publish(): void;
  /**
   * Send a round on every link at once, whatever the spacing of extra
   * rounds, with adverts() as they are once the current turn is over; call
   * `sent` right after it left. Not called while no heartbeat runs.
   */
  announce?(sent: () => void): void;
  /** Peers heard so far and their liveness. */
  peers(): { name: string; liveness: PeerState }[];
  /** `node`'s vigil answered on another channel (`via`: a mirror's replication link) to a probe sent `ageMs` ago; "record": its records were read then. */
  alive?(node: string, via: string, ageMs: number, proof?: "answer" | "record"): void;
  /**
   * Reads the frames that wait unread in the heartbeat's sockets (those it
   * reads once per round) and hands them over now, each with its arrival:
   * for an engine about to judge on what peers last said.
   */
  readArrived?(): void;
}
