/**
 * VRRP and VIP I/O on the real kernel: our raw socket against keepalived 2.2.7,
 * `ip addr` VIP handling, and gratuitous ARP, inside lab namespaces.
 *
 * Raw sockets need FFI, so the VRRP side runs as a Bun process in the lab
 * (fixtures/raw-io-agent.ts, steered over stdin/stdout); the test itself runs
 * on Node and decodes what that process hears with the VRRP codec. The tests
 * that need no root (the runtime guard, the in-memory twin) come first.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { FfiUnavailableError } from "../../src/sys/ffi/libc.ts";
import { openVrrpSocket, type VrrpSocket, VrrpSocketError } from "../../src/net/raw-vrrp.ts";
import { createMemoryVrrpNetwork, type MemoryVrrpNetwork } from "../../src/net/raw-vrrp-memory.ts";
import { decodeVrrp, encodeAdvert, type VrrpAdvert, type VrrpPacket, VRRP_MULTICAST_V4 } from "../../src/proto/vrrp.ts";
import { createIpRunner } from "../../src/sys/ip-command.ts";
import { addVip, listAddresses, removeVip } from "../../src/sys/vip.ts";
import { hasVip } from "./vip-check.ts";
import { type LabHost, type LabProcess, REPO_ROOT, waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { logAfter } from "./vrrp-lab.ts";

// ---- without root: the runtime guard and the in-memory twin ------------------

const ADVERT = { version: 3, vrid: 51, priority: 200, advertIntCs: 100, addresses: ["198.51.100.50"] } as const;

describe("raw VRRP socket off Bun", () => {
  it("rejects with the typed FFI error, naming what is needed", async () => {
    const err = await openVrrpSocket({ interface: "eth0", sourceAddress: "198.51.100.11", multicast: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfiUnavailableError);
    expect((err as Error).message).toBe(`VRRP needs the vigil binary (bun:ffi); Node ${process.versions.node} cannot provide it`);
  });

  it("checks options before anything else", async () => {
    for (const [opts, why] of [
      [{ interface: "", sourceAddress: "198.51.100.11", multicast: true }, "interface name"],
      [{ interface: "eth0", sourceAddress: "198.51.100", multicast: true }, "not an IPv4 address"],
      [{ interface: "eth0", sourceAddress: "224.0.0.18", multicast: true }, "must be a unicast address"],
    ] as const) {
      const err = await openVrrpSocket(opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VrrpSocketError);
      expect(err).toMatchObject({ kind: "invalid-options" });
      expect((err as Error).message).toContain(why);
    }
  });
});

describe("in-memory VRRP socket", () => {
  const open = (net: MemoryVrrpNetwork, iface: string, sourceAddress: string, multicast = true) =>
    net.open({ interface: iface, sourceAddress, multicast });

  const collect = (s: VrrpSocket): Uint8Array[] => {
    const got: Uint8Array[] = [];
    s.onPacket((p) => got.push(p));
    return got;
  };

  it("delivers multicast adverts to the other multicast sockets on the segment, as IPv4 packets that decode", async () => {
    const net = createMemoryVrrpNetwork({ manual: true });
    const a = await open(net, "eth0", "198.51.100.11");
    const b = await open(net, "eth0", "198.51.100.12");
    const unicastOnly = await open(net, "eth0", "198.51.100.13", false);
    const otherSegment = await open(net, "eth1", "203.0.113.12");
    const [ga, gb, gu, go] = [collect(a), collect(b), collect(unicastOnly), collect(otherSegment)];
    a.send(encodeAdvert(ADVERT, { src: "198.51.100.11", dst: VRRP_MULTICAST_V4 }), VRRP_MULTICAST_V4);
    expect(gb).toHaveLength(0); // manual mode: nothing moves before deliverAll
    expect(net.deliverAll()).toBe(1);
    expect(ga).toHaveLength(0);
    expect(gu).toHaveLength(0);
    expect(go).toHaveLength(0);
    expect(gb).toHaveLength(1);
    const d = decodeVrrp(gb[0] ?? new Uint8Array());
    expect(d).toMatchObject({ ok: true, packet: { src: "198.51.100.11", dst: "224.0.0.18", ttl: 255, vrid: 51, priority: 200, addresses: ["198.51.100.50"] } });
  });

  it("delivers unicast adverts only to the peer they are addressed to", async () => {
    const net = createMemoryVrrpNetwork();
    const a = await open(net, "eth0", "198.51.100.11", false);
    const b = await open(net, "eth0", "198.51.100.12", false);
    const c = await open(net, "eth0", "198.51.100.13", true);
    const [gb, gc] = [collect(b), collect(c)];
    a.send(encodeAdvert(ADVERT, { src: "198.51.100.11", dst: "198.51.100.12" }), "198.51.100.12");
    await net.idle();
    expect(gb).toHaveLength(1);
    expect(gc).toHaveLength(0);
    expect(decodeVrrp(gb[0] ?? new Uint8Array())).toMatchObject({ ok: true, packet: { dst: "198.51.100.12" } });
  });

  it("reports bad destinations and sends after close through onError, never by throwing", async () => {
    const net = createMemoryVrrpNetwork();
    const a = await open(net, "eth0", "198.51.100.11");
    const errors: VrrpSocketError[] = [];
    a.onError((e) => errors.push(e));
    a.send(new Uint8Array(12), "239.1.2.3");
    a.send(new Uint8Array(12), "not-an-address");
    await a.close();
    a.send(new Uint8Array(12), VRRP_MULTICAST_V4);
    await net.idle();
    expect(errors.map((e) => e.kind)).toEqual(["send-failed", "send-failed", "closed"]);
    expect(errors[0]?.message).toBe("VRRP socket on eth0: destination 239.1.2.3 is neither 224.0.0.18 nor a unicast peer");
  });

  it("stops delivering to a closed socket, and lets tests drop, watch and forge traffic", async () => {
    const net = createMemoryVrrpNetwork({ manual: true });
    const a = await open(net, "eth0", "198.51.100.11");
    const b = await open(net, "eth0", "198.51.100.12");
    const gb = collect(b);
    const seen: string[] = [];
    net.tap((f) => seen.push(`${f.src}>${f.dst}`));
    net.setFilter((f) => f.src !== "198.51.100.11");
    a.send(encodeAdvert(ADVERT, { src: "198.51.100.11", dst: VRRP_MULTICAST_V4 }), VRRP_MULTICAST_V4);
    net.deliverAll();
    expect(gb).toHaveLength(0);
    expect(seen).toEqual(["198.51.100.11>224.0.0.18"]);
    net.setFilter(null);
    // A routed (TTL 64) advert from off the link: delivered, and the codec refuses it.
    net.inject("eth0", "192.0.2.9", VRRP_MULTICAST_V4, encodeAdvert(ADVERT, { src: "192.0.2.9", dst: VRRP_MULTICAST_V4 }), 64);
    net.deliverAll();
    expect(gb).toHaveLength(1);
    expect(decodeVrrp(gb[0] ?? new Uint8Array())).toMatchObject({ ok: false, error: { kind: "ttl" } });
    await b.close();
    a.send(encodeAdvert(ADVERT, { src: "198.51.100.11", dst: VRRP_MULTICAST_V4 }), VRRP_MULTICAST_V4);
    net.deliverAll();
    expect(gb).toHaveLength(1);
  });

  it("rejects bad options like the real socket", async () => {
    const net = createMemoryVrrpNetwork();
    await expect(open(net, "eth0", "198.51.100")).rejects.toMatchObject({ name: "VrrpSocketError", kind: "invalid-options" });
  });
});

// ---- on the real kernel -------------------------------------------------------

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const AGENT_SOURCE = join(REPO_ROOT, "test", "lab", "fixtures", "raw-io-agent.ts");
const VIP = "198.51.100.50";
const VRID = 51;

interface AgentEvent {
  event: string;
  hex?: string;
  n?: number;
  kind?: string;
  message?: string;
  result?: { ok: boolean; sent?: number; mac?: string; message?: string };
}

/** The Bun process that owns the raw socket, steered with JSON lines. */
class Agent {
  constructor(readonly proc: LabProcess) {}

