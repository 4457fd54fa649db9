/**
 * The console and the control socket as the supervisor runs them: the web
 * listener (web.listen, or --listen), over HTTPS unless console.tls is false,
 * and vigil.sock in the state dir, which the CLI talks to. A reload that moves
 * web.listen or changes the certificate binds anew before closing the old
 * listener, so a listener that cannot move rejects the reload and the console
 * stays where it was.
 */
import { join } from "node:path";
import type { VigilConfig } from "../config/types.ts";
import { consoleTls, type ConsoleTls } from "../sys/tls/console-cert.ts";
import { certificateNames } from "./console-names.ts";
import { type Engine, ReloadRejected } from "./engine.ts";
import { type FetchHandler, parseListen, type RunningServer, serveFetch } from "./http-server.ts";
import { CONTROL_SOCKET_LIMITS } from "./http-limits.ts";
import type { Logger } from "./log.ts";

export interface ConsoleOptions {
  readonly config: VigilConfig;
  /** --listen: overrides web.listen, also across reloads. */
  readonly listenFlag: string | undefined;
  readonly stateDir: string;
  readonly log: Logger;
  /** This node, for the names its certificate covers. */
  readonly self: { name: string; addresses: string[] };
  /** The app of the network listener (the login, web/auth/). */
  readonly network: FetchHandler;
  /** The app of the control socket (its file mode guards it). */
  readonly socket: FetchHandler;
}

export interface ConsoleTlsStatus {
  fingerprint: string;
  selfSigned: boolean;
  certFile: string;
  notAfter: string;
}

export type SupervisedConsole = Engine & {
  /** Where the console really listens (port 0 in the config picks a free one). */
  where(): string;
  /** "https://127.0.0.1:9010/" */
  url(): string;
  /** The certificate served, or null for plain HTTP. */
  tls(): ConsoleTlsStatus | null;
};

export function supervisedConsole(o: ConsoleOptions): SupervisedConsole {
  let config = o.config;
  let listen = o.listenFlag ?? config.web.listen;
  let boundWhere = listen;
  let control: RunningServer | undefined;
  let web: RunningServer | undefined;
  let served: ConsoleTls | null = null;

  /** The certificate a config asks for; throws with the reason when it cannot be had. */
  const tlsFor = (c: VigilConfig, where: string): ConsoleTls | null => {
    if (c.console?.tls === false) return null;
    const r = consoleTls({
      stateDir: o.stateDir,
      certFile: c.console?.cert,
      keyFile: c.console?.key,
      commonName: `vigil ${o.self.name} (${c.cluster.name})`,
      names: certificateNames(c, o.self, parseListen(where).host),
      now: new Date(),
    });
    if (!r.ok) throw new Error(`console: ${r.message}`);
    if (r.tls.generated) o.log.info("console: made a self-signed certificate", { file: r.tls.certFile, sha256: r.tls.fingerprint, not_after: r.tls.notAfter });
    return r.tls;
  };
  const bind = (where: string, tls: ConsoleTls | null) =>
    serveFetch(o.network, { ...parseListen(where), ...(tls === null ? {} : { tls: { cert: tls.cert, key: tls.key } }) }, undefined, o.log);

  return {
    name: "console",
    tier: "surface",
    async start(between = async () => {}) {
      // Three pieces, each tens of ms of the main thread on an idle host and several times that on a loaded
      // one; in one piece they held the heartbeat's rounds for 180-270 ms beside stress-ng (startup-pace.ts).
      served = tlsFor(config, listen);
      const host = parseListen(listen).host;
      if (served === null && !host.startsWith("127.")) {
        o.log.warn("console: plain HTTP on a network address (console.tls: false): logins and commands cross the network in clear; keep it behind a TLS proxy", { listen });
      }
      await between();
      control = await serveFetch(o.socket, { path: join(o.stateDir, "vigil.sock") }, CONTROL_SOCKET_LIMITS, o.log);
      await between();
      web = await bind(listen, served);
      boundWhere = web.where;
    },
    async stop() {
      const open = [control, web].filter((s): s is RunningServer => s !== undefined);
      control = undefined;
      web = undefined;
      await Promise.all(open.map((s) => s.close()));
    },
    async reload(next) {
      const nextListen = o.listenFlag ?? next.web.listen;
      try {
        const nextTls = tlsFor(next, nextListen);
        if (nextListen === listen && nextTls?.fingerprint === served?.fingerprint) {
          config = next;
          return "kept";
        }
        let moved: RunningServer;
        if (nextListen === listen) {
          // The same address with another certificate: it cannot be bound twice, so the old
          // listener goes first (on the port it got, for port 0) and comes back if the new one fails.
          await web?.close();
          try {
            moved = await bind(boundWhere, nextTls);
          } catch (e) {
            web = await bind(boundWhere, served);
            throw e;
          }
        } else {
          moved = await bind(nextListen, nextTls);
          await web?.close();
        }
        config = next;
        web = moved;
        listen = nextListen;
        served = nextTls;
        boundWhere = moved.where;
      } catch (e) {
        o.log.error("reload rejected: keeping the running config", { reason: (e as Error).message });
        throw new ReloadRejected((e as Error).message);
      }
      return "restarted";
    },
    status: () => ({}),
    where: () => boundWhere,
    url: () => `${served === null ? "http" : "https"}://${boundWhere}/`,
    tls: () => (served === null ? null : { fingerprint: served.fingerprint, selfSigned: served.selfSigned, certFile: served.certFile, notAfter: served.notAfter }),
  };
}
