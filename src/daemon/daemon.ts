import { join } from "node:path";
import { identifyNode, localIPv4Addresses } from "../config/identify.ts";
import { formatConfigError } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import type { VigilConfig } from "../config/types.ts";
import { VERSION } from "../version.ts";
import { createConsoleApp } from "../../web/app.ts";
import { serveFetch, parseListen, type RunningServer } from "./http-server.ts";
import type { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { HeartbeatEngine } from "./heartbeat-engine.ts";
import { heartbeatSetup } from "./heartbeat-setup.ts";
import { VrrpEngine } from "./vrrp-engine.ts";
import { vrrpSetup } from "./vrrp-setup.ts";
import { acquireStateLock } from "./state-lock.ts";
import type { PeerStatus } from "./status-types.ts";
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
  const loaded = loadConfigFile(opts.configFile);
  if (!loaded.ok) {
    for (const e of loaded.errors) log.error("config error", { detail: formatConfigError(e) });
    log.error("not starting: the config has errors", { file: opts.configFile, errors: loaded.errors.length });
    return 1;
  }
  let config: VigilConfig = loaded.config;
  const id = identifyNode(config, localIPv4Addresses(), opts.nodeName);
  if (!id.ok) {
    log.error(id.message);
    return 1;
  }
  const self = id.node;

  const lock = acquireStateLock(opts.stateDir);
  if (!lock.ok) {
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
  const startHeartbeat = async (cfg: VigilConfig): Promise<string | undefined> => {
    const hb = heartbeatSetup(cfg, self.name, log, metrics);
    if (!hb.ok) return hb.message;
    if (hb.options === undefined) {
      log.info("heartbeats off", { reason: hb.why });
      return undefined;
    }
    const engine = new HeartbeatEngine(hb.options);
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
    });
  const app = createConsoleApp({
    status,
    metrics: () => {
      info(1, { version: VERSION, node: self.name, cluster: config.cluster.name });
      uptime((Date.now() - startedAt.getTime()) / 1000);
      peersKnown(config.cluster.nodes.length - 1);
      return metrics.render();
    },
  });

  const servers: RunningServer[] = [];
  let web: RunningServer;
  const hbError = await startHeartbeat(config);
  if (hbError !== undefined) {
    log.error(hbError);
    lock.release();
    return 1;
  }
  const vrrpError = await startVrrp(config);
  if (vrrpError !== undefined) {
    log.error(vrrpError);
    await heartbeat?.stop();
    lock.release();
    return 1;
  }
  try {
    servers.push(await serveFetch(app.fetch, { path: join(opts.stateDir, "vigil.sock") }));
    web = await serveFetch(app.fetch, parseListen(listen));
    boundWhere = web.where;
  } catch (e) {
    log.error((e as Error).message);
    await Promise.all(servers.map((s) => s.close()));
    await vrrp?.stop();
    await heartbeat?.stop();
    lock.release();
    return 1;
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
      log.info("stopping", { signal });
      // First, so a backup takes the VIPs over after its skew time.
      await vrrp?.stop();
      await Promise.all([...servers, web].map((s) => s.close()));
      await heartbeat?.stop();
      lock.release();
      log.info("vigil stopped", { node: self.name });
      for (const [sig, fn] of handlers) process.off(sig, fn);
      resolve(0);
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
      config = next.config;
      reloads({ result: "ok" });
      log.info("config reloaded", { file: opts.configFile, console: `http://${web.where}/` });
    };
    const handlers: [NodeJS.Signals, () => void][] = [
      ["SIGTERM", () => void stop("SIGTERM")],
      ["SIGINT", () => void stop("SIGINT")],
      ["SIGHUP", () => void reload()],
    ];
    for (const [sig, fn] of handlers) process.on(sig, fn);
  });
}
