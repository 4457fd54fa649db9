/**
 * Turns the `modules:` section of the config into the module engine's
 * options for this node: the core config of each failover module (derived
 * in src/core/module/config.ts), its checkers, resource I/O, notify hooks
 * and the witness pinger. A mirror module is a failover module with its
 * mirror driver (src/daemon/mirror/setup.ts); farm modules run elsewhere.
 */
import { dirname } from "node:path";
import type { FailoverModule, MirrorModule, VigilConfig } from "../../config/types.ts";
import type { MirrorSet } from "../mirror/mirror-set.ts";
import { mirrorSetFor } from "../mirror/setup.ts";
import { checkerName, checkerTarget } from "../../config/checker-name.ts";
import { validateModuleConfig } from "../../core/module/config.ts";
import { failoverModuleCore } from "./core-config.ts";
import { startFenceGuard } from "../fence/guard.ts";
import { type FencePlan, fencePlanOf } from "../fence/watchdog.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { buildModuleChecker } from "./checker-factory.ts";
import type { ModuleEngineOptions } from "./engine.ts";
import type { ModuleArbiterLink } from "./instance.ts";
import { ModuleNotify } from "./notify.ts";
import { hostResourceIo, type ResourceIo } from "./resources.ts";

export type ModuleSetup =
  | { ok: true; options: ModuleEngineOptions }
  | { ok: true; options: undefined; why: string }
  | { ok: false; message: string };

export interface ModuleSetupDeps {
  io?: ResourceIo;
  arbiter?: ModuleArbiterLink;
  /** Told each module's fence plan (what the fencing watchdog takes down), with an arbiter. */
  fencePlan?: (module: string, plan: FencePlan) => void;
}

/** The part of the config the module engine depends on: a reload touches the modules only when this changed. */
export function moduleConfigKey(config: VigilConfig): string {
  return JSON.stringify({ modules: config.modules, shared: moduleSharedKey(config) });
}

/**
 * The part every module depends on (nodes, timers, the arbiter): when it
 * changes, the whole module engine is restarted; otherwise a reload
 * restarts only the modules whose own config changed. The witness ping
 * addresses are not part of it: a reload applies them in place
 * (ModuleEngine.setWitness), so changing them never moves a module. The
 * arbiter's settings are: the lease is safe because one arbiter grants it to
 * one node at a time, and moving a running module to another arbiter could
 * let two arbiters grant it to two nodes, so its modules restart under the
 * new one.
 */
export function moduleSharedKey(config: VigilConfig): string {
  const c = config.cluster;
  const { ping: _ping, ...arbiter } = c.witness;
  return JSON.stringify({ cluster: c.name, nodes: c.nodes.map((n) => n.name), heartbeat: c.heartbeat, witness: arbiter });
}

/** The witness ping addresses, compared by a reload (see moduleSharedKey). */
export function witnessPingKey(config: VigilConfig): string {
  return JSON.stringify(config.cluster.witness.ping);
}

export function moduleSetup(config: VigilConfig, configFile: string, self: string, stateDir: string, log: Logger, metrics: Metrics, deps: ModuleSetupDeps = {}): ModuleSetup {
  // A mirror module is a failover module whose first resource is its replicated folder.
  const failover = config.modules.filter((m): m is FailoverModule | MirrorModule => m.type === "failover" || m.type === "mirror");
  if (failover.length === 0) return { ok: true, options: undefined, why: "no failover or mirror modules configured" };
  const io = deps.io ?? hostResourceIo();
  // The host's own effects: the fencing watchdog takes down what a dead daemon leaves (guard.ts).
  const guard = deps.io === undefined ? startFenceGuard(log, { stateDir }) : undefined;
  const baseDir = dirname(configFile);
  const modules: ModuleEngineOptions["modules"][number][] = [];
  for (const m of failover) {
    const core = failoverModuleCore(m, config.cluster, self);
    const problems = validateModuleConfig(core);
    if (problems.length > 0) {
      return { ok: false, message: `module ${m.name}: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}` };
    }
    const plan = fencePlanOf(core.resources, {
      module: m.name, node: self, interfaceFor: (a) => io.interfaceFor(a), ...(m.stop_timeout === undefined ? {} : { stopTimeoutMs: m.stop_timeout }),
    });
    deps.fencePlan?.(m.name, plan);
    guard?.plan(m.name, plan);
    const checks = m.checkers.map((c, i) => {
      const name = checkerName(c, i);
      return {
        name,
        checker: buildModuleChecker(c, baseDir),
        intervalMs: c.interval,
        timeoutMs: c.timeout,
        ...(c.on_fail === "wait" ? {} : { firstRunDelayMs: c.interval }),
      };
    });
    const checkerInfo = new Map(m.checkers.map((c, i) => [checkerName(c, i), { target: checkerTarget(c), onFail: c.on_fail }]));
    const notify = new ModuleNotify({ module: m.name, node: self, cluster: config.cluster.name, script: m.notify, webhook: m.webhook, log });
    let mirror: MirrorSet | undefined;
    if (m.type === "mirror") {
      const d = mirrorSetFor(m, config, self, stateDir, log);
      if (!d.ok) return { ok: false, message: d.message };
      mirror = d.mirror;
    }
    modules.push({
      core,
      type: m.type,
      checks,
      checkerInfo,
      resources: {
        io,
        warn: (msg, fields) => log.warn(msg, { module: m.name, ...fields }),
        ...(m.start_timeout === undefined ? {} : { startTimeoutMs: m.start_timeout }),
        ...(m.stop_timeout === undefined ? {} : { stopTimeoutMs: m.stop_timeout }),
        ...(mirror === undefined ? {} : { mirror }),
      },
      ...(mirror === undefined ? {} : { mirror }),
      stateDir,
      log,
      ...(notify.configured ? { notify } : {}),
      ...(deps.arbiter === undefined ? {} : { arbiter: deps.arbiter }),
      configKey: JSON.stringify({ module: m, shared: moduleSharedKey(config), configDir: baseDir }),
    });
  }
  const ping = config.cluster.witness.ping;
  return {
    ok: true,
    options: {
      modules,
      ...(ping.length === 0 ? {} : { witness: { addresses: ping } }),
      log,
      metrics,
    },
  };
}
