/**
 * `vigil witness`: the arbiter process on a third machine. It reads the same
 * vigil.yaml as the nodes (cluster name, key, node and module names, lease
 * terms) but is not a node itself.
 *
 * State dir: the lock (one arbiter per dir), the control socket
 * `witness.sock`, and `witness-clean-stop`: written at a clean stop when no
 * lease was running or in grace, and removed (durably) at the next start.
 * Only when it was there does the arbiter grant at once; otherwise (first
 * start, crash, stop while leases ran) it keeps the quiet period, since a
 * lease it granted before may still be in use.
 */
import { closeSync, existsSync, fsyncSync, openSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { VigilConfig } from "../../config/types.ts";
import { loadConfigToStart } from "../start-config.ts";
import type { WitnessConfig } from "../../core/witness.ts";
import { WITNESS_DEFAULT_PORT } from "../../proto/witness.ts";
import { readKeyFile } from "../../sys/keyfile.ts";
import { VERSION } from "../../version.ts";
import { parseListen, type RunningServer, serveFetch } from "../http-server.ts";
import { keepEveryStderrLine, type Logger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { acquireStateLock } from "../state-lock.ts";
import { createWitnessApp } from "./app.ts";
import { WitnessServer } from "./server.ts";

const CLEAN_STOP_FILE = "witness-clean-stop";

export interface WitnessDaemonOptions {
  configFile: string;
  configHow: string;
  stateDir: string;
  /** UDP address:port to answer on; default: the config's witness.listen. */
  listen?: string | undefined;
  /** Also serve the status API on this TCP address:port. */
  http?: string | undefined;
  log: Logger;
}

/** Where the arbiter listens by default: witness.listen, else every address on the arbiter's port. */
export function witnessListen(config: VigilConfig): string {
  if (config.witness !== undefined) return config.witness.listen;
  const a = config.cluster.witness.arbiter;
  return `0.0.0.0:${a === undefined ? WITNESS_DEFAULT_PORT : a.slice(a.lastIndexOf(":") + 1)}`;
}

/** The arbiter core's config from vigil.yaml: every node may ask, for any configured module. */
export function witnessCoreConfig(config: VigilConfig): WitnessConfig {
  return {
    nodes: config.cluster.nodes.map((n) => n.name),
    modules: config.modules.map((m) => m.name),
    leaseMs: config.cluster.witness.lease,
    graceMs: config.cluster.witness.grace,
  };
}

/** Resolves with the exit code once stopped (0) or when it cannot start (1). */
export async function runWitness(opts: WitnessDaemonOptions): Promise<number> {
  const { log } = opts;
  const config = loadConfigToStart(opts.configFile, log);
  if (config === null) return 1;
  const c = config.cluster;
  if (c.key_file === undefined) {
    log.error(`${opts.configFile}: cluster.key_file is not set: the arbiter only answers requests signed with the cluster key; create one with \`vigil keygen vigil.key\` and set cluster.key_file`);
    return 1;
  }
  const key = readKeyFile(c.key_file);
  if (!key.ok) {
    log.error(key.message);
    return 1;
  }
  for (const w of key.warnings) log.warn(w);
  if (c.witness.arbiter === undefined) {
    log.warn("cluster.witness.arbiter is not set: the nodes of this config will not ask this arbiter; set it to this machine's address:port", { file: opts.configFile });
  }
  const listen = opts.listen ?? witnessListen(config);

  const lock = acquireStateLock(opts.stateDir);
  if (!lock.ok) {
    log.error(lock.message);
    return 1;
  }
  // Signals are taken from here on: the runtime may install a handler only
  // after a turn of the event loop, and a stop asked during start-up must
  // still be a clean one.
  let stopWith: ((signal: string) => void) | undefined;
  let stopAsked: string | undefined;
  const onStopSignal = (signal: string): void => {
    if (stopWith !== undefined) stopWith(signal);
    else stopAsked ??= signal;
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGTERM", () => onStopSignal("SIGTERM")],
    ["SIGINT", () => onStopSignal("SIGINT")],
    ["SIGHUP", () => log.warn("SIGHUP: the arbiter does not reload its config; restart it to apply a new one (it then grants nothing for lease + grace)")],
  ];
  for (const [sig, fn] of handlers) process.on(sig, fn);
  const unhook = (): void => {
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };
  const cleanStop = join(opts.stateDir, CLEAN_STOP_FILE);
  const quiet = !consumeCleanStop(cleanStop);

  const startedAt = new Date();
  const metrics = new Metrics();
  const info = metrics.gauge("vigil_witness_info", "Version and cluster of this arbiter; always 1.");
  const server = new WitnessServer({ cluster: c.name, key: key.key, witness: witnessCoreConfig(config), listen: parseListen(listen), log, metrics, quiet });
  const app = createWitnessApp({
    status: () => ({ role: "witness", version: VERSION, startedAt: startedAt.toISOString(), ...server.status(), events: log.recent.toArray() }),
    metrics: () => {
      info(1, { version: VERSION, cluster: c.name });
      return metrics.render();
    },
    log,
  });
  const servers: RunningServer[] = [];
  try {
    await server.start();
    servers.push(await serveFetch(app.fetch, { path: join(opts.stateDir, "witness.sock") }, undefined, log));
    if (opts.http !== undefined) servers.push(await serveFetch(app.fetch, parseListen(opts.http), undefined, log));
  } catch (e) {
    log.error((e as Error).message);
    await Promise.all(servers.map((s) => s.close()));
    await server.stop();
    unhook();
    lock.release();
    return 1;
  }
  const where = server.endpoint();
  const t = witnessCoreConfig(config);
  log.info("vigil witness started", {
    version: VERSION,
    cluster: c.name,
    listen: `${where.address}:${where.port}`,
    nodes: t.nodes.join(" "),
    modules: (t.modules ?? []).join(" ") || "(none)",
    lease_ms: t.leaseMs,
    grace_ms: t.graceMs,
    quiet_ms: quiet ? t.leaseMs + t.graceMs : 0,
    config: opts.configFile,
    config_found_by: opts.configHow,
    state_dir: opts.stateDir,
    ...(opts.http === undefined ? {} : { http: servers[1]?.where ?? opts.http }),
    pid: process.pid,
  });

  return await new Promise<number>((resolve) => {
    let stopping = false;
    stopWith = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        keepEveryStderrLine();
        log.info("stopping", { signal });
        const idle = server.idle();
        await server.stop();
        if (idle) markCleanStop(cleanStop, log);
        else log.info("leases were still running: the next start keeps the quiet period", { quiet_ms: t.leaseMs + t.graceMs });
        await Promise.all(servers.map((s) => s.close()));
        lock.release();
        log.info("vigil witness stopped");
        unhook();
        resolve(0);
      })();
    };
    if (stopAsked !== undefined) stopWith(stopAsked);
  });
}

/** True if the last run stopped cleanly with no lease out; the mark is gone (durably) afterwards. */
function consumeCleanStop(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    unlinkSync(file);
    syncDir(file.slice(0, file.lastIndexOf("/")) || "/");
    return true;
  } catch {
    // Could not remove it: a later crash would find it again, so do not trust it.
    return false;
  }
}

function markCleanStop(file: string, log: Logger): void {
  try {
    writeFileSync(file, `${new Date().toISOString()}\n`, { mode: 0o600 });
    const fd = openSync(file, "r");
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    log.warn("could not record the clean stop; the next start keeps the quiet period", { file, error: (e as Error).message });
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems cannot fsync a directory; the unlink itself happened.
  }
}
