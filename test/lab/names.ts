/**
 * The lab's naming and addressing scheme, shared with scripts/netlab.sh.
 *
 * A run is `vl-<6 hex>`. Its namespaces are `<run>-sw` (the switch, holding
 * one bridge per link) and `<run>-h<i>` (hosts, i from 1). Interface names
 * live inside those namespaces, so they are short and never collide between
 * runs: hosts see `eth0`/`eth1`, the switch has `br1`/`br2` and one port per
 * host and link, `h<i>l<link>`.
 */
import { randomBytes } from "node:crypto";

export type LinkNo = 1 | 2;

/** Host i (1-based) gets .10+i on every link; .1-.10 and .100+ stay free for witnesses and VIPs. */
export const MAX_HOSTS = 40;

/** One /24 documentation range per link. */
export const LINK_SUBNETS: Readonly<Record<LinkNo, string>> = { 1: "198.51.100", 2: "203.0.113" };

/** Where labs record what they made, so `netlab.sh down` can undo exactly that. */
export const REGISTRY_DIR = "/run/vigil-netlab";

const RUN_RE = /^vl-[0-9a-f]{6}$/;

export function newRunId(): string {
  return `vl-${randomBytes(3).toString("hex")}`;
}

export function isRunId(s: string): boolean {
  return RUN_RE.test(s);
}

export function switchNs(run: string): string {
  return `${run}-sw`;
}

export function hostNs(run: string, host: number): string {
  return `${run}-h${host}`;
}

export function hostName(host: number): string {
  return `h${host}`;
}

/** The host's interface on a link: eth0 for link 1, eth1 for link 2. */
export function hostIf(link: LinkNo): string {
  return `eth${link - 1}`;
}

export function bridgeIf(link: LinkNo): string {
  return `br${link}`;
}

/** The switch-side end of a host's cable. */
export function portIf(host: number, link: LinkNo): string {
  return `h${host}l${link}`;
}

export function hostAddr(host: number, link: LinkNo): string {
  return `${LINK_SUBNETS[link]}.${10 + host}`;
}

export function linksUpTo(links: LinkNo): LinkNo[] {
  return links === 2 ? [1, 2] : [1];
}
