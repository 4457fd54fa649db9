/**
 * What a valid config still needs from the node it runs on: scripts that
 * exist and may be executed, interfaces that exist, VIPs inside a subnet of
 * their interface, a witness at an address of this host (a lab, a test) on
 * a port this node does not hold (port-checks.ts). These are facts of one
 * host, not of the file, so they stay out of the pure checks (load.ts):
 * `vigil check-config` makes them when it runs on a node of the cluster,
 * `vigil run` before it starts (src/daemon/start-checks.ts).
 *
 * Severity follows what happens later:
 * - error: it cannot work here (a script that is missing or not executable;
 *   a module VIP that no interface of this node could hold; a mirror folder
 *   that does not exist or is not a folder: the mirror has nothing to mount
 *   or to apply to, and the module would wait with an errno instead).
 *   check-config fails; `vigil run` refuses.
 * - interface-missing: an interface that does not exist (with a did-you-mean).
 *   check-config fails, since it is nearly always a typo; `vigil run` only
 *   warns, as a VLAN or a USB NIC may appear after vigil starts (VRRP
 *   waits in FAULT, an interface checker fails, until it does).
 * - warning: it works, but likely not as meant (a VIP outside every subnet of
 *   an interface given explicitly; a VIP that would be a secondary address
 *   where promote_secondaries is off, so it goes when the primary goes).
 * A key file others can read is said by the key checks (api/key-checks.ts,
 * and the heartbeat at start), on a node or not.
 */
import { dirname, resolve } from "node:path";
import { crlfFix } from "../sys/shebang.ts";
import { ipv4Value } from "./formats.ts";
import { didYouMean } from "./did-you-mean.ts";
import type { ConfigError } from "./errors.ts";
import { formatKeyPath, type Segment } from "./key-path.ts";
import { witnessHerePortProblems } from "./port-checks.ts";
import { isRec, items, rec, str } from "./raw.ts";
import type { YamlSource } from "./yaml-source.ts";

export type HostSeverity = "error" | "interface-missing" | "warning";

export interface HostProblem extends ConfigError {
  severity: HostSeverity;
}

/** One IPv4 address of an interface. */
export interface InterfaceAddress {
  address: string;
  prefixLength: number;
}

export type FileFacts =
  | { kind: "missing" }
  | { kind: "hidden"; why: string }
  | { kind: "other"; what: string }
  | { kind: "folder" }
  | { kind: "file"; mode: number; crlfShebang?: boolean };

/** What the checks read from the host; injectable so tests need no root and no real interfaces. */
export interface HostFacts {
  /** Every interface of this host, addressed or not. */
  interfaceNames(): string[];
  /** The IPv4 addresses of an interface. */
  addressesOf(iface: string): InterfaceAddress[];
  file(path: string): FileFacts;
  /** net.ipv4.conf.IF.promote_secondaries; undefined where it cannot be read. */
  promoteSecondaries(iface: string): boolean | undefined;
}

