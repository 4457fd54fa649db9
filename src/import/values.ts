/** Small conversions shared by the importers: durations, names, addresses. */
import { isIPv4 } from "../config/formats.ts";

/** keepalived and Heartbeat write seconds (maybe fractional); vigil writes 1s or 100ms. */
export function secondsToDuration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A word as a number of seconds, or undefined when it is not one. */
export function seconds(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}

export function integerOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

/** vigil's name format: letters, digits, '.', '_' and '-', starting with a letter or digit. */
export function nameOf(text: string, fallback: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63);
  return cleaned === "" ? fallback : cleaned;
}

/** "198.51.100.10/24" or "198.51.100.10" (as /32); undefined for anything else (IPv6 included). */
export function ipv4Cidr(text: string): string | undefined {
  const [addr, prefix, ...rest] = text.split("/");
  if (rest.length > 0 || addr === undefined || !isIPv4(addr)) return undefined;
  if (prefix === undefined) return `${addr}/32`;
  if (!/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) return undefined;
  return `${addr}/${Number(prefix)}`;
}

/** Netmask 255.255.255.0 as a prefix length, or undefined. */
export function maskToPrefix(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined;
  const bits = mask.split(".").map((o) => Number(o).toString(2).padStart(8, "0")).join("");
  return /^1*0*$/.test(bits) ? bits.indexOf("0") < 0 ? 32 : bits.indexOf("0") : undefined;
}

/** --addresses NODE=IP[+IP],NODE=IP... */
export function parseAddressesFlag(text: string | undefined): Map<string, string[]> | string {
  const out = new Map<string, string[]>();
  if (text === undefined) return out;
  for (const part of text.split(",").filter((p) => p !== "")) {
    const [node, ips] = part.split("=");
    if (node === undefined || ips === undefined || node === "") return `--addresses: "${part}" is not NODE=IP (like lb1=198.51.100.11)`;
    const list = ips.split("+");
    const bad = list.find((ip) => !isIPv4(ip));
    if (bad !== undefined) return `--addresses: "${bad}" (node ${node}) is not an IPv4 address`;
    out.set(node, list);
  }
  return out;
}
