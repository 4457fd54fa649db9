/**
 * Virtual IP addresses on a local interface, through `ip addr`.
 *
 * - A VIP is added with the prefix the config wrote, as keepalived does: what
 *   `ip addr` shows is what was configured, `ip addr del 198.51.100.100/24`
 *   works, and a VIP outside the interface's own subnets brings its subnet
 *   route. Without a prefix it is a /32 (the farm's VIPs on lo are).
 *   The price: a VIP inside the subnet of the interface's own address is a
 *   "secondary" of it, and deleting that primary address deletes its
 *   secondaries unless net.ipv4.conf.IF.promote_secondaries is 1 (systemd
 *   sets it for every interface; `vigil check-config` warns where it is 0).
 *   Removal uses the same prefix, since the kernel matches it.
 * - Adding uses `ip addr replace`, which succeeds whether or not the address
 *   is already there; removing treats "not there" as done. Both are therefore
 *   safe to repeat, which a driver retrying after a crash relies on.
 * - Every failure names the VIP, the interface and what `ip` (or the kernel) said.
 * - In the vigil binary, with no runner given, the address is changed through
 *   rtnetlink from the daemon itself (netlink-addr.ts): nothing is spawned on
 *   the failover path. A given runner (tests, the farm) and runtimes without
 *   FFI use `ip`.
 */
import { isIPv4 } from "node:net";
import { repeatWhileSignalled } from "./helper-child.ts";
import { createIpRunner, type IpRunner } from "./ip-command.ts";
import { addAddress, EADDRNOTAVAIL, netlinkAvailable, removeAddress } from "./netlink-addr.ts";

const MAX_IFNAME = 15;

export interface VipSpec {
  /** "198.51.100.100/24", added with that prefix; "198.51.100.100" is a /32. */
  address: string;
  interface: string;
  /**
   * Optional label so `ip addr` and ifconfig show whose address it is:
   * "vip" becomes "eth0:vip". Interface name + ":" + label fit in 15 characters.
   */
  label?: string;
}

export type VipErrorKind = "invalid" | "add-failed" | "remove-failed" | "list-failed";

export interface VipFailure {
  ok: false;
  kind: VipErrorKind;
  /** The address as given, for messages. */
  vip: string;
  interface: string;
  /** What `ip` wrote on stderr ("" when it did not run). */
  stderr: string;
  message: string;
}

export type VipAddResult = { ok: true; vip: string; interface: string } | VipFailure;
export type VipRemoveResult = { ok: true; vip: string; interface: string; alreadyGone: boolean } | VipFailure;

export interface InterfaceAddress {
  address: string;
  prefixLength: number;
  /** The address label ("eth0", "eth0:vip"). */
  label: string;
}

export type ListAddressesResult = { ok: true; interface: string; addresses: InterfaceAddress[] } | VipFailure;

/** A VIP spec checked and normalised: the bare address and the full label. */
export interface ResolvedVip {
  address: string;
  /** The config's prefix length; 32 when it gave none. */
  prefixLength: number;
  interface: string;
  label: string | undefined;
}

export function checkInterfaceName(name: string): string | undefined {
  if (typeof name !== "string" || name === "") return "the interface name is empty";
  if (name.length > MAX_IFNAME) return `interface name ${JSON.stringify(name)} is longer than ${MAX_IFNAME} characters`;
  if (!/^[A-Za-z0-9_.@-]+$/.test(name) || name.startsWith("-")) return `interface name ${JSON.stringify(name)} has characters an interface name cannot have`;
  return undefined;
}

