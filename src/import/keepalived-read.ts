/**
 * One node's keepalived.conf, read into what vigil can use: its VRRP
 * instances with their tracks, scripts and sync groups resolved, and a note
 * (file:line and why) for every statement vigil has no place for.
 */
import { whereText, type Where } from "./import-error.ts";
import type { Statement } from "./keepalived-parse.ts";
import { isIPv4 } from "../config/formats.ts";
import { integerOf, ipv4Cidr, seconds, secondsToDuration } from "./values.ts";

export interface Note {
  where: Where;
  text: string;
}

export type Track = Record<string, string | number>;

export interface KaInstance {
  name: string;
  where: Where;
  state?: string;
  interface?: string;
  vrid?: number;
  version: 2 | 3;
  advertSeconds: number;
  priority: number;
  nopreempt: boolean;
  preemptDelay?: number;
  vips: string[];
  unicastSrc?: string;
  unicastPeers: string[];
  authPass?: string;
  tracks: Track[];
  notify: Record<string, string>;
  garp: Record<string, string | number>;
  syncGroup?: string;
  /** false for no_accept or vrrp_strict. */
  acceptMode?: boolean;
  notes: Note[];
}

export interface KaNode {
  file: string;
  routerId?: string;
  instances: KaInstance[];
  /** Notes that belong to no instance (global_defs, virtual_server...). */
  notes: Note[];
}

const words = (s: Statement): string[] => s.words.map((w) => w.text);
const key = (s: Statement): string => s.words[0]?.text ?? "";
const arg = (s: Statement, i = 1): string | undefined => s.words[i]?.text;
const note = (s: Statement, text: string): Note => ({ where: s.where, text: `${words(s).slice(0, 3).join(" ")}${s.words.length > 3 ? " ..." : ""}: ${text}` });

export const noteText = (n: Note): string => `${whereText(n.where)}: ${n.text}`;

/** What vigil says of keepalived statements it deliberately does not carry over. */
const NOT_SUPPORTED: Record<string, string> = {
  use_vmac: "vigil does not create VRRP virtual MAC interfaces; the VIPs move with gratuitous ARP",
  vmac_xmit_base: "no virtual MAC in vigil",
  native_ipv6: "vigil's VRRP is IPv4 only",
  virtual_ipaddress_excluded: "vigil puts every VIP in the adverts; list these under a failover module if they must move",
  virtual_routes: "vigil does not add routes on state changes; use a notify_master script",
  virtual_rules: "vigil does not add ip rules on state changes; use a notify_master script",
  track_bfd: "vigil has no BFD; its heartbeat detects a dead peer (deadtime 500 ms by default)",
  notify_fifo: "no notify FIFO in vigil; use notify scripts or the console's event stream",
  smtp_alert: "vigil sends no mail; use a notify script or a module webhook",
  dont_track_primary: "vigil tracks the interface it uses; list other interfaces with track_interface",
  mcast_src_ip: "vigil sends multicast adverts from the interface's own address",
  lvs_sync_daemon_interface: "no LVS in vigil",
  strict_mode: "vigil has no strict switch; accept_mode: false drops traffic to the VIPs as vrrp_strict does",
  debug: "vigil logs every state change; `vigil run --log-format json` for more",
  garp_master_refresh_repeat: "vigil sends one gratuitous ARP per refresh",
  lower_prio_no_advert: "vigil answers a lower-priority advert at once (split-brain healing), rate-limited",
  higher_prio_send_advert: "vigil always answers as RFC 5798 says",
  skip_check_adv_addr: "vigil checks every advert",
  check_unicast_src: "vigil takes unicast adverts only from the listed peers",
  no_accept: "",
  accept: "",
  preempt: "",
};

function parseScriptBlocks(statements: Statement[], kind: string): Map<string, Statement> {
  const out = new Map<string, Statement>();
  for (const s of statements) if (key(s) === kind && arg(s) !== undefined) out.set(arg(s) as string, s);
  return out;
}

/** A track script that only asks "is this process running?" becomes a process track. */
function processOfScript(command: string): string | undefined {
  const m = /^(?:\S*\/)?(?:killall -0|pidof(?: -x)?|pgrep(?: -x)?)\s+([\w.@-]+)$/.exec(command.trim());
  return m?.[1];
}

