/**
 * Gratuitous ARP: tells the segment that a VIP now lives at our MAC.
 *
 * Sent as raw Ethernet frames on an AF_PACKET socket through bun:ffi, so no
 * extra tool is needed in the vigil binary. The frame is an RFC 5227 ARP
 * announcement: a request whose sender and target address are both the VIP.
 *
 * Linux only UPDATES neighbour entries from a gratuitous ARP; it creates none
 * unless the receiver has arp_accept=1. So GARP fixes peers that still point
 * at the old owner; everyone else simply asks with ARP and our kernel answers.
 *
 * Without FFI (Node, Deno) sending fails with kind "no-ffi" and a message that
 * names the fallback: `arping -U` from iputils-arping sends the same frame.
 */
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { join } from "node:path";
import { FfiUnavailableError, type Libc, loadLibc, SyscallError } from "./ffi/libc.ts";

export const ARP_FRAME_BYTES = 60;
export const DEFAULT_GARP_COUNT = 3;
export const DEFAULT_GARP_INTERVAL_MS = 100;
const MAX_GARP_COUNT = 100;
const MAX_GARP_INTERVAL_MS = 60_000;
const ETH_P_ARP = 0x0806;
const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;

export interface GarpOptions {
  interface: string;
  /** The VIP being announced, IPv4. */
  address: string;
  /** Frames to send, DEFAULT_GARP_COUNT if omitted; the first goes at once. */
  count?: number;
  /** Pause between frames, DEFAULT_GARP_INTERVAL_MS if omitted. */
  intervalMs?: number;
  /** Sender MAC "aa:bb:cc:dd:ee:ff"; read from /sys/class/net/IF/address if omitted. */
  mac?: string;
  /** Where interface attributes are read, for tests; /sys/class/net by default. */
  sysClassNet?: string;
}

export type GarpErrorKind = "invalid" | "no-interface" | "no-mac" | "no-ffi" | "permission" | "send-failed";

export type GarpResult =
  | { ok: true; interface: string; address: string; mac: string; sent: number }
  | { ok: false; kind: GarpErrorKind; interface: string; address: string; sent: number; message: string };

export function garpFallbackCommand(iface: string, address: string): string {
  return `arping -q -U -c 1 -I ${iface} -s ${address} ${address}`;
}

/** "02:00:00:00:00:0b" to 6 bytes, or undefined if it is not a MAC address. */
export function parseMac(text: string): Uint8Array | undefined {
  const parts = text.trim().split(":");
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return undefined;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The interface's MAC from sysfs. */
export function readInterfaceMac(iface: string, sysClassNet = "/sys/class/net"): { ok: true; mac: Uint8Array } | { ok: false; message: string } {
  const file = join(sysClassNet, iface, "address");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
    return { ok: false, message: code === "ENOENT" ? `interface ${iface} does not exist (no ${file})` : `cannot read ${file}: ${code || String(e)}` };
  }
  const mac = parseMac(text);
  if (mac === undefined || mac.every((b) => b === 0)) {
    return { ok: false, message: `interface ${iface} has no Ethernet address (${file} holds ${JSON.stringify(text.trim())})` };
  }
  return { ok: true, mac };
}

/**
 * The 60-byte Ethernet frame: broadcast destination, ARP request
 * (oper 1) with sha = mac, spa = tpa = VIP, tha = 0, zero-padded.
 */
export function buildGarpFrame(mac: Uint8Array, address: string): Uint8Array {
  if (mac.length !== 6) throw new RangeError(`a MAC address has 6 bytes, got ${mac.length}`);
  if (!isIPv4(address)) throw new RangeError(`${JSON.stringify(address)} is not an IPv4 address`);
  const ip = Uint8Array.from(address.split(".").map(Number));
  const f = new Uint8Array(ARP_FRAME_BYTES);
  const v = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  v.setUint16(12, ETH_P_ARP);
  v.setUint16(14, 1); // hardware: Ethernet
  v.setUint16(16, 0x0800); // protocol: IPv4
  f[18] = 6;
  f[19] = 4;
  v.setUint16(20, 1); // request: an announcement per RFC 5227
  f.set(mac, 22);
  f.set(ip, 28);
  f.set(ip, 38);
  return f;
}

