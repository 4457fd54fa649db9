/**
 * The farm driver (src/daemon/farm/instance.ts) against a fake OS: the order
 * of what it does to the kernel, its adverts, drain and failures.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { ModuleAdvert } from "../../src/proto/heartbeat.ts";
import type { FarmFlowsMessage } from "../../src/proto/farm-flows.ts";
import { FarmInstance } from "../../src/daemon/farm/instance.ts";
import type { FarmOs } from "../../src/daemon/farm/os.ts";
import type { FarmModuleSetup } from "../../src/daemon/farm/setup.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";

/** `kernel.lapsed`: the lease ran out; renewals and writes fail until a write that re-arms it (`rearm`, holding nothing). */
function fakeOs(opts: { linkFails?: boolean; connections?: number[]; link?: () => Promise<void> } = {}): FarmOs & {
  calls: string[];
  kernel: { lapsed: boolean; carrier: boolean };
  /** UDP flow owner writes, apart from `calls`: "<owners set> live <values>", "forget " first when the memory was emptied. */
  flowWrites: string[];
} {
  const calls: string[] = [];
  const flowWrites: string[] = [];
  const conns = [...(opts.connections ?? [0])];
  const kernel = { lapsed: false, carrier: true };
  const lapsed = { ok: false as const, lapsed: true as const, message: "lease lapsed" };
  return {
    calls,
    kernel,
    flowWrites,
    recordFlows: async (_m, flows, value) => {
      calls.push(`record ${flows.length} as ${value}`);
      return { ok: true, changed: flows.length };
    },
    readFlowRecords: async () => (calls.push("read flows"), {
      ok: true as const,
      records: new Map([
        ["198.51.100.100 . 40000 . 53", { key: { client: 0xc6336464, port: 40000, vipPort: 53 }, value: 0x10000 }],
        ["198.51.100.101 . 40001 . 53", { key: { client: 0xc6336465, port: 40001, vipPort: 53 }, value: 3 }],
      ]),
    }),
    unrecordFlows: async (_m, flows, value) => {
      calls.push(`unrecord ${flows.length} of ${value}`);
      return { ok: true, changed: flows.length };
    },
    writeFlows: async (_m, owners, live, forget) => {
      flowWrites.push(`${forget ? "forget " : ""}${owners.filter((o) => o !== 0).length} live ${live.join(",")}`);
      return { ok: true };
    },
    renewLease: async () => {
      calls.push(kernel.lapsed ? "renew lapsed" : "renew");
      return kernel.lapsed ? lapsed : { ok: true };
    },
    carrier: () => kernel.carrier,
    exitGuard: (m) => {
      calls.push(`guard ${m}`);
      return { pid: 1, disarm: () => calls.push("guard off") };
    },
    setupTable: async (s) => {
      calls.push(`table ${s.module}`);
      return { ok: true };
    },
    writeTable: async (_m, _v, held, arp, _lease, rearm) => {
      if (kernel.lapsed && !rearm) {
        calls.push(`write ${held.length} lapsed`);
        return lapsed;
      }
      kernel.lapsed = false;
      calls.push(`write ${held.length}${arp ? " arp" : ""}${rearm ? " rearm" : ""}`);
      return { ok: true };
    },
    removeTable: async () => {
      calls.push("table off");
      return { ok: true };
    },
    setupLink: async () => {
      calls.push("link");
      await opts.link?.();
      return opts.linkFails ? { ok: false, message: "farm web: cannot create the macvlan: Operation not permitted" } : { ok: true, changed: [] };
    },
    removeLink: async () => {
      calls.push("link off");
      return [];
    },
    openArp: async () => {
      calls.push("arp open");
      return {
        answered: () => 0,
        answer: (on) => void calls.push(on ? "arp on" : "arp off"),
        garp: async () => void calls.push("garp"),
        close: async () => void calls.push("arp close"),
      };
    },
    establishedConnections: async () => {
      calls.push("count");
      return conns.length > 1 ? (conns.shift() ?? 0) : (conns[0] ?? 0);
    },
    counters: async () => ({ ok: false, message: "fake" }),
  };
}

function setup(nodes: string[], self: number, refreshMs = 60_000): FarmModuleSetup {
  return {
    lease: { leaseMs: 3 * refreshMs, refreshMs, guaranteed: true },
    name: "web",
    core: { module: "web", nodes: nodes.map((name) => ({ name, weight: 1 })), self, ownershipSeed: 3, drainTimeoutMs: 10_000, settleMs: 500 },
    vip: "198.51.100.50",
    ports: [80],
    split: "client_ip_port",
    nftSeed: 9,
    vmac: "02:00:00:00:00:99",
    interface: "eth0",
    checkers: [],
  };
}

