import { join } from "node:path";
import { identifyNode, localIPv4Addresses } from "../config/identify.ts";
import { formatConfigError } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import { loadConfigToStart } from "./start-config.ts";
import type { VigilConfig } from "../config/types.ts";
import { VERSION } from "../version.ts";
import { createConsoleApp } from "../../web/app.ts";
import { commandTokenFor } from "../api/command-token.ts";
import { serveFetch, parseListen, type RunningServer } from "./http-server.ts";
import type { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { HeartbeatEngine } from "./heartbeat/engine.ts";
import { heartbeatSetup } from "./heartbeat/setup.ts";
import { type ArbiterLinkHandle, openArbiterLink } from "./module/arbiter-link.ts";
import { startFenceWatchdog } from "./fence/watchdog.ts";
import { ModuleEngine } from "./module/engine.ts";
import { moduleConfigKey, moduleSetup, moduleSharedKey } from "./module/setup.ts";
import type { ModuleCommandOutcome, ModuleControl } from "../api/modules.ts";
import { VrrpEngine } from "./vrrp/engine.ts";
import { vrrpSetup } from "./vrrp/setup.ts";
import { acquireStateLock } from "./state-lock.ts";
import type { PeerStatus } from "../api/status.ts";
import { buildStatus } from "./status.ts";

export interface DaemonOptions {
  configFile: string;
  /** How the config file was found, for the log ("flag", "env", "etc", "media"). */
  configHow: string;
  nodeName?: string | undefined;
  stateDir: string;
  listen?: string | undefined;
  log: Logger;
}

/**
 * The driver: owns the clock, the servers and the signals, and (as the
 * engines arrive) feeds their events to the pure cores. Resolves with the
 * process exit code once stopped.
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { log } = opts;
  const initial = loadConfigToStart(opts.configFile, log);
  if (initial === null) return 1;
  let config: VigilConfig = initial;
  const id = identifyNode(config, localIPv4Addresses(), opts.nodeName);
  if (!id.ok) {
    log.error(id.message);
    return 1;
  }
  const self = id.node;

  // Signals are taken before the lock, the first thing a stop must undo: from
  // here on a stop is always a clean one, also in the middle of start-up
  // (start-up then stops at its next step and undoes what has started).
  let stopWith: ((signal: string) => void) | undefined;
  let reloadWith: (() => void) | undefined;
  let stopAsked: string | undefined;
  const onStopSignal = (signal: string): void => {
    if (stopWith !== undefined) stopWith(signal);
    else stopAsked ??= signal;
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGTERM", () => onStopSignal("SIGTERM")],
    ["SIGINT", () => onStopSignal("SIGINT")],
    ["SIGHUP", () => {
      if (reloadWith !== undefined) reloadWith();
      else log.warn("SIGHUP during start-up ignored: the config being started is the one just read; send SIGHUP again after \"vigil started\" to reload");
    }],
  ];
  for (const [sig, fn] of handlers) process.on(sig, fn);
  const unhook = (): void => {
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };

  const lock = acquireStateLock(opts.stateDir);
  if (!lock.ok) {
    unhook();
    log.error(lock.message);
    return 1;
  }

  const startedAt = new Date();
  const metrics = new Metrics();
  const reloads = metrics.counter("vigil_config_reloads_total", "Config reloads by result (ok, rejected).");
  const info = metrics.gauge("vigil_info", "Version, node and cluster of this daemon; always 1.");
  const uptime = metrics.gauge("vigil_uptime_seconds", "Seconds since the daemon started.");
  const peersKnown = metrics.gauge("vigil_peers_configured", "Peers named in the config.");

  let heartbeat: HeartbeatEngine | undefined;
  let modules: ModuleEngine | undefined;
  const startHeartbeat = async (cfg: VigilConfig): Promise<string | undefined> => {
    const hb = heartbeatSetup(cfg, self.name, log, metrics);
    if (!hb.ok) return hb.message;
    if (hb.options === undefined) {
      log.info("heartbeats off", { reason: hb.why });
      return undefined;
    }
    const engine = new HeartbeatEngine({
      ...hb.options,
      // Through `modules` as it is at each call: the module engine may be restarted by a reload.
      modules: () => modules?.adverts() ?? [],
      onPeer: (node, liveness) => {
        modules?.peer(node, liveness);
        // A BACKUP whose MASTER is that node need not wait out Master_Down_Interval.
        if (liveness === "dead") vrrp?.peerDead(node, cfg.cluster.nodes.find((n) => n.name === node)?.addresses ?? []);
      },
      onFrame: (node, adverts) => modules?.frame(node, adverts),
    });
    try {
      await engine.start();
    } catch (e) {
      return (e as Error).message;
    }
    heartbeat = engine;
    const t = cfg.cluster.heartbeat;
    log.info("heartbeats on", {
      links: hb.options.links.length,
      port: t.port,
      interval_ms: t.interval,
      deadtime_ms: t.deadtime,
      initdead_ms: t.initdead,
    });
    return undefined;
  };
  let vrrp: VrrpEngine | undefined;
  const startVrrp = async (cfg: VigilConfig): Promise<string | undefined> => {
    const vr = vrrpSetup(cfg, self.name, log, metrics);
    if (!vr.ok) return vr.message;
    if (vr.options === undefined) return undefined;
    const engine = new VrrpEngine(vr.options);
    try {
      await engine.start();
    } catch (e) {
      return (e as Error).message;
    }
    vrrp = engine;
    log.info("vrrp on", { instances: cfg.vrrp.map((v) => v.name).join(" ") });
    return undefined;
  };
  let arbiter: ArbiterLinkHandle | undefined;
  const startModules = (cfg: VigilConfig): string | undefined => {
    void arbiter?.close();
    arbiter = undefined;
    // The fencing watchdog's PID in the state dir: a restart after a crash ends the old one.
    const arb = openArbiterLink(cfg, self.name, log, metrics, undefined, () => startFenceWatchdog(log, { pidFile: join(opts.stateDir, "fence-watchdog.pid") }));
    if (!arb.ok) return arb.message;
    arbiter = arb.handle;
    const ms = moduleSetup(cfg, opts.configFile, self.name, opts.stateDir, log, metrics, arbiter === undefined ? {} : { arbiter: arbiter.link, fencePlan: arbiter.fencePlan });
    if (!ms.ok) return ms.message;
    if (ms.options === undefined) return undefined;
    // Through `heartbeat` as it is at each call: a reload may restart it.
    const engine = new ModuleEngine({ ...ms.options, onPublish: () => heartbeat?.publish() });
    modules = engine;
    // Peers the heartbeat already hears (a reload restarts only the modules).
    const known = heartbeat?.view().peers.map((p) => ({ name: p.name, liveness: p.state })) ?? [];
    engine.start(known);
    log.info("modules on", { modules: engine.names.join(" ") });
    return undefined;
  };
  /** Stable for the console: commands go to whichever module engine runs now. */
  const moduleControl: ModuleControl = {
    statuses: () => modules?.statuses() ?? [],
    command: (req): Promise<ModuleCommandOutcome> =>
      modules?.command(req) ??
        Promise.resolve({ ok: false, module: req.module, command: req.command, detail: "no failover modules run on this node", nodes: [] }),
  };
  const peerStatus = (): Map<string, PeerStatus> | undefined => {
    if (!heartbeat) return undefined;
    return new Map(heartbeat.view().peers.map((p) => [p.name, {
      name: p.name,
      addresses: p.links.map((l) => l.address),
      state: p.state,
      links: p.links.map((l) => ({ address: l.address, state: l.state, lastHeardMsAgo: l.lastHeardMsAgo === null ? null : Math.round(l.lastHeardMsAgo) })),
      rttMs: p.rttMs,
      badFrames: p.badFrames,
    }]));
  };

  let listen = opts.listen ?? config.web.listen;
  /** Where the console really listens (port 0 in the config picks a free one). */
  let boundWhere = listen;
  const status = () =>
    buildStatus({
      config,
      configFile: opts.configFile,
      self,
      stateDir: opts.stateDir,
      listen: boundWhere,
      startedAt,
      now: new Date(),
      events: log.recent.toArray(),
      ...(heartbeat ? { peers: peerStatus() as Map<string, PeerStatus> } : {}),
      ...(vrrp ? { vrrp: vrrp.status() } : {}),
      ...(modules ? { modules: modules.statuses() } : {}),
    });
  const consoleDeps = {
    status,
    modules: moduleControl,
    metrics: () => {
      info(1, { version: VERSION, node: self.name, cluster: config.cluster.name });
      uptime((Date.now() - startedAt.getTime()) / 1000);
      peersKnown(config.cluster.nodes.length - 1);
      return metrics.render();
    },
  };
  // Two instances of one app: module commands on the network listener need
  // the token derived from the cluster key; on the control socket (mode 0600) they do not.
  const app = createConsoleApp({ ...consoleDeps, commands: "token", commandToken: () => commandTokenFor(config) });
  const socketApp = createConsoleApp({ ...consoleDeps, commands: "socket" });

  const servers: RunningServer[] = [];
  let web: RunningServer;
  const stopModulesAndTell = async (): Promise<void> => {
    if (modules === undefined) return;
    await modules.stop();
    // The STOP advert goes out with the next frames (the stopped engine still
    // lists it); give them time to leave before the heartbeat goes quiet.
    if (heartbeat !== undefined) await new Promise((r) => setTimeout(r, Math.min(2_000, 2 * config.cluster.heartbeat.interval + 50)));
    modules = undefined;
  };
  /** Stops whatever runs (all of it, or what start-up got to) in order, and resolves with exit code 0. */
  const stopAll = async (signal: string, listening: readonly RunningServer[]): Promise<number> => {
    log.info("stopping", { signal });
    // VRRP first, so a backup takes the VIPs over after its skew time.
    // Modules before the heartbeat: peers see STOP in our frames and take
    // over at once, instead of waiting out the deadtime of a silence.
    await Promise.all([vrrp?.stop(), stopModulesAndTell()]);
    await Promise.all(listening.map((s) => s.close()));
    await heartbeat?.stop();
    lock.release();
    log.info("vigil stopped", { node: self.name });
    unhook();
    return 0;
  };
  /** Undoes a start-up that could not finish; exit code 1. */
  const giveUp = async (message: string): Promise<number> => {
    log.error(message);
    await Promise.all(servers.map((s) => s.close()));
    await modules?.stop();
    await vrrp?.stop();
    await heartbeat?.stop();
    lock.release();
    unhook();
    return 1;
  };
  const hbError = await startHeartbeat(config);
  if (hbError !== undefined) return await giveUp(hbError);
  if (stopAsked !== undefined) return await stopAll(stopAsked, servers);
  const vrrpError = await startVrrp(config);
  if (vrrpError !== undefined) return await giveUp(vrrpError);
  if (stopAsked !== undefined) return await stopAll(stopAsked, servers);
  // After the heartbeat, so the modules hear peers from the first frame on.
  const modulesError = startModules(config);
  if (modulesError !== undefined) return await giveUp(modulesError);
  try {
    servers.push(await serveFetch(socketApp.fetch, { path: join(opts.stateDir, "vigil.sock") }));
    if (stopAsked !== undefined) return await stopAll(stopAsked, servers);
    web = await serveFetch(app.fetch, parseListen(listen));
    boundWhere = web.where;
  } catch (e) {
    return await giveUp((e as Error).message);
  }

  log.info("vigil started", {
    version: VERSION,
    node: self.name,
    identified_by: id.how,
    cluster: config.cluster.name,
    config: opts.configFile,
    config_found_by: opts.configHow,
    state_dir: opts.stateDir,
    console: `http://${web.where}/`,
    pid: process.pid,
  });

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      resolve(await stopAll(signal, [...servers, web]));
    };
    const reload = async (): Promise<void> => {
      const next = loadConfigFile(opts.configFile);
      if (!next.ok) {
        for (const e of next.errors) log.error("config error", { detail: formatConfigError(e) });
        log.error("reload rejected: keeping the running config", { file: opts.configFile, errors: next.errors.length });
        reloads({ result: "rejected" });
        return;
      }
      const nextId = identifyNode(next.config, localIPv4Addresses(), opts.nodeName ?? self.name);
      if (!nextId.ok || nextId.node.name !== self.name) {
        log.error("reload rejected: keeping the running config", {
          reason: nextId.ok ? `this node would become ${nextId.node.name}` : nextId.message,
        });
        reloads({ result: "rejected" });
        return;
      }
      const nextListen = opts.listen ?? next.config.web.listen;
      if (nextListen !== listen) {
        try {
          const moved = await serveFetch(app.fetch, parseListen(nextListen));
          await web.close();
          web = moved;
          listen = nextListen;
          boundWhere = web.where;
        } catch (e) {
          log.error("reload rejected: keeping the running config", { reason: (e as Error).message });
          reloads({ result: "rejected" });
          return;
        }
      }
      if (JSON.stringify(next.config.cluster) !== JSON.stringify(config.cluster)) {
        // Membership timers, links or keys changed: restart the engine with a
        // new epoch, which peers see as a restart, not as a replay.
        await heartbeat?.stop();
        heartbeat = undefined;
        const err = await startHeartbeat(next.config);
        if (err !== undefined) {
          log.error("heartbeats could not restart with the new config; restoring the old one", { reason: err });
          reloads({ result: "rejected" });
          const back = await startHeartbeat(config);
          if (back !== undefined) log.error("heartbeats are off", { reason: back });
          return;
        }
      }
      if (JSON.stringify(next.config.vrrp) !== JSON.stringify(config.vrrp)) {
        await vrrp?.stop();
        vrrp = undefined;
        const err = await startVrrp(next.config);
        if (err !== undefined) {
          log.error("vrrp could not restart with the new config; restoring the old one", { reason: err });
          reloads({ result: "rejected" });
          const back = await startVrrp(config);
          if (back !== undefined) log.error("vrrp is off", { reason: back });
          return;
        }
      }
      if (modules !== undefined && moduleConfigKey(next.config) !== moduleConfigKey(config) && moduleSharedKey(next.config) === moduleSharedKey(config)) {
        // Only modules changed: restart those, leave the others running untouched.
        const ms = moduleSetup(next.config, opts.configFile, self.name, opts.stateDir, log, metrics, arbiter === undefined ? {} : { arbiter: arbiter.link, fencePlan: arbiter.fencePlan });
        if (!ms.ok) {
          log.error("reload rejected: keeping the running modules", { reason: ms.message });
          reloads({ result: "rejected" });
          return;
        }
        if (ms.options === undefined) {
          await modules.stop();
          modules = undefined;
          log.info("modules off", { reason: ms.why });
        } else {
          const r = await modules.reload(ms.options.modules);
          log.info("modules reloaded", { kept: r.kept.join(" "), restarted: r.restarted.join(" "), added: r.added.join(" "), removed: r.removed.join(" ") });
        }
      } else if (moduleConfigKey(next.config) !== moduleConfigKey(config)) {
        // Stopping runs every module's stop scripts here; peers take over meanwhile.
        log.info("modules changed: restarting the module engine");
        await modules?.stop();
        modules = undefined;
        const err = startModules(next.config);
        if (err !== undefined) {
          log.error("modules could not restart with the new config; restoring the old one", { reason: err });
          reloads({ result: "rejected" });
          const back = startModules(config);
          if (back !== undefined) log.error("modules are off", { reason: back });
          return;
        }
      }
      config = next.config;
      reloads({ result: "ok" });
      log.info("config reloaded", { file: opts.configFile, console: `http://${web.where}/` });
    };
    stopWith = (signal) => void stop(signal);
    reloadWith = () => void reload();
    // Asked between the last start-up step and here.
    if (stopAsked !== undefined) stopWith(stopAsked);
  });
}
