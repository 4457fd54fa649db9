/**
 * `vigil status`: asks the running daemon over its control socket and prints
 * the answer. Kept apart from the config and check code of commands.ts, so a
 * monitoring script that calls it every few seconds loads only this.
 */
import type { StatusSnapshot } from "../api/status.ts";
import { DEFAULT_STATE_DIR } from "../api/state-dirs.ts";
import { askDaemon } from "./control-client.ts";
import type { Io } from "./io.ts";
import { formatStatus } from "./status-table.ts";
import { EXIT } from "./verbs.ts";

type Values = Record<string, string | boolean | undefined>;

export async function cmdStatus(v: Values, io: Io): Promise<number> {
  const json = v["json"] === true;
  // With --json a script reads stdout: a failure is JSON there too, never text it cannot parse.
  const fail = (reason: string, message: string, code: number): number => {
    if (json) io.out(JSON.stringify({ ok: false, reason, error: message }, null, 2));
    else io.err(message);
    return code;
  };
  const stateDir = typeof v["state-dir"] === "string" ? v["state-dir"] : DEFAULT_STATE_DIR;
  const reply = await askDaemon(stateDir, "GET", "/api/status");
  if (!reply.ok) return fail("daemon-unreachable", reply.message, EXIT.daemonUnreachable);
  if (reply.status !== 200) return fail("daemon-error", `the daemon answered ${reply.status}: ${JSON.stringify(reply.body)}`, EXIT.failed);
  io.out(json ? JSON.stringify(reply.body, null, 2) : formatStatus(reply.body as StatusSnapshot));
  return EXIT.ok;
}
