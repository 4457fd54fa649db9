/**
 * Which configured node this machine is: the one named by --node, or the one
 * owning an address of a local interface. The same file serves every node,
 * so this is how a node finds its own entry.
 */
import { networkInterfaces } from "node:os";
import type { VigilConfig } from "./types.ts";

export type Identity =
  | { ok: true; node: { name: string; addresses: string[] }; how: "flag" | "address" }
  | { ok: false; message: string };

/** Every IPv4 address of this machine's interfaces, loopback included (the demo runs on 127.0.0.1). */
export function localIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Node before 18.4 reported the family as the number 4.
      if (a.family === "IPv4" || (a.family as unknown) === 4) out.push(a.address);
    }
  }
  return [...new Set(out)];
}

function describeNodes(config: VigilConfig): string {
  return config.cluster.nodes.map((n) => `${n.name} (${n.addresses.join(", ")})`).join(", ");
}

export function identifyNode(config: VigilConfig, localAddresses: readonly string[], nodeName?: string): Identity {
  const nodes = config.cluster.nodes;
  if (nodeName !== undefined) {
    const node = nodes.find((n) => n.name === nodeName);
    if (node === undefined) {
      return { ok: false, message: `--node ${nodeName}: no such node in the config; the nodes are ${nodes.map((n) => n.name).join(", ")}` };
    }
    return { ok: true, node: { name: node.name, addresses: [...node.addresses] }, how: "flag" };
  }
  const local = new Set(localAddresses);
  const mine = nodes.filter((n) => n.addresses.some((a) => local.has(a)));
  const localList = localAddresses.length === 0 ? "none" : localAddresses.join(", ");
  if (mine.length === 0) {
    return {
      ok: false,
      message:
        `this machine is none of the configured nodes: its addresses are ${localList}; ` +
        `the nodes are ${describeNodes(config)}. Add this machine's address to its node, or name the node with --node NAME`,
    };
  }
  if (mine.length > 1) {
    return {
      ok: false,
      message:
        `this machine has addresses of ${mine.length} nodes: ${mine.map((n) => `${n.name} (${n.addresses.filter((a) => local.has(a)).join(", ")})`).join(", ")}; ` +
        `its addresses are ${localList}. Name the node with --node NAME`,
    };
  }
  const node = mine[0] as (typeof nodes)[number];
  return { ok: true, node: { name: node.name, addresses: [...node.addresses] }, how: "address" };
}
