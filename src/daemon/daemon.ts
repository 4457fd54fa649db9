/**
 * The life of a node (`vigil run`): read the config, find which node we are,
 * take the signals and the state lock, start the engines in order, reload
 * them on SIGHUP, stop them in order on SIGTERM or SIGINT. The order itself
 * lives in supervisor.ts; what each engine does, in its folder.
 */
import { identifyNode, localIPv4Addresses } from "../config/identify.ts";
import { formatConfigError } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import type { VigilConfig } from "../config/types.ts";
import type { ModuleCommandRequest } from "../api/modules.ts";
import { VERSION } from "../version.ts";
import type { ConsoleDeps } from "../../web/app.ts";
import { supervisedConsole, type SupervisedConsole } from "./console.ts";
import type { FetchHandler } from "./http-server.ts";
import { reachableConsole } from "../api/console-urls.ts";
import { consoleStatus, networkConsoleAuth } from "./console-access.ts";
import type { Engine, NodeContext } from "./engine.ts";
import { type SupervisedHeartbeat, supervisedHeartbeat } from "./heartbeat/supervised.ts";
import { keepEveryStderrLine, type Logger } from "./log.ts";
import { supervisedFarms } from "./farm/supervised.ts";
import { Metrics } from "./metrics.ts";
import { supervisedModules } from "./module/supervised.ts";
import { takeSignals } from "./signals.ts";
import { checkHost, checkKeyContinuity, checkSampleKey, checkStateDirMode } from "./start-checks.ts";
import { loadConfigToStart } from "./start-config.ts";
import { configRunsMirror, optimizingCompilerOff } from "./runtime-options.ts";
import { acquireStateLock } from "./state-lock.ts";
import { buildStatus } from "./status.ts";
import { HealthWatch, supervisedHealthWatch } from "./health-watch.ts";
import { DEFAULT_LOG_FILE_BYTES, DEFAULT_LOG_FILES_KEPT, RotatingLogFile } from "./log-file.ts";
import { ResourceOps, resourceStates } from "./resource-state.ts";
import { join } from "node:path";
import { mergedStatus, Supervisor } from "./supervisor.ts";
import { applyRealtime, realtimeReason } from "./realtime.ts";
import { dropAgainLater, LaterDropOnce, START_TRIM_LINE, startTrimPlan, trimAfterStart } from "./memory-trim.ts";
import { paceOptionsFor, startupPace } from "./startup-pace.ts";
import { dumpHeapStatsOnSignal } from "./heap-stats.ts";
import { supervisedVrrp } from "./vrrp/supervised.ts";

export interface DaemonOptions {
  configFile: string;
  /** How the config file was found, for the log ("flag", "env", "etc", "media"). */
  configHow: string;
  nodeName?: string | undefined;
  stateDir: string;
  listen?: string | undefined;
  /** --accept-new-key (see start-checks.ts). */
  acceptNewKey?: boolean;
  log: Logger;
}

