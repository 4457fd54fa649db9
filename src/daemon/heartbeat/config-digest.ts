/**
 * The cluster-relevant part of vigil.yaml as key hashes, for config drift
 * (src/core/membership/drift.ts). What must be equal on every node is
 * hashed: the cluster (name, nodes, heartbeat timers and links, witness),
 * every VRRP instance and every module, one key per field
 * ("modules.web.failback", "cluster.heartbeat.deadtime"). Left out is what
 * is rightly node-local: where the key file lies (its content is checked by
 * every frame's MAC), the console (web:, console:), and the witness
 * process's own section. Paths inside the config file's folder are hashed
 * relative to it: the same file on a USB stick mounted elsewhere on each
 * node (/media/usb, /media/sdb1) is the same config.
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import type { VigilConfig } from "../../config/types.ts";
import type { KeyHash, OwnDigest } from "../../core/membership/drift.ts";
import { HEARTBEAT_DIGEST_BYTES } from "../../proto/heartbeat.ts";

/** JSON with object keys sorted, so equal values hash equally whatever the YAML's key order; paths under `base` made relative. */
function canonical(v: unknown, base: string | null): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x, base)).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x, base)}`).join(",")}}`;
  }
  if (typeof v === "string" && base !== null && v.startsWith(base)) return JSON.stringify(`./${v.slice(base.length)}`);
  return JSON.stringify(v) ?? "null";
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, HEARTBEAT_DIGEST_BYTES * 2);
}

/**
 * `configFile`: where this node read the config; paths under its folder
 * are hashed relative to it. Absent: paths as they are.
 */
export function configDigest(config: VigilConfig, configFile?: string): OwnDigest {
  const folder = configFile === undefined ? null : `${dirname(configFile)}/`;
  const base = folder === "//" || folder === "./" ? null : folder;
  const fields = (prefix: string, o: object, skip: readonly string[] = []): KeyHash[] =>
    Object.entries(o)
      .filter(([k, v]) => !skip.includes(k) && v !== undefined)
      .map(([k, v]) => ({ key: `${prefix}.${k}`, hash: hash(canonical(v, base)) }));
  const c = config.cluster;
  const keys: KeyHash[] = [
    ...fields("cluster", c, ["key_file", "heartbeat", "witness"]),
    ...fields("cluster.heartbeat", c.heartbeat),
    ...fields("cluster.witness", c.witness),
    ...config.vrrp.flatMap((v) => fields(`vrrp.${v.name}`, v, ["name"])),
    ...config.modules.flatMap((m) => fields(`modules.${m.name}`, m, ["name"])),
  ];
  // Names are cut to what a frame carries (64 bytes); such long keys are rare and stay distinct enough.
  const sorted = keys.map((k) => ({ key: cut(k.key), hash: k.hash })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { digest: hash(sorted.map((k) => `${k.key}=${k.hash}`).join("\n")), keys: sorted };
}

function cut(key: string): string {
  const bytes = new TextEncoder().encode(key);
  if (bytes.length <= 64) return key;
  let out = "";
  for (const ch of key) {
    if (new TextEncoder().encode(out + ch).length > 64) break;
    out += ch;
  }
  return out;
}
