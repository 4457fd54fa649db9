/**
 * Config drift: the digest and key hashes of the cluster-relevant config
 * (src/daemon/heartbeat/config-digest.ts), and how a peer's pages are put
 * together to name the keys that differ (src/core/membership/drift.ts).
 */
import { describe, expect, it } from "vitest";
import { pageFor, takePage, type OwnDigest, type PeerDrift } from "../../src/core/membership/drift.ts";
import { configDigest } from "../../src/daemon/heartbeat/config-digest.ts";
import type { VigilConfig } from "../../src/config/types.ts";

function config(over: { failback?: "auto" | "manual"; listen?: string; keyFile?: string; deadtime?: number } = {}): VigilConfig {
  return {
    cluster: {
      name: "scada",
      key_file: over.keyFile ?? "/media/usb/vigil.key",
      nodes: [
        { name: "scada1", addresses: ["198.51.100.11"] },
        { name: "scada2", addresses: ["198.51.100.12"] },
      ],
      heartbeat: { interval: 100, warntime: 300, deadtime: over.deadtime ?? 500, initdead: 5000, port: 694, links: [] },
      witness: { ping: ["198.51.100.1"], lease: 3000, grace: 1000 },
    },
    vrrp: [],
    modules: [{ name: "hmi", type: "failover", vip: "198.51.100.100/24", start: "/opt/hmi/start.sh", stop: "/opt/hmi/stop.sh", prefer: "scada1", failback: over.failback ?? "manual" }],
    web: { listen: over.listen ?? "0.0.0.0:9010" },
  } as unknown as VigilConfig;
}

/** Feeds every page of `theirs` to a fresh drift record, as frames would bring them. */
function learn(theirs: OwnDigest, own: OwnDigest, perPage = 3): { drift: PeerDrift | undefined; changes: number } {
  let drift: PeerDrift | undefined;
  let changes = 0;
  for (let round = 0; round < 20; round++) {
    const r = takePage(drift, pageFor(theirs, round, perPage, 480), own);
    drift = r.next;
    if (r.changed) changes++;
  }
  return { drift, changes };
}

describe("config digest", () => {
  it("is the same for the same cluster config, whatever is node-local (console, key file path)", () => {
    const a = configDigest(config());
    const b = configDigest(config({ listen: "198.51.100.12:9010", keyFile: "/etc/vigil/vigil.key" }));
    expect(b.digest).toBe(a.digest);
    expect(a.keys.map((k) => k.key)).toContain("modules.hmi.failback");
    expect(a.keys.map((k) => k.key)).toContain("cluster.heartbeat.deadtime");
    expect(a.keys.some((k) => k.key.startsWith("web") || k.key === "cluster.key_file")).toBe(false);
  });

  it("the same file on a stick mounted elsewhere on each node is the same config", () => {
    const on = (mount: string): VigilConfig => {
      const c = config();
      c.modules = [{ ...c.modules[0], start: `${mount}/hmi/start.sh`, stop: `${mount}/hmi/stop.sh` } as VigilConfig["modules"][number]];
      return c;
    };
    expect(configDigest(on("/media/usb"), "/media/usb/vigil.yaml").digest).toBe(configDigest(on("/media/sdb1"), "/media/sdb1/vigil.yaml").digest);
    expect(configDigest(on("/media/usb"), "/media/usb/vigil.yaml").digest).not.toBe(configDigest(on("/opt/other"), "/media/sdb1/vigil.yaml").digest);
  });

  it("differs, key by key, where the cluster config differs", () => {
    const a = configDigest(config());
    const b = configDigest(config({ failback: "auto", deadtime: 800 }));
    expect(b.digest).not.toBe(a.digest);
    const changed = a.keys.filter((k) => b.keys.find((x) => x.key === k.key)?.hash !== k.hash).map((k) => k.key);
    expect(changed).toEqual(["cluster.heartbeat.deadtime", "modules.hmi.failback"]);
  });
});

describe("drift between two nodes", () => {
  it("names the differing keys once every page is in, and says so once", () => {
    const own = configDigest(config());
    const theirs = configDigest(config({ failback: "auto" }));
    const { drift, changes } = learn(theirs, own);
    expect(drift?.differing).toEqual(["modules.hmi.failback"]);
    expect(changes).toBe(1);
  });

  it("nothing to name while pages are missing", () => {
    const own = configDigest(config());
    const theirs = configDigest(config({ failback: "auto" }));
    const r = takePage(undefined, pageFor(theirs, 0, 3, 480), own);
    expect(r.next.differing).toBeNull();
    expect(r.changed).toBe(false);
  });

  it("equal digests agree at once; agreeing again after drift is a change", () => {
    const own = configDigest(config());
    const same = takePage(undefined, pageFor(own, 0, 3, 480), own);
    expect(same.next.differing).toEqual([]);
    const { drift } = learn(configDigest(config({ failback: "auto" })), own);
    const healed = takePage(drift, pageFor(own, 0, 3, 480), own);
    expect(healed).toEqual({ next: { digest: own.digest, collected: [], differing: [] }, changed: true });
  });

  it("a module only one node has is named by its keys", () => {
    const own = configDigest(config());
    const other = config();
    other.modules = [];
    const { drift } = learn(configDigest(other), own);
    expect(drift?.differing?.every((k) => k.startsWith("modules.hmi."))).toBe(true);
    expect(drift?.differing).toContain("modules.hmi.failback");
  });

  it("pages cover every key, within the per-page limits", () => {
    const own = configDigest(config());
    const seen = new Set<string>();
    for (let round = 0; round < own.keys.length; round++) {
      const p = pageFor(own, round, 4, 60);
      expect(p.keys.length).toBeLessThanOrEqual(4);
      expect(p.total).toBe(own.keys.length);
      for (const k of p.keys) seen.add(k.key);
    }
    expect([...seen].sort()).toEqual(own.keys.map((k) => k.key));
  });
});
