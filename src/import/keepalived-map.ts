/**
 * keepalived.conf files (one per node) into one vigil.yaml. keepalived gives
 * each node its own file; vigil has one file for all, so instances are
 * matched by name, priorities become a per-node mapping, and a setting that
 * differs between the files is said in a comment where it is written.
 */
import { basename, dirname } from "node:path";
import { ImportError } from "./import-error.ts";
import type { ImportResult } from "./import-result.ts";
import { type KaInstance, type KaNode, type Note, noteText } from "./keepalived-read.ts";
import { nameOf, secondsToDuration } from "./values.ts";
import { comment, entry, type YEntry, type YMap, ymap, type YValue } from "./yaml-out.ts";

interface ClusterNode {
  name: string;
  address: string;
  /** Why the address is what it is, when it is not from the source. */
  comment?: string;
  /** The node's keepalived file, if it has one. */
  ka?: KaNode;
}

function nodeName(n: KaNode, i: number): string {
  if (n.routerId !== undefined) return nameOf(n.routerId, `node${i + 1}`);
  const base = basename(n.file).replace(/\.conf$/, "");
  if (base !== "keepalived" && base !== "") return nameOf(base, `node${i + 1}`);
  return nameOf(basename(dirname(n.file)), `node${i + 1}`);
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

function clusterNodes(kas: readonly KaNode[], addresses: Map<string, string[]>, warnings: string[]): ClusterNode[] {
  const names: string[] = [];
  for (const [i, ka] of kas.entries()) {
    let name = nodeName(ka, i);
    for (let k = 2; names.includes(name); k++) name = `${nodeName(ka, i)}-${k}`;
    names.push(name);
  }
  const srcOf = (ka: KaNode): string | undefined => ka.instances.find((x) => x.unicastSrc !== undefined)?.unicastSrc;
  const peersOf = (ka: KaNode): string[] => unique(ka.instances.flatMap((x) => x.unicastPeers));
  const nodes: ClusterNode[] = kas.map((ka, i) => {
    const name = names[i] as string;
    const given = addresses.get(name)?.[0];
    if (given !== undefined) return { name, address: given, ka };
    const src = srcOf(ka);
    if (src !== undefined) return { name, address: src, ka };
    // Two nodes: each one's only unicast peer is the other.
    const other = kas.length === 2 ? kas[1 - i] : undefined;
    const peers = other === undefined ? [] : peersOf(other).filter((p) => p !== srcOf(other));
    if (peers.length === 1) return { name, address: peers[0] as string, ka, comment: `from ${other?.file}'s unicast_peer` };
    const placeholder = `192.0.2.${11 + i}`;
    warnings.push(`node ${name}: ${ka.file} does not say its address; ${placeholder} is written in its place: put the real one (or use --addresses ${name}=IP)`);
    return { name, address: placeholder, ka, comment: `CHANGE: a placeholder; ${ka.file} does not say ${name}'s address (no unicast_src_ip). Use its address on the VRRP interface.` };
  });
  // One file with unicast peers: the peers are the other nodes.
  if (kas.length === 1) {
    // The instance with the most peers names them; other instances reach the same machines on other interfaces.
    const known = new Set(nodes.map((n) => n.address));
    const widest = [...(kas[0] as KaNode).instances].sort((a, b) => b.unicastPeers.length - a.unicastPeers.length)[0];
    const peers = (widest?.unicastPeers ?? []).filter((p) => !known.has(p));
    peers.forEach((p, i) => {
      const name = [...addresses.entries()].find(([, a]) => a[0] === p)?.[0] ?? `peer${i + 1}`;
      nodes.push({ name, address: p, comment: "from unicast_peer; rename it after the machine" });
    });
  }
  for (const n of nodes) {
    const extra = addresses.get(n.name)?.slice(1) ?? [];
    if (extra.length > 0) n.address = [n.address, ...extra].join("+");
  }
  const unknown = [...addresses.keys()].filter((k) => !nodes.some((n) => n.name === k));
  if (unknown.length > 0) throw new ImportError({ file: "--addresses" }, `no node named ${unknown.join(", ")} (nodes: ${nodes.map((n) => n.name).join(", ")})`);
  return nodes;
}

const noteLines = (notes: readonly Note[]): string[] => {
  const seen = new Set<string>();
  return notes.filter((n) => !seen.has(n.text) && seen.add(n.text)).map(noteText);
};

interface Instances {
  name: string;
  /** Per node, in node order; undefined where that node's file lacks the instance. */
  per: (KaInstance | undefined)[];
}

function advertInt(inst: KaInstance, notes: string[]): string {
  if (inst.version === 3) {
    const ms = Math.max(10, Math.round((inst.advertSeconds * 1000) / 10) * 10);
    return secondsToDuration(ms / 1000);
  }
  const whole = Math.max(1, Math.ceil(inst.advertSeconds));
  if (whole !== inst.advertSeconds) notes.push(`advert_int ${inst.advertSeconds}: VRRPv2 carries whole seconds; ${whole}s written (vrrp_version 3 allows steps of 10 ms)`);
  return `${whole}s`;
}

/** The settings that must be the same for all nodes, as comparable text. */
const shared = (i: KaInstance): Record<string, string> => ({
  interface: String(i.interface),
  virtual_router_id: String(i.vrid),
  version: String(i.version),
  advert_int: String(i.advertSeconds),
  nopreempt: String(i.nopreempt),
  preempt_delay: String(i.preemptDelay ?? 0),
  virtual_ipaddress: i.vips.join(" "),
  authentication: i.authPass === undefined ? "none" : "PASS",
  tracks: JSON.stringify(i.tracks),
  notify: JSON.stringify(i.notify),
  garp: JSON.stringify(i.garp),
  sync_group: String(i.syncGroup),
});

function instanceMap(group: Instances, nodes: readonly ClusterNode[], groupSizes: Map<string, number>): YValue | YEntry {
  const present = group.per.flatMap((x, i) => (x === undefined ? [] : [{ inst: x, node: nodes[i] as ClusterNode }]));
  const base = present[0]?.inst as KaInstance;
  const notes = noteLines(present.flatMap((p) => p.inst.notes));
  const where = noteText({ where: base.where, text: `vrrp_instance ${group.name}` });
  if (base.vrid === undefined) throw new ImportError(base.where, `vrrp_instance ${group.name} has no virtual_router_id`);
  if (base.vrid < 1 || base.vrid > 255) throw new ImportError(base.where, `vrrp_instance ${group.name}: virtual_router_id ${base.vrid} is not in 1-255`);
  if (base.interface === undefined) throw new ImportError(base.where, `vrrp_instance ${group.name} has no interface`);
  if (base.vips.length === 0) return comment(...notes, `${where}: no IPv4 virtual address vigil can carry: the instance is left out`);

  for (const [k, v] of Object.entries(shared(base))) {
    const others = present.slice(1).filter((p) => shared(p.inst)[k] !== v);
    if (others.length > 0) notes.push(`${k} differs between the nodes' files (${others.map((p) => p.node.name).join(", ")} differ from ${present[0]?.node.name}): vigil has one value for every node; ${present[0]?.node.name}'s is written`);
  }

  // Priorities: per node; vigil's range stops at 254 (255 is keepalived's address owner).
  const priority: YEntry[] = [];
  const fileNodes = nodes.filter((n) => n.ka !== undefined);
  nodes.forEach((n, i) => {
    const inst = group.per[i];
    let p = inst?.priority ?? 100;
    if (p > 254) {
      notes.push(`priority ${p} on ${n.name}: vigil's priorities stop at 254 (no address owner); 254 written`);
      p = 254;
    } else if (p < 1) {
      notes.push(`priority ${p} on ${n.name}: not a VRRP priority; 1 written`);
      p = 1;
    }
    if (inst === undefined && n.ka !== undefined) notes.push(`${n.name}'s file has no ${group.name}: vigil runs every instance on every node; priority 1 written for ${n.name}`);
    else if (inst === undefined) {
      notes.push(`${n.name}'s priority is not in ${fileNodes.map((f) => f.ka?.file).join(", ")}: keepalived's default 100 is written; import every node's file together for the real value`);
    }
    priority.push(entry(n.name, inst === undefined && n.ka !== undefined ? 1 : p));
  });
  const states = present.filter((p) => p.inst.state !== undefined).map((p) => `${p.inst.state} on ${p.node.name}`);
  // All BACKUP is what vigil does anyway: only a MASTER is worth a word.
  if (present.some((p) => p.inst.state === "MASTER")) {
    notes.push(`state ${states.join(", ")}: vigil starts every node as BACKUP and the highest priority becomes MASTER`);
    const master = present.find((p) => p.inst.state === "MASTER");
    const top = Math.max(...present.map((p) => p.inst.priority));
    if (master !== undefined && master.inst.priority < top) notes.push(`${master.node.name} says state MASTER but another node has a higher priority: with vigil that node becomes MASTER`);
  }

  const fields: YEntry[] = [
    entry("name", nameOf(group.name, "VI_1")),
    entry("interface", base.interface),
    entry("vrid", base.vrid),
    entry("version", base.version, base.version === 2 ? ["keepalived's default VRRP version is 2; vigil's is 3"] : []),
    entry("advert_int", advertInt(base, notes)),
    entry("priority", ymap(...priority)),
    entry("vips", base.vips),
  ];
  if (base.nopreempt) fields.push(entry("preempt", false));
  if (base.preemptDelay !== undefined) fields.push(entry("preempt_delay", secondsToDuration(base.preemptDelay)));

  const peers = unique(present.flatMap((p) => [...(p.inst.unicastSrc === undefined ? [] : [p.inst.unicastSrc]), ...p.inst.unicastPeers]));
  if (peers.length > 0) {
    // A node whose file names no source here is reached at its cluster address.
    const silent = nodes.filter((n, i) => group.per[i]?.unicastSrc === undefined).map((n) => n.address.split("+")[0] as string);
    fields.push(entry("unicast_peer", unique([...peers, ...silent]), ["every node's address: vigil uses the same list on each node, and each leaves out its own"]));
    const src = present.filter((p) => p.inst.unicastSrc !== undefined);
    if (src.length > 0) fields.push(entry("unicast_src_ip", ymap(...src.map((p) => entry(p.node.name, p.inst.unicastSrc as string)))));
  }
  if (base.authPass !== undefined) {
    if (base.version === 3) notes.push("authentication: VRRPv3 has no authentication (keepalived ignores it with version 3): left out");
    else {
      if (base.authPass.length > 8) notes.push("auth_pass: VRRPv2 carries 8 characters; keepalived sends the first 8, so does vigil's value here");
      fields.push(entry("authentication", ymap(entry("auth_type", "PASS"), entry("auth_pass", base.authPass.slice(0, 8)))));
    }
  }
  if (base.tracks.length > 0) {
    fields.push(entry("track", base.tracks.map((t) => ymap(...Object.entries(t).map(([k, v]) => entry(k, v)))), [
      "weight 0: the instance goes to FAULT while the check fails (keepalived's default); otherwise the weight is added to the priority",
    ]));
  }
  for (const [k, v] of Object.entries(base.notify)) fields.push(entry(k, v));
  for (const [k, v] of Object.entries(base.garp)) fields.push(entry(k, v));
  if (base.acceptMode === false) fields.push(entry("accept_mode", false, ["no_accept / vrrp_strict: traffic to the VIPs is dropped unless this node owns them"]));
  if (base.syncGroup !== undefined) {
    if ((groupSizes.get(base.syncGroup) ?? 0) >= 2) fields.push(entry("sync_group", nameOf(base.syncGroup, "G")));
    else notes.push(`vrrp_sync_group ${base.syncGroup}: only this instance of it was imported; a group of one is left out`);
  }
  if (notes.length > 0) fields.unshift(comment(...notes));
  return ymap(...fields);
}

/** keepalived nodes (one per file, in order) into the vigil document. */
export function mapKeepalived(kas: readonly KaNode[], addresses: Map<string, string[]>): ImportResult {
  const warnings: string[] = [];
  const nodes = clusterNodes(kas, addresses, warnings);
  const groups: Instances[] = [];
  kas.forEach((ka, i) => {
    for (const inst of ka.instances) {
      let g = groups.find((x) => x.name === inst.name);
      if (g === undefined) {
        g = { name: inst.name, per: nodes.map(() => undefined) };
        groups.push(g);
      }
      g.per[i] = inst;
    }
  });
  if (groups.length === 0) throw new ImportError({ file: kas.map((k) => k.file).join(", ") }, "no vrrp_instance to import");
  const groupSizes = new Map<string, number>();
  for (const g of groups) {
    const sg = g.per.find((x) => x !== undefined)?.syncGroup;
    if (sg !== undefined) groupSizes.set(sg, (groupSizes.get(sg) ?? 0) + 1);
  }
  const items = groups.map((g) => instanceMap(g, nodes, groupSizes));
  const vrrpList = items.filter((x): x is YMap => typeof x === "object" && !Array.isArray(x) && "kind" in x);
  const skipped = items.filter((x): x is YEntry => typeof x === "object" && !Array.isArray(x) && !("kind" in x));
  if (vrrpList.length === 0) throw new ImportError({ file: kas.map((k) => k.file).join(", ") }, "no vrrp_instance with an IPv4 virtual address to import");
  const globalNotes = noteLines(kas.flatMap((k) => k.notes));

  const doc = ymap(
    entry("cluster", ymap(
      entry("name", "keepalived"),
      entry("key_file", "vigil.key", [
        "Signs vigil's heartbeat between the nodes (UDP 7694). keepalived has no such key and no",
        "secret is imported: run `vigil keygen vigil.key` beside this file and copy it to every node.",
      ]),
      entry("nodes", nodes.map((n) => ymap(entry("name", n.name, n.comment === undefined ? [] : [n.comment]), entry("addresses", n.address.split("+"))))),
    )),
    ...(globalNotes.length > 0 ? [comment(...globalNotes)] : []),
    ...skipped,
    entry("vrrp", vrrpList),
  );
  const header = [
    `vigil.yaml imported from ${kas.map((k) => k.file).join(", ")} by \`vigil import keepalived\`.`,
    "One file for every node. Comments say what did not map, and why; check it with `vigil check-config`.",
  ];
  return { header, doc, warnings };
}