  static start(host: LabHost, argv: readonly string[] = [BUN, AGENT_SOURCE]): Agent {
    const agent = new Agent(host.spawn(argv, { logName: "raw-io-agent", cwd: REPO_ROOT }));
    onTestFinished(async () => {
      await agent.proc.stop();
    });
    return agent;
  }

  /** An agent on `host` whose socket is open on the host's lab interface and address. */
  static async opened(host: LabHost, multicast = true, argv?: readonly string[]): Promise<Agent> {
    const agent = Agent.start(host, argv);
    await agent.open(host.ifname(), host.addr(), multicast);
    return agent;
  }

  /** Sends our advert at `priority` from `src` every second, to the VRRP group or to `dst`. */
  advertise(priority: number, src: string, dst = VRRP_MULTICAST_V4): void {
    this.command({ cmd: "advertise", hex: advertHex(priority, src, dst), dst, intervalMs: 1000 });
  }

  events(): AgentEvent[] {
    const out: AgentEvent[] = [];
    for (const line of this.proc.output().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as AgentEvent);
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  command(c: Record<string, unknown>): void {
    this.proc.write(`${JSON.stringify(c)}\n`);
  }

  /** The first event from index `from` on that matches, waiting for it. */
  async next(from: number, pred: (e: AgentEvent) => boolean, what: string, timeoutMs = 10_000): Promise<AgentEvent> {
    return waitUntil(
      () => {
        const failed = this.events().find((e) => e.event === "error" && e.kind !== "receive-failed");
        if (failed !== undefined) throw new Error(`agent reported: ${failed.message ?? JSON.stringify(failed)}`);
        return this.events().slice(from).find(pred);
      },
      { timeoutMs, what: `${what}; agent log:\n${this.proc.output().slice(-2000)}` },
    );
  }

  async open(iface: string, sourceAddress: string, multicast: boolean): Promise<void> {
    await this.next(0, (e) => e.event === "ready", "agent ready");
    const from = this.events().length;
    this.command({ cmd: "open", interface: iface, sourceAddress, multicast });
    await this.next(from, (e) => e.event === "opened", "socket opened");
  }

  /** Decoded VRRP packets heard from index `from` on. */
  packets(from = 0): { raw: Uint8Array; decoded: ReturnType<typeof decodeVrrp> }[] {
    return this.events()
      .slice(from)
      .filter((e) => e.event === "packet" && typeof e.hex === "string")
      .map((e) => {
        const raw = Uint8Array.from(Buffer.from(e.hex ?? "", "hex"));
        return { raw, decoded: decodeVrrp(raw) };
      });
  }

  async packetFrom(from: number, pred: (p: VrrpPacket) => boolean, what: string, timeoutMs = 10_000): Promise<{ raw: Uint8Array; packet: VrrpPacket }> {
    const hit = await waitUntil(
      () => {
        for (const p of this.packets(from)) if (p.decoded.ok && pred(p.decoded.packet)) return { raw: p.raw, packet: p.decoded.packet };
        return undefined;
      },
      { timeoutMs, what: `${what}; agent log:\n${this.proc.output().slice(-2000)}` },
    );
    return hit;
  }

  sentCount(): number {
    return this.events().filter((e) => e.event === "sent").length;
  }
}

const advert = (priority: number): VrrpAdvert => ({ version: 3, vrid: VRID, priority, advertIntCs: 100, addresses: [VIP] });
const advertHex = (priority: number, src: string, dst: string): string => Buffer.from(encodeAdvert(advert(priority), { src, dst })).toString("hex");

interface KeepalivedOptions {
  /** keepalived's unicast_src_ip and unicast_peer; multicast when omitted. */
  unicast?: { src: string; peer: string };
}

function keepalivedConf(iface: string, o: KeepalivedOptions): string {
  const unicast = o.unicast === undefined ? "" : `  unicast_src_ip ${o.unicast.src}\n  unicast_peer {\n    ${o.unicast.peer}\n  }\n`;
  return [
    "global_defs {",
    "  router_id vigil_lab",
    "  vrrp_version 3",
    "}",
    "vrrp_instance VI_1 {",
    "  state BACKUP",
    `  interface ${iface}`,
    `  virtual_router_id ${VRID}`,
    "  priority 100",
    "  advert_int 1",
    `${unicast}  virtual_ipaddress {`,
    `    ${VIP}/32`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** keepalived with its config and pid files in `dir`, logging to the console (the lab's log file). */
function startKeepalived(host: LabHost, dir: string, o: KeepalivedOptions = {}): LabProcess {
  const conf = join(dir, `keepalived-${host.name}.conf`);
  writeFileSync(conf, keepalivedConf(host.ifname(), o));
  const proc = host.spawn(
    ["keepalived", "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp", "--use-file", conf, "--pid", join(dir, "keepalived.pid"), "--vrrp_pid", join(dir, "vrrp.pid")],
    { logName: "keepalived" },
  );
  onTestFinished(async () => {
    await proc.stop(3000);
  });
  return proc;
}

const vipOn = async (host: LabHost, address = VIP): Promise<boolean> => {
  const r = await hasVip({ address, interface: host.ifname() }, createIpRunner({ netns: host.ns }));
  if (!r.ok) throw new Error(r.message);
  return r.present;
};

const KEEPALIVED_REJECTIONS = /Invalid VRRPv3 checksum|invalid ttl|ip ttl|bad checksum/i;

describeLab(
  "raw VRRP socket against keepalived 2.2.7",
  () => {
    const lab = useLab({ hosts: 2 });
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-io-"));
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });
    const hosts = (): [LabHost, LabHost] => [lab().host(1), lab().host(2)];

    /** keepalived, MASTER up to `mastered` in its log, hears our priority 200 (`reason`, as it logs it) and goes BACKUP; the log offset past that. */
    const yieldsToUs = async (ka: LabProcess, mastered: number, reason = /with higher priority 200, ours 100/): Promise<number> => {
      const yielded = await logAfter(ka, mastered, reason);
      return logAfter(ka, yielded, /\(VI_1\) Entering BACKUP STATE/);
    };

    /** We advertise at priority 200 from the start, so keepalived, started after, never gets to be MASTER; `init`: its log past BACKUP. */
    const backupBesideUs = async (us: LabHost, peer: LabHost): Promise<{ agent: Agent; ka: LabProcess; init: number }> => {
      const agent = await Agent.opened(us);
      agent.advertise(200, us.addr());
      const ka = startKeepalived(peer, dir);
      const init = await logAfter(ka, 0, /\(VI_1\) Entering BACKUP STATE/);
      return { agent, ka, init };
    };

    labTest("we decode keepalived's adverts, and it yields to our priority 200 and stays BACKUP", async () => {
      const [us, peer] = hosts();
      const ka = startKeepalived(peer, dir);
      const agent = await Agent.opened(us);

      // Nobody else speaks yet, so keepalived takes over on its own and advertises.
      const mastered = await logAfter(ka, 0, /\(VI_1\) Entering MASTER STATE/);
      const heard = await agent.packetFrom(0, (p) => p.src === peer.addr(), "an advert from keepalived");
      expect(heard.packet).toEqual({
        version: 3,
        vrid: VRID,
        priority: 100,
        advertIntCs: 100,
        addresses: [VIP],
        auth: { type: "none" },
        src: peer.addr(),
        dst: VRRP_MULTICAST_V4,
        ttl: 255,
      });
      expect(heard.raw[8]).toBe(255); // TTL, as the kernel delivered it
      await waitUntil(() => vipOn(peer), { what: `${VIP} on keepalived's host` });

      const sentBefore = agent.sentCount();
      agent.advertise(200, us.addr());
      const backup = await yieldsToUs(ka, mastered, new RegExp(`Master received advert from ${us.addr().replace(/\./g, "\\.")} with higher priority 200, ours 100`));
      await waitUntil(async () => !(await vipOn(peer)), { what: `${VIP} removed from keepalived's host` });

      // Five more adverts span more than keepalived's master-down interval (3 x 1 s + skew):
      // had it stopped accepting them, it would have taken over again by now.
      await agent.next(0, () => agent.sentCount() >= sentBefore + 6, "six adverts sent", 15_000);
      expect(ka.output().slice(backup)).not.toMatch(/Entering MASTER STATE/);
      expect(ka.output()).not.toMatch(KEEPALIVED_REJECTIONS);
      expect(agent.packets().every((p) => p.decoded.ok)).toBe(true);
    }, 60_000);

    labTest("when our adverts stop, keepalived's master-down timer fires and it adds the VIP", async () => {
      const [us, peer] = hosts();
      const { agent, ka, init } = await backupBesideUs(us, peer);
      const sent = agent.sentCount();
      await agent.next(0, () => agent.sentCount() >= sent + 5, "five adverts sent", 15_000);
      expect(ka.output().slice(init)).not.toMatch(/Entering MASTER STATE/);
      expect(await vipOn(peer)).toBe(false);

      const quietFrom = agent.events().length;
      agent.command({ cmd: "quiet" });
      await agent.next(quietFrom, (e) => e.event === "quiet", "advertising stopped");
      const timeout = await logAfter(ka, init, /\(VI_1\) Receive advertisement timeout/);
      await logAfter(ka, timeout, /\(VI_1\) Entering MASTER STATE/);
      await waitUntil(() => vipOn(peer), { what: `${VIP} added on keepalived's host` });
      await agent.packetFrom(quietFrom, (p) => p.src === peer.addr() && p.priority === 100, "keepalived advertising as master");
      expect(ka.output()).not.toMatch(KEEPALIVED_REJECTIONS);
    }, 60_000);

    labTest("our priority-0 advert hands over at once, and keepalived's own priority 0 at shutdown reaches us", async () => {
      const [us, peer] = hosts();
      const { agent, ka, init } = await backupBesideUs(us, peer);
      const sent = agent.sentCount();
      await agent.next(0, () => agent.sentCount() >= sent + 2, "two adverts sent", 10_000);

      agent.command({ cmd: "quiet" });
      agent.command({ cmd: "send", hex: advertHex(0, us.addr(), VRRP_MULTICAST_V4), dst: VRRP_MULTICAST_V4 });
      // keepalived names the priority-0 advert as the reason, then takes over after
      // only its skew time instead of the full master-down interval.
      const resigned = await logAfter(ka, init, /\(VI_1\) Backup received priority 0 advertisement/);
      expect(ka.output().slice(init, resigned)).not.toMatch(/Entering MASTER STATE/);
      await logAfter(ka, resigned, /\(VI_1\) Entering MASTER STATE/);
      await waitUntil(() => vipOn(peer), { what: `${VIP} added on keepalived's host` });

      const beforeStop = agent.events().length;
      await ka.stop(3000);
      expect(ka.output()).toMatch(/\(VI_1\) sent 0 priority/);
      const bye = await agent.packetFrom(beforeStop, (p) => p.src === peer.addr() && p.priority === 0, "keepalived's priority-0 advert at shutdown");
      expect(bye.packet).toMatchObject({ vrid: VRID, ttl: 255, addresses: [VIP] });
      expect(ka.output()).not.toMatch(KEEPALIVED_REJECTIONS);
    }, 60_000);

    labTest("unicast mode interoperates with keepalived's unicast_peer", async () => {
      const [us, peer] = hosts();
      const ka = startKeepalived(peer, dir, { unicast: { src: peer.addr(), peer: us.addr() } });
      const agent = await Agent.opened(us, false);
      const mastered = await logAfter(ka, 0, /\(VI_1\) Entering MASTER STATE/);
      const heard = await agent.packetFrom(0, (p) => p.src === peer.addr(), "a unicast advert from keepalived");
      expect(heard.packet).toMatchObject({ dst: us.addr(), ttl: 255, vrid: VRID, priority: 100 });

      agent.advertise(200, us.addr(), peer.addr());
      await yieldsToUs(ka, mastered);
      await waitUntil(async () => !(await vipOn(peer)), { what: `${VIP} removed from keepalived's host` });
      expect(ka.output()).not.toMatch(KEEPALIVED_REJECTIONS);
    }, 60_000);

    labTest("the same socket works inside a `bun build --compile` binary", async () => {
      const [us, peer] = hosts();
      const binary = join(dir, "raw-io-agent");
      // The flags of scripts/build.mjs, so the receive Worker is proven the way vigil ships.
      execFileSync(BUN, ["build", "--compile", "--minify", "--bytecode", "--format=esm", AGENT_SOURCE, "--outfile", binary], {
        cwd: REPO_ROOT,
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 120_000,
      });
      const ka = startKeepalived(peer, dir);
      const agent = await Agent.opened(us, true, [binary]);
      const mastered = await logAfter(ka, 0, /\(VI_1\) Entering MASTER STATE/);
      await agent.packetFrom(0, (p) => p.src === peer.addr() && p.priority === 100, "an advert from keepalived");
      agent.advertise(200, us.addr());
      await yieldsToUs(ka, mastered);
      const closing = agent.events().length;
      agent.command({ cmd: "close" });
      await agent.next(closing, (e) => e.event === "closed", "socket closed");
    }, 180_000);

    labTest("errors name the problem: no such interface, an address that is not ours, no CAP_NET_RAW", async () => {
      const [us] = hosts();
      const agent = Agent.start(us);
      await agent.next(0, (e) => e.event === "ready", "agent ready");
      agent.command({ cmd: "open", interface: "eth9", sourceAddress: us.addr(), multicast: true });
      agent.command({ cmd: "open", interface: us.ifname(), sourceAddress: "198.51.100.99", multicast: true });
      const errs = await waitUntil(() => {
        const e = agent.events().filter((x) => x.event === "error");
        return e.length >= 2 ? e : undefined;
      }, { what: "two open errors" });
      expect(errs.map((e) => [e.kind, e.message])).toEqual([
        ["no-interface", "VRRP socket on eth9: interface eth9 does not exist"],
        ["no-source-address", `VRRP socket on eth0: source address 198.51.100.99 is not configured on eth0`],
      ]);

      const unprivileged = Agent.start(us, ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", BUN, AGENT_SOURCE]);
      await unprivileged.next(0, (e) => e.event === "ready", "agent ready");
      unprivileged.command({ cmd: "open", interface: us.ifname(), sourceAddress: us.addr(), multicast: true });
      const denied = await waitUntil(() => unprivileged.events().find((e) => e.event === "error"), { what: "EPERM" });
      expect(denied).toMatchObject({ kind: "permission" });
      expect(denied.message).toContain("socket failed: EPERM");
      expect(denied.message).toContain("raw sockets need root or CAP_NET_RAW");
    }, 30_000);
  },
  { tools: ["keepalived", "setpriv"] },
);

describeLab("VIPs and gratuitous ARP", () => {
  const lab = useLab({ hosts: 3 });
  const GARP_VIP = "198.51.100.60";

  labTest("adds a VIP with its configured prefix and its label and removes it, both idempotent; an operator's ip addr del with that prefix works", async () => {
    const h = lab().host(1);
    const run = createIpRunner({ netns: h.ns });
    const spec = { address: "198.51.100.70/24", interface: h.ifname(), label: "vip" };
    const vipEntries = async () => {
      const l = await listAddresses(h.ifname(), run);
      if (!l.ok) throw new Error(l.message);
      return l.addresses.filter((a) => a.address === "198.51.100.70");
    };

    expect(await addVip(spec, run)).toEqual({ ok: true, vip: spec.address, interface: "eth0" });
    expect(await vipEntries()).toEqual([{ address: "198.51.100.70", prefixLength: 24, label: "eth0:vip" }]);
    expect((await addVip(spec, run)).ok).toBe(true);
    expect(await vipEntries()).toHaveLength(1);
    // The host's own address is untouched.
    const l = await listAddresses(h.ifname(), run);
    expect(l.ok && l.addresses.some((a) => a.address === h.addr() && a.prefixLength === 24)).toBe(true);

    // What the config says is what an operator types.
    await h.exec(["ip", "addr", "del", "198.51.100.70/24", "dev", h.ifname()], { check: true });
    expect(await vipEntries()).toEqual([]);
    expect((await addVip(spec, run)).ok).toBe(true);

    expect(await removeVip(spec, run)).toEqual({ ok: true, vip: spec.address, interface: "eth0", alreadyGone: false });
    expect(await vipEntries()).toEqual([]);
    expect(await removeVip(spec, run)).toEqual({ ok: true, vip: spec.address, interface: "eth0", alreadyGone: true });
  });

  labTest("a VIP outside the interface's own subnet brings its subnet route, and takes it away again", async () => {
    const h = lab().host(2);
    const run = createIpRunner({ netns: h.ns });
    const route = async () => (await h.exec(["ip", "-4", "route", "show", "192.0.2.0/24"], { check: true })).stdout.trim();
    expect(await route()).toBe("");
    expect((await addVip({ address: "192.0.2.72/24", interface: h.ifname() }, run)).ok).toBe(true);
    try {
      expect(await route()).toBe(`192.0.2.0/24 dev ${h.ifname()} proto kernel scope link src 192.0.2.72`);
    } finally {
      expect((await removeVip({ address: "192.0.2.72/24", interface: h.ifname() }, run)).ok).toBe(true);
    }
    expect(await route()).toBe("");
  });

  labTest("failures name the VIP, the interface and what ip said", async () => {
    const h = lab().host(1);
    const run = createIpRunner({ netns: h.ns });
    const added = await addVip({ address: "198.51.100.71", interface: "eth9" }, run);
    expect(added).toMatchObject({ ok: false, kind: "add-failed", vip: "198.51.100.71", interface: "eth9" });
    if (!added.ok) {
      expect(added.stderr).toContain('Cannot find device "eth9"');
      expect(added.message).toMatch(/^cannot add VIP 198\.51\.100\.71 on eth9: .*Cannot find device "eth9"/);
    }
    // A missing device is not "already gone": the driver must hear about it.
    const removed = await removeVip({ address: "198.51.100.71", interface: "eth9" }, run);
    expect(removed).toMatchObject({ ok: false, kind: "remove-failed", interface: "eth9" });
    const listed = await listAddresses("eth9", run);
    expect(listed).toMatchObject({ ok: false, kind: "list-failed" });
    if (!listed.ok) expect(listed.stderr).toContain('Device "eth9" does not exist');
  });

  labTest("a VIP in the primary address's subnet survives its removal where promote_secondaries is on (as systemd sets it), and goes with it where it is off", async () => {
    const h = lab().host(3);
    const run = createIpRunner({ netns: h.ns });
    // A spare interface of our own (a veth pair: this kernel may lack the dummy driver).
    await h.exec(["ip", "link", "add", "vip0", "type", "veth", "peer", "name", "vip1"], { check: true });
    try {
      await h.exec(["ip", "link", "set", "vip0", "up"], { check: true });
      const removePrimary = async (promote: 0 | 1): Promise<boolean> => {
        await h.exec(["sysctl", "-q", "-w", `net.ipv4.conf.vip0.promote_secondaries=${promote}`], { check: true });
        await h.exec(["ip", "addr", "add", "192.0.2.1/24", "dev", "vip0"], { check: true });
        expect((await addVip({ address: "192.0.2.50/24", interface: "vip0" }, run)).ok).toBe(true);
        await h.exec(["ip", "addr", "del", "192.0.2.1/24", "dev", "vip0"], { check: true });
        const r = await hasVip({ address: "192.0.2.50", interface: "vip0" }, run);
        if (!r.ok) throw new Error(r.message);
        await removeVip({ address: "192.0.2.50/24", interface: "vip0" }, run);
        return r.present;
      };
      expect(await removePrimary(1)).toBe(true);
      expect(await removePrimary(0)).toBe(false);
    } finally {
      await h.exec(["ip", "link", "del", "vip0"]);
    }
  });

  labTest("one gratuitous ARP moves a client's stale neighbour entry to our MAC", async () => {
    const [newOwner, oldOwner, client] = [lab().host(1), lab().host(2), lab().host(3)];
    const macOf = async (h: LabHost): Promise<string> =>
      (await h.exec(["cat", `/sys/class/net/${h.ifname()}/address`], { check: true })).stdout.trim();
    const neighbour = async (): Promise<string> =>
      (await client.exec(["ip", "neigh", "show", GARP_VIP, "dev", client.ifname()], { check: true })).stdout;
    const [newMac, oldMac] = [await macOf(newOwner), await macOf(oldOwner)];

    expect((await addVip({ address: GARP_VIP, interface: oldOwner.ifname() }, createIpRunner({ netns: oldOwner.ns }))).ok).toBe(true);
    await client.exec(["ping", "-c", "1", "-W", "2", GARP_VIP], { check: true });
    expect(await neighbour()).toContain(`lladdr ${oldMac}`);

    expect((await removeVip({ address: GARP_VIP, interface: oldOwner.ifname() }, createIpRunner({ netns: oldOwner.ns }))).ok).toBe(true);
    expect((await addVip({ address: GARP_VIP, interface: newOwner.ifname() }, createIpRunner({ netns: newOwner.ns }))).ok).toBe(true);
    // Past the neighbour table's 1 s locktime, inside which Linux ignores ARP updates.
    await new Promise((r) => setTimeout(r, 1300));
    expect(await neighbour()).toContain(`lladdr ${oldMac}`); // nothing else moved it

    const agent = Agent.start(newOwner);
    await agent.next(0, (e) => e.event === "ready", "agent ready");
    agent.command({ cmd: "garp", interface: newOwner.ifname(), address: GARP_VIP, count: 1 });
    const garp = await agent.next(0, (e) => e.event === "garp", "gratuitous ARP sent");
    expect(garp.result).toMatchObject({ ok: true, sent: 1, mac: newMac });
    await waitUntil(async () => (await neighbour()).includes(`lladdr ${newMac}`), { what: `the client's entry for ${GARP_VIP} to become ${newMac}` });
  }, 30_000);
});
