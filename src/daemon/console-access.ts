/**
 * The login of the network console as the daemon runs it: users from the
 * live config (or the first-start admin), the names the Host check accepts,
 * the API token when console.api_token is on, and the audit log.
 */
import { commandTokenFor } from "../api/command-token.ts";
import type { VigilConfig } from "../config/types.ts";
import { ConsoleAuth } from "../../web/auth/console-auth.ts";
import { normalizedNames } from "../../web/auth/host-check.ts";
import { consoleAudit } from "./console-audit.ts";
import { hostCheckNames } from "./console-names.ts";
import { consoleUsers, initialUser } from "./console-users.ts";
import { parseListen } from "./http-server.ts";
import type { Logger } from "./log.ts";

export interface AccessOptions {
  /** The config at start (config() may not be callable yet while the engines are being built). */
  start: VigilConfig;
  config: () => VigilConfig;
  /** Where the console listens now ("0.0.0.0:9010"). */
  listen: () => string;
  self: { name: string; addresses: string[] };
  stateDir: string;
  log: Logger;
}

/** Interface addresses can come and go (DHCP, a VIP): the accepted names are recomputed this often. */
const NAMES_REFRESH_MS = 10_000;

export function networkConsoleAuth(o: AccessOptions): ConsoleAuth {
  const configured = o.start.console?.users ?? [];
  let initial: ReturnType<typeof initialUser> | undefined;
  const firstAdmin = () => {
    if (initial === undefined) {
      initial = initialUser(o.stateDir);
      if (initial.ok) {
        o.log.info("console: no users in console.users, so user admin logs in with the password in this file (set your own users with `vigil passwd`)", { file: initial.file, made: initial.made });
      } else {
        o.log.error("console: no one can log in", { reason: initial.message });
      }
    }
    return initial.ok ? initial.user : undefined;
  };
  if (configured.length === 0) firstAdmin();

  let names: { at: number; config: VigilConfig; set: ReadonlySet<string> } | undefined;
  return new ConsoleAuth({
    users: () => {
      const config = o.config();
      return consoleUsers(config, (config.console?.users.length ?? 0) === 0 ? firstAdmin() : undefined);
    },
    sessionTimeoutMs: () => o.config().console?.session_timeout ?? 8 * 3_600_000,
    allowedHosts: () => {
      const config = o.config();
      const now = Date.now();
      if (names === undefined || names.config !== config || now - names.at > NAMES_REFRESH_MS) {
        names = { at: now, config, set: normalizedNames(hostCheckNames(config, o.self, parseListen(o.listen()).host)) };
      }
      return names.set;
    },
    apiToken: () => (o.config().console?.api_token === true ? commandTokenFor(o.config()) : null),
    audit: consoleAudit(o.stateDir, o.log),
  });
}

/** What `vigil status` and /api/status say about the console. */
export function consoleStatus(c: { url(): string; tls(): { fingerprint: string; selfSigned: boolean; notAfter: string } | null }): {
  url: string;
  tls: { sha256: string; selfSigned: boolean; notAfter: string } | null;
} {
  const t = c.tls();
  return { url: c.url(), tls: t === null ? null : { sha256: t.fingerprint, selfSigned: t.selfSigned, notAfter: t.notAfter } };
}