/** `logLine` receives the driver's log lines; `sendFlows` its flow messages to peers (none without). */
function instance(
  s: FarmModuleSetup,
  os: FarmOs,
  clock: { now: number },
  runCheckers = false,
  extra: { logLine?: (line: string) => void; sendFlows?: (m: FarmFlowsMessage) => void } = {},
): { inst: FarmInstance; published: () => number; metrics: Metrics } {
  let published = 0;
  const metrics = new Metrics();
  const inst = new FarmInstance(s, {
    log: new Logger("json", extra.logLine ?? (() => {})),
    metrics,
    publish: () => void published++,
    clock: () => clock.now,
    configFile: "/etc/vigil/vigil.yaml",
    sysctlsChanged: () => {},
    os,
    runCheckers,
    ...(extra.sendFlows === undefined ? {} : { sendFlows: extra.sendFlows }),
  });
  return { inst, published: () => published, metrics };
}

describe("farm driver: flow reports", () => {
  it("asks the serving peer once its table exists, records what the peer tells before taking buckets, and answers a peer's ask with what its table answers", async () => {
    const os = fakeOs();
    const clock = { now: 1000 };
    const base = setup(["a", "b"], 0);
    const s: FarmModuleSetup = {
      ...base,
      core: { ...base.core, learnMs: 500 },
      flowLink: { key: new Uint8Array(32), port: 7697, cluster: "shop", self: "a", peers: [{ name: "b", addresses: ["192.0.2.2"] }] },
    };
    const sent: FarmFlowsMessage[] = [];
    const { inst } = instance(s, os, clock, false, { sendFlows: (m) => void sent.push(m) });
    inst.start([{ name: "b", liveness: "up" }]);
    inst.frame("b", [{ module: "web", role: "farm:in", generation: 0b10 }], 900);
    await vi.waitFor(() => expect(sent.length).toBe(1));
    expect(sent).toEqual([{ type: "ask", cluster: "shop", module: "web", from: "a", to: "b", askedAt: 1000 }]);
    const flow = { client: 0xc6336401, port: 5353, vipPort: 80 };
    inst.flowMessage({ type: "tell", cluster: "shop", module: "web", from: "b", to: "a", askedAt: 1000, part: 0, parts: 1, flows: [flow] });
    await inst.settled();
    expect(os.calls.filter((c) => c.startsWith("record"))).toEqual(["record 1 as 2"]);
    expect(os.calls.some((c) => /^write [1-9]/.test(c))).toBe(false);
    sent.length = 0;
    inst.flowMessage({ type: "ask", cluster: "shop", module: "web", from: "b", to: "a", askedAt: 77 });
    await vi.waitFor(() => expect(sent.length).toBe(1));
    expect(sent[0]).toEqual({ type: "tell", cluster: "shop", module: "web", from: "a", to: "b", askedAt: 77, part: 0, parts: 1, flows: [{ client: 0xc6336464, port: 40000, vipPort: 53 }] });
    // A message from a node that is not in the farm changes nothing.
    inst.flowMessage({ type: "ask", cluster: "shop", module: "web", from: "zz", to: "a", askedAt: 78 });
    await inst.settled();
    expect(sent.length).toBe(1);
    // A check: of the two flows asked about, the table answers the first itself; the second is disclaimed.
    sent.length = 0;
    const own = { client: 0xc6336464, port: 40000, vipPort: 53 };
    const other = { client: 0xc6336465, port: 40001, vipPort: 53 };
    inst.flowMessage({ type: "check", cluster: "shop", module: "web", from: "b", to: "a", askedAt: 90, part: 0, parts: 1, flows: [own, other] });
    await vi.waitFor(() => expect(sent.length).toBe(1));
    expect(sent[0]).toEqual({ type: "disclaim", cluster: "shop", module: "web", from: "a", to: "b", askedAt: 90, part: 0, parts: 1, flows: [other] });
    // A disclaim from b: our records naming b (value 2) of those flows go.
    inst.flowMessage({ type: "disclaim", cluster: "shop", module: "web", from: "b", to: "a", askedAt: 95, part: 0, parts: 1, flows: [other] });
    await inst.settled();
    expect(os.calls.filter((c) => c.startsWith("unrecord"))).toEqual(["unrecord 1 of 2"]);
    await inst.stop();
  });
});