interface ScriptContext {
  scripts: Map<string, Statement>;
  processes: Map<string, Statement>;
  files: Map<string, Statement>;
}

function trackOf(kind: string, entry: Statement, ctx: ScriptContext, notes: Note[]): Track | undefined {
  const name = key(entry);
  // "weight N" on the track line overrides the block's own weight.
  const w = words(entry);
  const wi = w.indexOf("weight");
  const lineWeight = wi >= 0 ? integerOf(w[wi + 1]) : undefined;
  if (w.includes("reverse")) notes.push(note(entry, "vigil has no reverse weight; the weight applies while the check fails"));
  const blockOf = (m: Map<string, Statement>, what: string): Statement | undefined => {
    const b = m.get(name);
    if (b === undefined) notes.push(note(entry, `no ${what} ${name} is defined in this file: left out`));
    return b;
  };
  const settings = (b: Statement): Map<string, Statement> => new Map((b.block ?? []).map((s) => [key(s), s]));
  if (kind === "track_interface") {
    return { interface: name, weight: lineWeight ?? 0 };
  }
  if (kind === "track_script") {
    const b = blockOf(ctx.scripts, "vrrp_script");
    if (b === undefined) return undefined;
    const set = settings(b);
    const command = arg(set.get("script") ?? b, 1) ?? "";
    const t: Track = {};
    const proc = processOfScript(command);
    if (proc !== undefined) {
      t["process"] = proc;
      notes.push(note(b, `"${command}" only asks whether ${proc} runs: vigil checks that itself (process: ${proc})`));
    } else if (!/\s/.test(command) && command !== "") {
      t["script"] = command;
    } else {
      const wrapper = `./track-${name}.sh`;
      t["script"] = wrapper;
      notes.push(note(b, `vigil runs a track script without arguments: put the line "${command}" in ${wrapper} beside this file (executable)`));
    }
    const blockWeight = integerOf(arg(set.get("weight") ?? b, 1));
    t["weight"] = lineWeight ?? (set.has("weight") ? (blockWeight ?? 0) : 0);
    if (set.get("weight")?.words.some((x) => x.text === "reverse")) notes.push(note(set.get("weight") as Statement, "vigil has no reverse weight"));
    if (proc === undefined) {
      for (const [k, conv] of [["interval", "s"], ["timeout", "s"], ["fall", "n"], ["rise", "n"]] as const) {
        const s = set.get(k);
        const v = s === undefined ? undefined : conv === "s" ? seconds(arg(s)) : integerOf(arg(s));
        if (v !== undefined) t[k] = conv === "s" ? secondsToDuration(v) : v;
      }
    }
    for (const s of b.block ?? []) {
      if (["user", "init_fail"].includes(key(s))) notes.push(note(s, key(s) === "user" ? "vigil runs track scripts as its own user" : "a track starts as passing in vigil"));
    }
    return t;
  }
  if (kind === "track_process") {
    const b = blockOf(ctx.processes, "vrrp_track_process");
    if (b === undefined) return undefined;
    const set = settings(b);
    const proc = arg(set.get("process") ?? b, 1) ?? name;
    for (const s of b.block ?? []) {
      if (["quorum", "quorum_max", "param_match", "full_command", "delay", "terminate_delay", "fork_delay"].includes(key(s))) {
        notes.push(note(s, "vigil's process track counts processes by name only (at least one must run)"));
      }
    }
    return { process: proc, weight: lineWeight ?? integerOf(arg(set.get("weight") ?? b, 1)) ?? 0 };
  }
  const b = blockOf(ctx.files, "vrrp_track_file");
  if (b === undefined) return undefined;
  const set = settings(b);
  return { file: arg(set.get("file") ?? b, 1) ?? name, weight: lineWeight ?? integerOf(arg(set.get("weight") ?? b, 1)) ?? 1 };
}

