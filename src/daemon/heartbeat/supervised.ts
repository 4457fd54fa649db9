/**
 * The heartbeat as the supervisor runs it. Off on a single-node cluster. A
 * reload that changes `cluster:` (timers, links, keys, nodes) restarts it
 * with a new epoch, which peers see as a restart, not as a replay; if the new
 * config cannot start, the old one is started again.
 *
 * It tells every engine of the node about peers (Engine.peer), carries their
 * module adverts in its frames (Engine.adverts) and hands them the peers'
 * adverts (Engine.frame).
 */
import { POLLED_FROM_DEADTIME_MS } from "../../config/defaults.ts";
import type { VigilConfig } from "../../config/types.ts";
import type { PeerStatus } from "../../api/status.ts";
import { type Engine, type Membership, type NodeContext, ReloadRejected } from "../engine.ts";
import { HeartbeatEngine } from "./engine.ts";
import { heartbeatSetup } from "./setup.ts";
import { configDigest } from "./config-digest.ts";
import { defaultUdpBackend, openUdpTransport } from "../../net/udp-transport.ts";
import { polledUdpBackend } from "../../net/udp-socket-polled.ts";

export type SupervisedHeartbeat = Engine & Membership & {
  /**
   * `fn` runs after each heartbeat round (HeartbeatEngineOptions.afterRound),
   * as long as heartbeats run, across restarts of the heartbeat by a reload.
   * A throw is logged, not passed on: the round went out before.
   */
  afterRound(fn: () => void): void;
};


/**
 * What the engines put in every frame, in one array (flatMap made one more
 * per engine, at every round).
 */
function gather<T>(engines: readonly Engine[], of: (e: Engine) => readonly T[] | undefined): T[] {
  const out: T[] = [];
  for (const e of engines) {
    const some = of(e);
    if (some !== undefined) for (const x of some) out.push(x);
  }
  return out;
}

export function supervisedHeartbeat(ctx: NodeContext, others: () => readonly Engine[]): SupervisedHeartbeat {
  const { log, metrics } = ctx;
  let cfg = ctx.config;
  let running: HeartbeatEngine | undefined;
  const riders: (() => void)[] = [];
  const afterRound = (): void => {
    for (const f of riders) {
      try {
        f();
      } catch (e) {
        log.error("work run after a heartbeat round failed", { error: (e as Error).message });
      }
    }
  };

  /** Starts on `c`; resolves with the problem, or undefined once running (or off). */
  const startOn = async (c: VigilConfig): Promise<string | undefined> => {
    const hb = heartbeatSetup(c, ctx.self, log, metrics);
    if (!hb.ok) return hb.message;
    if (hb.options === undefined) {
      log.info("heartbeats off", { reason: hb.why });
      return undefined;
    }
    // Only the membership reads frames here (no module or VRRP engine takes adverts), and timers are not tight.
    // Frames wait for the next wake-up (deferFrames), or news paths are used, only from this deadtime on (not the `fast` preset).
    const slow = c.cluster.heartbeat.deadtime >= POLLED_FROM_DEADTIME_MS;
    const deferFrames = c.modules.length === 0 && c.vrrp.length === 0 && slow;
    // Then the sockets connected to a peer need not wake the event loop at all: read at each wake-up of the engine.
    // Elsewhere (modules, VRRP) a peer's frames are read so once its news comes on a path of its own (news-path.ts).
    const polled = slow ? await polledUdpBackend(defaultUdpBackend()) : undefined;
    const engine = new HeartbeatEngine({
      ...hb.options,
      ...(polled === undefined ? {} : {
        openTransport: (l) => openUdpTransport(l, defaultUdpBackend(), polled, { readLate: deferFrames }),
        newsPaths: deferFrames ? "read-late" : "split",
      }),
      configDigest: configDigest(c, ctx.configFile),
      deferFrames,
      afterRound,
      modules: () => gather(others(), (e) => e.adverts?.()),
      vrrp: () => gather(others(), (e) => e.vrrpClaims?.()),
      onPeer: (node, liveness) => {
        const addresses = c.cluster.nodes.find((n) => n.name === node)?.addresses ?? [];
        for (const e of others()) e.peer?.(node, liveness, addresses);
      },
      onFrame: (node, adverts, echo, vrrp, at, hears) => {
        for (const e of others()) e.frame?.(node, adverts, echo, vrrp, at, hears);
      },
    });
    try {
      await engine.start();
    } catch (e) {
      return (e as Error).message;
    }
    running = engine;
    const t = c.cluster.heartbeat;
    log.info("heartbeats on", {
      links: hb.options.links.length,
      port: t.port,
      interval_ms: t.interval,
      deadtime_ms: t.deadtime,
      initdead_ms: t.initdead,
    });
    return undefined;
  };

  const stop = async (): Promise<void> => {
    await running?.stop();
    running = undefined;
  };

  return {
    name: "heartbeat",
    tier: "membership",
    async start() {
      const err = await startOn(cfg);
      if (err !== undefined) throw new Error(err);
    },
    async stop(reason) {
      // A clean stop says goodbye (the services have stopped by now); a failed start-up just goes.
      if (reason === "shutdown") await running?.leave();
      await stop();
    },
    async reload(next) {
      if (JSON.stringify(next.cluster) === JSON.stringify(cfg.cluster)) {
        cfg = next;
        running?.setConfigDigest(configDigest(next, ctx.configFile));
        return "kept";
      }
      await stop();
      const err = await startOn(next);
      if (err !== undefined) {
        log.error("heartbeats could not restart with the new config; restoring the old one", { reason: err });
        const back = await startOn(cfg);
        if (back !== undefined) log.error("heartbeats are off", { reason: back });
        throw new ReloadRejected(err);
      }
      cfg = next;
      return "restarted";
    },
    status() {
      if (running === undefined) return {};
      const drift = running.configDrift();
      const versions = running.peerFrameVersions();
      return {
        peers: new Map(running.view().peers.map((p): [string, PeerStatus] => [p.name, {
          name: p.name,
          addresses: p.links.map((l) => l.address),
          state: p.state,
          links: p.links.map((l) => ({ address: l.address, state: l.state, lastHeardMsAgo: l.lastHeardMsAgo === null ? null : Math.round(l.lastHeardMsAgo) })),
          rttMs: p.rttMs,
          badFrames: p.badFrames,
          ...(drift.has(p.name) ? { configDrift: [...(drift.get(p.name) ?? [])] } : {}),
          ...(versions.get(p.name) === undefined ? {} : { frameVersion: versions.get(p.name) ?? 0 }),
        }])),
      };
    },
    running: () => running !== undefined,
    publish: () => running?.publish(),
    announce: (sent) => running?.announce(sent),
    alive: (node, via, ageMs, proof) => running?.alive(node, via, ageMs, proof),
    readArrived: () => running?.readArrived(),
    peers: () => running?.view().peers.map((p) => ({ name: p.name, liveness: p.state })) ?? [],
    afterRound: (fn) => {
      riders.push(fn);
    },
  };
}