/** Node a of three, b and c up and in the farm (generation 7), on a fake kernel and clock. */
async function besideTwo(): Promise<{ os: ReturnType<typeof fakeOs>; clock: { now: number }; inst: FarmInstance }> {
  const os = fakeOs();
  const clock = { now: 1000 };
  const { inst } = instance(setup(["a", "b", "c"], 0), os, clock);
  inst.start([
    { name: "b", liveness: "up" },
    { name: "c", liveness: "up" },
  ]);
  inst.frame("b", [{ module: "web", role: "farm:in", generation: 7 }], 1000);
  inst.frame("c", [{ module: "web", role: "farm:in", generation: 7 }], 1000);
  await inst.settled();
  return { os, clock, inst };
}

/** Node a of two, serving its half (128 buckets) beside b, on a fake kernel and clock. */
async function servingHalf(): Promise<{ os: ReturnType<typeof fakeOs>; clock: { now: number }; inst: FarmInstance }> {
  const os = fakeOs();
  const clock = { now: 1000 };
  const { inst } = instance(setup(["a", "b"], 0, 20), os, clock);
  inst.start([{ name: "b", liveness: "up" }]);
  inst.frame("b", [{ module: "web", role: "farm:in", generation: 3 }], 1000);
  await inst.settled();
  expect(inst.status()).toMatchObject({ mode: "in", held: 128 });
  return { os, clock, inst };
}

