/**
 * The failover modules as the supervisor runs them. Off without failover
 * modules. A reload that changes only modules restarts only those (the others
 * keep running untouched); one that changes what every module depends on
 * (nodes, timers, witness) restarts the module engine, and if the new config
 * cannot start, the old one is started again.
 *
 * On shutdown the modules stop first (stop scripts, VIPs removed) and the STOP
 * advert goes out in the heartbeat's next frames: this waits for them to
 * leave, so peers take over at once instead of waiting out a deadtime.
 */
import { join } from "node:path";
import type { VigilConfig } from "../../config/types.ts";
import type { ModuleCommandOutcome, ModuleControl } from "../../api/modules.ts";
import { type Engine, type Membership, type NodeContext, ReloadRejected } from "../engine.ts";
import type { ArbiterLinkHandle } from "./arbiter-link.ts";
import type { ModuleEngine } from "./engine.ts";

/** The longest a stopping node waits for its STOP adverts to leave. */
const TELL_STOP_MAX_MS = 2_000;

export type SupervisedModules = Engine & {
  /** Stable for the console: commands go to whichever module engine runs now. */
  readonly control: ModuleControl;
};

/**
 * Whether the module engine has anything to run: failover or mirror modules,
 * or an arbiter (its link and the fencing watchdog start with the engine).
 * Without, a node never loads the engine's code (modules, mirror, arbiter).
 */
function wantsModules(c: VigilConfig): boolean {
  return c.cluster.witness.arbiter !== undefined || c.modules.some((m) => m.type === "failover" || m.type === "mirror");
}

/** The module engine's code, loaded on first use. */
const moduleCode = async () => {
  const [setup, engine, arbiterLink, watchdog] = await Promise.all([import("./setup.ts"), import("./engine.ts"), import("./arbiter-link.ts"), import("../fence/watchdog.ts")]);
  const { moduleSetup, moduleConfigKey, moduleSharedKey, witnessPingKey } = setup;
  return { moduleSetup, moduleConfigKey, moduleSharedKey, witnessPingKey, ModuleEngine: engine.ModuleEngine, openArbiterLink: arbiterLink.openArbiterLink, startFenceWatchdog: watchdog.startFenceWatchdog };
};

export function supervisedModules(ctx: NodeContext, membership: Membership): SupervisedModules {
  const { log, metrics } = ctx;
  let cfg = ctx.config;
  let running: ModuleEngine | undefined;
  let arbiter: ArbiterLinkHandle | undefined;

  const setupOn = async (c: VigilConfig) =>
    (await moduleCode()).moduleSetup(c, ctx.configFile, ctx.self, ctx.stateDir, log, metrics, arbiter === undefined ? {} : { arbiter: arbiter.link, fencePlan: arbiter.fencePlan });

  const startOn = async (c: VigilConfig): Promise<string | undefined> => {
    void arbiter?.close();
    arbiter = undefined;
    if (!wantsModules(c)) return undefined;
    const { openArbiterLink, startFenceWatchdog, ModuleEngine } = await moduleCode();
    // The fencing watchdog's PID in the state dir: a restart after a crash ends the old one.
    const arb = openArbiterLink(c, ctx.self, log, metrics, undefined, () => startFenceWatchdog(log, { pidFile: join(ctx.stateDir, "fence-watchdog.pid") }));
    if (!arb.ok) return arb.message;
    arbiter = arb.handle;
    const ms = await setupOn(c);
    if (!ms.ok) return ms.message;
    if (ms.options === undefined) return undefined;
    const engine = new ModuleEngine({ ...ms.options, onPublish: () => membership.publish(), onAnnounce: (sent) => membership.announce?.(sent), onAlive: (node, via, ageMs, proof) => membership.alive?.(node, via, ageMs, proof) });
    running = engine;
    // Peers the heartbeat already hears (a reload restarts only the modules).
    engine.start(membership.peers());
    log.info("modules on", { modules: engine.names.join(" ") });
    return undefined;
  };

  const control: ModuleControl = {
    statuses: () => running?.statuses() ?? [],
    command: (req): Promise<ModuleCommandOutcome> =>
      running?.command(req) ??
        Promise.resolve({ ok: false, module: req.module, command: req.command, detail: "no failover modules run on this node", nodes: [] }),
  };

  return {
    name: "modules",
    tier: "service",
    control,
    async start() {
      const err = await startOn(cfg);
      if (err !== undefined) throw new Error(err);
    },
    async stop(reason) {
      if (running === undefined) return;
      await running.stop();
      if (reason === "start-failed") return;
      // The STOP advert goes out with the next frames (the stopped engine
      // still lists it); give them time to leave before the heartbeat goes quiet.
      if (membership.running()) await new Promise((r) => setTimeout(r, Math.min(TELL_STOP_MAX_MS, 2 * cfg.cluster.heartbeat.interval + 50)));
      running = undefined;
    },
    async reload(next) {
      if (!wantsModules(next) && !wantsModules(cfg)) {
        cfg = next;
        return "kept";
      }
      const { moduleConfigKey, moduleSharedKey, witnessPingKey } = await moduleCode();
      const changed = moduleConfigKey(next) !== moduleConfigKey(cfg);
      const pingChanged = witnessPingKey(next) !== witnessPingKey(cfg);
      if (!changed && !pingChanged) {
        cfg = next;
        return "kept";
      }
      if (!changed && running !== undefined) {
        // Only the witness ping addresses: applied in place, no module stops or moves.
        const ping = next.cluster.witness.ping;
        running.setWitness(ping.length === 0 ? undefined : { addresses: ping });
        log.info("witness ping applied; modules untouched", { ping: ping.join(" ") || "none" });
        cfg = next;
        return "restarted";
      }
      if (running !== undefined && moduleSharedKey(next) === moduleSharedKey(cfg)) {
        // Only modules changed: restart those, leave the others running untouched.
        const ms = await setupOn(next);
        if (!ms.ok) {
          log.error("reload rejected: keeping the running modules", { reason: ms.message });
          throw new ReloadRejected(ms.message);
        }
        if (ms.options === undefined) {
          await running.stop();
          running = undefined;
          log.info("modules off", { reason: ms.why });
        } else {
          const r = await running.reload(ms.options.modules);
          if (pingChanged) running.setWitness(ms.options.witness);
          log.info("modules reloaded", { kept: r.kept.join(" "), restarted: r.restarted.join(" "), added: r.added.join(" "), removed: r.removed.join(" ") });
        }
        cfg = next;
        return "restarted";
      }
      // Stopping runs every module's stop scripts here; peers take over meanwhile.
      log.info("modules changed: restarting the module engine");
      await running?.stop();
      running = undefined;
      const err = await startOn(next);
      if (err !== undefined) {
        log.error("modules could not restart with the new config; restoring the old one", { reason: err });
        const back = await startOn(cfg);
        if (back !== undefined) log.error("modules are off", { reason: back });
        throw new ReloadRejected(err);
      }
      cfg = next;
      return "restarted";
    },
    status: () => (running === undefined ? {} : { modules: running.statuses() }),
    peer: (node, liveness) => running?.peer(node, liveness),
    adverts: () => running?.adverts() ?? [],
    frame: (node, adverts, _echo, _vrrp, heardAt) => running?.frame(node, adverts, heardAt),
  };
}
