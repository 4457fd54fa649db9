/** Cross-field rules of VRRP instances: unique names and vrids, advert timing per version, priorities per node, tracks. */
import { DEFAULTS } from "./defaults.ts";
import { pollTimingProblems } from "./duration-checks.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { splitCidr } from "./formats.ts";
import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";
import { int, isRec, items, str } from "./raw.ts";
import { FirstUse } from "./uniqueness.ts";

export const TRACK_KINDS = ["process", "script", "interface", "file"] as const;
const SCRIPT_ONLY = ["interval", "timeout", "fall", "rise"] as const;

/** Exactly one kind key per entry; `onlyWith` keys need that kind. Shared by tracks and checkers. */
export function kindProblems(
  entry: unknown,
  path: Segment[],
  kinds: readonly string[],
  onlyWith?: { kind: string; keys: readonly string[] },
): Problem[] {
  if (!isRec(entry)) return [];
  const present = kinds.filter((k) => k in entry);
  const list = `${kinds.slice(0, -1).join(", ")} or ${kinds.at(-1)}`;
  if (present.length === 0) {
    return [{ path, at: "value", found: `an entry without ${list}`, expected: `exactly one of ${list}`, yieldsToInner: true }];
  }
  if (present.length > 1) {
    return [{
      path: [...path, present[1] as string], at: "key",
      found: `both ${present[0]} and ${present[1]} in one entry`,
      expected: `exactly one of ${list} per entry (make one entry per condition)`,
    }];
  }
  if (onlyWith === undefined || present[0] === onlyWith.kind) return [];
  return onlyWith.keys.filter((k) => k in entry).map((k) => ({
    path: [...path, k], at: "key" as const,
    found: `${k} on a ${present[0]} entry`,
    expected: `${onlyWith.keys.join(", ")} only on ${onlyWith.kind} entries`,
  }));
}

function advertProblem(inst: Record<string, unknown>, i: number): Problem | undefined {
  const version = int(inst["version"]) ?? DEFAULTS.vrrp.version;
  const raw = str(inst["advert_int"]);
  const ms = raw === undefined ? DEFAULTS.vrrp.advert_int : parseDuration(raw);
  if (ms === undefined || (version !== 2 && version !== 3)) return undefined;
  const path: Segment[] = ["vrrp", i, "advert_int"];
  const found = JSON.stringify(formatDuration(ms));
  if (version === 3 && (ms % 10 !== 0 || ms < 10 || ms > 40_950)) {
    return { path, at: "value", found, expected: "10ms to 40.95s in steps of 10ms (VRRPv3 counts centiseconds)" };
  }
  if (version === 2 && (ms % 1000 !== 0 || ms < 1000 || ms > 255_000)) {
    return { path, at: "value", found, expected: "whole seconds from 1s to 255s (VRRPv2), or version: 3 for sub-second adverts" };
  }
  return undefined;
}

function priorityProblems(priority: unknown, i: number, nodes: readonly string[]): Problem[] {
  if (!isRec(priority) || nodes.length === 0) return [];
  const out: Problem[] = [];
  const known = nodes.join(", ");
  for (const name of Object.keys(priority)) {
    if (!nodes.includes(name)) {
      out.push({ path: ["vrrp", i, "priority", name], at: "key", found: `unknown node "${name}"`, expected: `a node name: ${known}` });
    }
  }
  const missing = nodes.filter((n) => !(n in priority));
  if (missing.length > 0) {
    out.push({
      path: ["vrrp", i, "priority"], at: "value",
      found: `no priority for ${missing.join(", ")}`, expected: `a priority for every node (${known}), or one number for all`,
    });
  }
  return out;
}

function unicastSrcProblems(src: unknown, i: number, nodes: readonly string[]): Problem[] {
  if (!isRec(src) || nodes.length === 0) return [];
  return Object.keys(src).filter((name) => !nodes.includes(name)).map((name) => ({
    path: ["vrrp", i, "unicast_src_ip", name], at: "key" as const, found: `unknown node "${name}"`, expected: `a node name: ${nodes.join(", ")}`,
  }));
}

function preemptProblem(inst: Record<string, unknown>, i: number): Problem | undefined {
  if (inst["nopreempt"] !== true || inst["preempt"] !== true) return undefined;
  return {
    path: ["vrrp", i, "nopreempt"], at: "key",
    found: "nopreempt: true beside preempt: true", expected: "one of them: nopreempt is keepalived's spelling of preempt: false",
  };
}

/** A sync group of one instance synchronises nothing: most likely a typo in the other member's group name. */
function syncGroupProblems(vrrp: unknown): Problem[] {
  const members = new Map<string, number[]>();
  items(vrrp).forEach((x, i) => {
    const group = isRec(x) ? str(x["sync_group"]) : undefined;
    if (group !== undefined) members.set(group, [...(members.get(group) ?? []), i]);
  });
  const out: Problem[] = [];
  for (const [group, at] of members) {
    if (at.length !== 1) continue;
    const i = at[0] as number;
    out.push({
      path: ["vrrp", i, "sync_group"], at: "value",
      found: `sync group ${JSON.stringify(group)} with this instance only`,
      expected: "the same sync_group on at least two instances (check the other instance's spelling)",
    });
  }
  return out;
}

export function vrrpProblems(vrrp: unknown, nodes: readonly string[]): Problem[] {
  const out: Problem[] = [];
  const names = new FirstUse("a name no other VRRP instance has");
  const vrids = new FirstUse("a vrid no other instance uses on this interface");
  const vips = new FirstUse("each virtual address in one VRRP instance only");
  const push = (p: Problem | undefined) => p !== undefined && out.push(p);
  items(vrrp).forEach((x, i) => {
    if (!isRec(x)) return;
    const name = str(x["name"]);
    const owner = `vrrp[${i}]${name === undefined ? "" : ` (${name})`}`;
    if (name !== undefined) push(names.claim(name, JSON.stringify(name), owner, ["vrrp", i, "name"]));
    const vrid = int(x["vrid"]);
    const ifname = str(x["interface"]);
    if (vrid !== undefined && ifname !== undefined) {
      push(vrids.claim(`${ifname}/${vrid}`, `${vrid} on ${ifname}`, owner, ["vrrp", i, "vrid"]));
    }
    push(advertProblem(x, i));
    if (x["authentication"] !== undefined && (int(x["version"]) ?? DEFAULTS.vrrp.version) === 3) {
      out.push({
        path: ["vrrp", i, "authentication"], at: "key",
        found: "authentication on a version 3 instance", expected: "no authentication (VRRPv3 has none), or version: 2",
      });
    }
    out.push(...priorityProblems(x["priority"], i, nodes));
    out.push(...unicastSrcProblems(x["unicast_src_ip"], i, nodes));
    push(preemptProblem(x, i));
    items(x["vips"]).forEach((v, k) => {
      const cidr = typeof v === "string" ? splitCidr(v) : undefined;
      if (cidr !== undefined) push(vips.claim(cidr.address, JSON.stringify(v), owner, ["vrrp", i, "vips", k]));
    });
    items(x["track"]).forEach((t, k) => {
      out.push(...kindProblems(t, ["vrrp", i, "track", k], TRACK_KINDS, { kind: "script", keys: SCRIPT_ONLY }));
      out.push(...pollTimingProblems(t, ["vrrp", i, "track", k]));
    });
  });
  out.push(...syncGroupProblems(vrrp));
  return out;
}
