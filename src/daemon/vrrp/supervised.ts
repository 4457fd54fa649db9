/**
 * VRRP as the supervisor runs it. Off without `vrrp:` instances. A reload
 * that changes `vrrp:` restarts every instance (a MASTER resigns first); if
 * the new config cannot start, the old one is started again. A peer the
 * heartbeat declares dead lets a BACKUP whose MASTER it was take over early;
 * the instances a peer's heartbeat says it is MASTER of let a BACKUP tell
 * lost adverts from a lost master; ours go out in our heartbeat frames.
 * The instances' link checks ride the heartbeat's rounds (link-rides.ts).
 */
import type { VigilConfig } from "../../config/types.ts";
import { type Engine, type Membership, type NodeContext, ReloadRejected } from "../engine.ts";
import type { VrrpEngine } from "./engine.ts";

/** What VRRP needs of the heartbeat (SupervisedHeartbeat): its rounds, for the link checks to ride, and its frames read before a hold is judged. */
export interface VrrpRounds {
  afterRound(fn: () => void): void;
  running(): boolean;
  readArrived?: Membership["readArrived"];
}

export function supervisedVrrp(ctx: NodeContext, rounds?: VrrpRounds): Engine {
  const { log, metrics } = ctx;
  let cfg = ctx.config;
  let running: VrrpEngine | undefined;
  // Nodes the heartbeat has heard since the daemon started (kept across VRRP restarts).
  const heard = new Set<string>();
  // Once for the daemon's life (afterRound has no undo); each engine a reload starts is reached through `running`.
  rounds?.afterRound(() => running?.afterRound());

  const startOn = async (c: VigilConfig, between?: () => Promise<void>): Promise<string | undefined> => {
    // A node without VRRP never loads its code (the engine, raw sockets, the core).
    if (c.vrrp.length === 0) return undefined;
    const [{ VrrpEngine }, { vrrpSetup }] = await Promise.all([import("./engine.ts"), import("./setup.ts")]);
    const vr = vrrpSetup(c, ctx.self, log, metrics);
    if (!vr.ok) return vr.message;
    if (vr.options === undefined) return undefined;
    // Read at each check: a reload may change the interval, or heartbeats may be off (the checks then keep their own timer).
    const engine = new VrrpEngine(rounds === undefined ? vr.options : {
      ...vr.options,
      roundIntervalMs: () => (rounds.running() ? cfg.cluster.heartbeat.interval : undefined),
      readHeartbeat: () => rounds.readArrived?.(),
    });
    try {
      await between?.();
      await engine.start(between);
    } catch (e) {
      return (e as Error).message;
    }
    running = engine;
    log.info("vrrp on", { instances: c.vrrp.map((v) => v.name).join(" ") });
    return undefined;
  };

  const stop = async (): Promise<void> => {
    await running?.stop();
    running = undefined;
  };

  return {
    name: "vrrp",
    tier: "service",
    async start(between) {
      const err = await startOn(cfg, between);
      if (err !== undefined) throw new Error(err);
    },
    stop,
    async reload(next) {
      if (JSON.stringify(next.vrrp) === JSON.stringify(cfg.vrrp)) {
        cfg = next;
        return "kept";
      }
      await stop();
      const err = await startOn(next);
      if (err !== undefined) {
        log.error("vrrp could not restart with the new config; restoring the old one", { reason: err });
        const back = await startOn(cfg);
        if (back !== undefined) log.error("vrrp is off", { reason: back });
        throw new ReloadRejected(err);
      }
      cfg = next;
      return "restarted";
    },
    status: () => (running === undefined ? {} : { vrrp: running.status() }),
    frame(node, _adverts, _echo, vrrp, heardAt) {
      running?.heartbeatFrame(node, vrrp, heardAt);
    },
    vrrpClaims: () => running?.vrrpClaims() ?? [],
    peer(node, liveness, addresses) {
      // A BACKUP whose MASTER is that node need not wait out Master_Down_Interval.
      if (liveness === "up" || liveness === "late") heard.add(node);
      if (liveness === "dead") running?.peerDead(node, addresses, heard.has(node));
    },
  };
}
