/**
 * The farm modules as the supervisor runs them (tier "service"). Off without
 * farm modules. A reload that changes a farm, the nodes or the key restarts
 * the farm engine (each farm tears down and joins again; peers take its share
 * meanwhile); otherwise the farms keep running untouched.
 */
import type { ModuleCommandOutcome, ModuleCommandRequest } from "../../api/modules.ts";
import type { FarmStatus } from "../../api/farm.ts";
import type { VigilConfig } from "../../config/types.ts";
import { type Engine, type Membership, type NodeContext, ReloadRejected } from "../engine.ts";
import type { FarmEngine } from "./engine.ts";
import { farmsMayHaveLeftovers, forgetFarmsRan, markFarmsRan } from "./ran-mark.ts";

export type SupervisedFarms = Engine & {
  statuses(): FarmStatus[];
  /** Whether `module` is a farm module of this node (commands for it come here). */
  has(module: string): boolean;
  command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome>;
};

/** Without farm modules a node never loads the farm engine's code. */
const farmNames = (c: VigilConfig): string[] => c.modules.filter((m) => m.type === "farm").map((m) => m.name);

const farmCode = async () => {
  const [engine, setup] = await Promise.all([import("./engine.ts"), import("./setup.ts")]);
  return { FarmEngine: engine.FarmEngine, farmSetup: setup.farmSetup, farmConfigKey: setup.farmConfigKey };
};

export function supervisedFarms(ctx: NodeContext, membership: Membership): SupervisedFarms {
  const { log, metrics } = ctx;
  let cfg = ctx.config;
  let running: FarmEngine | undefined;

  const startOn = async (c: VigilConfig): Promise<string | undefined> => {
    if (farmNames(c).length === 0) return undefined;
    const { farmSetup, FarmEngine } = await farmCode();
    const s = farmSetup(c, ctx.self);
    if (!s.ok) return s.message;
    for (const w of s.warnings) log.warn(w);
    if (s.modules.length === 0) return undefined;
    const unmarked = markFarmsRan(ctx.stateDir);
    if (unmarked !== undefined) log.warn(`farm: ${unmarked}; a later start without farm modules may miss what a crash left`);
    const engine = new FarmEngine({
      modules: s.modules,
      log,
      metrics,
      configFile: ctx.configFile,
      publish: () => membership.publish(),
      peers: () => membership.peers(),
      witness: c.cluster.witness.ping,
    });
    running = engine;
    engine.start();
    log.info("farms on", { modules: engine.names.join(" ") });
    return undefined;
  };

  const stopRunning = async (): Promise<void> => {
    const r = running;
    running = undefined;
    await r?.stop();
  };

  return {
    name: "farms",
    tier: "service",
    async start() {
      // Farms a crashed run left behind and the config no longer has.
      const names = farmNames(cfg);
      if (names.length > 0 || farmsMayHaveLeftovers(ctx.stateDir)) {
        const { removeStaleFarms } = await import("./stale.ts");
        const notes = await removeStaleFarms(names);
        for (const note of notes) log.warn(`farm: ${note}`);
        if (names.length === 0 && notes.every((n) => n.startsWith("removed "))) forgetFarmsRan(ctx.stateDir);
      }
      const err = await startOn(cfg);
      if (err !== undefined) throw new Error(err);
    },
    async stop() {
      await stopRunning();
    },
    async reload(next) {
      if (farmNames(next).length === 0 && farmNames(cfg).length === 0) {
        cfg = next;
        return "kept";
      }
      const { farmConfigKey, farmSetup } = await farmCode();
      if (farmConfigKey(next) === farmConfigKey(cfg)) {
        cfg = next;
        return "kept";
      }
      const check = farmSetup(next, ctx.self);
      if (!check.ok) {
        log.error("reload rejected: keeping the running farms", { reason: check.message });
        throw new ReloadRejected(check.message);
      }
      await stopRunning();
      const err = await startOn(next);
      if (err !== undefined) {
        log.error("farms could not restart with the new config; restoring the old one", { reason: err });
        const back = await startOn(cfg);
        if (back !== undefined) log.error("farms are off", { reason: back });
        throw new ReloadRejected(err);
      }
      cfg = next;
      return "restarted";
    },
    status: () => (running === undefined ? {} : { farms: running.statuses() }),
    statuses: () => running?.statuses() ?? [],
    has: (module) => running?.has(module) ?? false,
    command: (req) =>
      running?.command(req) ?? Promise.resolve({ ok: false, module: req.module, command: req.command, detail: "no farm modules run on this node", nodes: [] }),
    peer: (node, liveness) => running?.peer(node, liveness),
    adverts: () => running?.adverts() ?? [],
    frame: (node, adverts, echo, _vrrp, _heardAt, hears) => running?.frame(node, adverts, echo, hears),
  };
}