/** Resolves with the process exit code once stopped. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { log } = opts;
  const initial = loadConfigToStart(opts.configFile, log);
  if (initial === null) return 1;
  const id = identifyNode(initial, localIPv4Addresses(), opts.nodeName);
  if (!id.ok) {
    log.error(id.message);
    return 1;
  }
  const self = id.node;
  for (const check of [checkSampleKey(initial, opts.listen ?? initial.web.listen), checkStateDirMode(opts.stateDir), checkHost(opts.configFile)]) {
    if (!check.ok) {
      log.error(check.message);
      return 1;
    }
    for (const w of check.warnings) log.warn(w);
  }

  const signals = takeSignals(log);
  const lock = acquireStateLock(opts.stateDir);
  if (!lock.ok) {
    signals.release();
    log.error(lock.message);
    return 1;
  }
  const keyCheck = checkKeyContinuity(initial, opts.stateDir, { configHow: opts.configHow, acceptNewKey: opts.acceptNewKey === true });
  if (!keyCheck.ok) {
    lock.release();
    signals.release();
    log.error(keyCheck.message);
    return 1;
  }
  for (const w of keyCheck.warnings) log.warn(w);
  // Only the daemon holding the state lock writes the state dir's log file.
  // Its size and count are read at start; a reload keeps the file as it is.
  if (log.logFile() === undefined) {
    const lf = initial.log ?? { file_size: DEFAULT_LOG_FILE_BYTES / 1048576, files: DEFAULT_LOG_FILES_KEPT };
    log.attachFile(new RotatingLogFile(join(opts.stateDir, "vigil.log"), lf.file_size * 1048576, lf.files));
  }

  const node = nodeEngines({ config: initial, configFile: opts.configFile, self: self.name, stateDir: opts.stateDir, log, metrics: new Metrics() }, opts, self);
  const supervisor = new Supervisor(node.engines);
  const exit = async (code: number): Promise<number> => {
    lock.release();
    signals.release();
    return code;
  };
  const stop = async (signal: string): Promise<number> => {
    keepEveryStderrLine();
    log.info("stopping", { signal });
    await supervisor.stop();
    lock.release();
    log.info("vigil stopped", { node: self.name });
    signals.release();
    return 0;
  };

  await applyRealtime(initial, log, "start");
  // Once heartbeats run, each later step waits for a round to go out first (startup-pace.ts).
  const pace = startupPace(node.heartbeat, paceOptionsFor(initial.cluster.heartbeat.interval));
  const started = await supervisor.start(signals.stopAsked, () => pace.beforeStep());
  if (started.ok === false) {
    keepEveryStderrLine();
    log.error(started.message);
    await supervisor.giveUp();
    return await exit(1);
  }
  if (started.ok === "stop-asked") return await stop(started.signal);

  signals.holdReloads();
  log.info("vigil started", {
    version: VERSION,
    node: self.name,
    identified_by: id.how,
    cluster: initial.cluster.name,
    config: opts.configFile,
    config_found_by: opts.configHow,
    state_dir: opts.stateDir,
    console: reachableConsole(node.console.url(), localIPv4Addresses()),
    ...(node.console.tls() === null ? {} : { console_sha256: node.console.tls()?.fingerprint ?? "" }),
    pid: process.pid,
  });

  // Start-up's memory back: before anything is locked where memory is locked, else once initdead has passed,
  // out of the peers' first second of hearing this node (memory-trim.ts, startTrimPlan).
  const trimPlan = startTrimPlan(initial, realtimeReason(initial) !== undefined);
  if (trimPlan.when === "end-of-start-up") {
    await pace.beforeStep();
    await trimAfterStart(log, () => pace.beforeStep());
  }
  const cancelStartTrim = trimPlan.when === "after-initdead"
    ? dropAgainLater(log, trimPlan.dropAfterMs, { beforeStep: () => pace.beforeStep(), what: START_TRIM_LINE })
    : () => {};
  // Again, for the threads the engines started (their Workers begin at normal priority).
  await applyRealtime(initial, log, "threads");
  // Modules and VRRP do start-up work of their own: its garbage and code pages go once it is done.
  // A reload that brings the first module or VRRP instance brings that work too.
  const laterDrop = new LaterDropOnce((afterMs) => dropAgainLater(log, afterMs, { beforeStep: () => pace.beforeStep() }));
  laterDrop.consider(initial);
  signals.onReload(() => void reloadNode(opts, self.name, node, supervisor).then(() => laterDrop.consider(node.config)));
  const releaseHeapStats = dumpHeapStatsOnSignal(opts.stateDir, log);
  const signal = await signals.stopped;
  cancelStartTrim();
  laterDrop.cancelPending();
  const code = await stop(signal);
  releaseHeapStats();
  return code;
}

interface NodeEngines {
  readonly engines: readonly Engine[];
  readonly console: SupervisedConsole;
  readonly heartbeat: SupervisedHeartbeat;
  /** The config the engines run now; reloadNode replaces it. */
  config: VigilConfig;
  readonly reloads: (labels: { result: "ok" | "rejected" }) => void;
}

/**
 * The engines of a node, in start order within their tier. A new engine
 * (mirror, farm) is one more entry here; see engine.ts.
 */