function vipsOf(block: Statement[], inst: KaInstance): void {
  for (const s of block) {
    const w = words(s);
    const cidr = ipv4Cidr(w[0] ?? "");
    if (cidr === undefined) {
      inst.notes.push(note(s, (w[0] ?? "").includes(":") ? "vigil's VRRP is IPv4 only: address left out" : "not an IPv4 address: left out"));
      continue;
    }
    const dev = w[w.indexOf("dev") + 1];
    if (w.includes("dev") && dev !== undefined && inst.interface !== undefined && dev !== inst.interface) {
      inst.notes.push(note(s, `vigil adds an instance's VIPs on its interface (${inst.interface}), not on ${dev}: left out; give ${dev} an instance of its own (another vrid) or a failover module with interface: ${dev}`));
      continue;
    }
    if (w.includes("label")) inst.notes.push(note(s, "vigil adds the address without a label (ip addr shows it unlabelled; it works the same)"));
    const rest = w.slice(1).filter((x, i, a) => !["dev", "label"].includes(x) && !["dev", "label"].includes(a[i - 1] ?? ""));
    if (rest.length > 0) inst.notes.push(note(s, `${rest.join(" ")}: vigil sets no brd/scope/lifetime options on a VIP`));
    inst.vips.push(cidr);
  }
}

function readInstance(s: Statement, version: 2 | 3, garpDefaults: Record<string, string | number>, ctx: ScriptContext): KaInstance {
  const inst: KaInstance = {
    name: arg(s) ?? "VI", where: s.where, version, advertSeconds: 1, priority: 100, nopreempt: false, vips: [], unicastPeers: [], tracks: [],
    notify: {}, garp: { ...garpDefaults }, notes: [],
  };
  const body = s.block ?? [];
  // The interface first: VIPs are checked against it.
  for (const b of body) {
    const ifname = key(b) === "interface" ? arg(b) : undefined;
    if (ifname !== undefined) inst.interface = ifname;
  }
  for (const b of body) {
    const k = key(b);
    const a = arg(b);
    switch (k) {
      case "interface": break;
      case "state": if (a !== undefined) inst.state = a.toUpperCase(); break;
      case "virtual_router_id": { const v = integerOf(a); if (v !== undefined) inst.vrid = v; break; }
      case "version": case "vrrp_version": if (a === "2" || a === "3") inst.version = Number(a) as 2 | 3; break;
      case "priority": { const v = integerOf(a); if (v !== undefined) inst.priority = v; break; }
      case "advert_int": { const v = seconds(a); if (v !== undefined) inst.advertSeconds = v; break; }
      case "nopreempt": inst.nopreempt = true; break;
      case "preempt_delay": { const v = seconds(a); if (v !== undefined) inst.preemptDelay = v; break; }
      case "virtual_ipaddress": vipsOf(b.block ?? [], inst); break;
      case "unicast_src_ip": if (a !== undefined && isIPv4(a)) inst.unicastSrc = a; else inst.notes.push(note(b, "not an IPv4 address")); break;
      case "unicast_peer":
        for (const p of b.block ?? []) {
          const ip = arg(p, 0) ?? "";
          if (isIPv4(ip)) inst.unicastPeers.push(ip);
          else inst.notes.push(note(p, "not an IPv4 peer: left out"));
          if (p.words.length > 1) inst.notes.push(note(p, "per-peer options (min_ttl, max_ttl) are not in vigil"));
        }
        break;
      case "authentication": {
        const set = new Map((b.block ?? []).map((x) => [key(x), arg(x)]));
        const type = (set.get("auth_type") ?? "").toUpperCase();
        const pass = set.get("auth_pass");
        if (type === "AH") inst.notes.push(note(b, "auth_type AH (IPsec AH, dropped from VRRP by RFC 3768) is not in vigil: the instance runs without authentication; vigil's own nodes authenticate each other through the signed heartbeat"));
        else if (type !== "PASS" || pass === undefined) inst.notes.push(note(b, "no auth_type PASS with an auth_pass: left out"));
        else inst.authPass = pass;
        break;
      }
      case "track_script": case "track_interface": case "track_process": case "track_file":
        for (const t of b.block ?? []) {
          const track = trackOf(k, t, ctx, inst.notes);
          if (track !== undefined) inst.tracks.push(track);
        }
        break;
      case "notify_master": case "notify_backup": case "notify_fault": case "notify_stop": case "notify": {
        if (a === undefined) break;
        if (/\s/.test(a) || b.words.length > 2) {
          const command = words(b).slice(1).join(" ");
          const wrapper = `./${k.replace(/_/g, "-")}-${inst.name}.sh`;
          inst.notify[k] = wrapper;
          inst.notes.push(note(b, `vigil runs a notify script by path (with INSTANCE, name, state and priority for notify only): put "${command}" in ${wrapper} beside this file (executable)`));
        } else {
          inst.notify[k] = a;
        }
        break;
      }
      case "garp_master_delay": case "garp_master_refresh": { const v = seconds(a); if (v !== undefined) inst.garp[k] = secondsToDuration(v); break; }
      case "garp_master_repeat": { const v = integerOf(a); if (v !== undefined) inst.garp[k] = v; break; }
      case "garp_interval": { const v = seconds(a); if (v !== undefined) inst.garp[k] = secondsToDuration(v); break; }
      default: {
        const why = NOT_SUPPORTED[k];
        if (why === "") break;
        inst.notes.push(note(b, why ?? "vigil has no equivalent: left out"));
      }
    }
  }
  if (body.some((b) => key(b) === "no_accept")) inst.acceptMode = false;
  return inst;
}

