/**
 * Building and removing a lab's namespaces. Everything is made from inside the
 * lab's own namespaces (`ip -n`), so the root namespace never holds a lab
 * interface, not even for a moment.
 */
import { spawnSync } from "node:child_process";
import { runCommand } from "./exec.ts";
import { bridgeIf, hostAddr, hostIf, hostNs, linksUpTo, portIf, switchNs, type LinkNo } from "./names.ts";

export interface Shape {
  run: string;
  hosts: number;
  links: LinkNo;
}

/** Every namespace of a run, switch first. */
export function namespacesOf(shape: Shape): string[] {
  return [switchNs(shape.run), ...Array.from({ length: shape.hosts }, (_, i) => hostNs(shape.run, i + 1))];
}

const ipBatch = (args: string[], lines: string[], where: string) =>
  runCommand(["ip", ...args, "-batch", "-"], { input: `${lines.join("\n")}\n`, check: true, timeoutMs: 30_000 }, where);

/** Lists named network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const r = await runCommand(["ip", "netns", "list"], { check: true });
  return parseNetnsList(r.stdout);
}

export function parseNetnsList(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter(Boolean);
}

export async function build(shape: Shape): Promise<void> {
  const sw = switchNs(shape.run);
  const links = linksUpTo(shape.links);
  const hostIds = Array.from({ length: shape.hosts }, (_, i) => i + 1);
  await ipBatch([], namespacesOf(shape).map((ns) => `netns add ${ns}`), "the root namespace");

  // addrgenmode none keeps IPv6 link-local chatter (DAD, router solicitations) off the lab's wires.
  const swLines = ["link set lo up"];
  for (const link of links) {
    const br = bridgeIf(link);
    swLines.push(`link add ${br} type bridge`, `link set ${br} addrgenmode none`, `link set ${br} up`);
    for (const h of hostIds) {
      const port = portIf(h, link);
      swLines.push(
        `link add ${port} type veth peer name ${hostIf(link)} netns ${hostNs(shape.run, h)}`,
        `link set ${port} addrgenmode none`,
        `link set ${port} master ${br}`,
        `link set ${port} up`,
      );
    }
  }
  await ipBatch(["-n", sw], swLines, sw);

  await Promise.all(
    hostIds.map((h) => {
      const ns = hostNs(shape.run, h);
      const lines = ["link set lo up"];
      for (const link of links) {
        const dev = hostIf(link);
        lines.push(`link set ${dev} addrgenmode none`, `addr add ${hostAddr(h, link)}/24 dev ${dev}`, `link set ${dev} up`);
      }
      return ipBatch(["-n", ns], lines, ns);
    }),
  );
}

/**
 * Deletes the given namespaces (hosts before the switch), tolerating ones that
 * are already gone. Deleting a namespace also removes its veth ends and bridges.
 */
export async function removeNamespaces(nss: readonly string[]): Promise<void> {
  const present = new Set(await listNamespaces());
  const lines = [...nss].reverse().filter((ns) => present.has(ns)).map((ns) => `netns del ${ns}`);
  if (lines.length > 0) await runCommand(["ip", "-force", "-batch", "-"], { input: `${lines.join("\n")}\n` });
}

export function removeNamespacesSync(nss: readonly string[]): void {
  const listed = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  const present = new Set(parseNetnsList(listed.stdout ?? ""));
  const lines = [...nss].reverse().filter((ns) => present.has(ns)).map((ns) => `netns del ${ns}`);
  if (lines.length > 0) spawnSync("ip", ["-force", "-batch", "-"], { input: `${lines.join("\n")}\n` });
}
