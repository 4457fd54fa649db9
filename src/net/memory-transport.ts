/**
 * In-memory twin of the UDP heartbeat transport, for driver tests.
 *
 * Link index i of every transport opened on one network is the same wire
 * segment. Transports take the same LinkSpec list as openUdpTransport and
 * follow the same rules: a unicast link listens on its local address, a
 * multicast link on its group, a broadcast link on its broadcast address;
 * a sender never hears itself; send() never throws and reports failures
 * through onError. Delivery is asynchronous like UDP, in FIFO order, either
 * on a zero-delay timer (default) or only when the test calls deliverAll().
 */
import { createDeliveryQueue } from "./memory-delivery.ts";
import {
  bindErrorMessage,
  type Endpoint,
  type LinkSpec,
  type ResolvedLink,
  resolveLinks,
  type Transport,
  TransportBindError,
  TransportSendError,
} from "./udp-transport.ts";

export interface MemoryDatagram {
  link: number;
  from: Endpoint;
  to: Endpoint;
  bytes: Uint8Array;
}

export interface MemoryNetworkOptions {
  /** Deliver only when deliverAll() is called, for step-by-step tests. */
  manual?: boolean;
}

export interface MemoryTransport extends Transport {
  boundEndpoint(link: number): Endpoint | undefined;
}

export interface MemoryNetwork {
  /** Opens a transport; throws TransportConfigError / TransportBindError like openUdpTransport rejects. */
  transport(links: readonly LinkSpec[]): MemoryTransport;
  /** Same as transport(), shaped like openUdpTransport so drivers can take either. */
  open(links: readonly LinkSpec[]): Promise<MemoryTransport>;
  /** A node's interface on a link goes down/up: its sends fail with ENETUNREACH, nothing reaches it. */
  setInterface(link: number, address: string, up: boolean): void;
  /** The whole segment (the switch) goes down/up: datagrams on it vanish silently. */
  setSegment(link: number, up: boolean): void;
  /** Return false to drop a datagram (loss, one-way cuts); null removes the filter. */
  setFilter(filter: ((d: MemoryDatagram) => boolean) | null): void;
  /** Sees every datagram a transport sends, before any loss, e.g. to capture frames for replay. */
  tap(cb: (d: MemoryDatagram) => void): void;
  /** Puts raw bytes on a segment as if `from` had sent them (forged or replayed frames). */
  inject(link: number, from: Endpoint, to: Endpoint, bytes: Uint8Array): void;
  /** Delivers what is queued now (datagrams and send errors), in order; returns how many. */
  deliverAll(): number;
  /** Resolves once nothing is queued (automatic mode). */
  idle(): Promise<void>;
  readonly pending: number;
}

interface Member {
  link: ResolvedLink;
  bound: Endpoint;
  owner: Node;
}

interface Node {
  members: Map<number, Member>;
  receivers: ((link: number, bytes: Uint8Array, from: Endpoint) => void)[];
  errorSinks: ((link: number, err: Error) => void)[];
  closed: boolean;
}

type Queued = { kind: "datagram"; d: MemoryDatagram } | { kind: "error"; node: Node; link: number; err: Error };

const FIRST_EPHEMERAL_PORT = 49152;