const GLOBAL_GARP: Record<string, string> = {
  vrrp_garp_master_delay: "garp_master_delay",
  vrrp_garp_master_repeat: "garp_master_repeat",
  vrrp_garp_master_refresh: "garp_master_refresh",
  vrrp_garp_interval: "garp_interval",
};

/** Reads one node's statements. */
export function readKeepalived(file: string, statements: Statement[]): KaNode {
  const node: KaNode = { file, instances: [], notes: [] };
  let version: 2 | 3 = 2;
  const garpDefaults: Record<string, string | number> = {};
  for (const s of statements) {
    if (key(s) !== "global_defs") continue;
    for (const g of s.block ?? []) {
      const k = key(g);
      const a = arg(g);
      if (k === "router_id" && a !== undefined) node.routerId = a;
      else if (k === "vrrp_version" && (a === "2" || a === "3")) version = Number(a) as 2 | 3;
      else if (GLOBAL_GARP[k] !== undefined) {
        const v = k === "vrrp_garp_master_repeat" ? integerOf(a) : seconds(a);
        if (v !== undefined) garpDefaults[GLOBAL_GARP[k] as string] = k === "vrrp_garp_master_repeat" ? v : secondsToDuration(v);
      } else if (k === "vrrp_strict") node.notes.push(note(g, "vigil has no strict switch: each instance gets accept_mode: false (no traffic to the VIPs unless owner), the rest of vrrp_strict is not enforced"));
      else if (["notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout"].includes(k)) node.notes.push(note(g, "vigil sends no mail; a module webhook or notify script does that job"));
      else if (["script_user", "enable_script_security"].includes(k)) node.notes.push(note(g, "vigil runs scripts as its own user; keep them owned by root and not writable by others"));
      else node.notes.push(note(g, "a global setting vigil has no equivalent for"));
    }
  }
  const strict = statements.some((s) => key(s) === "global_defs" && (s.block ?? []).some((g) => key(g) === "vrrp_strict"));
  const ctx: ScriptContext = {
    scripts: parseScriptBlocks(statements, "vrrp_script"),
    processes: parseScriptBlocks(statements, "vrrp_track_process"),
    files: parseScriptBlocks(statements, "vrrp_track_file"),
  };
  const groups = new Map<string, string>();
  for (const s of statements) {
    const k = key(s);
    if (k === "vrrp_instance") {
      const inst = readInstance(s, version, garpDefaults, ctx);
      if (strict) inst.acceptMode = false;
      node.instances.push(inst);
    } else if (k === "vrrp_sync_group") {
      for (const g of s.block ?? []) {
        if (key(g) === "group") for (const m of g.block ?? []) groups.set(key(m), arg(s) ?? "G");
        else node.notes.push(note(g, `vigil syncs the group's members; ${key(g).startsWith("notify") ? "notify scripts are per instance in vigil: set them on the members" : "this group setting has no equivalent"}`));
      }
    } else if (!["global_defs", "vrrp_script", "vrrp_track_process", "vrrp_track_file"].includes(k)) {
      const why = ["virtual_server", "virtual_server_group", "real_server"].includes(k)
        ? "LVS load balancing is not in vigil (a farm module shares a VIP's clients among nodes)"
        : ["static_ipaddress", "static_routes", "static_rules"].includes(k)
          ? "vigil leaves addresses and routes that never move to the system's network config"
          : "vigil has no equivalent";
      node.notes.push(note(s, why));
    }
  }
  for (const inst of node.instances) {
    const g = groups.get(inst.name);
    if (g !== undefined) inst.syncGroup = g;
  }
  return node;
}
