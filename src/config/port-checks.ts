/**
 * The ports one node holds, by the config alone, and the rule that no two
 * of them of one protocol are the same number (the second bind fails, or
 * the news path is lost without a word; udp-transport.ts, "News"):
 *
 * - UDP: the heartbeat port P; P + 1, which a node with news paths sends its
 *   news from (a deadtime of at least POLLED_FROM_DEADTIME_MS, so not the
 *   `fast` preset, and a unicast link); P + 3 with a farm module (its flow
 *   messages); and the witness's port when the witness runs on the nodes'
 *   host: its arbiter address or its listen address on loopback, which only
 *   that host reaches (a lab, a demo), or, as host-checks.ts finds on a node,
 *   an address of the node's own host (witnessHerePortProblems). An arbiter
 *   on a third machine may use any port, the news port's number included.
 * - TCP: the console (web.listen) and each mirror module's replication
 *   ports (one per folder from its port). Mirror modules among themselves,
 *   and a replication port equal to the heartbeat's, are module-checks'.
 *
 * Port 0 (a free port picked at bind) collides with nothing.
 */
import { DEFAULTS, FARM_FLOWS_PORT_OFFSET, NEWS_PORT_OFFSET, POLLED_FROM_DEADTIME_MS } from "./defaults.ts";
import { splitHostPort } from "./formats.ts";
import { resolveHeartbeatTimers } from "./heartbeat-timers.ts";
import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";
import { isRec, items, rec, str } from "./raw.ts";

interface Claim {
  port: number;
  /** What holds it, as the problem says it: "the heartbeat's news port (cluster.heartbeat.port + 1)". */
  what: string;
  path: Segment[];
  /** The key is written in the file (not a default): a problem is better shown there. */
  written: boolean;
}

const EXPECTED =
  "a port no other socket of a node uses: heartbeat port P, P + 1 (its news) and P + 3 (with a farm) in UDP, " +
  "with a witness on the nodes' host its port too; the console and each mirror folder's replication port in TCP";

/** Loopback: reached from its own host only, so a witness there runs beside the nodes. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host.startsWith("127.");
}

export function portProblems(data: unknown): Problem[] {
  const { udp, tcp } = portClaims(data, isLoopback);
  return [...clashes(udp, "UDP"), ...clashes(tcp, "TCP", (a, b) => a.what.startsWith("the replication port") && b.what.startsWith("the replication port"))];
}

/**
 * For a node whose host has the address of the arbiter (or of witness.listen)
 * that is no loopback one (`here`: that host's addresses): the witness's
 * port against this node's UDP ports. Loopback is portProblems' own case.
 */
export function witnessHerePortProblems(data: unknown, here: (host: string) => boolean): Problem[] {
  const { udp } = portClaims(data, (host) => !isLoopback(host) && here(host));
  return clashes(udp, "UDP").filter((p) => p.found.includes(WITNESS));
}

const WITNESS = "the witness on this host";

/** The ports one node holds, in claim order; the witness's when `local` says its address is on the node's host. */
function portClaims(data: unknown, local: (host: string) => boolean): { udp: Claim[]; tcp: Claim[] } {
  const config = rec(data);
  const cluster = rec(config["cluster"]);
  const hb = rec(cluster["heartbeat"]);
  const modules = items(config["modules"]).map(rec);
  const udp: Claim[] = [];
  const tcp: Claim[] = [];

  const hbWritten = typeof hb["port"] === "number";
  const p = hbWritten ? (hb["port"] as number) : DEFAULTS.heartbeat.port;
  const hbPath: Segment[] = ["cluster", "heartbeat", "port"];
  if (Number.isInteger(p) && p > 0 && items(cluster["nodes"]).length >= 2) {
    udp.push({ port: p, what: "the heartbeat port", path: hbPath, written: hbWritten });
    const timers = resolveHeartbeatTimers(hb);
    const unicast = items(hb["links"]).length === 0 || items(hb["links"]).some((l) => !isRec(l) || l["mode"] === undefined || l["mode"] === "unicast");
    if (timers !== undefined && timers.timers.deadtime >= POLLED_FROM_DEADTIME_MS && unicast) {
      udp.push({ port: p + NEWS_PORT_OFFSET, what: `the heartbeat's news port (cluster.heartbeat.port ${p} + ${NEWS_PORT_OFFSET})`, path: hbPath, written: hbWritten });
    }
    if (modules.some((m) => m["type"] === "farm")) {
      udp.push({ port: p + FARM_FLOWS_PORT_OFFSET, what: `the farm's flow port (cluster.heartbeat.port ${p} + ${FARM_FLOWS_PORT_OFFSET})`, path: hbPath, written: hbWritten });
    }
  }

  const w = rec(cluster["witness"]);
  const arbiter = typeof w["arbiter"] === "string" ? splitHostPort(w["arbiter"], 1) : undefined;
  const listenText = str(rec(config["witness"])["listen"]);
  const listen = listenText === undefined ? undefined : splitHostPort(listenText);
  if ((arbiter !== undefined && local(arbiter.host)) || (listen !== undefined && local(listen.host))) {
    const port = listen?.port ?? arbiter?.port;
    const path: Segment[] = listen !== undefined ? ["witness", "listen"] : ["cluster", "witness", "arbiter"];
    if (port !== undefined && port > 0) udp.push({ port, what: WITNESS, path, written: true });
  }

  const web = rec(config["web"]);
  const consoleAt = typeof web["listen"] === "string" ? splitHostPort(web["listen"]) : splitHostPort(DEFAULTS.web.listen);
  if (consoleAt !== undefined && consoleAt.port > 0) tcp.push({ port: consoleAt.port, what: "the console", path: ["web", "listen"], written: "listen" in web });

  modules.forEach((m, i) => {
    if (m["type"] !== "mirror") return;
    const written = typeof m["port"] === "number";
    const first = written ? (m["port"] as number) : DEFAULTS.module.mirror_port;
    const n = Math.max(1, items(m["replicate"]).length);
    const name = str(m["name"]);
    for (let k = 0; k < n && first + k <= 65535; k++) {
      const what = `the replication port of modules[${i}]${name === undefined ? "" : ` (${name})`}${n === 1 ? "" : ` folder ${k + 1}`}`;
      tcp.push({ port: first + k, what, path: written ? ["modules", i, "port"] : ["modules", i, "type"], written });
    }
  });

  return { udp, tcp };
}

/** Each later claim of a number already claimed, shown at the written one of the two (the later when both are). */
function clashes(claims: readonly Claim[], protocol: string, elsewhere: (a: Claim, b: Claim) => boolean = () => false): Problem[] {
  const out: Problem[] = [];
  claims.forEach((later, i) => {
    const first = claims.slice(0, i).find((c) => c.port === later.port);
    if (first === undefined || elsewhere(first, later)) return;
    const [shown, other] = later.written || !first.written ? [later, first] : [first, later];
    out.push({
      path: shown.path, at: "value",
      found: `${protocol} port ${shown.port} for ${shown.what}, which ${other.what} holds too`,
      expected: EXPECTED,
    });
  });
  return out;
}