export function createMemoryNetwork(options: MemoryNetworkOptions = {}): MemoryNetwork {
  const manual = options.manual === true;
  const members: Member[] = [];
  const nicsDown = new Set<string>();
  const segmentsDown = new Set<number>();
  const taps: ((d: MemoryDatagram) => void)[] = [];
  let filter: ((d: MemoryDatagram) => boolean) | null = null;
  let nextPort = FIRST_EPHEMERAL_PORT;

  const nicKey = (link: number, address: string): string => `${link}|${address}`;

  const runOne = (q: Queued): void => {
    if (q.kind === "error") {
      if (!q.node.closed) for (const cb of q.node.errorSinks) cb(q.link, q.err);
      return;
    }
    const d = q.d;
    if (segmentsDown.has(d.link)) return;
    if (filter !== null && !filter(d)) return;
    for (const m of members) {
      if (m.link.index !== d.link || m.owner.closed) continue;
      if (m.bound.address !== d.to.address || m.bound.port !== d.to.port) continue;
      if (nicsDown.has(nicKey(d.link, m.link.localAddress))) continue;
      if (d.from.address === m.link.localAddress && d.from.port === m.bound.port) continue;
      // Each receiver gets its own copy, as each host would.
      for (const cb of m.owner.receivers) cb(d.link, d.bytes.slice(), { ...d.from });
    }
  };

  const delivery = createDeliveryQueue<Queued>(manual, runOne);
  const enqueue = delivery.enqueue;

  const transport = (specs: readonly LinkSpec[]): MemoryTransport => {
    const resolved = resolveLinks(specs);
    const node: Node = { members: new Map(), receivers: [], errorSinks: [], closed: false };
    for (const link of resolved) {
      const port = link.port === 0 ? nextPort++ : link.port;
      // Unicast addresses are exclusive; group and broadcast listeners are one per node.
      const clash = link.mode === "unicast" && members.some((m) => !m.owner.closed && m.link.index === link.index && m.bound.address === link.bindAddress && m.bound.port === port);
      if (clash) {
        throw new TransportBindError(link.index, link.bindAddress, port, "EADDRINUSE", bindErrorMessage(link.index, "bind to", link.bindAddress, port, "EADDRINUSE"));
      }
      node.members.set(link.index, { link, bound: { address: link.bindAddress, port }, owner: node });
    }
    members.push(...node.members.values());

    return {
      send(index, bytes) {
        const m = node.members.get(index);
        const fail = (code: string, why: string, target?: Endpoint): void => {
          enqueue({ kind: "error", node, link: index, err: new TransportSendError(index, target, code, `heartbeat link ${index}: send failed: ${why}`) });
        };
        if (node.closed) return fail("ECLOSED", "the transport is closed");
        if (m === undefined) return fail("ENOLINK", "no such link");
        if (nicsDown.has(nicKey(index, m.link.localAddress))) {
          return fail("ENETUNREACH", `network is unreachable (interface of ${m.link.localAddress} is down)`);
        }
        const from: Endpoint = { address: m.link.localAddress, port: m.bound.port };
        for (const to of m.link.targets) {
          const d: MemoryDatagram = { link: index, from, to: { ...to }, bytes: bytes.slice() };
          for (const t of taps) t(d);
          enqueue({ kind: "datagram", d });
        }
      },
      onReceive(cb) {
        node.receivers.push(cb);
      },
      onError(cb) {
        node.errorSinks.push(cb);
      },
      boundEndpoint(index) {
        const m = node.members.get(index);
        return m ? { ...m.bound } : undefined;
      },
      close() {
        node.closed = true;
        for (const m of node.members.values()) {
          const at = members.indexOf(m);
          if (at >= 0) members.splice(at, 1);
        }
        return Promise.resolve();
      },
    };
  };

  return {
    transport,
    open: (links) => {
      try {
        return Promise.resolve(transport(links));
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
    setInterface(link, address, up) {
      if (up) nicsDown.delete(nicKey(link, address));
      else nicsDown.add(nicKey(link, address));
    },
    setSegment(link, up) {
      if (up) segmentsDown.delete(link);
      else segmentsDown.add(link);
    },
    setFilter(f) {
      filter = f;
    },
    tap(cb) {
      taps.push(cb);
    },
    inject(link, from, to, bytes) {
      enqueue({ kind: "datagram", d: { link, from: { ...from }, to: { ...to }, bytes: bytes.slice() } });
    },
    deliverAll: delivery.deliverAll,
    idle: delivery.idle,
    get pending() {
      return delivery.pending;
    },
  };
}
