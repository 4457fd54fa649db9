/**
 * From vigil.yaml to what the farm engine runs (src/daemon/farm/setup.ts).
 */
import { describe, expect, it } from "vitest";
import type { VigilConfig } from "../../src/config/types.ts";
import { farmConfigKey, farmSetup, interfaceForVip } from "../../src/daemon/farm/setup.ts";

const ifaces = {
  lo: [{ address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", mac: "00:00:00:00:00:00", internal: true, cidr: "127.0.0.1/8" }],
  eth0: [{ address: "198.51.100.11", netmask: "255.255.255.0", family: "IPv4", mac: "02:00:00:00:00:0b", internal: false, cidr: "198.51.100.11/24" }],
  eth1: [{ address: "203.0.113.11", netmask: "255.255.255.0", family: "IPv4", mac: "02:00:00:00:01:0b", internal: false, cidr: "203.0.113.11/24" }],
} as unknown as NonNullable<Parameters<typeof interfaceForVip>[1]>;

function config(modules: unknown[], nodes = 3, ping: string[] = []): VigilConfig {
  return {
    cluster: {
      name: "web-farm",
      heartbeat: { interval: 100, deadtime: 500 },
      nodes: Array.from({ length: nodes }, (_, i) => ({ name: `web${i + 1}`, addresses: [`198.51.100.${11 + i}`] })),
      witness: { ping },
    },
    vrrp: [],
    modules,
    web: { listen: "127.0.0.1:9010" },
  } as unknown as VigilConfig;
}

const farm = (extra: Record<string, unknown> = {}) => ({
  name: "web",
  type: "farm",
  vips: ["198.51.100.200/24"],
  ports: [80, 443],
  split: "client_ip",
  checkers: [],
  ...extra,
});

describe("farm setup", () => {
  const key = new Uint8Array(32).fill(1);

  it("finds the interface whose subnet holds the VIP", () => {
    expect(interfaceForVip("198.51.100.200/24", ifaces)).toBe("eth0");
    expect(interfaceForVip("203.0.113.9/24", ifaces)).toBe("eth1");
    expect(interfaceForVip("192.0.2.9/24", ifaces)).toBeUndefined();
  });

  it("gives every node the same seeds, weights (default 1) and virtual MAC", () => {
    const a = farmSetup(config([farm({ weights: { web2: 2 } })]), "web1", { key, ifaces });
    const b = farmSetup(config([farm({ weights: { web2: 2 } })]), "web3", { key, ifaces });
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    const [ma, mb] = [a.modules[0]!, b.modules[0]!];
    expect(ma.core.nodes).toEqual([
      { name: "web1", weight: 1 },
      { name: "web2", weight: 2 },
      { name: "web3", weight: 1 },
    ]);
    expect([ma.core.self, mb.core.self]).toEqual([0, 2]);
    expect(ma.nftSeed).toBe(mb.nftSeed);
    expect(ma.core.ownershipSeed).toBe(mb.core.ownershipSeed);
    expect(ma.vmac).toBe(mb.vmac);
    expect(ma).toMatchObject({ vip: "198.51.100.200", interface: "eth0", ports: [80, 443], split: "client_ip" });
    // Listening times from the heartbeat; no witness unless cluster.witness.ping has addresses.
    expect(ma.core).toMatchObject({ settleMs: 500, learnMs: 500, reportWaitMs: 5000, witness: false });
    const w = farmSetup(config([farm()], 3, ["198.51.100.1"]), "web1", { key, ifaces });
    expect(w.ok && w.modules[0]?.core.witness).toBe(true);
  });

  it("says what is wrong instead of starting a farm it cannot run", () => {
    expect(farmSetup(config([farm({ vips: [] })]), "web1", { key, ifaces })).toMatchObject({ ok: false, message: expect.stringContaining("exactly one vip") });
    expect(farmSetup(config([farm({ vips: ["192.0.2.5/24"] })]), "web1", { key, ifaces })).toMatchObject({ ok: false, message: expect.stringContaining("interface") });
    expect(farmSetup(config([farm()], 33), "web1", { key, ifaces })).toMatchObject({ ok: false, message: expect.stringContaining("at most 32") });
    expect(farmSetup(config([farm()]), "nobody", { key, ifaces })).toMatchObject({ ok: false });
    expect(farmSetup(config([farm({ interface: "eth1" })]), "web1", { key, ifaces })).toMatchObject({ ok: true });
  });

  it("is off without farm modules, and a reload restarts it only when a farm changes", () => {
    expect(farmSetup(config([]), "web1", { key, ifaces })).toEqual({ ok: true, modules: [], warnings: [] });
    expect(farmConfigKey(config([farm()]))).toBe(farmConfigKey(config([farm()])));
    expect(farmConfigKey(config([farm()]))).not.toBe(farmConfigKey(config([farm({ ports: [80] })])));
    expect(farmConfigKey(config([farm()]))).not.toBe(farmConfigKey(config([farm()], 3, ["198.51.100.1"])));
  });
});
