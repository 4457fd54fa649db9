/**
 * Established TCP connections to the VIP that this node serves, from
 * /proc/net/tcp (the network namespace's own table): what a draining node
 * waits for. No tool needed.
 */
import { readFile } from "node:fs/promises";

const ESTABLISHED = "01";

/** "198.51.100.50" to /proc/net/tcp's form: the address as a host-order (little-endian) hex word. */
export function procNetAddress(ip: string): string {
  const p = ip.split(".").map(Number);
  return [p[3], p[2], p[1], p[0]].map((b) => (b ?? 0).toString(16).padStart(2, "0")).join("").toUpperCase();
}

/** Counts established connections whose local side is vip:port for one of `ports`. */
export function countEstablished(procNetTcp: string, vip: string, ports: readonly number[]): number {
  const addr = procNetAddress(vip);
  const wanted = new Set(ports.map((p) => p.toString(16).toUpperCase().padStart(4, "0")));
  let n = 0;
  for (const line of procNetTcp.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    if (local === undefined || f[3] !== ESTABLISHED) continue;
    const [a, port] = local.split(":");
    if (a === addr && port !== undefined && wanted.has(port)) n++;
  }
  return n;
}

export async function establishedToVip(vip: string, ports: readonly number[], file = "/proc/net/tcp"): Promise<number> {
  try {
    return countEstablished(await readFile(file, "utf8"), vip, ports);
  } catch {
    // No /proc (not Linux): nothing to wait for.
    return 0;
  }
}