export function resolveVip(spec: VipSpec): { ok: true; vip: ResolvedVip } | VipFailure {
  const given = String(spec.address);
  const iface = String(spec.interface);
  const invalid = (why: string): VipFailure => ({
    ok: false,
    kind: "invalid",
    vip: given,
    interface: iface,
    stderr: "",
    message: `VIP ${given} on ${iface}: ${why}`,
  });
  const ifaceProblem = checkInterfaceName(spec.interface);
  if (ifaceProblem !== undefined) return invalid(ifaceProblem);
  const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(given);
  const address = m?.[1];
  if (m === null || address === undefined || !isIPv4(address)) return invalid("not an IPv4 address (a.b.c.d or a.b.c.d/len)");
  if (m[2] !== undefined && Number(m[2]) > 32) return invalid(`prefix length /${m[2]} is more than 32`);
  const first = Number(address.split(".")[0]);
  if (address === "0.0.0.0" || address === "255.255.255.255" || first === 127 || (first >= 224 && first <= 239)) {
    return invalid("a VIP must be a unicast address outside 127.0.0.0/8");
  }
  let label: string | undefined;
  if (spec.label !== undefined) {
    label = spec.label.startsWith(`${iface}:`) ? spec.label : `${iface}:${spec.label}`;
    if (label.length > MAX_IFNAME || label === `${iface}:` || !/^[A-Za-z0-9_.@:-]+$/.test(label)) {
      return invalid(`label ${JSON.stringify(label)} must be "${iface}:" plus letters or digits, ${MAX_IFNAME} characters at most`);
    }
  }
  return { ok: true, vip: { address, prefixLength: m[2] === undefined ? 32 : Number(m[2]), interface: iface, label } };
}

/** The prefix length the VIP is added with, by `ip` and through netlink alike. */
export function appliedPrefixLength(vip: ResolvedVip): number {
  return vip.prefixLength;
}

/** `ip` arguments that add (or keep) the VIP. */
export function vipAddArgs(vip: ResolvedVip): string[] {
  const args = ["addr", "replace", `${vip.address}/${appliedPrefixLength(vip)}`, "dev", vip.interface];
  if (vip.label !== undefined) args.push("label", vip.label);
  return args;
}

/** `ip` arguments that remove the VIP. */
export function vipRemoveArgs(vip: ResolvedVip): string[] {
  return ["addr", "del", `${vip.address}/${appliedPrefixLength(vip)}`, "dev", vip.interface];
}

/** `ip` arguments that list the interface's IPv4 addresses as JSON. */
export function listAddressArgs(iface: string): string[] {
  return ["-j", "-4", "addr", "show", "dev", iface];
}

/** True when `ip addr del` failed only because the address was not there. */
export function isAddressAlreadyGone(stderr: string): boolean {
  return /Cannot assign requested address|Address not found/i.test(stderr);
}

let defaultRunner: IpRunner | undefined;
function hostRunner(): IpRunner {
  defaultRunner ??= createIpRunner();
  return defaultRunner;
}

export async function addVip(spec: VipSpec, runner?: IpRunner): Promise<VipAddResult> {
  const r = resolveVip(spec);
  if (!r.ok) return r;
  if (runner === undefined && (await netlinkAvailable())) {
    const nl = await addAddress({ address: r.vip.address, prefixLength: appliedPrefixLength(r.vip), interface: r.vip.interface, ...(r.vip.label === undefined ? {} : { label: r.vip.label }) });
    if (nl.ok) return { ok: true, vip: spec.address, interface: r.vip.interface };
    return { ok: false, kind: "add-failed", vip: spec.address, interface: r.vip.interface, stderr: "", message: `cannot add VIP ${r.vip.address} on ${r.vip.interface}: ${nl.message}` };
  }
  const run = runner ?? hostRunner();
  const res = await run(vipAddArgs(r.vip));
  if (res.ok) return { ok: true, vip: spec.address, interface: r.vip.interface };
  return {
    ok: false,
    kind: "add-failed",
    vip: spec.address,
    interface: r.vip.interface,
    stderr: res.stderr.trim(),
    message: `cannot add VIP ${r.vip.address} on ${r.vip.interface}: ${res.message}`,
  };
}

