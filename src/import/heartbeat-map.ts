/**
 * Heartbeat's ha.cf, haresources and authkeys into vigil.yaml: nodes and
 * links, timers, the ping nodes as the witness, and each haresources line
 * as a failover module (its first node preferred, its resources in order).
 */
import { isIPv4 } from "../config/formats.ts";
import { ImportError, whereText, type Where } from "./import-error.ts";
import type { Directive, HeartbeatSource } from "./heartbeat-parse.ts";
import type { ImportResult } from "./import-result.ts";
import { modulesOf } from "./heartbeat-resources.ts";
import { nameOf, secondsToDuration } from "./values.ts";
import { comment, entry, type YEntry, ymap } from "./yaml-out.ts";

const at = (d: Directive, text: string): string => `${whereText(d.where)}: ${d.words.slice(0, 3).join(" ")}${d.words.length > 3 ? " ..." : ""}: ${text}`;

/** ha.cf times: seconds, or with ms / s. */
function timeMs(d: Directive): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(d.words[1] ?? "");
  if (m === null) throw new ImportError(d.where, `${d.words[0]} needs a time like 2 (seconds) or 500ms, not "${d.words[1] ?? ""}"`);
  return Math.round(Number(m[1]) * (m[2] === "ms" ? 1 : 1000));
}

const OTHER: Record<string, string> = {
  logfile: "vigil logs to stderr (the journal) and to vigil.log in its state dir",
  debugfile: "vigil logs to stderr (the journal) and to vigil.log in its state dir",
  logfacility: "vigil logs to stderr (the journal under systemd), not to syslog directly",
  use_logd: "vigil logs to stderr (the journal under systemd)",
  debug: "vigil logs every state change; `vigil run --log-format json` for machine-readable logs",
  respawn: "vigil runs no helper processes of Heartbeat's (ipfail's job is done by the ping witness)",
  apiauth: "vigil has no Heartbeat API; its control socket is root-only",
  crm: "with crm (Pacemaker) haresources is not used; vigil cannot import a CIB: write the modules by hand",
  pacemaker: "vigil cannot import a Pacemaker CIB: write the modules by hand",
  watchdog: "vigil's fencing is the lease watchdog with an arbiter (cluster.witness.arbiter), not the kernel watchdog",
  realtime: "vigil asks for real-time scheduling itself when its timers are tight",
  baud: "vigil has no serial links; use a second network link (a crossover cable)",
  serial: "vigil has no serial links; use a second network link (a crossover cable)",
  compression: "vigil's frames are small; no compression",
  traditional_compression: "vigil's frames are small; no compression",
  autojoin: "vigil's nodes are the ones in cluster.nodes",
  uuidfrom: "vigil names nodes by cluster.nodes[].name",
  deadping: "vigil's ping witness is checked when a peer falls silent, with the heartbeat's timing",
  hopfudge: "vigil's unicast links need no hop counting",
  coredumps: "no such setting in vigil",
  conn_logd_time: "no logd in vigil",
  msgfmt: "vigil's frames have one format",
};

interface Link {
  iface: string;
  kind: "ucast" | "bcast" | "mcast";
  ucast: string[];
  group?: string;
  directive: Directive;
}

function placeholder(link: number, node: number): string {
  return `192.0.2.${10 + link * 20 + node + 1}`;
}