/** The checks of a config that is about to run on this host; the node it runs as decides nothing yet (every node runs every instance and module). */
export function hostProblems(data: unknown, source: YamlSource, file: string, facts: HostFacts): HostProblem[] {
  const configDir = dirname(resolve(file));
  const out: HostProblem[] = [];
  const add = (severity: HostSeverity, path: Segment[], found: string, expected: string): void => {
    out.push({ severity, file, ...source.locate(path, "value"), path: formatKeyPath(path), found, expected });
  };
  const names = facts.interfaceNames();

  const script = (path: Segment[], value: unknown): void => {
    if (typeof value !== "string") return;
    const full = resolve(configDir, value);
    const f = facts.file(full);
    const shown = full === value ? JSON.stringify(value) : `${JSON.stringify(value)} (${full})`;
    if (f.kind === "missing") add("error", path, `${shown}, which does not exist on this host`, "an executable script");
    else if (f.kind === "other") add("error", path, `${shown}, which is ${f.what}`, "an executable script");
    else if (f.kind === "folder") add("error", path, `${shown}, which is a folder`, "an executable script");
    else if (f.kind === "file" && (f.mode & 0o111) === 0) {
      add("error", path, `${shown}, which is not executable (mode ${(f.mode & 0o7777).toString(8).padStart(4, "0")})`, `an executable script (chmod +x ${full})`);
    } else if (f.kind === "file" && f.crlfShebang === true) {
      add("error", path, `${shown}, whose #! line ends with a carriage return (Windows line endings: the kernel looks for an interpreter whose name ends in \\r and the script cannot start)`, `a script with Unix line endings (${crlfFix(full)})`);
    }
    // "hidden": this user may not look; the daemon (root) will. Nothing to say for sure.
  };

  /** A mirror folder: it must be there on every node (the PRIM mounts over it, the SECOND applies to it); vigil does not guess its owner and mode. */
  const folder = (path: Segment[], value: unknown): void => {
    if (typeof value !== "string" || !value.startsWith("/")) return;
    const f = facts.file(value);
    const shown = JSON.stringify(value);
    if (f.kind === "missing") add("error", path, `${shown}, which does not exist on this host`, `an existing folder (mkdir -p ${value} on every node, with the owner and mode the service needs)`);
    else if (f.kind === "file") add("error", path, `${shown}, which is a file`, "a folder to mirror");
    else if (f.kind === "other") add("error", path, `${shown}, which is ${f.what}`, "a folder to mirror");
  };

  /** True when the interface exists; otherwise reports it. */
  const iface = (path: Segment[], value: unknown): boolean => {
    if (typeof value !== "string") return false;
    if (names.includes(value)) return true;
    const guess = didYouMean(value, names);
    const hint = guess === undefined ? `one of this host's interfaces: ${names.join(", ") || "none"}` : `an interface of this host (did you mean ${JSON.stringify(guess)}?)`;
    add("interface-missing", path, `interface ${JSON.stringify(value)}, which does not exist on this host`, hint);
    return false;
  };

  const subnetsOf = (name: string): string => facts.addressesOf(name).map((a) => `${networkOf(a)}`).join(", ") || "no IPv4 address";

  /**
   * A VIP with the prefix of an address of its interface, in that address's
   * subnet, becomes its "secondary"; the kernel deletes secondaries with their
   * primary unless promote_secondaries is on.
   */
  const secondary = (path: Segment[], vip: string, name: string): void => {
    const prefix = Number(vip.split("/")[1] ?? 32);
    const primary = facts.addressesOf(name).find((a) => a.prefixLength === prefix && prefix < 32 && inSubnet(vip, a) && a.address !== vip.split("/")[0]);
    if (primary === undefined || facts.promoteSecondaries(name) !== false) return;
    add("warning", path, `${vip}, a secondary of ${name}'s ${primary.address}/${primary.prefixLength} while net.ipv4.conf.${name}.promote_secondaries is 0: removing ${primary.address} (ip addr del, a DHCP renewal) removes the VIP with it`,
      `promote_secondaries on (sysctl -w net.ipv4.conf.${name}.promote_secondaries=1, and in /etc/sysctl.d/), or the VIP written as /32`);
  };

  /** A VIP on a known interface: inside one of its subnets, or a warning. */
  const vipOn = (path: Segment[], vip: unknown, name: string): void => {
    if (typeof vip !== "string") return;
    if (facts.addressesOf(name).some((a) => inSubnet(vip, a))) {
      secondary(path, vip, name);
      return;
    }
    add("warning", path, `${vip}, outside every subnet of ${name} (${subnetsOf(name)})`, `an address inside a subnet of ${name}, or a route to it on the clients' side`);
  };

  /** A module VIP without an interface: some interface must hold its subnet, or the module cannot start here. */
  const vipAnywhere = (path: Segment[], vip: unknown): void => {
    if (typeof vip !== "string") return;
    const holder = names.find((n) => facts.addressesOf(n).some((a) => inSubnet(vip, a)));
    if (holder !== undefined) {
      secondary(path, vip, holder);
      return;
    }
    add("error", path, `${vip}, in no subnet of this host's interfaces`, "a VIP inside the subnet of an interface, or the module's `interface:` set");
  };

  const cfg = rec(data);
  for (const [i, raw] of items(cfg["vrrp"]).entries()) {
    const v = rec(raw);
    const at = (...rest: Segment[]): Segment[] => ["vrrp", i, ...rest];
    const ifaceOk = iface(at("interface"), v["interface"]);
    if (ifaceOk) for (const [j, vip] of items(v["vips"]).entries()) vipOn(at("vips", j), vip, v["interface"] as string);
    for (const [j, t] of items(v["track"]).entries()) {
      const tr = rec(t);
      script(at("track", j, "script"), tr["script"]);
      iface(at("track", j, "interface"), tr["interface"]);
    }
    for (const k of ["notify", "notify_master", "notify_backup", "notify_fault", "notify_stop"]) script(at(k), v[k]);
  }

  for (const [i, raw] of items(cfg["modules"]).entries()) {
    const m = rec(raw);
    const at = (...rest: Segment[]): Segment[] => ["modules", i, ...rest];
    const moduleIface = str(m["interface"]);
    const moduleIfaceOk = moduleIface !== undefined && iface(at("interface"), moduleIface);
    const vip = (path: Segment[], value: unknown, own: string | undefined): void => {
      if (own !== undefined) {
        if (iface([...path.slice(0, -1), "interface"], own)) vipOn(path, value, own);
      } else if (moduleIface !== undefined) {
        if (moduleIfaceOk) vipOn(path, value, moduleIface);
      } else {
        vipAnywhere(path, value);
      }
    };
    if (typeof m["vip"] === "string") vip(at("vip"), m["vip"], undefined);
    for (const [j, v] of items(m["vips"]).entries()) vip(at("vips", j), v, undefined);
    script(at("start"), m["start"]);
    script(at("stop"), m["stop"]);
    script(at("notify"), m["notify"]);
    if (m["type"] === "mirror") for (const [j, d] of items(m["replicate"]).entries()) folder(at("replicate", j), d);
    for (const [j, r] of items(m["resources"]).entries()) {
      const res = rec(r);
      if (typeof res["vip"] === "string") vip(at("resources", j, "vip"), res["vip"], str(res["interface"]));
      script(at("resources", j, "start"), res["start"]);
      script(at("resources", j, "stop"), res["stop"]);
    }
    for (const [j, c] of items(m["checkers"]).entries()) {
      const ch = rec(c);
      if (!isRec(c)) continue;
      script(at("checkers", j, "custom" in ch ? "custom" : "script"), ch["custom"] ?? ch["script"]);
      iface(at("checkers", j, "interface"), ch["interface"]);
    }
  }

  // The witness runs beside this node when its address is one of this host's: the one that binds second fails.
  const own = new Set(names.flatMap((n) => facts.addressesOf(n).map((a) => a.address)));
  for (const p of witnessHerePortProblems(data, (host) => own.has(host))) add("error", p.path, p.found, p.expected);

  return out;
}

/** What the checks cannot tell from a machine that is not a node of the cluster. */
export const CHECKS_ONLY_ON_A_NODE = [
  "that the start, stop, checker, track and notify scripts exist and are executable",
  "that the interfaces exist",
  "that each VIP lies in a subnet of its interface",
  "that each mirror module's replicate folders exist",
  "that a witness at an address of the node's host listens on a port the node does not hold",
];

function mask(bits: number): number {
  return bits <= 0 ? 0 : (0xffffffff << (32 - Math.min(32, bits))) >>> 0;
}

/** Whether the VIP ("a.b.c.d" or "a.b.c.d/len") is in the subnet of the interface address. */
export function inSubnet(vip: string, own: InterfaceAddress): boolean {
  const v = ipv4Value(vip.split("/")[0] ?? "");
  const a = ipv4Value(own.address);
  if (v === null || a === null) return false;
  const m = mask(own.prefixLength);
  return ((v & m) >>> 0) === ((a & m) >>> 0);
}

function networkOf(a: InterfaceAddress): string {
  const n = ipv4Value(a.address);
  if (n === null) return `${a.address}/${a.prefixLength}`;
  const net = (n & mask(a.prefixLength)) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join(".")}/${a.prefixLength}`;
}
