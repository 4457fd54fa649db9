/**
 * ARP frames of a farm (pure). The ARP owner answers requests for the VIP with
 * the virtual MAC as the sender hardware address, but sends every frame from
 * its own MAC: a learning switch then never learns the virtual MAC on one port
 * and keeps flooding frames for it to every node, which is what lets every node
 * see every client (RECIPES.md, nftables farm, learn mode).
 */
import { isIPv4 } from "node:net";

export const ARP_FRAME_BYTES = 60;
const ETH_P_ARP = 0x0806;

export class ArpFrameError extends Error {}

export interface ArpRequest {
  readonly senderMac: Uint8Array;
  readonly senderIp: string;
  readonly targetIp: string;
  /** Ethernet source of the frame. */
  readonly from: Uint8Array;
}

export type ArpParse = { readonly ok: true; readonly request: ArpRequest } | { readonly ok: false; readonly error: ArpFrameError };

function ip(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

function ipBytes(address: string): Uint8Array {
  if (!isIPv4(address)) throw new RangeError(`${JSON.stringify(address)} is not an IPv4 address`);
  return Uint8Array.from(address.split(".").map(Number));
}

/** An Ethernet/IPv4 ARP request, or why the frame is not one. Never throws. */
export function parseArpRequest(frame: Uint8Array): ArpParse {
  const fail = (why: string): ArpParse => ({ ok: false, error: new ArpFrameError(why) });
  if (frame.length < 42) return fail(`${frame.length} bytes is too short for an ARP frame (42)`);
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (v.getUint16(12) !== ETH_P_ARP) return fail(`ethertype 0x${v.getUint16(12).toString(16)} is not ARP`);
  if (v.getUint16(14) !== 1 || v.getUint16(16) !== 0x0800 || frame[18] !== 6 || frame[19] !== 4) return fail("not Ethernet/IPv4 ARP");
  if (v.getUint16(20) !== 1) return fail(`operation ${v.getUint16(20)} is not a request`);
  return {
    ok: true,
    request: { from: frame.slice(6, 12), senderMac: frame.slice(22, 28), senderIp: ip(frame, 28), targetIp: ip(frame, 38) },
  };
}

function frame(dst: Uint8Array, src: Uint8Array, oper: number, sha: Uint8Array, spa: Uint8Array, tha: Uint8Array, tpa: Uint8Array): Uint8Array {
  for (const mac of [dst, src, sha, tha]) if (mac.length !== 6) throw new RangeError(`a MAC address has 6 bytes, got ${mac.length}`);
  const f = new Uint8Array(ARP_FRAME_BYTES);
  const v = new DataView(f.buffer);
  f.set(dst, 0);
  f.set(src, 6);
  v.setUint16(12, ETH_P_ARP);
  v.setUint16(14, 1);
  v.setUint16(16, 0x0800);
  f[18] = 6;
  f[19] = 4;
  v.setUint16(20, oper);
  f.set(sha, 22);
  f.set(spa, 28);
  f.set(tha, 32);
  f.set(tpa, 38);
  return f;
}

/** The reply to `req`: VIP is at `vmac`, sent from `ownMac` straight to the asker. */
export function buildArpReply(req: ArpRequest, ownMac: Uint8Array, vmac: Uint8Array, vip: string): Uint8Array {
  return frame(req.from, ownMac, 2, vmac, ipBytes(vip), req.senderMac, ipBytes(req.senderIp));
}

/** A gratuitous ARP (RFC 5227 announcement) for the VIP at `vmac`, broadcast from `ownMac`. */
export function buildFarmGarp(ownMac: Uint8Array, vmac: Uint8Array, vip: string): Uint8Array {
  const bcast = new Uint8Array(6).fill(0xff);
  const a = ipBytes(vip);
  return frame(bcast, ownMac, 1, vmac, a, new Uint8Array(6), a);
}

/** Whether the ARP owner should answer: a request for the VIP that is not our own frame. */
export function wantsAnswer(req: ArpRequest, vip: string, ownMac: Uint8Array): boolean {
  if (req.targetIp !== vip || req.senderIp === vip) return false;
  const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  return !same(req.from, ownMac) && !same(req.senderMac, ownMac);
}
