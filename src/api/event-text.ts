/**
 * Each event in words for the console: a sentence an operator reads without
 * knowing the field names, and which module and node it concerns (for the
 * filters). The fields stay as they are, for the detail view and the log file.
 */
import type { LogEvent } from "./status.ts";

type Fields = LogEvent["fields"];

/** What a role means for the service on the node that has it. */
export const ROLE_WORDS: Record<string, string> = {
  PRIM: "runs here",
  ALONE: "runs here without a partner",
  SECOND: "stands by here with a current copy",
  WAIT: "not running here",
  STOP: "stopped here",
};

const REASON_WORDS: Record<string, string> = {
  "first-heard": "first heartbeat received",
  "heard-again": "heartbeats received again",
  restarted: "its daemon restarted",
  "silent-warntime": "no heartbeat within the warning time",
  "silent-deadtime": "no heartbeat within the deadtime",
  "initdead-expired": "not heard since start-up",
  "link-heard": "heartbeats arrive on it",
  "link-silent": "no heartbeat on it within the deadtime",
  startup: "start-up",
  "cleanup-done": "start-up cleanup done",
  elected: "elected",
  "peer-dead": "the peer is dead",
  "peers-unknown": "peers not heard yet",
  "isolated-witness-ok": "isolated, but the witness is reachable",
  "isolated-no-witness": "isolated and no witness reachable",
  conflict: "both nodes claimed it",
  failback: "failback to the preferred node",
  "takeover-request": "the other node asked to take it",
  handover: "handed over",
  operator: "operator command",
  shutdown: "daemon stopping",
  forced: "forceprim",
  checker: "a checker failed",
  "wait-checker": "a wait checker failed",
  "data-not-current": "this copy of the data is not current",
  "start-failed": "a start failed",
  "stop-failed": "a stop failed",
  "lease-lost": "the lease was lost",
  fenced: "fenced",
  "peer-primary": "the peer runs it",
  "peer-up": "the peer came up",
  standby: "standing by",
};

function str(f: Fields, key: string): string | undefined {
  const v = f[key];
  return v === undefined || v === null || v === "" ? undefined : String(v);
}

function reasonWords(f: Fields): string | undefined {
  const r = str(f, "reason");
  return r === undefined ? undefined : (REASON_WORDS[r] ?? r);
}

function sentence(s: string): string {
  const t = s.trim();
  if (t === "") return t;
  // The product's name is written in lower case, also at the start of a sentence.
  const capped = t.startsWith("vigil ") ? t : t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capped) ? capped : `${capped}.`;
}

/** A sentence that starts with a name (a module's): its case is kept. */
function finish(s: string): string {
  const t = s.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

function withWhy(head: string, ...why: (string | undefined)[]): string {
  const parts = why.filter((w): w is string => w !== undefined && w !== "");
  return sentence(parts.length === 0 ? head : `${head} (${parts.join("; ")})`);
}

type Describer = (m: RegExpMatchArray, f: Fields) => string;

const DESCRIBERS: readonly [RegExp, Describer][] = [
  [/^peer (\S+) up$/, (m, f) => withWhy(`peer ${m[1]} is up`, reasonWords(f))],
  [/^peer (\S+) late$/, (m, f) => withWhy(`peer ${m[1]} is late (not yet counted dead)`, reasonWords(f), str(f, "detail"))],
  [/^peer (\S+) dead$/, (m, f) => withWhy(`peer ${m[1]} is dead: nothing heard on any link`, reasonWords(f), str(f, "detail"))],
  [/^peer (\S+) stopped$/, (m) => sentence(`peer ${m[1]} stopped cleanly (it said goodbye)`)],
  [/^link (\d+) to (\S+) (up|down)$/, (m, f) => withWhy(`heartbeat link ${m[1]} to ${m[2]} is ${m[3]}`, reasonWords(f))],
  [/^module (\S+) (\S+) -> (\S+)$/, (m, f) => withWhy(
    `module ${m[1]} went ${m[2]} → ${m[3]}: ${ROLE_WORDS[m[3] ?? ""] ?? m[3]}`, reasonWords(f), str(f, "detail"))],
  [/^module (\S+) (start|stop) (.+) ok$/, (m) => sentence(`module ${m[1]}: ${m[3]} ${m[2] === "start" ? "started" : "stopped"}`)],
  [/^module (\S+) (start|stop) (.+) failed$/, (m, f) => withWhy(`module ${m[1]}: ${m[2]} of ${m[3]} failed`, str(f, "detail"))],
  [/^module (\S+) command (\S+)$/, (m, f) => withWhy(`module ${m[1]}: command ${m[2]} received`, str(f, "source") ?? str(f, "from"))],
  [/^module (\S+) command (\S+) (done|failed)$/, (m, f) => withWhy(`module ${m[1]}: command ${m[2]} ${m[3]}`, str(f, "detail"))],
  [/^this node ran late;/, (_m, f) => sentence(
    `this node ran late by ${str(f, "gap_ms") ?? "?"} ms; peer deadlines were stretched by ${str(f, "credited_ms") ?? "?"} ms so the delay is not blamed on peers`)],
  [/^this node ran late \d+ times?/, (_m, _f) => ""],
  [/^vrrp (\S+) (\S+)$/, (m, f) => withWhy(`VRRP instance ${m[1]}: ${m[2]}`, reasonWords(f), str(f, "detail"))],
  // The health watch's alarms carry the module's summary, which is already a sentence.
  [/^module (\S+) runs (nowhere|again)$/, (m, f) => finish(str(f, "detail") ?? `module ${m[1]} runs ${m[2]}`)],
  [/^this node is isolated:/, (_m, f) => sentence(str(f, "detail") ?? "this node is isolated: it hears no peer on any link")],
  [/^vigil started$/, (_m, f) => sentence(
    `vigil ${str(f, "version") ?? ""} started as node ${str(f, "node") ?? "?"} of cluster ${str(f, "cluster") ?? "?"}, config ${str(f, "config") ?? "?"}`.replace("vigil  ", "vigil "))],
  [/^vigil stopped$/, () => "vigil stopped on this node."],
];

/** The event's sentence; unknown messages read as their message and their reason or detail. */
export function describeEvent(msg: string, fields: Fields): string {
  for (const [re, describe] of DESCRIBERS) {
    const m = msg.match(re);
    if (m === null) continue;
    const s = describe(m, fields);
    if (s !== "") return s;
    break;
  }
  return withWhy(msg, reasonWords(fields), str(fields, "detail") ?? str(fields, "error"));
}

/** The module an event concerns, for the console's filter; undefined when none. */
export function eventModule(fields: Fields): string | undefined {
  return str(fields, "module");
}

/** The peer an event concerns; undefined means this node. */
export function eventPeer(fields: Fields): string | undefined {
  return str(fields, "peer");
}
