/**
 * One VRRP instance (VI_1, vrid 51, VIP 198.51.100.100/24 on eth0) driven by
 * the real VrrpEngine over a test socket and an in-memory set of VIPs, for
 * the engine's unit tests.
 */
import { vipAddress } from "../../src/core/vrrp/vrrp.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import type { VrrpIo } from "../../src/daemon/vrrp/spec.ts";
import type { VrrpSocket } from "../../src/net/raw-vrrp.ts";
import { encodeAdvert, encodeIpv4Datagram, VRRP_MULTICAST_V4 } from "../../src/proto/vrrp.ts";

export const VIP = "198.51.100.100";

export function advertFrom(src: string, priority: number, advertMs: number): Uint8Array {
  const vrrp = encodeAdvert({ version: 3, vrid: 51, priority, advertIntCs: advertMs / 10, addresses: [VIP] }, { src, dst: VRRP_MULTICAST_V4 });
  return encodeIpv4Datagram(vrrp, { src, dst: VRRP_MULTICAST_V4 });
}

export interface OneInstance {
  readonly socket: VrrpSocket;
  /** This node's address on eth0. */
  readonly self: string;
  readonly priority: number;
  readonly advertMs: number;
  /** Log lines, as text. */
  readonly lines?: string[];
  /** Called as each VIP removal starts. */
  readonly onRemove?: () => void;
  readonly metrics?: Metrics;
  /** Default 10 s: the link is never polled within a test's fake minute or so. */
  readonly linkPollMs?: number;
  /** The heartbeat's read of frames waiting unread (VrrpEngineOptions.readHeartbeat). */
  readonly readHeartbeat?: () => void;
}

export function oneInstanceEngine(o: OneInstance): { engine: VrrpEngine; vips: Set<string> } {
  const vips = new Set<string>();
  const io: VrrpIo = {
    openSocket: async () => o.socket,
    addVip: async (vip) => (vips.add(vipAddress(vip)), { ok: true }),
    removeVip: async (vip) => {
      o.onRemove?.();
      return { ok: true, removed: vips.delete(vipAddress(vip)) };
    },
    sendGarp: async () => ({ ok: true }),
    linkState: () => ({ up: true, present: true, detail: "eth0 up" }),
    interfaceAddresses: () => [o.self],
    dropVipTraffic: async () => ({ ok: true }),
    acceptVipTraffic: async () => ({ ok: true }),
  };
  const lines = o.lines;
  const engine = new VrrpEngine({
    instances: [{
      core: { name: "VI_1", vrid: 51, priority: o.priority, primaryAddress: o.self, vips: [`${VIP}/24`], advertIntCs: o.advertMs / 10, acceptMode: true },
      interface: "eth0",
      unicastPeers: [],
      probes: [],
      notify: {},
      garp: { repeat: 1, intervalMs: 0, delayMs: 0 },
    }],
    io,
    log: new Logger("text", lines ? (l) => lines.push(l) : () => {}),
    metrics: o.metrics ?? new Metrics(),
    clock: () => Date.now(),
    linkPollMs: o.linkPollMs ?? 10_000,
    ...(o.readHeartbeat === undefined ? {} : { readHeartbeat: o.readHeartbeat }),
  });
  return { engine, vips };
}

/** A VRRP socket the test feeds: `receive` hands a packet to the engine as the kernel would; sends go nowhere. */
export class Socket implements VrrpSocket {
  private sink: (p: Uint8Array) => void = () => {};
  send(): void {}
  onPacket(cb: (p: Uint8Array) => void): void {
    this.sink = cb;
  }
  onError(): void {}
  receive(p: Uint8Array): void {
    this.sink(p);
  }
  async close(): Promise<void> {}
}
