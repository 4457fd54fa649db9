/**
 * The lines the daemon writes to its fencing watchdog process (one JSON
 * object per line on the child's stdin), and their checking.
 *
 *   {"type":"arm","module":"web","inMs":1500,
 *    "vips":[{"address":"198.51.100.100","interface":"eth0"}],
 *    "stops":[{"command":"/etc/vigil/stop.sh","args":[],"timeoutMs":10000,"env":{"VIGIL_MODULE":"web"}}]}
 *   {"type":"disarm","module":"web"}
 *   {"type":"logfile","path":"/var/lib/vigil/vigil.log","format":"text"}
 *
 * The deadline travels as "this many ms from now", and the child adds its
 * own clock on receipt: no clock is shared between the two processes (Bun's
 * process.hrtime and every runtime's performance.now() count from their own
 * process's start). The child reads its stdin at once whenever it runs, so
 * the pipe adds well under a millisecond.
 *
 * An arm replaces the module's earlier arm; `stops` are run in the order
 * given (the daemon lists them in reverse start order).
 *
 * `logfile` names the daemon's log file and its line format: once the
 * daemon is gone, nobody reads the child's stderr, and what it fenced is
 * written there instead (child-log-file.ts).
 */

import type { FencePlan, FenceStop, FenceVip } from "../../core/fence/plan.ts";

export type { FencePlan, FenceStop, FenceVip } from "../../core/fence/plan.ts";

/** The daemon's handle on its fencing watchdog (watchdog.ts starts one). */
export interface FenceWatchdog {
  /** Arm (or move) `module`'s deadline to `inMs` from now. */
  arm(module: string, inMs: number, plan: FencePlan): void;
  disarm(module: string): void;
  /** Closes the child's stdin: it fences what is still armed at once, then leaves. */
  close(): void;
}

export type FenceMessage =
  | ({ readonly type: "arm"; readonly module: string; readonly inMs: number } & FencePlan)
  | { readonly type: "disarm"; readonly module: string }
  | { readonly type: "logfile"; readonly path: string; readonly format: "text" | "json" };

export type FenceParse = { ok: true; message: FenceMessage } | { ok: false; message: string };

export function encodeFenceMessage(m: FenceMessage): string {
  return JSON.stringify(m);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === "string" && v !== "";

function parseVip(v: unknown, i: number): FenceVip | string {
  if (!isRecord(v) || !isText(v["address"]) || !isText(v["interface"])) return `vips[${i}] needs "address" and "interface" strings`;
  return { address: v["address"], interface: v["interface"] };
}

function parseStop(v: unknown, i: number): FenceStop | string {
  if (!isRecord(v) || !isText(v["command"])) return `stops[${i}] needs a "command" string`;
  const args = v["args"] ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) return `stops[${i}].args must be a list of strings`;
  const timeoutMs = v["timeoutMs"];
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) return `stops[${i}].timeoutMs must be a positive number of ms`;
  const env = v["env"] ?? {};
  if (!isRecord(env) || !Object.values(env).every((x) => typeof x === "string")) return `stops[${i}].env must map names to strings`;
  return { command: v["command"], args: args as string[], timeoutMs, env: env as Record<string, string> };
}

/** Checks one line; a bad one gets a one-line reason. */
export function parseFenceMessage(line: string): FenceParse {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, message: `not JSON: ${JSON.stringify(line.slice(0, 80))}` };
  }
  if (!isRecord(v)) return { ok: false, message: "not a JSON object" };
  if (v["type"] === "logfile") {
    const path = v["path"];
    const format = v["format"] ?? "text";
    if (!isText(path) || !path.startsWith("/")) return { ok: false, message: `logfile message: "path" must be an absolute path` };
    if (format !== "text" && format !== "json") return { ok: false, message: `logfile message: "format" must be "text" or "json"` };
    return { ok: true, message: { type: "logfile", path, format } };
  }
  const module = v["module"];
  if (!isText(module)) return { ok: false, message: `${String(v["type"])} message without a "module" name` };
  if (v["type"] === "disarm") return { ok: true, message: { type: "disarm", module } };
  if (v["type"] !== "arm") return { ok: false, message: `unknown message type ${JSON.stringify(v["type"])} for module ${module} (arm or disarm)` };
  const inMs = v["inMs"];
  if (typeof inMs !== "number" || !Number.isFinite(inMs)) return { ok: false, message: `arm of ${module}: "inMs" must be a number (ms from now)` };
  const vipsIn = v["vips"] ?? [];
  const stopsIn = v["stops"] ?? [];
  if (!Array.isArray(vipsIn) || !Array.isArray(stopsIn)) return { ok: false, message: `arm of ${module}: "vips" and "stops" must be lists` };
  const vips: FenceVip[] = [];
  for (const [i, x] of vipsIn.entries()) {
    const p = parseVip(x, i);
    if (typeof p === "string") return { ok: false, message: `arm of ${module}: ${p}` };
    vips.push(p);
  }
  const stops: FenceStop[] = [];
  for (const [i, x] of stopsIn.entries()) {
    const p = parseStop(x, i);
    if (typeof p === "string") return { ok: false, message: `arm of ${module}: ${p}` };
    stops.push(p);
  }
  return { ok: true, message: { type: "arm", module, inMs, vips, stops } };
}