function nodeEngines(ctx: NodeContext, opts: DaemonOptions, self: { name: string; addresses: string[] }): NodeEngines {
  const { metrics } = ctx;
  const startedAt = new Date();
  const reloads = metrics.counter("vigil_config_reloads_total", "Config reloads by result (ok, rejected).");
  const info = metrics.gauge("vigil_info", "Version, node and cluster of this daemon; always 1.");
  const uptime = metrics.gauge("vigil_uptime_seconds", "Seconds since the daemon started.");
  const peersKnown = metrics.gauge("vigil_peers_configured", "Peers named in the config.");
  const mirrorCopy = metrics.gauge("vigil_mirror_copy", "1 for the state of this node's copy of a mirror module (uptodate, outdated, inconsistent), 0 for the others.");
  const mirrorLink = metrics.gauge("vigil_mirror_link_up", "1 while a mirror module's replication link to its peer is up.");
  const mirrorWaiting = metrics.gauge("vigil_mirror_waiting_ops", "Application calls waiting for their acknowledgement on a mirror module.");
  const mirrorResync = metrics.gauge("vigil_mirror_resync_bytes", "A mirror module's resync: bytes done and in all (kind done|total); 0 without one.");

  const engines: Engine[] = [];
  const heartbeat = supervisedHeartbeat(ctx, () => engines);
  const vrrp = supervisedVrrp(ctx, heartbeat);
  const modules = supervisedModules(ctx, heartbeat);
  const farms = supervisedFarms(ctx, heartbeat);
  const resourceOps = new ResourceOps(ctx.log);
  const healthWatch = new HealthWatch(ctx.log, metrics);

  // The health watch builds it every second for the cluster view alone: that needs neither a copy of
  // the recent events nor this node's addresses (a VIP's presence is no part of the view: clusterHealth).
  const status = (o: { forHealthWatch?: boolean } = {}) => {
    const watch = o.forHealthWatch === true;
    const merged = mergedStatus(engines);
    return buildStatus({
      config: node.config,
      configFile: opts.configFile,
      self,
      stateDir: opts.stateDir,
      listen: consoleEngine.where(),
      console: consoleStatus(consoleEngine),
      startedAt,
      now: new Date(),
      events: watch ? [] : ctx.log.recent.toArray(),
      ...merged,
      alarms: healthWatch.alarms(),
      resources: resourceStates({ config: node.config, modules: merged.modules ?? [], farms: merged.farms ?? [], ops: resourceOps, localAddresses: watch ? [] : localIPv4Addresses() }),
      logFile: logFileStatus(ctx.log),
    });
  };
  const consoleDeps = {
    status: () => status(),
    log: ctx.log,
    logText: () => ctx.log.logFile()?.read(),
    nodeName: () => self.name,
    // Commands for a farm module (stop drains, start joins) go to the farm engine.
    modules: {
      statuses: () => modules.control.statuses(),
      command: (req: ModuleCommandRequest) => (farms.has(req.module) ? farms.command(req) : modules.control.command(req)),
    },
    metrics: () => {
      info(1, { version: VERSION, node: self.name, cluster: node.config.cluster.name });
      uptime((Date.now() - startedAt.getTime()) / 1000);
      peersKnown(node.config.cluster.nodes.length - 1);
      for (const m of modules.control.statuses()) {
        const mi = m.mirror;
        if (mi === undefined) continue;
        for (const state of ["uptodate", "outdated", "inconsistent"]) mirrorCopy(mi.data === state ? 1 : 0, { module: m.name, state });
        mirrorLink(mi.link === "up" ? 1 : 0, { module: m.name });
        mirrorWaiting(mi.waitingOps, { module: m.name });
        const r = mi.resync !== null && mi.resync.phase !== "done" ? mi.resync : null;
        mirrorResync(r?.bytesDone ?? 0, { module: m.name, kind: "done" });
        mirrorResync(r?.bytesTotal ?? 0, { module: m.name, kind: "total" });
      }
      return metrics.render();
    },
  };
  // Two instances of one app: module commands on the network listener need
  // the token derived from the cluster key; on the control socket (mode 0600) they do not.
  const consoleEngine = supervisedConsole({
    config: ctx.config,
    listenFlag: opts.listen,
    stateDir: opts.stateDir,
    log: ctx.log,
    self,
    network: consoleAppOnFirstRequest({
      ...consoleDeps,
      commands: "login",
      auth: networkConsoleAuth({ start: ctx.config, config: () => node.config, listen: () => consoleEngine.where(), self, stateDir: opts.stateDir, log: ctx.log }),
    }),
    socket: consoleAppOnFirstRequest({ ...consoleDeps, commands: "socket" }),
  });

  const health = supervisedHealthWatch(healthWatch, () => {
    const snap = status({ forHealthWatch: true });
    const t = node.config.cluster.heartbeat;
    return { health: snap.health ?? { isolated: null, nodes: [], modules: [] }, uptimeMs: snap.uptimeMs, timers: { initdeadMs: t.initdead, deadtimeMs: t.deadtime } };
  }, heartbeat);
  engines.push(heartbeat, vrrp, modules, farms, health, consoleEngine);
  const node: NodeEngines = { engines, console: consoleEngine, heartbeat, config: ctx.config, reloads };
  return node;
}

