/** Cross-field rules of modules: unique names and VIPs, known preferred nodes, non-overlapping replicated folders, resources. */
import { posix } from "node:path";
import { checkerProblems } from "./checker-checks.ts";
import { farmProblems } from "./farm-checks.ts";
import { DEFAULTS } from "./defaults.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { ipv4ToNumber, isIPv4, splitCidr } from "./formats.ts";
import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";
import { isRec, items, rec, str } from "./raw.ts";
import { FirstUse } from "./uniqueness.ts";
import { kindProblems } from "./vrrp-checks.ts";

export { CHECKER_KINDS } from "./checker-checks.ts";

/** Two replicated folders overlap when one is, or is inside, the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(b === "/" ? "/" : `${b}/`) || b.startsWith(a === "/" ? "/" : `${a}/`);
}

/** Folders the kernel makes up (mounting over them or writing a copy into them breaks the host). */
const KERNEL_FOLDERS = ["/proc", "/sys", "/dev"];
/** Folders of the system as a whole: the service's own folder lies below one of them. */
const SYSTEM_FOLDERS = new Set(["/bin", "/boot", "/etc", "/lib", "/lib64", "/run", "/sbin", "/usr", "/var", "/var/lib"]);

/**
 * Why a replicated folder cannot be one (undefined when it can). The PRIM mounts
 * each folder over itself with FUSE and the SECOND writes the PRIM's tree into
 * it: over / or /usr that hides the host's own files (vigil's state dir, its
 * binary, the tools it runs) behind the mirror, and over /proc the kernel's.
 */
function unmirrorable(dir: string): string | undefined {
  if (KERNEL_FOLDERS.some((k) => dir === k || dir.startsWith(`${k}/`))) return "a folder the kernel makes up, not files on a disk";
  if (dir === "/") return "the whole file system (vigil's state dir, its binary and the tools it runs would be mirrored and mounted over)";
  if (SYSTEM_FOLDERS.has(dir)) return "a system folder as a whole (the host's own files would be mirrored and mounted over)";
  return undefined;
}

function inSubnet(address: string, cidr: { address: string; prefix: number }): boolean {
  if (!isIPv4(address)) return false;
  const mask = cidr.prefix === 0 ? 0 : (~0 << (32 - cidr.prefix)) >>> 0;
  return ((ipv4ToNumber(address) & mask) >>> 0) === ((ipv4ToNumber(cidr.address) & mask) >>> 0);
}

/** Every node address of the cluster section, for "which interface holds this VIP?". */
function nodeAddresses(cluster: unknown): string[] {
  return items(rec(cluster)["nodes"]).flatMap((n) => items(rec(n)["addresses"]).filter((a): a is string => typeof a === "string"));
}

/** Below this an ack_timeout drops a healthy standby whose disk is merely busy (one fsync). */
const MIN_ACK_TIMEOUT_MS = 1_000;
/** Below this a disk_timeout detaches a healthy copy whose disk is merely busy (one fsync). */
const MIN_DISK_TIMEOUT_MS = 1_000;

const SHORT_FORM = ["vip", "vips", "start", "stop"] as const;
const RESOURCE_KINDS = ["vip", "service", "start"] as const;

/** A resource entry's kind; a stop script alone counts as a start/stop pair. */
function resourceProblems(r: unknown, path: Segment[]): Problem[] {
  if (!isRec(r)) return [];
  const probe = "stop" in r && !("start" in r) ? { ...r, start: r["stop"] } : r;
  const kind = kindProblems(probe, path, RESOURCE_KINDS).map((p) => ({
    ...p,
    found: p.found.replace(" or start", " or start/stop"),
    expected: p.expected.replace(" or start", " or start/stop scripts"),
  }));
  if (kind.length > 0) return kind;
  const out: Problem[] = [];
  const what = "vip" in r ? "vip" : "service" in r ? "service" : "script";
  if ("interface" in r && what !== "vip") {
    out.push({ path: [...path, "interface"], at: "key", found: `interface on a ${what} entry`, expected: "interface only on vip entries" });
  }
  for (const key of ["start_timeout", "stop_timeout"]) {
    if (key in r && what === "vip") {
      out.push({ path: [...path, key], at: "key", found: `${key} on a vip entry`, expected: `${key} only on service and script entries (adding an address does not hang)` });
    }
  }
  return out;
}

/** The VIPs of a module with where each one is written, from the short form and from resources. */
function moduleVips(x: Record<string, unknown>, i: number): { value: unknown; path: Segment[]; iface: unknown }[] {
  return [
    ...(typeof x["vip"] === "string" ? [{ value: x["vip"], path: ["modules", i, "vip"], iface: x["interface"] }] : []),
    ...items(x["vips"]).map((v, k) => ({ value: v, path: ["modules", i, "vips", k], iface: x["interface"] })),
    ...items(x["resources"]).flatMap((r, k) =>
      isRec(r) && "vip" in r ? [{ value: r["vip"], path: ["modules", i, "resources", k, "vip"], iface: r["interface"] ?? x["interface"] }] : []),
  ];
}