export async function removeVip(spec: VipSpec, runner?: IpRunner): Promise<VipRemoveResult> {
  const r = resolveVip(spec);
  if (!r.ok) return r;
  if (runner === undefined && (await netlinkAvailable())) {
    const nl = await removeAddress({ address: r.vip.address, prefixLength: appliedPrefixLength(r.vip), interface: r.vip.interface });
    if (nl.ok) return { ok: true, vip: spec.address, interface: r.vip.interface, alreadyGone: false };
    if (nl.errno === EADDRNOTAVAIL) return { ok: true, vip: spec.address, interface: r.vip.interface, alreadyGone: true };
    return { ok: false, kind: "remove-failed", vip: spec.address, interface: r.vip.interface, stderr: "", message: `cannot remove VIP ${r.vip.address} from ${r.vip.interface}: ${nl.message}` };
  }
  const run = runner ?? hostRunner();
  // Ended by a signal meant for the daemon as it stops (helper-child.ts): a removal is safe to repeat.
  const res = await repeatWhileSignalled(() => run(vipRemoveArgs(r.vip)), (x) => !x.ok && x.kind === "signalled");
  if (res.ok) return { ok: true, vip: spec.address, interface: r.vip.interface, alreadyGone: false };
  if (res.kind === "failed" && isAddressAlreadyGone(res.stderr)) {
    return { ok: true, vip: spec.address, interface: r.vip.interface, alreadyGone: true };
  }
  return {
    ok: false,
    kind: "remove-failed",
    vip: spec.address,
    interface: r.vip.interface,
    stderr: res.stderr.trim(),
    message: `cannot remove VIP ${r.vip.address} from ${r.vip.interface}: ${res.message}`,
  };
}

/** The interface's IPv4 addresses, read with `ip -j -4 addr show dev IF`. */
export async function listAddresses(iface: string, run: IpRunner = hostRunner()): Promise<ListAddressesResult> {
  const fail = (stderr: string, why: string): VipFailure => ({
    ok: false,
    kind: "list-failed",
    vip: "",
    interface: String(iface),
    stderr,
    message: `cannot list the addresses of ${String(iface)}: ${why}`,
  });
  const problem = checkInterfaceName(iface);
  if (problem !== undefined) return fail("", problem);
  const res = await run(listAddressArgs(iface));
  if (!res.ok) return fail(res.stderr.trim(), res.message);
  const parsed = parseAddressList(res.stdout, iface);
  if (!parsed.ok) return fail("", parsed.message);
  return { ok: true, interface: iface, addresses: parsed.addresses };
}

/**
 * Parses `ip -j -4 addr show dev IF` output. Never throws: output it does not
 * understand (an old iproute2 without -j, say) is an error naming what was wrong.
 */
export function parseAddressList(json: string, iface: string): { ok: true; addresses: InterfaceAddress[] } | { ok: false; message: string } {
  let data: unknown;
  try {
    data = JSON.parse(json.trim() === "" ? "[]" : json);
  } catch {
    return { ok: false, message: `ip printed something that is not JSON: ${JSON.stringify(json.slice(0, 80))}` };
  }
  if (!Array.isArray(data)) return { ok: false, message: "ip's JSON output is not a list of interfaces" };
  const addresses: InterfaceAddress[] = [];
  for (const [i, link] of data.entries()) {
    if (typeof link !== "object" || link === null) return { ok: false, message: `ip's JSON output: entry ${i} is not an object` };
    const l = link as { ifname?: unknown; addr_info?: unknown };
    if (l.ifname !== undefined && l.ifname !== iface) continue;
    if (l.addr_info === undefined) continue;
    if (!Array.isArray(l.addr_info)) return { ok: false, message: `ip's JSON output: addr_info of entry ${i} is not a list` };
    for (const [j, a] of l.addr_info.entries()) {
      const info = (typeof a === "object" && a !== null ? a : {}) as { family?: unknown; local?: unknown; prefixlen?: unknown; label?: unknown };
      if (info.family !== undefined && info.family !== "inet") continue;
      if (typeof info.local !== "string" || !isIPv4(info.local) || typeof info.prefixlen !== "number") {
        return { ok: false, message: `ip's JSON output: address ${j} of entry ${i} has no IPv4 "local" and "prefixlen"` };
      }
      addresses.push({ address: info.local, prefixLength: info.prefixlen, label: typeof info.label === "string" ? info.label : iface });
    }
  }
  return { ok: true, addresses };
}