/** The console's app (web/, hono) is loaded and built at its first request: a node nobody asks never loads it. */
function consoleAppOnFirstRequest(deps: ConsoleDeps): FetchHandler {
  let app: Promise<FetchHandler> | undefined;
  const make = async (): Promise<FetchHandler> => {
    const built = (await import("../../web/app.ts")).createConsoleApp(deps);
    return (req, conn) => built.fetch(req, conn);
  };
  return async (req, conn) => (await (app ??= make()))(req, conn);
}

function logFileStatus(log: Logger): { path: string; problem: string | null } | null {
  const f = log.logFile();
  return f === undefined ? null : { path: f.path, problem: f.problem() };
}

/** SIGHUP: reads the config again and hands it to the engines, or keeps the running one and says why. */
async function reloadNode(opts: DaemonOptions, self: string, node: NodeEngines, supervisor: Supervisor): Promise<void> {
  const { log } = opts;
  const next = loadConfigFile(opts.configFile);
  if (!next.ok) {
    for (const e of next.errors) log.error("config error", { detail: formatConfigError(e) });
    log.error("reload rejected: keeping the running config", { file: opts.configFile, errors: next.errors.length });
    node.reloads({ result: "rejected" });
    return;
  }
  const nextId = identifyNode(next.config, localIPv4Addresses(), opts.nodeName ?? self);
  if (!nextId.ok || nextId.node.name !== self) {
    log.error("reload rejected: keeping the running config", {
      reason: nextId.ok ? `this node would become ${nextId.node.name}` : nextId.message,
    });
    node.reloads({ result: "rejected" });
    return;
  }
  // The same key rules as at start: a reload must not bring in what a start would refuse.
  const keyChecks = [
    checkSampleKey(next.config, opts.listen ?? next.config.web.listen),
    checkKeyContinuity(next.config, opts.stateDir, { configHow: opts.configHow, acceptNewKey: opts.acceptNewKey === true, record: false }),
    checkHost(opts.configFile),
  ];
  for (const check of keyChecks) {
    if (!check.ok) {
      log.error("reload rejected: keeping the running config", { reason: check.message.replace(/^not starting: /, "") });
      node.reloads({ result: "rejected" });
      return;
    }
    for (const w of check.warnings) log.warn(w);
  }
  if (!(await supervisor.reload(next.config))) {
    node.reloads({ result: "rejected" });
    return;
  }
  node.config = next.config;
  const recorded = checkKeyContinuity(next.config, opts.stateDir, { configHow: opts.configHow, acceptNewKey: true });
  if (recorded.ok) for (const w of recorded.warnings) if (w.startsWith("cannot record")) log.warn(w);
  node.reloads({ result: "ok" });
  log.info("config reloaded", { file: opts.configFile, console: reachableConsole(node.console.url(), localIPv4Addresses()) });
  if (optimizingCompilerOff() && configRunsMirror(next.config)) {
    log.warn("a mirror module now runs on a daemon started without the runtime's optimizing compiler (it had no mirror module then): restart vigil for the mirror's full speed");
  }
}