function shortFormProblems(x: Record<string, unknown>, i: number): Problem[] {
  if (!("resources" in x)) return [];
  return SHORT_FORM.filter((k) => k in x && !(k === "vips" && Array.isArray(x[k]) && x[k].length === 0)).map((k) => ({
    path: ["modules", i, k], at: "key" as const,
    found: `${k} beside resources`,
    expected: `either resources (every VIP, service and script in start order) or vip/vips/start/stop, not both: move ${k} into resources`,
  }));
}

/** Addresses of the VRRP instances' VIPs, with the instance that holds each. */
function vrrpVips(vrrp: unknown): Map<string, string> {
  const out = new Map<string, string>();
  items(vrrp).forEach((v, i) => {
    const name = str(rec(v)["name"]);
    for (const a of items(rec(v)["vips"])) {
      const cidr = typeof a === "string" ? splitCidr(a) : undefined;
      if (cidr !== undefined && !out.has(cidr.address)) out.set(cidr.address, `vrrp[${i}]${name === undefined ? "" : ` (${name})`}`);
    }
  });
  return out;
}

export function moduleProblems(modules: unknown, nodes: readonly string[], cluster?: unknown, vrrp?: unknown): Problem[] {
  const out: Problem[] = [];
  const vrrpOwners = vrrpVips(vrrp);
  const names = new FirstUse("a name no other module has");
  const vips = new FirstUse("each virtual address in one module only");
  const folders: { dir: string; owner: string }[] = [];
  const mirrorPorts = new FirstUse("a replication port no other mirror module uses (a module uses one per folder from its port on; set port: on one of them)");
  // The heartbeat's port as the node binds it: the default when none is written.
  const hbPort = rec(rec(cluster)["heartbeat"])["port"] ?? DEFAULTS.heartbeat.port;
  const addresses = nodeAddresses(cluster);
  const push = (p: Problem | undefined) => p !== undefined && out.push(p);
  items(modules).forEach((x, i) => {
    if (!isRec(x)) return;
    const name = str(x["name"]);
    const type = str(x["type"]);
    const owner = `modules[${i}]${name === undefined ? "" : ` (${name})`}`;
    if (name !== undefined) push(names.claim(name, JSON.stringify(name), owner, ["modules", i, "name"]));

    if ("vip" in x && "vips" in x) {
      out.push({ path: ["modules", i, "vips"], at: "key", found: "both vip and vips", expected: "either vip (one address) or vips (a list)" });
    }
    out.push(...shortFormProblems(x, i));
    items(x["resources"]).forEach((r, k) => out.push(...resourceProblems(r, ["modules", i, "resources", k])));
    for (const v of moduleVips(x, i)) {
      const cidr = typeof v.value === "string" ? splitCidr(v.value) : undefined;
      if (cidr === undefined) continue;
      push(vips.claim(cidr.address, JSON.stringify(v.value), owner, v.path));
      const instance = vrrpOwners.get(cidr.address);
      if (instance !== undefined) {
        out.push({
          path: v.path, at: "value", found: `${JSON.stringify(v.value)}, which ${instance} holds too`,
          expected: "an address no VRRP instance holds (two owners would add and remove it against each other)",
        });
      }
      if (v.iface === undefined && addresses.length > 0 && !addresses.some((a) => inSubnet(a, cidr))) {
        out.push({
          path: v.path, at: "value",
          found: `${JSON.stringify(v.value)} without an interface, and no node address is in ${cidr.address}/${cidr.prefix}`,
          expected: "interface: NAME on the module (or on this vip entry), since the VIP's subnet does not show which interface holds it",
        });
      }
    }
    if (type === "farm") out.push(...farmProblems(x, i, nodes, cluster));
    if (type === "farm" && !("vip" in x) && items(x["vips"]).length === 0) {
      const empty = Array.isArray(x["vips"]);
      out.push({
        path: ["modules", i, empty ? "vips" : "vip"], at: "value", found: empty ? "an empty list" : "nothing",
        expected: "a virtual address like 198.51.100.200/24 (every node of a farm holds the VIP; or use vips)",
      });
    }

    const prefer = str(x["prefer"]);
    if (prefer !== undefined && nodes.length > 0 && !nodes.includes(prefer)) {
      out.push({ path: ["modules", i, "prefer"], at: "value", found: JSON.stringify(prefer), expected: `a node name: ${nodes.join(", ")}` });
    }
    if ((type === "failover" || type === "mirror") && x["failback"] === "auto" && prefer === undefined) {
      out.push({
        path: ["modules", i, "failback"], at: "value", found: `"auto" without prefer`,
        expected: "prefer: NODE as well, naming the node to fail back to (or failback: manual)",
      });
    }
    const delay = typeof x["failback_delay"] === "string" ? parseDuration(x["failback_delay"]) : undefined;
    if (delay !== undefined && delay > 0 && x["failback"] !== "auto") {
      // 0s is what the printed effective config says for every module, so only a real delay is an error here.
      out.push({
        path: ["modules", i, "failback_delay"], at: "value", found: `${x["failback_delay"] as string} with failback: ${str(x["failback"]) ?? "manual"}`,
        expected: "failback_delay only with failback: auto (with manual the module moves back only on `vigil swap`)",
      });
    }
    if (type === "mirror" && nodes.length !== 2 && nodes.length > 0) {
      out.push({
        path: ["modules", i, "type"], at: "value", found: `"mirror" in a cluster of ${nodes.length} node${nodes.length === 1 ? "" : "s"}`,
        expected: "a cluster of exactly 2 nodes for a mirror module (a primary and its mirror)",
      });
    }
    const ackTimeout = type === "mirror" && typeof x["ack_timeout"] === "string" ? parseDuration(x["ack_timeout"]) : undefined;
    if (ackTimeout !== undefined && ackTimeout > 0 && ackTimeout < MIN_ACK_TIMEOUT_MS) {
      out.push({
        path: ["modules", i, "ack_timeout"], at: "value", found: x["ack_timeout"] as string,
        expected: "0s (no bound) or at least 1s (a fsync on a busy disk takes that long; a shorter bound drops a healthy standby)",
      });
    }
    const diskTimeout = type === "mirror" && typeof x["disk_timeout"] === "string" ? parseDuration(x["disk_timeout"]) : undefined;
    if (diskTimeout !== undefined && diskTimeout > 0 && diskTimeout < MIN_DISK_TIMEOUT_MS) {
      out.push({
        path: ["modules", i, "disk_timeout"], at: "value", found: x["disk_timeout"] as string,
        expected: "0s (never) or at least 1s (a fsync on a busy disk takes that long; a shorter bound detaches a healthy copy)",
      });
    } else if (diskTimeout !== undefined && diskTimeout > 0) {
      // The standby must give up on its disk before the primary gives up on the standby, or it never says why.
      const ack = ackTimeout ?? DEFAULTS.module.mirror_ack_timeout;
      if (ack > 0 && diskTimeout >= ack) {
        out.push({
          path: ["modules", i, "disk_timeout"], at: "value", found: `${x["disk_timeout"] as string} with ack_timeout ${formatDuration(ack)}`,
          expected: "a disk_timeout below ack_timeout (the standby must detach its hung disk, and say so, before the primary drops the link to it for the acknowledgements it owes)",
        });
      }
    }
    if (type === "mirror" && "async_queue" in x && x["mode"] !== "async") {
      out.push({
        path: ["modules", i, "async_queue"], at: "value", found: `async_queue with mode: ${str(x["mode"]) ?? "sync"}`,
        expected: "mode: async as well (in mode sync nothing is acknowledged ahead of the other node, so there is no queue)",
      });
    }
    if (type === "mirror") {
      // One replication link per folder: the module's port, then the next ones.
      const port = typeof x["port"] === "number" ? x["port"] : 7696;
      const n = Math.max(1, items(x["replicate"]).length);
      const at = "port" in x ? ["modules", i, "port"] : ["modules", i, "type"];
      if (port + n - 1 > 65535) {
        out.push({ path: at, at: "value", found: `port ${port} with ${n} folders (one port each, ${port}-${port + n - 1})`, expected: "a port low enough for one port per folder (65535 at most)" });
      }
      for (let k = 0; k < n && port + k <= 65535; k++) {
        const p = port + k;
        push(mirrorPorts.claim(String(p), String(p), owner, at));
        if (typeof hbPort === "number" && hbPort === p) {
          out.push({ path: at, at: "value", found: `replication port ${p}${n === 1 ? "" : ` (folder ${k + 1})`}, the heartbeat's UDP port too`, expected: "another port: the link is TCP, but a firewall rule for one would open the other" });
        }
      }
    }
    items(x["replicate"]).forEach((d, k) => {
      if (typeof d !== "string" || !d.startsWith("/")) return;
      const dir = posix.normalize(d).replace(/(.)\/$/, "$1");
      const why = unmirrorable(dir);
      if (why !== undefined) {
        out.push({
          path: ["modules", i, "replicate", k], at: "value", found: `${JSON.stringify(d)}, ${why}`,
          expected: "the service's own folder, like /var/lib/vms or /srv/vms",
        });
        return;
      }
      const clash = folders.find((f) => overlaps(f.dir, dir));
      if (clash !== undefined) {
        out.push({
          path: ["modules", i, "replicate", k], at: "value",
          found: `${JSON.stringify(d)}, which overlaps ${JSON.stringify(clash.dir)} of ${clash.owner}`,
          expected: "folders that are not inside one another (each file is mirrored by one folder of one module)",
        });
      } else folders.push({ dir, owner });
    });
    items(x["checkers"]).forEach((c, k) => out.push(...checkerProblems(c, ["modules", i, "checkers", k])));
  });
  return out;
}
