import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { masterDownIntervalMs, skewTimeMs, vipAddress } from "../../src/core/vrrp/vrrp.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import type { TrackProbe, TrackReading, VrrpInstanceSpec, VrrpIo } from "../../src/daemon/vrrp/spec.ts";
import { VrrpSocketError } from "../../src/net/raw-vrrp.ts";
import { createMemoryVrrpNetwork, type MemoryVrrpNetwork } from "../../src/net/raw-vrrp-memory.ts";
import { decodeVrrp, encodeAdvert, encodeIpv4Datagram, VRRP_MULTICAST_V4 } from "../../src/proto/vrrp.ts";
import type { ScriptRunner } from "../../src/sys/track-script.ts";

const VIP = "198.51.100.100/24";
const A = "198.51.100.11";
const B = "198.51.100.12";
const ADVERT_MS = 100;

/** One shared record of what happened, in order, across nodes: wire frames and OS effects. */
type Timeline = string[];

/** The node's interface as the test sets it: missing, down or up, with its addresses. */
interface Link {
  up: boolean;
  present?: boolean;
  addresses?: string[];
}

interface Node {
  engine: VrrpEngine;
  vips: Set<string>;
  lines: string[];
  metrics: Metrics;
  link: Link;
  notified: string[];
}

function memoryIo(net: MemoryVrrpNetwork, who: string, timeline: Timeline, vips: Set<string>, link: Link): VrrpIo {
  return {
    openSocket: (o) => net.open(o),
    async addVip(vip) {
      vips.add(vipAddress(vip));
      timeline.push(`${who} add ${vipAddress(vip)}`);
      return { ok: true };
    },
    async removeVip(vip) {
      const had = vips.delete(vipAddress(vip));
      if (had) timeline.push(`${who} remove ${vipAddress(vip)}`);
      return { ok: true, removed: had };
    },
    async sendGarp(_iface, address, count) {
      timeline.push(`${who} garp ${address} x${count}`);
      return { ok: true };
    },
    linkState: () => link.present === false
      ? { up: false, present: false, detail: "eth0 does not exist" }
      : { up: link.up, present: true, detail: link.up ? "eth0 up" : "eth0 down (operstate down, no carrier)" },
    interfaceAddresses: () => link.addresses ?? [],
    async dropVipTraffic(iface, vrid, addresses) {
      timeline.push(`${who} drop ${iface}/${vrid} ${addresses.join(",")}`);
      return { ok: true };
    },
    async acceptVipTraffic(iface, vrid) {
      timeline.push(`${who} accept ${iface}/${vrid}`);
      return { ok: true };
    },
  };
}

function spec(name: string, priority: number, primaryAddress: string, over: Partial<VrrpInstanceSpec> = {}, core: Partial<VrrpInstanceSpec["core"]> = {}): VrrpInstanceSpec {
  return {
    // accept_mode as the config defaults it (keepalived without vrrp_strict); the core's own default is the RFC's false.
    core: { name, vrid: 51, priority, primaryAddress, vips: [VIP], advertIntCs: ADVERT_MS / 10, acceptMode: true, ...core },
    interface: "eth0",
    unicastPeers: [],
    probes: [],
    notify: {},
    garp: { repeat: 3, intervalMs: 0, delayMs: 0 },
    ...over,
  };
}

function node(net: MemoryVrrpNetwork, timeline: Timeline, who: string, specs: VrrpInstanceSpec[], runScript?: ScriptRunner): Node {
  const lines: string[] = [];
  const metrics = new Metrics();
  const vips = new Set<string>();
  const link: Link = { up: true };
  const notified: string[] = [];
  const engine = new VrrpEngine({
    instances: specs,
    io: memoryIo(net, who, timeline, vips, link),
    log: new Logger("text", (l) => lines.push(l)),
    metrics,
    clock: () => Date.now(),
    linkPollMs: 50,
    runScript: runScript ?? (async (path, args) => {
      notified.push([path, ...args].join(" "));
      return { ok: true, code: 0, signal: null, timedOut: false, output: "", message: "exited 0" };
    }),
  });
  return { engine, vips, lines, metrics, link, notified };
}

/** Wire frames as "src>dst prio N", appended to the timeline as they are sent. */
function tapAdverts(net: MemoryVrrpNetwork, timeline: Timeline): void {
  net.tap((f) => {
    const d = decodeVrrp(f.ipPacket);
    timeline.push(d.ok ? `advert ${f.src}>${f.dst} prio ${d.packet.priority}` : `garbage from ${f.src}`);
  });
}