/** struct sockaddr_ll for sending to the Ethernet broadcast address. */
function sockaddrLl(ifindex: number): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, ETH_P_ARP); // network order
  v.setInt32(4, ifindex, true);
  b[11] = 6;
  b.fill(0xff, 12, 18);
  return b;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function isWholeIn(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/** Sends `count` gratuitous ARP frames for `address` on `interface`. Never throws. */
export async function sendGratuitousArp(opts: GarpOptions): Promise<GarpResult> {
  const iface = opts.interface;
  const address = opts.address;
  const fail = (kind: GarpErrorKind, why: string, sent = 0): GarpResult => ({
    ok: false,
    kind,
    interface: iface,
    address,
    sent,
    message: `gratuitous ARP for ${address} on ${iface}: ${why}`,
  });
  const count = opts.count ?? DEFAULT_GARP_COUNT;
  const intervalMs = opts.intervalMs ?? DEFAULT_GARP_INTERVAL_MS;
  if (typeof iface !== "string" || !/^[^\s/:]{1,15}$/.test(iface)) return fail("invalid", "the interface name is not valid");
  if (!isIPv4(address)) return fail("invalid", "the address is not IPv4");
  if (!isWholeIn(count, 1, MAX_GARP_COUNT)) return fail("invalid", `count must be a whole number from 1 to ${MAX_GARP_COUNT}, got ${count}`);
  if (!isWholeIn(intervalMs, 0, MAX_GARP_INTERVAL_MS)) return fail("invalid", `intervalMs must be a whole number from 0 to ${MAX_GARP_INTERVAL_MS}, got ${intervalMs}`);

  let mac: Uint8Array;
  if (opts.mac !== undefined) {
    const parsed = parseMac(opts.mac);
    if (parsed === undefined) return fail("invalid", `${JSON.stringify(opts.mac)} is not a MAC address`);
    mac = parsed;
  } else {
    const read = readInterfaceMac(iface, opts.sysClassNet);
    if (!read.ok) return fail(read.message.includes("does not exist") ? "no-interface" : "no-mac", read.message);
    mac = read.mac;
  }

  let libc: Libc;
  try {
    libc = await loadLibc("gratuitous ARP");
  } catch (e) {
    const why = e instanceof FfiUnavailableError ? e.message : String(e);
    return fail("no-ffi", `${why}; \`${garpFallbackCommand(iface, address)}\` (iputils-arping) sends the same announcement`);
  }
  const ifindex = libc.ifNameToIndex(iface);
  if (ifindex === 0) return fail("no-interface", `interface ${iface} does not exist`);

  let fd: number;
  try {
    // Protocol 0: a send-only socket, so no frames queue up for reading.
    fd = libc.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  } catch (e) {
    const perm = e instanceof SyscallError && (e.code === "EPERM" || e.code === "EACCES");
    return fail(perm ? "permission" : "send-failed", `${e instanceof Error ? e.message : String(e)}${perm ? "; needs root or CAP_NET_RAW" : ""}`);
  }
  const frame = buildGarpFrame(mac, address);
  const to = sockaddrLl(ifindex);
  let sent = 0;
  try {
    for (let i = 0; i < count; i++) {
      if (i > 0 && intervalMs > 0) await sleep(intervalMs);
      libc.sendto(fd, frame, 0, to);
      sent++;
    }
  } catch (e) {
    return fail("send-failed", e instanceof Error ? e.message : String(e), sent);
  } finally {
    try {
      libc.close(fd);
    } catch {
      // The frames are out; a failed close changes nothing for the caller.
    }
  }
  return { ok: true, interface: iface, address, mac: formatMac(mac), sent };
}
