import { formatDuration } from "../config/duration.ts";
import type { ModuleCommandOutcome, OperatorCommand } from "../api/modules.ts";
import { DEFAULT_COMMAND_TIMEOUT_MS, parseCommandTimeout } from "../api/command-request.ts";
import { DEFAULT_STATE_DIR } from "../api/state-dirs.ts";
import { askDaemon } from "./control-client.ts";
import { type Io, UsageError } from "./io.ts";
import { formatOutcome } from "./outcome-text.ts";
import { EXIT } from "./verbs.ts";
import { forceprimRefusal } from "../api/refusals.ts";

type Values = Record<string, string | boolean | undefined>;

/** Beyond the command's own timeout, for the daemon to answer that it missed it. */
const ANSWER_MARGIN_MS = 10_000;

/** One sentence a line, so a terminal does not wrap mid-phrase. */
const FORCEPRIM_REFUSAL = forceprimRefusal({ yes: "--yes", prim: "`vigil prim`" }).replace(/\. /g, ".\n");

/**
 * `vigil swap|stop|start|restart|prim|second|forceprim MODULE`: asks the
 * local daemon over the control socket and waits for the cluster's answer.
 */
export async function cmdModuleCommand(command: OperatorCommand, v: Values, positionals: string[], io: Io): Promise<number> {
  const module = positionals[0] ?? "";
  if (module === "") throw new UsageError("MODULE must not be empty");
  const timeoutText = typeof v["timeout"] === "string" ? v["timeout"] : undefined;
  let timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS;
  if (timeoutText !== undefined) {
    const t = parseCommandTimeout(timeoutText);
    if (!t.ok) throw new UsageError(`--${t.error}`);
    timeoutMs = t.ms;
  }
  const yes = v["yes"] === true;
  if (command === "forceprim" && !yes) {
    io.err(FORCEPRIM_REFUSAL);
    return EXIT.failed;
  }
  const stateDir = typeof v["state-dir"] === "string" ? v["state-dir"] : DEFAULT_STATE_DIR;
  const path = `/api/modules/${encodeURIComponent(module)}/${command}`;
  const reply = await askDaemon(stateDir, "POST", path, { yes, timeout: formatDuration(timeoutMs) }, timeoutMs + ANSWER_MARGIN_MS);
  if (!reply.ok) {
    io.err(reply.message);
    return EXIT.daemonUnreachable;
  }
  if ((reply.status === 200 || reply.status === 409) && isOutcome(reply.body)) {
    const o = reply.body;
    if (v["json"] === true) io.out(JSON.stringify(o, null, 2));
    else (o.ok ? io.out : io.err)(formatOutcome(o));
    return o.ok ? EXIT.ok : EXIT.failed;
  }
  const error = errorOf(reply.body) ?? `the daemon answered ${reply.status}: ${JSON.stringify(reply.body)}`;
  io.err(`vigil ${command}: ${error}`);
  // 400 and 404 mean the command line named something that is not there.
  return reply.status === 400 || reply.status === 404 ? EXIT.usage : EXIT.failed;
}

function isOutcome(body: unknown): body is ModuleCommandOutcome {
  if (typeof body !== "object" || body === null) return false;
  const o = body as Record<string, unknown>;
  return typeof o["ok"] === "boolean" && typeof o["detail"] === "string" && Array.isArray(o["nodes"]);
}

function errorOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const e = (body as Record<string, unknown>)["error"];
  return typeof e === "string" ? e : undefined;
}