/** A tracked object the test flips by hand. */
function manualProbe(name: string, weight: number): TrackProbe & { up: boolean } {
  const probe = {
    name,
    weight,
    intervalMs: 50,
    up: true,
    check(): Promise<TrackReading> {
      return Promise.resolve({ up: probe.up, detail: probe.up ? "running" : "not running", health: { [name]: probe.up } });
    },
  };
  return probe;
}

const role = (n: Node, name = "VI_1") => n.engine.state(name)?.role;
const mdi = (priority: number) => masterDownIntervalMs(priority, ADVERT_MS, 3);

describe("VrrpEngine over the in-memory raw socket", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("elects the higher priority: it adds the VIP, then announces it; the other stays BACKUP and knows the master", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const a = node(net, timeline, "a", [spec("VI_1", 150, A)]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B)]);
    await a.engine.start();
    await b.engine.start();
    expect([role(a), role(b)]).toEqual(["backup", "backup"]);
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    await vi.advanceTimersByTimeAsync(mdi(100) + 5);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    expect([...a.vips]).toEqual(["198.51.100.100"]);
    expect([...b.vips]).toEqual([]);

    // RFC 5798 6.4.2 order: advertise, take the address, then announce it.
    const first = timeline.findIndex((t) => t.startsWith(`advert ${A}`));
    expect(timeline.slice(first, first + 3)).toEqual([`advert ${A}>224.0.0.18 prio 150`, "a add 198.51.100.100", "a garp 198.51.100.100 x3"]);

    const [sa] = a.engine.status();
    const [sb] = b.engine.status();
    expect(sa).toMatchObject({ role: "master", effectivePriority: 150, masterAddress: A, lastTransition: { from: "backup", to: "master", reason: "master-down" } });
    expect(sb).toMatchObject({ role: "backup", priority: 100, masterAddress: A, lastTransition: { from: "initialize", to: "backup", reason: "startup" } });
    expect(sb?.advertsReceived).toBeGreaterThanOrEqual(3);
    expect(a.lines.some((l) => /info  vrrp VI_1 MASTER .*reason=master-down/.test(l))).toBe(true);
    expect(a.metrics.render()).toMatch(/vigil_vrrp_state\{instance="VI_1"\} 2/);
    expect(b.metrics.render()).toMatch(/vigil_vrrp_state\{instance="VI_1"\} 1/);
    expect(a.notified).toEqual([]);
    await a.engine.stop();
    await b.engine.stop();
  });

  it("fails over when the master goes silent, after Master_Down_Interval and not before", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const a = node(net, timeline, "a", [spec("VI_1", 150, A)]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B)]);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");

    // A crash: nothing more from a, no priority 0.
    net.setFilter((f) => f.src !== A);
    await vi.advanceTimersByTimeAsync(mdi(100) - ADVERT_MS);
    expect(role(b)).toBe("backup");
    await vi.advanceTimersByTimeAsync(ADVERT_MS + 5);
    expect(role(b)).toBe("master");
    expect(b.engine.status()[0]?.lastTransition).toMatchObject({ to: "master", reason: "master-down" });
    expect([...b.vips]).toEqual(["198.51.100.100"]);

    // a comes back: it hears b's lower adverts and preempts; b gives the VIP up.
    net.setFilter(null);
    await vi.advanceTimersByTimeAsync(4 * ADVERT_MS);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    expect([...b.vips]).toEqual([]);
    await a.engine.stop();
    await b.engine.stop();
  });

  it("the heartbeat declares the master's node dead: every instance hears it, and the backup takes over well before Master_Down_Interval", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const a = node(net, timeline, "a", [spec("VI_1", 150, A)]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B), spec("VI_2", 100, B, {}, { vrid: 52, vips: ["198.51.100.101/24"] })]);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(100) + 5);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    // VI_2 has no master on the wire: it takes over by its own timer meanwhile.
    expect(role(b, "VI_2")).toBe("master");

    // A crash, and the heartbeat's verdict on another node first: nothing moves.
    net.setFilter((f) => f.src !== A);
    b.engine.peerDead("c", ["198.51.100.13"], true);
    await vi.advanceTimersByTimeAsync(ADVERT_MS * 2);
    expect(role(b)).toBe("backup");
    b.engine.peerDead("a", [A, "203.0.113.11"], true);
    // The next advert is already late: at once, not after mdi(100).
    await vi.advanceTimersByTimeAsync(1);
    expect(role(b)).toBe("master");
    expect(role(b, "VI_2")).toBe("master");
    expect(b.engine.status()[0]?.lastTransition).toMatchObject({ from: "backup", to: "master", reason: "peer-dead" });
    expect(b.lines.some((l) => /info  vrrp VI_1 MASTER .*reason=peer-dead .*detail="the heartbeat declared node a \(master 198\.51\.100\.11\) dead/.test(l))).toBe(true);
    await vi.advanceTimersByTimeAsync(5);
    expect([...b.vips].sort()).toEqual(["198.51.100.100", "198.51.100.101"]);
    await a.engine.stop();
    await b.engine.stop();
  });

  it("hands over on a clean stop: VIP removed, then priority 0; the backup takes over after its skew time", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const a = node(net, timeline, "a", [spec("VI_1", 150, A, { notify: { stop: "/x/stop.sh", notify: "/x/notify.sh" } })]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B)]);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");

    const from = timeline.length;
    await a.engine.stop();
    const after = timeline.slice(from);
    expect(after.slice(0, 2)).toEqual(["a remove 198.51.100.100", `advert ${A}>224.0.0.18 prio 0`]);
    expect(role(a)).toBe("initialize");
    expect(a.notified).toEqual(["/x/notify.sh INSTANCE VI_1 BACKUP 150", "/x/notify.sh INSTANCE VI_1 MASTER 150", "/x/stop.sh", "/x/notify.sh INSTANCE VI_1 STOP 150"]);

    await vi.advanceTimersByTimeAsync(skewTimeMs(100, ADVERT_MS) + 5);
    expect(role(b)).toBe("master");
    expect(b.engine.status()[0]?.lastTransition).toMatchObject({ reason: "master-resigned" });
    expect(b.metrics.render()).toMatch(/vigil_vrrp_priority_zero_received_total\{instance="VI_1"\} 1/);
    expect(a.metrics.render()).toMatch(/vigil_vrrp_priority_zero_sent_total\{instance="VI_1"\} 1/);
    // a keeps quiet after its goodbye.
    const bye = timeline.lastIndexOf(`advert ${A}>224.0.0.18 prio 0`);
    expect(timeline.slice(bye + 1).filter((t) => t.startsWith(`advert ${A}`))).toEqual([]);
    await b.engine.stop();
  });

  it("moves the VIP when a tracked object's weight drops the master below the backup, and back when it recovers", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const exporter = manualProbe("process node_exporter", -60);
    const a = node(net, timeline, "a", [spec("VI_1", 150, A, { probes: [exporter] }, { track: [{ name: "process node_exporter", weight: -60 }] })]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B)]);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");

    exporter.up = false;
    await vi.advanceTimersByTimeAsync(60);
    expect(a.engine.status()[0]).toMatchObject({ effectivePriority: 90, tracks: [{ name: "process node_exporter", weight: -60, up: false, detail: "not running" }] });
    expect(a.lines.some((l) => /warn  vrrp VI_1 track process node_exporter down/.test(l))).toBe(true);
    // b (100) now ignores a's adverts at 90 and takes over when its timer runs out; a yields to the higher advert.
    await vi.advanceTimersByTimeAsync(mdi(100) + ADVERT_MS);
    expect([role(a), role(b)]).toEqual(["backup", "master"]);
    expect(a.engine.status()[0]?.lastTransition).toMatchObject({ reason: "higher-priority" });
    expect([...a.vips, ...b.vips]).toEqual(["198.51.100.100"]);
    expect([...b.vips]).toEqual(["198.51.100.100"]);

    exporter.up = true;
    await vi.advanceTimersByTimeAsync(60 + mdi(150) + ADVERT_MS);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    expect([...a.vips]).toEqual(["198.51.100.100"]);
    expect([...b.vips]).toEqual([]);
    expect(a.metrics.render()).toMatch(/vigil_vrrp_priority\{instance="VI_1"\} 150/);
    await a.engine.stop();
    await b.engine.stop();
  });

  it("goes to FAULT when its interface loses its link, giving the VIP up with priority 0", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const a = node(net, timeline, "a", [spec("VI_1", 150, A, { notify: { fault: "/x/fault.sh" } })]);
    await a.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");
    a.link.up = false;
    await vi.advanceTimersByTimeAsync(60);
    expect(role(a)).toBe("fault");
    expect([...a.vips]).toEqual([]);
    expect(a.notified).toContain("/x/fault.sh");
    expect(a.lines.some((l) => /warn  vrrp VI_1 FAULT .*reason=interface-down/.test(l))).toBe(true);
    a.link.up = true;
    await vi.advanceTimersByTimeAsync(60);
    expect(role(a)).toBe("backup");
    await a.engine.stop();
  });

  it("removes a VIP and an accept_mode filter an earlier run left before it starts", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const a = node(net, timeline, "a", [spec("VI_1", 100, A)]);
    a.vips.add("198.51.100.100");
    await a.engine.start();
    expect([...a.vips]).toEqual([]);
    expect(timeline).toEqual(["a accept eth0/51", "a remove 198.51.100.100"]);
    expect(a.lines.some((l) => /warn  removed VIPs left on the interface by an earlier run/.test(l))).toBe(true);
    await a.engine.stop();
  });

  it("sends unicast adverts to each peer, and only there", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const C = "198.51.100.13";
    const a = node(net, timeline, "a", [spec("VI_1", 150, A, { unicastPeers: [B, C] })]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B, { unicastPeers: [A, C] })]);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + ADVERT_MS);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    expect(b.engine.status()[0]?.masterAddress).toBe(A);
    const fromA = timeline.filter((t) => t.startsWith(`advert ${A}`));
    expect(new Set(fromA)).toEqual(new Set([`advert ${A}>${B} prio 150`, `advert ${A}>${C} prio 150`]));
    await a.engine.stop();
    await b.engine.stop();
  });

  it("logs a VRRPv2 packet on a VRRPv3 instance as a version mismatch, not an authentication failure", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const b = node(net, timeline, "b", [spec("VI_1", 100, B)]);
    await b.engine.start();
    const v2 = encodeAdvert({ version: 2, vrid: 51, priority: 200, advertIntCs: 100, addresses: ["198.51.100.100"], auth: { type: "pass", password: "s3cret" } }, { src: A, dst: VRRP_MULTICAST_V4 });
    net.inject("eth0", A, VRRP_MULTICAST_V4, v2);
    net.inject("eth0", A, VRRP_MULTICAST_V4, v2);
    await vi.advanceTimersByTimeAsync(10);
    expect(b.metrics.render()).not.toMatch(/reason="auth"/);
    expect(b.lines.filter((l) => /speaks VRRPv2 on VRID 51; we speak VRRPv3/.test(l))).toHaveLength(1);
    expect(b.lines.some((l) => /password|authentication/.test(l))).toBe(false);
    await b.engine.stop();
  });

  it("rejects and counts packets that fail the checks, and VRRPv2 adverts with the wrong password", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const v2 = { version: 2 as const, advertIntCs: 100, auth: { type: "pass" as const, password: "s3cret" } };
    const b = node(net, timeline, "b", [spec("VI_1", 100, B, {}, v2)]);
    await b.engine.start();
    net.inject("eth0", A, VRRP_MULTICAST_V4, new Uint8Array([1, 2, 3]));
    const advert = (password: string) =>
      encodeAdvert({ version: 2, vrid: 51, priority: 200, advertIntCs: 100, addresses: ["198.51.100.100"], auth: { type: "pass", password } }, { src: A, dst: VRRP_MULTICAST_V4 });
    net.inject("eth0", A, VRRP_MULTICAST_V4, advert("wrong"));
    net.inject("eth0", A, VRRP_MULTICAST_V4, advert("s3cret"), 64);
    await vi.advanceTimersByTimeAsync(10);
    const m = b.metrics.render();
    expect(m).toMatch(/vigil_vrrp_packets_rejected_total\{interface="eth0",reason="auth"\} 1/);
    expect(m).toMatch(/vigil_vrrp_packets_rejected_total\{interface="eth0",reason="ttl"\} 1/);
    expect(m).toMatch(/vigil_vrrp_packets_rejected_total\{interface="eth0",reason="truncated"\} 1/);
    expect(b.lines.some((l) => /VRRP packet rejected .*password does not match/.test(l))).toBe(true);
    expect(b.engine.status()[0]?.advertsReceived).toBe(0);

    // The right password is heard: the backup restarts its wait instead of taking over.
    for (let i = 0; i < 50; i++) {
      net.inject("eth0", A, VRRP_MULTICAST_V4, advert("s3cret"));
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(role(b)).toBe("backup");
    expect(b.engine.status()[0]?.masterAddress).toBe(A);
    await b.engine.stop();
  });

  it("keeps a sync group together: a weight-0 object down in one member takes both to FAULT", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const link = manualProbe("interface eth1", 0);
    const outside = spec("OUT", 150, A, { syncGroup: "G" });
    const inside = spec("IN", 150, A, { syncGroup: "G", interface: "eth1", probes: [link] }, { vrid: 52, vips: ["203.0.113.100/24"], track: [{ name: "interface eth1", weight: 0 }] });
    const a = node(net, timeline, "a", [outside, inside]);
    await a.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect([role(a, "OUT"), role(a, "IN")]).toEqual(["master", "master"]);
    expect([...a.vips].sort()).toEqual(["198.51.100.100", "203.0.113.100"]);
    link.up = false;
    await vi.advanceTimersByTimeAsync(60);
    expect([role(a, "OUT"), role(a, "IN")]).toEqual(["fault", "fault"]);
    expect([...a.vips]).toEqual([]);
    expect(a.engine.status().map((s) => [s.name, s.syncGroup, s.lastTransition?.reason])).toEqual([
      ["OUT", "G", "sync-group"],
      ["IN", "G", "tracked-object-down"],
    ]);
    await a.engine.stop();
  });

  it("reports a socket it cannot open, naming the instance, and starts nothing", async () => {
    const net = createMemoryVrrpNetwork();
    const vips = new Set<string>();
    const io = memoryIo(net, "a", [], vips, { up: true });
    const engine = new VrrpEngine({
      instances: [spec("VI_1", 150, A)],
      io: { ...io, openSocket: () => Promise.reject(new VrrpSocketError("permission", "eth0", "socket failed: EPERM; raw sockets need root or CAP_NET_RAW", "EPERM")) },
      log: new Logger("text", () => {}),
      metrics: new Metrics(),
      clock: () => Date.now(),
    });
    await expect(engine.start()).rejects.toThrow("VRRP VI_1: VRRP socket on eth0: socket failed: EPERM; raw sockets need root or CAP_NET_RAW");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(engine.state("VI_1")?.role).toBe("initialize");
    await engine.stop();
  });

  it("accept_mode false: the filter goes in before the VIP and comes out after it; an address owner never filters", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const a = node(net, timeline, "a", [spec("VI_1", 150, A, {}, { acceptMode: false })]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B, {}, { acceptMode: false })]);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");
    const first = timeline.findIndex((t) => t.startsWith(`advert ${A}`));
    expect(timeline.slice(first, first + 4)).toEqual([`advert ${A}>224.0.0.18 prio 150`, "a drop eth0/51 198.51.100.100", "a add 198.51.100.100", "a garp 198.51.100.100 x3"]);

    const from = timeline.length;
    await a.engine.stop();
    expect(timeline.slice(from, from + 3)).toEqual(["a remove 198.51.100.100", "a accept eth0/51", `advert ${A}>224.0.0.18 prio 0`]);
    await b.engine.stop();

    const owner = node(net, timeline, "o", [spec("VI_2", 255, A, {}, { acceptMode: false, vrid: 52 })]);
    const mark = timeline.length;
    await owner.engine.start();
    await vi.advanceTimersByTimeAsync(5);
    expect(role(owner, "VI_2")).toBe("master");
    expect(timeline.slice(mark).filter((t) => t.startsWith("o drop"))).toEqual([]);
    await owner.engine.stop();
  });

  it("an interface missing at start: FAULT naming it, no socket; once it is up, the address is learned and it runs", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const chooser = (here: readonly string[]) => (here.length > 0 ? { ok: true as const, address: here[0] as string } : { ok: false as const, why: "eth0 has no IPv4 address" });
    // 198.51.100.99 only stands in until the interface shows its real address.
    const a = node(net, timeline, "a", [spec("VI_1", 150, "198.51.100.99", { sourceAddress: chooser })]);
    a.link.present = false;
    a.link.up = false;
    await a.engine.start();
    expect(a.engine.status()[0]).toMatchObject({ role: "fault", lastTransition: { to: "fault", reason: "interface-down", detail: "eth0 does not exist" } });
    expect(a.lines.some((l) => /warn  vrrp VI_1 interface down .*detail="eth0 does not exist"/.test(l))).toBe(true);
    await vi.advanceTimersByTimeAsync(10 * mdi(150));
    expect(role(a)).toBe("fault");
    expect(timeline.filter((t) => t.startsWith("advert"))).toEqual([]);

    // It appears, still down: FAULT stays, nothing sent.
    a.link.present = true;
    await vi.advanceTimersByTimeAsync(120);
    expect(role(a)).toBe("fault");
    // Up, but no address yet: still FAULT, saying so.
    a.link.up = true;
    await vi.advanceTimersByTimeAsync(120);
    expect(role(a)).toBe("fault");
    expect(timeline.filter((t) => t.startsWith("advert"))).toEqual([]);
    a.link.addresses = [A];
    await vi.advanceTimersByTimeAsync(120);
    expect(a.engine.status()[0]).toMatchObject({ role: "backup", primaryAddress: A, lastTransition: { from: "fault", reason: "fault-cleared" } });
    expect(a.lines.some((l) => /info  vrrp VI_1 interface up/.test(l))).toBe(true);
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");
    expect(timeline.filter((t) => t.startsWith("advert")).every((t) => t.startsWith(`advert ${A}>`))).toBe(true);
    await a.engine.stop();
  });

  it("a master hearing a lower advert (the other side of a healed split brain) advertises and sends GARP at once", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    tapAdverts(net, timeline);
    const a = node(net, timeline, "a", [spec("VI_1", 150, A)]);
    const b = node(net, timeline, "b", [spec("VI_1", 100, B)]);
    net.setFilter(() => false);
    await a.engine.start();
    await b.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(100) + 5);
    expect([role(a), role(b)]).toEqual(["master", "master"]);

    // Half healed: a hears b, b does not hear a yet.
    net.setFilter((f) => f.src === B);
    const from = timeline.length;
    await vi.advanceTimersByTimeAsync(ADVERT_MS);
    const after = timeline.slice(from);
    const heard = after.indexOf(`advert ${B}>224.0.0.18 prio 100`);
    expect(heard).toBeGreaterThanOrEqual(0);
    // Right after b's advert, before a's own advert timer comes round: an advert, then the GARP.
    expect(after.slice(heard + 1, heard + 3)).toEqual([`advert ${A}>224.0.0.18 prio 150`, "a garp 198.51.100.100 x3"]);

    net.setFilter(null);
    await vi.advanceTimersByTimeAsync(2 * ADVERT_MS);
    expect([role(a), role(b)]).toEqual(["master", "backup"]);
    expect([...b.vips]).toEqual([]);
    await a.engine.stop();
    await b.engine.stop();
  });

  it("garp_master_refresh: a GARP burst every period while MASTER, none after it steps down", async () => {
    const net = createMemoryVrrpNetwork();
    const timeline: Timeline = [];
    const a = node(net, timeline, "a", [spec("VI_1", 150, A, { garp: { repeat: 1, intervalMs: 0, delayMs: 0, refreshMs: 1_000 } })]);
    await a.engine.start();
    await vi.advanceTimersByTimeAsync(mdi(150) + 5);
    expect(role(a)).toBe("master");
    const garps = () => timeline.filter((t) => t === "a garp 198.51.100.100 x1").length;
    expect(garps()).toBe(1);
    await vi.advanceTimersByTimeAsync(3_500);
    expect(garps()).toBe(4);
    a.link.up = false;
    await vi.advanceTimersByTimeAsync(60);
    expect(role(a)).toBe("fault");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(garps()).toBe(4);
    await a.engine.stop();
  });

  it("throws on an instance config the core refuses", () => {
    const net = createMemoryVrrpNetwork();
    expect(() => node(net, [], "a", [spec("VI_1", 0, A)])).toThrow(RangeError);
  });

  it("never lets a stray IPv4 packet without VRRP inside reach the core", async () => {
    const net = createMemoryVrrpNetwork();
    const a = node(net, [], "a", [spec("VI_1", 100, A)]);
    await a.engine.start();
    const raw = encodeIpv4Datagram(new Uint8Array(8), { src: B, dst: VRRP_MULTICAST_V4 });
    net.inject("eth0", B, VRRP_MULTICAST_V4, raw.subarray(20));
    await vi.advanceTimersByTimeAsync(10);
    expect(a.metrics.render()).toMatch(/vigil_vrrp_packets_rejected_total\{interface="eth0",reason="[a-z-]+"\} 1/);
    expect(a.engine.status()[0]?.advertsReceived).toBe(0);
    await a.engine.stop();
  });
});