export function mapHeartbeat(src: HeartbeatSource, addresses: Map<string, string[]>): ImportResult {
  const warnings: string[] = [];
  const clusterNotes: string[] = [];
  const nodes: string[] = [];
  const links: Link[] = [];
  const timers: Record<string, { ms: number; d: Directive }> = {};
  let port: { value: number; d: Directive } | undefined;
  let failback: { value: string; d: Directive } | undefined;
  const ping: string[] = [];
  const pingNotes: string[] = [];

  for (const d of src.haCf) {
    const [k = "", ...args] = d.words;
    switch (k) {
      case "node":
        if (args.length === 0) throw new ImportError(d.where, "node needs at least one name");
        for (const n of args) nodes.push(n);
        break;
      case "ucast": case "bcast": case "mcast": {
        const ifaces = k === "bcast" ? args : args.slice(0, 1);
        if (ifaces.length === 0) throw new ImportError(d.where, `${k} needs an interface`);
        for (const iface of ifaces) {
          let link = links.find((l) => l.iface === iface);
          if (link === undefined) {
            link = { iface, kind: k, ucast: [], directive: d };
            links.push(link);
          }
          if (k === "ucast") {
            const ip = args[1];
            if (ip === undefined || !isIPv4(ip)) throw new ImportError(d.where, `ucast needs an interface and an IPv4 address, like ucast eth0 198.51.100.12`);
            link.ucast.push(ip);
          } else if (k === "mcast") {
            const group = args[1];
            if (group === undefined || !isIPv4(group)) throw new ImportError(d.where, "mcast needs an interface and a group, like mcast eth0 225.0.0.1 694 1 0");
            link.group = group;
            if (args[3] !== undefined && args[3] !== "1") clusterNotes.push(at(d, `TTL ${args[3]}: vigil sends multicast heartbeats with TTL 1 (one segment)`));
            if (args[2] !== undefined && port !== undefined && args[2] !== String(port.value)) clusterNotes.push(at(d, `port ${args[2]}: vigil has one heartbeat port for every link (cluster.heartbeat.port)`));
          }
        }
        break;
      }
      case "keepalive": case "deadtime": case "warntime": case "initdead":
        timers[k] = { ms: timeMs(d), d };
        break;
      case "udpport": {
        const p = Number(args[0]);
        if (!/^\d+$/.test(args[0] ?? "") || p < 1 || p > 65535) throw new ImportError(d.where, `udpport needs a port from 1 to 65535, not "${args[0] ?? ""}"`);
        port = { value: p, d };
        break;
      }
      case "auto_failback":
        failback = { value: (args[0] ?? "").toLowerCase(), d };
        if (!["on", "off", "legacy", "yes", "no", "true", "false"].includes(failback.value)) throw new ImportError(d.where, `auto_failback is on, off or legacy, not "${args[0] ?? ""}"`);
        break;
      case "ping":
        for (const a of args) {
          if (isIPv4(a)) ping.push(a);
          else pingNotes.push(at(d, `"${a}" is not an IPv4 address: left out`));
        }
        break;
      case "ping_group": {
        const members = args.slice(1).filter((a) => isIPv4(a));
        ping.push(...members);
        pingNotes.push(at(d, `ping_group ${args[0] ?? ""}: its members are listed as ping witnesses; vigil counts the witness reachable when one of them answers, as Heartbeat counts a group`));
        break;
      }
      default:
        // crm off means haresources is in charge: nothing to say.
        if ((k === "crm" || k === "pacemaker") && ["no", "off", "false"].includes((args[0] ?? "").toLowerCase())) break;
        clusterNotes.push(at(d, OTHER[k] ?? "vigil has no equivalent"));
    }
  }
  const haCfFile: Where = { file: src.haCf[0]?.where.file ?? `${src.dir}/ha.cf` };
  if (nodes.length === 0) throw new ImportError(haCfFile, "no node lines: vigil needs the cluster's node names (node web1 web2)");
  const names = nodes.map((n, i) => nameOf(n, `node${i + 1}`));
  for (const [n, i] of names.map((x, j) => [x, j] as const)) {
    if (names.indexOf(n) !== i) throw new ImportError(haCfFile, `node ${n} is listed twice`);
  }
  const unknown = [...addresses.keys()].filter((k) => !names.includes(k));
  if (unknown.length > 0) throw new ImportError({ file: "--addresses" }, `no node named ${unknown.join(", ")} (nodes: ${names.join(", ")})`);

  // One vigil link per Heartbeat interface, in ha.cf's order.
  const linkCount = Math.max(1, links.length);
  const nodeComments = new Map<string, string[]>();
  const taken = new Set([...addresses.values()].flat());
  const nodeAddresses = names.map((name, i) => {
    const given = addresses.get(name);
    if (given !== undefined) {
      if (given.length !== linkCount) throw new ImportError({ file: "--addresses" }, `${name} has ${given.length} address(es); ha.cf has ${linkCount} link(s) (${links.map((l) => l.iface).join(", ") || "none"}): give one per link, joined by +`);
      return given;
    }
    return Array.from({ length: linkCount }, (_, k) => {
      const link = links[k];
      // Every node listed in ucast order: Heartbeat skips its own address, so one file can list all.
      if (link !== undefined && link.ucast.length === names.length) {
        nodeComments.set(name, [...(nodeComments.get(name) ?? []), `${link.iface}: ${link.ucast[i]} is the ${ordinal(i + 1)} ucast address of ${link.iface}, given to the ${ordinal(i + 1)} node: check`]);
        return link.ucast[i] as string;
      }
      let p = placeholder(k, i);
      while (taken.has(p)) p = `192.0.2.${Number(p.split(".")[3]) + 1}`;
      taken.add(p);
      const seen = link === undefined ? "" : link.ucast.length > 0 ? ` (ha.cf's ucast lines name ${link.ucast.join(", ")}, but not which node has which)` : "";
      nodeComments.set(name, [...(nodeComments.get(name) ?? []), `CHANGE: ${p} is a placeholder for ${name}'s address on ${link?.iface ?? "the heartbeat link"}${seen}`]);
      warnings.push(`node ${name}: no address known on ${link?.iface ?? "the heartbeat link"}; ${p} written in its place (give them with --addresses ${name}=IP${linkCount > 1 ? "+IP" : ""})`);
      return p;
    });
  });
  if (links.length === 0) clusterNotes.push(`${whereText(haCfFile)}: no ucast, bcast or mcast line: one unicast link is written`);

  const linkModes = links.map((l) => {
    if (l.kind === "mcast" && l.group !== undefined) return ymap(entry("mode", "multicast"), entry("group", l.group));
    if (l.kind === "bcast") clusterNotes.push(at(l.directive, `vigil sends to each peer's address on ${l.iface} (unicast) instead of broadcasting; mode broadcast with the link's broadcast address does what Heartbeat did`));
    return ymap(entry("mode", "unicast"));
  });

  const heartbeat: YEntry[] = [];
  if (Object.keys(timers).length > 0) heartbeat.push(comment(
    "Heartbeat's timers as ha.cf had them. vigil's default (preset lan: 100ms frames, deadtime 500ms)",
    "detects a dead node much sooner: delete these lines to use it.",
  ));
  const interval = timers["keepalive"]?.ms ?? (timers["deadtime"] === undefined ? undefined : Math.max(10, Math.floor(timers["deadtime"].ms / 5)));
  let deadtime = timers["deadtime"]?.ms;
  if (interval !== undefined && deadtime !== undefined && deadtime < 2 * interval) {
    heartbeat.push(comment(at(timers["deadtime"]?.d as Directive, `vigil needs deadtime at least 2 x keepalive (one lost frame is not a death): ${secondsToDuration((2 * interval) / 1000)} written`)));
    deadtime = 2 * interval;
  }
  let warntime = timers["warntime"]?.ms;
  if (warntime !== undefined && ((interval !== undefined && warntime <= interval) || (deadtime !== undefined && warntime >= deadtime))) {
    heartbeat.push(comment(at(timers["warntime"]?.d as Directive, "vigil needs warntime between keepalive and deadtime: left out (half the deadtime is used)")));
    warntime = undefined;
  }
  let initdead = timers["initdead"]?.ms;
  if (initdead !== undefined && deadtime !== undefined && initdead < deadtime) {
    heartbeat.push(comment(at(timers["initdead"]?.d as Directive, "vigil needs initdead at least deadtime: deadtime written")));
    initdead = deadtime;
  }
  if (interval !== undefined) heartbeat.push(entry("interval", secondsToDuration(interval / 1000)));
  if (warntime !== undefined) heartbeat.push(entry("warntime", secondsToDuration(warntime / 1000)));
  if (deadtime !== undefined) heartbeat.push(entry("deadtime", secondsToDuration(deadtime / 1000)));
  if (initdead !== undefined) heartbeat.push(entry("initdead", secondsToDuration(initdead / 1000)));
  if (port !== undefined) heartbeat.push(entry("port", port.value, ["Heartbeat's udpport; vigil's own default is 7694. Keep 694 only once Heartbeat is gone from these nodes."]));
  else heartbeat.push(comment("Heartbeat used UDP 694 (no udpport in ha.cf); vigil uses 7694, so both can run side by side while you migrate."));
  if (linkModes.some((m) => m.entries.some((e) => "key" in e && e.value === "multicast")) || links.some((l) => l.kind === "bcast")) {
    heartbeat.push(entry("links", linkModes, [`one per link, in the order of the node addresses: ${links.map((l) => `${l.iface} (${l.kind})`).join(", ")}`]));
  }

  const authNote = src.auth === undefined
    ? ["No authkeys was read. vigil signs heartbeats with HMAC-SHA256 and its own key file:"]
    : [
      `authkeys (${whereText(src.auth.where)}: method ${src.auth.method}) is not copied: vigil signs heartbeats with`,
      `HMAC-SHA256 and a key of its own${src.auth.method === "crc" ? " (crc was no authentication at all)" : ""}. No secret is imported:`,
    ];
  const cluster: YEntry[] = [
    entry("name", "heartbeat"),
    entry("key_file", "vigil.key", [...authNote, "run `vigil keygen vigil.key` beside this file and copy it to every node."]),
    entry("nodes", names.map((name, i) => ymap(
      entry("name", name, nodeComments.get(name) ?? []),
      entry("addresses", nodeAddresses[i] as string[], links.length > 0 ? [`one per link: ${links.map((l) => l.iface).join(", ")}`] : []),
    ))),
    ...(clusterNotes.length > 0 ? [comment(...clusterNotes)] : []),
    entry("heartbeat", ymap(...heartbeat)),
  ];
  if (ping.length > 0 || pingNotes.length > 0) {
    cluster.push(...(pingNotes.length > 0 ? [comment(...pingNotes)] : []));
    if (ping.length > 0) cluster.push(entry("witness", ymap(entry("ping", [...new Set(ping)], ["Heartbeat's ping nodes: a node that hears no peer takes resources only if it reaches one of these"]))));
  }

  const modules = modulesOf(src, names, links.map((l) => l.iface), failback, warnings);
  const doc = ymap(entry("cluster", ymap(...cluster)), ...modules.entries);
  const header = [
    `vigil.yaml imported from ${src.dir} (ha.cf, haresources, authkeys) by \`vigil import heartbeat\`.`,
    "One file for every node. Comments say what did not map, and why; check it with `vigil check-config`.",
  ];
  return { header, doc, warnings };
}

const ordinal = (n: number): string => `${n}${n === 1 ? "st" : n === 2 ? "nd" : n === 3 ? "rd" : "th"}`;
