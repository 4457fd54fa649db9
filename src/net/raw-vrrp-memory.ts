/**
 * In-memory twin of the raw VRRP socket, for driver tests on any runtime.
 *
 * Sockets opened with the same interface name share one wire segment (two
 * nodes' "eth0" are the same switch). Like the kernel socket:
 * - a packet to 224.0.0.18 reaches every multicast socket on the segment but
 *   the sender (multicast loop is off);
 * - a unicast packet reaches every socket whose source address it is sent to;
 * - receivers get an IPv4 packet: a 20-byte header (TTL 255, protocol 112,
 *   valid header checksum, the sender's source address) and the message;
 * - packets are not checked: garbage is delivered as garbage, as on a wire;
 * - send() never throws; mistakes and sends after close go to onError.
 * Delivery is asynchronous, in FIFO order, on a zero-delay timer, or only
 * when the test calls deliverAll() (manual mode).
 */
import { encodeIpv4Datagram, VRRP_MULTICAST_V4, VRRP_TTL } from "../proto/vrrp.ts";
import { checkVrrpDestination, checkVrrpSocketOptions, type VrrpSocket, VrrpSocketError, type VrrpSocketOptions } from "./raw-vrrp.ts";
import { createDeliveryQueue } from "./memory-delivery.ts";

export interface MemoryVrrpFrame {
  /** Segment: the interface name the sender used. */
  interface: string;
  src: string;
  dst: string;
  /** The full IPv4 packet receivers get. */
  ipPacket: Uint8Array;
}

export interface MemoryVrrpNetworkOptions {
  manual?: boolean;
}

export interface MemoryVrrpNetwork {
  /** Same shape as openVrrpSocket. */
  open(opts: VrrpSocketOptions): Promise<VrrpSocket>;
  /** Return false to drop a frame (loss, partitions); null removes the filter. */
  setFilter(filter: ((f: MemoryVrrpFrame) => boolean) | null): void;
  /** Sees every frame sent, before the filter. */
  tap(cb: (f: MemoryVrrpFrame) => void): void;
  /** Puts a VRRP message on a segment as if `src` had sent it; `ttl` lets tests forge off-link packets. Throws RangeError for addresses or a TTL that cannot be encoded. */
  inject(iface: string, src: string, dst: string, message: Uint8Array, ttl?: number): void;
  deliverAll(): number;
  idle(): Promise<void>;
  readonly pending: number;
}

interface Member {
  opts: VrrpSocketOptions;
  packetSinks: ((p: Uint8Array) => void)[];
  errorSinks: ((e: VrrpSocketError) => void)[];
  closed: boolean;
}

type Queued = { kind: "frame"; frame: MemoryVrrpFrame; sender: Member | undefined } | { kind: "error"; member: Member; err: VrrpSocketError };

export function createMemoryVrrpNetwork(options: MemoryVrrpNetworkOptions = {}): MemoryVrrpNetwork {
  const manual = options.manual === true;
  const members: Member[] = [];
  const taps: ((f: MemoryVrrpFrame) => void)[] = [];
  let filter: ((f: MemoryVrrpFrame) => boolean) | null = null;
  let nextId = 1;

  const runOne = (q: Queued): void => {
    if (q.kind === "error") {
      for (const cb of q.member.errorSinks) cb(q.err);
      return;
    }
    const f = q.frame;
    if (filter !== null && !filter(f)) return;
    for (const m of members) {
      if (m.closed || m === q.sender || m.opts.interface !== f.interface) continue;
      const hears = f.dst === VRRP_MULTICAST_V4 ? m.opts.multicast : m.opts.sourceAddress === f.dst;
      if (!hears) continue;
      for (const cb of m.packetSinks) cb(f.ipPacket.slice());
    }
  };

  const delivery = createDeliveryQueue<Queued>(manual, runOne);
  const enqueue = delivery.enqueue;

  const put = (iface: string, src: string, dst: string, message: Uint8Array, ttl: number, sender: Member | undefined): void => {
    const ipPacket = encodeIpv4Datagram(message, { src, dst, ttl, id: nextId++ & 0xffff });
    const frame: MemoryVrrpFrame = { interface: iface, src, dst, ipPacket };
    for (const t of taps) t(frame);
    enqueue({ kind: "frame", frame, sender });
  };

  const open = (opts: VrrpSocketOptions): Promise<VrrpSocket> => {
    const invalid = checkVrrpSocketOptions(opts);
    if (invalid !== undefined) return Promise.reject(invalid);
    const me: Member = { opts: { ...opts }, packetSinks: [], errorSinks: [], closed: false };
    members.push(me);
    const report = (kind: "send-failed" | "closed", why: string): void => {
      enqueue({ kind: "error", member: me, err: new VrrpSocketError(kind, opts.interface, why) });
    };
    const socket: VrrpSocket = {
      send(packet, dst) {
        if (me.closed) return report("closed", "send after close");
        const bad = checkVrrpDestination(dst);
        if (bad !== undefined) return report("send-failed", bad);
        put(opts.interface, opts.sourceAddress, dst, packet.slice(), VRRP_TTL, me);
      },
      onPacket(cb) {
        me.packetSinks.push(cb);
      },
      onError(cb) {
        me.errorSinks.push(cb);
      },
      close() {
        me.closed = true;
        const at = members.indexOf(me);
        if (at >= 0) members.splice(at, 1);
        return Promise.resolve();
      },
    };
    return Promise.resolve(socket);
  };

  return {
    open,
    setFilter(f) {
      filter = f;
    },
    tap(cb) {
      taps.push(cb);
    },
    inject(iface, src, dst, message, ttl = VRRP_TTL) {
      put(iface, src, dst, message.slice(), ttl, undefined);
    },
    deliverAll: delivery.deliverAll,
    idle: delivery.idle,
    get pending() {
      return delivery.pending;
    },
  };
}