describe("farm driver", () => {
  it("sets up table before link, then serves everything alone; stops link before table", async () => {
    const os = fakeOs();
    const clock = { now: 1000 };
    const { inst, published, metrics } = instance(setup(["a"], 0), os, clock);
    inst.start([]);
    await inst.settled();
    expect(os.calls).toEqual(["guard web", "table web", "link", "arp open", "write 0 rearm", "write 256 arp", "arp on", "garp"]);
    expect(inst.adverts()).toEqual<ModuleAdvert[]>([{ module: "web", role: "farm:in", generation: 1 }]);
    expect(published()).toBeGreaterThan(0);
    expect(inst.status()).toMatchObject({ mode: "in", held: 256, sharePct: 100, arpOwner: "a" });
    const text = metrics.render();
    expect(text).toContain('vigil_farm_buckets{module="web"} 256');
    expect(text).toContain('vigil_farm_arp_owner{module="web"} 1');
    expect(text).toContain('vigil_farm_serving{module="web"} 1');
    expect(text).toMatch(/vigil_farm_rebalances_total\{module="web",reason="start"\} 1/);
    os.calls.length = 0;
    await inst.stop();
    expect(os.calls).toEqual(["arp off", "write 0", "arp close", "link off", "table off", "guard off"]);
    expect(inst.adverts()[0]?.role).toBe("farm:stopped");
  });

  it("takes its buckets only after the peer's heartbeat acknowledged its advert", async () => {
    const os = fakeOs();
    const clock = { now: 1000 };
    const { inst } = instance(setup(["a", "b"], 0), os, clock);
    inst.start([{ name: "b", liveness: "up" }]);
    await inst.settled();
    // The ARP owner needs no handover (its answers carry the virtual MAC, whoever sends them); buckets do.
    const bucketWrites = (): string[] => os.calls.filter((c) => /^write [1-9]/.test(c));
    expect(bucketWrites()).toEqual([]);
    clock.now = 1100;
    // b serves and shares our view, but wrote it before our advert at 1000.
    inst.frame("b", [{ module: "web", role: "farm:in", generation: 3 }], 900);
    await inst.settled();
    expect(bucketWrites()).toEqual([]);
    clock.now = 1200;
    inst.frame("b", [{ module: "web", role: "farm:in", generation: 3 }], 1000);
    await inst.settled();
    expect(bucketWrites().length).toBe(1);
    expect(inst.status().held).toBe(128);
    // Other modules' adverts and junk are ignored.
    inst.frame("b", [{ module: "web", role: "PRIM", generation: 3 }, { module: "db", role: "farm:in", generation: 1 }], 1300);
    await inst.settled();
    expect(bucketWrites().length).toBe(1);
  });

  it("a dead peer's buckets are written as soon as the other survivor leaves it out too", async () => {
    const { os, clock, inst } = await besideTwo();
    const before = inst.status().held;
    expect(before).toBeGreaterThan(80);
    clock.now = 5000;
    inst.peer("b", "dead");
    // Taken once c leaves b out too (deaths.ts): c's next frame, which echoes our advert.
    inst.frame("c", [{ module: "web", role: "farm:in", generation: 0b101 }], 5000);
    await inst.settled();
    const after = inst.status();
    expect(after.held + (after.members[2]?.buckets ?? 0)).toBe(256);
    expect(after.lastRebalance).toMatchObject({ reason: "handover", node: "c" });
    expect(after.held).toBeGreaterThan(before);
  });

  it("drain: lets go of its buckets, waits for its connections, then removes everything", async () => {
    const os = fakeOs({ connections: [2, 0] });
    const clock = { now: 1000 };
    const { inst } = instance(setup(["a"], 0), os, clock);
    inst.start([]);
    await inst.settled();
    os.calls.length = 0;
    inst.drain();
    await inst.settled();
    expect(os.calls.slice(0, 3)).toEqual(["arp off", "write 0", "count"]);
    expect(inst.status().mode).toBe("drain");
    expect(inst.adverts()[0]?.role).toBe("farm:drain");
    // The next count (DRAIN_POLL_MS later on the clock) finds none left.
    clock.now += 600;
    await vi.waitFor(() => expect(inst.status().mode).toBe("stopped"), { timeout: 10_000 });
    await inst.settled();
    expect(os.calls.slice(-3)).toEqual(["link off", "table off", "guard off"]);
  });

  it("a setup that fails removes the table again and says why", async () => {
    const os = fakeOs({ linkFails: true });
    const { inst } = instance(setup(["a"], 0), os, { now: 0 });
    inst.start([]);
    await inst.settled();
    await inst.settled();
    expect(os.calls.slice(0, 4)).toEqual(["guard web", "table web", "link", "table off"]);
    expect(inst.status().detail).toContain("Operation not permitted");
    expect(inst.status().mode).toBe("stopped");
  });

  it("a failing checker takes it out of the split, a passing one back in", async () => {
    const os = fakeOs();
    const { inst } = instance(setup(["a"], 0), os, { now: 0 });
    inst.start([]);
    await inst.settled();
    inst.health(false, "tcp 127.0.0.1:80: connection refused");
    await inst.settled();
    expect(inst.status()).toMatchObject({ mode: "out", held: 0, arpOwner: null });
    expect(inst.status().detail).toContain("refused");
    inst.health(true, "checkers pass");
    await inst.settled();
    expect(inst.status()).toMatchObject({ mode: "in", held: 256 });
  });

  it("a lapsed lease: holds nothing first (which re-arms it), advertises again, then takes its share back by the usual handover", async () => {
    const { os, clock, inst } = await servingHalf();
    await vi.waitFor(() => expect(os.calls).toContain("renew"), { timeout: 5_000 });
    os.kernel.lapsed = true;
    os.calls.length = 0;
    clock.now = 2000;
    await vi.waitFor(() => expect(os.calls).toContain("renew lapsed"), { timeout: 5_000 });
    await inst.settled();
    const at = os.calls.indexOf("renew lapsed");
    expect(os.calls.slice(at, at + 3)).toEqual(["renew lapsed", "arp off", "write 0 rearm"]);
    expect(os.kernel.lapsed).toBe(false);
    expect(inst.status()).toMatchObject({ mode: "in", held: 0 });
    expect(inst.status().lastRebalance).toMatchObject({ reason: "lapsed", lost: 128 });
    // An advert b wrote before hearing our new one does not let us take anything.
    inst.frame("b", [{ module: "web", role: "farm:in", generation: 3 }], 1500);
    await inst.settled();
    expect(inst.status().held).toBe(0);
    inst.frame("b", [{ module: "web", role: "farm:in", generation: 3 }], 2000);
    await inst.settled();
    expect(inst.status().held).toBe(128);
    await inst.stop();
  });

  it("a lapse is not hidden by a write that holds nothing: that write fails on the lapsed lease, the flows are forgotten, and only then is the lease armed anew", async () => {
    const { os, inst } = await servingHalf();
    // The daemon stalled past its lease; the first thing it does after is to leave the split (a checker failed).
    os.kernel.lapsed = true;
    os.calls.length = 0;
    os.flowWrites.length = 0;
    inst.health(false, "checker failed");
    await vi.waitFor(() => expect(os.calls).toContain("write 0 rearm"), { timeout: 5_000 });
    await inst.settled();
    // Re-armed without the lapse told, the lease would let the flows recorded before it be answered again.
    expect(os.calls.filter((c) => c.startsWith("write 0"))).toEqual(["write 0 lapsed", "write 0 rearm"]);
    expect(os.flowWrites.filter((w) => w.startsWith("forget ")), `flow writes: ${os.flowWrites.join(" | ")}`).toHaveLength(1);
    expect(inst.status()).toMatchObject({ held: 0 });
    await inst.stop();
  });

  it("a lease that ran out while the link was set up (holding nothing yet) is armed again, not taken for a lapse", async () => {
    let os: ReturnType<typeof fakeOs> | undefined;
    os = fakeOs({
      link: async () => {
        os!.kernel.lapsed = true;
        await vi.waitFor(() => expect(os!.calls).toContain("renew lapsed"), { timeout: 5_000 });
      },
    });
    const clock = { now: 1000 };
    const logs: string[] = [];
    const s = setup(["a"], 0, 20);
    const { inst } = instance(s, os, clock, false, { logLine: (line) => void logs.push(line) });
    inst.start([]);
    await vi.waitFor(() => expect(os!.calls).toContain("write 256 arp"), { timeout: 5_000 });
    await inst.settled();
    const at = os.calls.indexOf("arp open");
    expect(os.calls.slice(at, at + 2)).toEqual(["arp open", "write 0 rearm"]);
    expect(os.kernel.lapsed).toBe(false);
    expect(logs.filter((l) => l.includes("lease lapsed"))).toEqual([]);
    expect(inst.status().lastRebalance?.reason).toBe("start");
    await inst.stop();
  });

  it("no carrier: holds nothing; carrier back: listens before it takes", async () => {
    const os = fakeOs();
    const clock = { now: 1000 };
    const { inst } = instance(setup(["a"], 0, 20), os, clock);
    inst.start([]);
    await inst.settled();
    os.kernel.carrier = false;
    await vi.waitFor(() => expect(inst.status()).toMatchObject({ mode: "wait", held: 0 }), { timeout: 5_000 });
    expect(inst.status().detail).toContain("carrier");
    os.kernel.carrier = true;
    await vi.waitFor(() => expect(inst.status().detail).toContain("interface came back"), { timeout: 5_000 });
    expect(inst.status().held).toBe(0);
    clock.now += 600;
    await vi.waitFor(() => expect(inst.status()).toMatchObject({ mode: "in", held: 256 }), { timeout: 5_000 });
    // Its UDP flows were forgotten when the carrier went: peers may have taken them.
    expect(os.flowWrites.filter((w) => w.startsWith("forget "))).toHaveLength(1);
    await inst.stop();
  });

  it("writes the UDP flow owners after the table, and again when they change: the peers' buckets, the live peers", async () => {
    const { os, inst } = await besideTwo();
    // b's and c's buckets (the view is agreed: every one but ours), both live.
    expect(os.flowWrites[os.flowWrites.length - 1]).toBe(`${256 - inst.status().held} live 2,3`);
    const writes = os.flowWrites.length;
    inst.frame("c", [{ module: "web", role: "farm:in", generation: 7 }], 1001);
    await inst.settled();
    expect(os.flowWrites.length).toBe(writes);
    inst.peer("c", "dead");
    await inst.settled();
    // While b still counts c, c may be alive: its flows stay its own (deaths.ts).
    expect(os.flowWrites.slice(writes).some((w) => w.endsWith(" live 2"))).toBe(false);
    inst.frame("b", [{ module: "web", role: "farm:in", generation: 0b011 }], 1002);
    await inst.settled();
    // Once b leaves c out too, c is not live any more (its flows go to their buckets' holders); its epoch moved on.
    expect(os.flowWrites.slice(writes).some((w) => w.endsWith(" live 2"))).toBe(true);
    await inst.stop();
  });

  it.each([
    ["failover", "out", "in"],
    ["ignore", "in", "in"],
    ["stop", "stopped", "stopped"],
  ] as const)("a checker with on_fail: %s: failing, the node is %s; passing again, %s", async (policy, failing, passing) => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-farm-checker-"));
    const flag = join(dir, "healthy");
    writeFileSync(flag, "");
    try {
      const os = fakeOs();
      const s = setup(["a"], 0);
      const checker = { file: flag, exists: true, interval: 20, timeout: 500, fall: 1, rise: 1, on_fail: policy };
      const { inst } = instance({ ...s, checkers: [checker] }, os, { now: 0 }, true);
      inst.start([]);
      await vi.waitFor(() => expect(inst.status().mode).toBe("in"), { timeout: 5_000 });
      rmSync(flag);
      if (policy === "ignore") await new Promise((r) => setTimeout(r, 200));
      await vi.waitFor(() => expect(inst.status().mode).toBe(failing), { timeout: 5_000 });
      writeFileSync(flag, "");
      if (passing === failing) await new Promise((r) => setTimeout(r, 200));
      await vi.waitFor(() => expect(inst.status().mode).toBe(passing), { timeout: 5_000 });
      await inst.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
