/**
 * The names a node's console is known by: what its certificate covers and
 * what the Host check accepts. The certificate gets the stable ones (the
 * config's addresses and VIPs, the node and host names); the Host check also
 * accepts every address on the machine's interfaces.
 */
import { hostname } from "node:os";
import { localIPv4Addresses } from "../config/identify.ts";
import type { VigilConfig } from "../config/types.ts";

export function certificateNames(config: VigilConfig, self: { name: string; addresses: readonly string[] }, listenHost: string): string[] {
  const vips = [
    ...config.modules.flatMap((m) => m.vips),
    ...config.vrrp.flatMap((v) => v.vips),
  ].map((cidr) => cidr.split("/")[0] as string);
  const host = hostname().toLowerCase();
  const names = [
    "localhost", "127.0.0.1", "::1",
    self.name.toLowerCase(), host, host.split(".")[0] as string,
    ...self.addresses, ...vips,
    ...(listenHost === "0.0.0.0" || listenHost === "::" ? [] : [listenHost]),
    ...(config.console?.names ?? []).map((n) => n.toLowerCase()),
  ];
  return [...new Set(names.filter((n) => n !== ""))];
}

export function hostCheckNames(config: VigilConfig, self: { name: string; addresses: readonly string[] }, listenHost: string): string[] {
  return [...new Set([...certificateNames(config, self, listenHost), ...localIPv4Addresses()])];
}
