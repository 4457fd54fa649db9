/**
 * Who sent a module command, for the daemon's log line of it: the HTTP
 * client's address (and the console user) for the network listener; for the
 * control socket, what the client says of itself (`vigil` sends its PID and
 * UID in x-vigil-client). The socket is mode 0600, so only root (or the
 * daemon's own user) can reach it; its peer credentials are not available
 * to the HTTP server of every runtime, which is why the client tells.
 */
import type { Context } from "hono";
import { printable } from "./auth/audit.ts";
import { connInfo } from "./auth/conn-info.ts";
import { identityOf } from "./auth/identity.ts";
import type { CommandAccess } from "./command-auth.ts";

export const CLIENT_HEADER = "x-vigil-client";

export function commandSource(c: Context, access: CommandAccess): string {
  if (access === "socket") {
    const said = c.req.header(CLIENT_HEADER);
    return said === undefined || said.trim() === "" ? "control socket (the client did not say who it is)" : `control socket (${printable(said.trim(), 80)}, as the client says)`;
  }
  const who = identityOf(c.req.raw);
  const address = connInfo(c.env).remoteAddress;
  return who === undefined ? `http from ${address}` : `http from ${address} (user ${printable(who.user)})`;
}
