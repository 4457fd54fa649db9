/** Cross-field rules of one module checker: one kind, keys that fit that kind and its on_fail, a restart window that can fill up. */
import { DEFAULTS } from "./defaults.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { pollTimingProblems } from "./duration-checks.ts";
import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";
import { int, isRec, str } from "./raw.ts";
import { kindProblems } from "./vrrp-checks.ts";

/** The kinds a checker entry can have; pidfile may come with process (the name the PID must have). */
export const CHECKER_KINDS = ["tcp", "http", "process", "pidfile", "ping", "interface", "file", "custom", "script"] as const;

export type CheckerKindKey = (typeof CHECKER_KINDS)[number];

/** Keys that belong to some kinds only. */
const KIND_KEYS: Readonly<Record<string, readonly CheckerKindKey[]>> = {
  status: ["http"],
  body: ["http"],
  tls_verify: ["http"],
  min: ["process"],
  protocol: ["ping"],
  port: ["ping"],
  exists: ["file"],
  contains: ["file"],
  args: ["custom", "script"],
};

const RESTART_ONLY = ["then", "restarts", "restart_window"] as const;

/** The entry's kind, once kindProblems found exactly one. */
export function checkerKind(c: Record<string, unknown>): CheckerKindKey | undefined {
  if ("pidfile" in c) return "pidfile";
  return CHECKER_KINDS.find((k) => k in c);
}

/** on_fail as written, else the kind's default: wait for "can this node serve?" checks, restart for the rest. */
export function defaultOnFail(kind: CheckerKindKey | undefined): "wait" | "restart" {
  return (DEFAULTS.checker.wait_kinds as readonly string[]).includes(kind ?? "") ? "wait" : "restart";
}

function ms(v: unknown, fallback: number): number | undefined {
  if (v === undefined) return fallback;
  return typeof v === "string" ? parseDuration(v) : undefined;
}

function restartWindowProblems(c: Record<string, unknown>, path: Segment[]): Problem[] {
  const window = ms(c["restart_window"], DEFAULTS.checker.restart_window);
  const interval = ms(c["interval"], DEFAULTS.checker.interval);
  const fall = c["fall"] === undefined ? DEFAULTS.checker.fall : int(c["fall"]);
  const restarts = c["restarts"] === undefined ? DEFAULTS.checker.restarts : int(c["restarts"]);
  if (window === undefined || interval === undefined || fall === undefined || restarts === undefined) return [];
  // Each restart needs `fall` failed checks first; if restarts + 1 of those cannot fit in the window, old
  // restarts leave the window before the limit is reached and the module is restarted forever.
  const needed = (restarts + 1) * fall * interval;
  if (window >= needed) return [];
  return [{
    path: [...path, "restart_window"], at: c["restart_window"] === undefined ? "key" : "value",
    found: `${formatDuration(window)}${c["restart_window"] === undefined ? " (the default)" : ""}`,
    expected: `at least (restarts + 1) x fall x interval = ${restarts + 1} x ${fall} x ${formatDuration(interval)} = ${formatDuration(needed)}, ` +
      "or the restarts never add up to the limit and the module is restarted forever",
  }];
}

export function checkerProblems(c: unknown, path: Segment[]): Problem[] {
  if (!isRec(c)) return [];
  // With a pidfile, process names the program the PID must be; it is not a second kind.
  const probe = "pidfile" in c && "process" in c ? Object.fromEntries(Object.entries(c).filter(([k]) => k !== "process")) : c;
  const kind = [...kindProblems(probe, path, CHECKER_KINDS), ...pollTimingProblems(c, path)];
  if (kind.length > 0) return kind;
  const own = checkerKind(c);
  const out: Problem[] = [];
  for (const [key, kinds] of Object.entries(KIND_KEYS)) {
    if (!(key in c) || kinds.includes(own as CheckerKindKey)) continue;
    if (key === "min" && own === "pidfile") {
      out.push({ path: [...path, key], at: "key", found: "min with a pidfile", expected: "min only with process by name (a pidfile holds one PID)" });
      continue;
    }
    out.push({ path: [...path, key], at: "key", found: `${key} on a ${own} checker`, expected: `${key} only on ${kinds.join(" or ")} checkers` });
  }
  const protocol = str(c["protocol"]) ?? DEFAULTS.checker.protocol;
  if (own === "ping" && protocol !== "icmp" && !("port" in c)) {
    out.push({ path: [...path, "protocol"], at: "value", found: `protocol ${protocol} without a port`, expected: `port: N as well, the ${protocol} port to probe` });
  }
  if (own === "ping" && protocol === "icmp" && "port" in c) {
    out.push({ path: [...path, "port"], at: "key", found: "port with ICMP ping", expected: "port only with protocol: tcp or udp" });
  }
  if (own === "file" && c["exists"] === false && "contains" in c) {
    out.push({ path: [...path, "contains"], at: "key", found: "contains with exists: false", expected: "either exists: false (healthy while absent) or contains, not both" });
  }
  const onFail = str(c["on_fail"]) ?? defaultOnFail(own);
  if (onFail !== "restart") {
    const why = c["on_fail"] === undefined ? ` (the default for ${own})` : "";
    for (const key of RESTART_ONLY) {
      if (key in c) out.push({ path: [...path, key], at: "key", found: `${key} with on_fail: ${onFail}${why}`, expected: `${key} only with on_fail: restart` });
    }
  } else out.push(...restartWindowProblems(c, path));
  return out;
}
