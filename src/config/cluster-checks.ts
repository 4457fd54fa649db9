/** Cross-field rules of the cluster section: heartbeat timer sanity, unique nodes and addresses. */
import { DEFAULTS } from "./defaults.ts";
import { formatDuration } from "./duration.ts";
import { ipv4ToNumber, isIPv4 } from "./formats.ts";
import { resolveHeartbeatTimers, type ResolvedTimers, type TimerKey } from "./heartbeat-timers.ts";
import type { Problem } from "./problem.ts";
import { items, rec, str } from "./raw.ts";

function timerProblems(hb: unknown): Problem[] {
  const r = resolveHeartbeatTimers(hb);
  if (r === undefined) return [];
  const { interval, warntime, deadtime, initdead } = r.timers;
  const fmt = formatDuration;
  const shown = (k: TimerKey, r: ResolvedTimers): string => {
    const v = JSON.stringify(fmt(r.timers[k]));
    if (r.source[k] === "explicit") return v;
    return r.source[k] === "preset" ? `${v} (from preset ${r.preset})` : `${v} (the default for this interval)`;
  };
  const at = (k: TimerKey): Problem["path"] => ["cluster", "heartbeat", k];
  const out: Problem[] = [];
  if (interval < DEFAULTS.heartbeat.minInterval) {
    out.push({ path: at("interval"), at: "value", found: shown("interval", r), expected: `at least ${fmt(DEFAULTS.heartbeat.minInterval)}` });
    return out;
  }
  if (deadtime < 2 * interval) {
    out.push({
      path: at("deadtime"), at: "value", found: shown("deadtime", r),
      expected: `at least 2 x interval = ${fmt(2 * interval)}, so one lost frame is not a death; 5 x interval = ${fmt(5 * interval)} is recommended`,
    });
  } else if (!(warntime > interval && warntime < deadtime)) {
    out.push({
      path: at("warntime"), at: "value", found: shown("warntime", r),
      expected: `more than interval (${fmt(interval)}) and less than deadtime (${fmt(deadtime)})`,
    });
  }
  if (initdead < deadtime) {
    out.push({ path: at("initdead"), at: "value", found: shown("initdead", r), expected: `at least deadtime (${fmt(deadtime)})` });
  }
  return out;
}

function isUnicast(a: string): boolean {
  const n = ipv4ToNumber(a);
  return n >= 0x01000000 && n < 0xe0000000;
}

function nodeProblems(nodes: unknown[]): Problem[] {
  const out: Problem[] = [];
  const names = new Map<string, number>();
  const owners = new Map<string, string>();
  let reference: { index: number; name: string; count: number } | undefined;
  nodes.forEach((n, i) => {
    const node = rec(n);
    const name = str(node["name"]);
    const label = `nodes[${i}]${name === undefined ? "" : ` (${name})`}`;
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) {
        out.push({
          path: ["cluster", "nodes", i, "name"], at: "value",
          found: `${JSON.stringify(name)} again (also nodes[${first}])`, expected: "a name no other node has",
        });
      } else names.set(name, i);
    }
    const addresses = node["addresses"];
    if (!Array.isArray(addresses)) return;
    addresses.forEach((a, k) => {
      if (typeof a !== "string" || !isIPv4(a)) return;
      const where: Problem["path"] = ["cluster", "nodes", i, "addresses", k];
      const owner = owners.get(a);
      if (owner !== undefined) {
        out.push({
          path: where, at: "value",
          found: `${JSON.stringify(a)}, which ${owner} already has`, expected: "an address no other node or link uses",
        });
      } else owners.set(a, label);
      if (!isUnicast(a)) {
        out.push({ path: where, at: "value", found: JSON.stringify(a), expected: "a unicast address (not 0.x.x.x, multicast or broadcast)" });
      }
    });
    if (reference === undefined) {
      reference = { index: i, name: name ?? "?", count: addresses.length };
    } else if (addresses.length !== reference.count && addresses.length > 0) {
      out.push({
        path: ["cluster", "nodes", i, "addresses"], at: "value",
        found: `${addresses.length} address${addresses.length === 1 ? "" : "es"}`,
        expected: `${reference.count}, one per heartbeat link, as nodes[${reference.index}] (${reference.name}) has`,
      });
    }
  });
  return out;
}

function linkProblems(hb: unknown, nodes: unknown[]): Problem[] {
  const links = items(rec(hb)["links"]);
  const count = items(rec(nodes[0])["addresses"]).length;
  const out: Problem[] = [];
  if (count > 0 && links.length > count) {
    out.push({
      path: ["cluster", "heartbeat", "links", count], at: "value", found: `${links.length} link entries`,
      expected: `at most ${count}, one per node address (each node has ${count})`,
    });
  }
  links.forEach((l, i) => {
    const link = rec(l);
    const mode = str(link["mode"]);
    const at = (k: string): Problem["path"] => ["cluster", "heartbeat", "links", i, k];
    const group = str(link["group"]);
    const broadcast = str(link["broadcast"]);
    if (mode === "multicast") {
      if (group === undefined) out.push({ path: ["cluster", "heartbeat", "links", i], at: "value", found: "mode multicast without a group", expected: "a group: key, like group: 224.0.0.94" });
      else if (isIPv4(group) && (ipv4ToNumber(group) >>> 28) !== 0xe) out.push({ path: at("group"), at: "value", found: JSON.stringify(group), expected: "a multicast group in 224.0.0.0/4, like 224.0.0.94" });
    }
    if (mode === "broadcast" && broadcast === undefined) {
      out.push({ path: ["cluster", "heartbeat", "links", i], at: "value", found: "mode broadcast without a broadcast address", expected: "a broadcast: key, like broadcast: 198.51.100.255" });
    }
    if (mode !== "multicast" && group !== undefined) out.push({ path: at("group"), at: "key", found: `group with mode ${mode ?? "unicast"}`, expected: "group only with mode: multicast" });
    if (mode !== "broadcast" && broadcast !== undefined) out.push({ path: at("broadcast"), at: "key", found: `broadcast with mode ${mode ?? "unicast"}`, expected: "broadcast only with mode: broadcast" });
  });
  return out;
}

export function clusterProblems(cluster: unknown): Problem[] {
  const c = rec(cluster);
  const nodes = items(c["nodes"]);
  return [...timerProblems(c["heartbeat"]), ...nodeProblems(nodes), ...linkProblems(c["heartbeat"], nodes)];
}

/** Names of the well-formed nodes, for checks elsewhere that refer to nodes. */
export function nodeNames(cluster: unknown): string[] {
  const names = items(rec(cluster)["nodes"]).flatMap((n) => {
    const name = str(rec(n)["name"]);
    return name === undefined ? [] : [name];
  });
  return [...new Set(names)];
}
