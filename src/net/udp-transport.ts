/**
 * Heartbeat transport over UDP (node:dgram): the sockets of each heartbeat link.
 *
 * - unicast (default): bound to the link's local address, one socket per
 *   peer (see "Strangers"); each frame goes to every peer on that link;
 * - multicast: the socket is bound to the group address (a socket bound to a
 *   unicast address never sees datagrams addressed to a group), joins the group
 *   on the link's local address and sends with TTL 1 so frames stay on the link;
 * - broadcast: the socket is bound to the link's subnet broadcast address, for
 *   the same reason.
 *
 * Because every socket is bound to an address that only exists on one link,
 * the receiving socket tells which link a datagram came in on.
 *
 * Strangers: a datagram whose source is not a configured peer address of the
 * link is dropped before anything else looks at it (no MAC, no parse), so a
 * flood from another host costs a set lookup per datagram, not a HMAC. A
 * unicast link with a single peer goes further: its socket is connect()ed to
 * that peer, and the kernel itself drops every datagram from elsewhere before
 * it reaches the socket's queue, so a flood can neither fill the queue (and
 * push genuine frames out) nor keep the event loop busy. A unicast link with
 * several peers gets one such connected socket per peer, all bound to the
 * same address and port (SO_REUSEADDR; the kernel hands each datagram to the
 * socket connected to its source, and drops it if there is none). A first,
 * exclusive bind of that address and port still tells that another process
 * (another vigil) holds it. A peer with no route at start (its link down:
 * connect() fails ENETUNREACH) gets a socket that is not connected; its
 * strangers are then dropped by the address lookup alone, until the next
 * start, and its sends fail as any send on a down link does. The receive buffer
 * is enlarged (RECEIVE_BUFFER_BYTES, as far as net.core.rmem_max allows) so
 * a burst of genuine frames after a stall is not dropped.
 * send() never throws: failures (ENETUNREACH when a link is down, ...) are
 * reported through onError, so one dead link cannot disturb the others.
 *
 * The sockets are Bun's native UDP sockets where the runtime is Bun (the
 * binary), node:dgram elsewhere (udp-socket.ts says why); the behaviour
 * above is the same on both. An owner that reads once per round of its own
 * can have the connected sockets opened through libc instead (`polled`,
 * udp-socket-polled.ts): their datagrams then wait in the kernel until
 * readArrived() and carry the kernel's arrival time.
 *
 * News (`news`, with `polled`): each peer of a unicast link whose socket is
 * connected also gets a socket the event loop watches, bound to the same
 * address and port and connected to the peer's port + 1, and a send-only
 * socket bound to our port + 1 and connected to the peer's port. A frame
 * sent as news (send(..., true)) to a peer that takes it (peerPaths'
 * sendNews), or as a probe of the news path (send(..., "probe")) to a peer
 * that reads news there (peerPaths' probe), leaves from port + 1, so the peer's kernel hands it to that
 * watched socket and it is read at once, while the peer reads our other
 * frames (same destination port, from the port) once per round from a
 * polled socket. Which of a peer's frames we read late is peerPaths'
 * readLate: the socket connected to its port is then reopened polled
 * (or watched again). Liveness never depends on port + 1: a firewall that
 * drops datagrams from it loses news, which the next frame carries too.
 */
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { bunBackend, bunUdp } from "./udp-socket-bun.ts";
import { dgramBackend } from "./udp-socket-dgram.ts";
import { errorCode, OpenSocketError, type UdpBackend, type UdpSocketLike } from "./udp-socket.ts";

export { errorCode } from "./udp-socket.ts";

/** UDP port heartbeats use unless the config says otherwise. */
export const DEFAULT_HEARTBEAT_PORT = 7694;

export interface LinkSpec {
  index: number;
  localAddress: string;
  /** 0 picks a free port (tests); real links use the same port on every node. */
  port: number;
  mode: "unicast" | "multicast" | "broadcast";
  /**
   * The peers' addresses on this link: "a.b.c.d" (the link's port) or
   * "a.b.c.d:port". Unicast sends to each; in every mode only datagrams from
   * these addresses are taken (none listed: any source).
   */
  peers: string[];
  /** Multicast only: an IPv4 multicast group, e.g. one in 224.0.0.0/24. */
  group?: string;
  /** Broadcast only: the link's subnet broadcast address, e.g. 198.51.100.255. */
  broadcastAddress?: string;
}

export interface Endpoint {
  address: string;
  port: number;
}

export interface Transport {
  /**
   * `news` true: to peers that take it (peerPaths' sendNews), from the
   * link's port + 1 (see "News"); "probe": so to every peer that reads news
   * there (peerPaths' probe), whether or not its news takes it.
   */
  send(link: number, bytes: Uint8Array, news?: boolean | "probe"): void;
  /**
   * `ageMs`: how long ago the kernel received the datagram, when it is
   * handed over later than that (readArrived); undefined: just now.
   * `news`: it came from the peer's port + 1 (see "News").
   */
  onReceive(cb: (link: number, bytes: Uint8Array, from: Endpoint, ageMs?: number, news?: boolean) => void): void;
  onError(cb: (link: number, err: Error) => void): void;
  /**
   * Reads, without blocking, what the kernel already holds for the sockets
   * and hands it to the receivers (the same checks as any datagram) before
   * returning; returns how many datagrams. Absent where it cannot.
   */
  readQueued?(): number;
  /**
   * Present when some sockets are polled (openUdpTransport's `polled`):
   * their datagrams wait in the kernel until this reads them (the same
   * checks as any datagram, each with its age); returns how many. The
   * owner calls it at each of its wake-ups.
   */
  readArrived?(): number;
  /**
   * Present with news paths (openUdpTransport's `news`): for every link's
   * connected socket to `address`, whether its frames are read late
   * (polled) and whether our news and our probes to it leave from port + 1.
   * The sends follow at once; the returned promise resolves once the
   * sockets are reopened. False: no news path to that address.
   */
  peerPaths?(address: string, p: PeerPaths): Promise<boolean>;
  close(): Promise<void>;
}

export interface PeerPaths {
  readLate: boolean;
  sendNews: boolean;
  probe: boolean;
}

export interface UdpTransport extends Transport {
  /** Where link `link`'s socket is bound (the real port when the spec said 0). */
  boundEndpoint(link: number): Endpoint | undefined;
  /**
   * A datagram from an address that is not a peer of the link was dropped
   * unread. Not called for what the kernel drops on a connect()ed link.
   */
  onStranger(cb: (link: number, from: Endpoint) => void): void;
  /** The receive buffer each link's socket got, in bytes (the kernel may give less than asked). */
  receiveBufferBytes(link: number): number | undefined;
}

/** Asked for every link's socket; Linux caps it at net.core.rmem_max (and doubles it for bookkeeping). */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** A link spec that cannot work, found before any socket is opened. */
export class TransportConfigError extends Error {
  readonly link: number | undefined;
  constructor(message: string, link?: number) {
    super(message);
    this.name = "TransportConfigError";
    this.link = link;
  }
}

/** A socket could not be set up: bind, multicast join, or socket options. */
export class TransportBindError extends Error {
  readonly link: number;
  readonly address: string;
  readonly port: number;
  readonly code: string;
  constructor(link: number, address: string, port: number, code: string, message: string) {
    super(message);
    this.name = "TransportBindError";
    this.link = link;
    this.address = address;
    this.port = port;
    this.code = code;
  }
}

/** A datagram could not be sent; `code` is the OS error (ENETUNREACH, ...). */
export class TransportSendError extends Error {
  readonly link: number;
  readonly target: Endpoint | undefined;
  readonly code: string;
  constructor(link: number, target: Endpoint | undefined, code: string, message: string) {
    super(message);
    this.name = "TransportSendError";
    this.link = link;
    this.target = target;
    this.code = code;
  }
}

/** A LinkSpec after validation, with the address its socket binds to. */
export interface ResolvedLink {
  index: number;
  mode: LinkSpec["mode"];
  localAddress: string;
  port: number;
  bindAddress: string;
  targets: Endpoint[];
  group: string | undefined;
  /** Source addresses taken on this link; empty: any. */
  sources: ReadonlySet<string>;
  /** Unicast: one socket per target, connect()ed to it (see the header). */
  connectEach: boolean;
}

const BIND_HINTS: Record<string, string> = {
  EADDRINUSE: "the port is already in use on that address (is another vigil running?)",
  EADDRNOTAVAIL: "that address is not configured on any interface of this host",
  EACCES: "permission denied (ports below 1024 need root)",
  EPERM: "operation not permitted",
  ENODEV: "no interface holds that address",
  EINVAL: "invalid address for this operation",
};

export function bindErrorMessage(link: number, what: string, address: string, port: number, code: string): string {
  const hint = BIND_HINTS[code];
  return `heartbeat link ${link}: cannot ${what} ${address}:${port}: ${code}${hint ? ` (${hint})` : ""}`;
}

function isMulticast(address: string): boolean {
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
}

function parsePeer(link: number, peer: string, defaultPort: number): Endpoint {
  const m = /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(peer);
  const address = m?.[1];
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (address === undefined || !isIPv4(address) || port > 65535 || (port < 1 && m?.[2] !== undefined)) {
    throw new TransportConfigError(`heartbeat link ${link}: peer "${peer}" is not an IPv4 address or address:port`, link);
  }
  if (port < 1) {
    throw new TransportConfigError(`heartbeat link ${link}: peer "${peer}" needs an explicit :port because the link's port is 0`, link);
  }
  return { address, port };
}

/** Checks every spec and works out bind addresses and targets; throws TransportConfigError. */
export function resolveLinks(links: readonly LinkSpec[]): ResolvedLink[] {
  if (links.length === 0) throw new TransportConfigError("no heartbeat links configured");
  const seenIndex = new Set<number>();
  const seenBind = new Map<string, number>();
  return links.map((spec) => {
    const i = spec.index;
    if (!Number.isInteger(i) || i < 0 || i > 255) throw new TransportConfigError(`heartbeat link index ${i} must be an integer in 0..255`);
    if (seenIndex.has(i)) throw new TransportConfigError(`heartbeat link index ${i} is used twice`, i);
    seenIndex.add(i);
    if (!isIPv4(spec.localAddress)) {
      throw new TransportConfigError(`heartbeat link ${i}: local address "${spec.localAddress}" is not an IPv4 address`, i);
    }
    if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535) {
      throw new TransportConfigError(`heartbeat link ${i}: port ${spec.port} must be an integer in 0..65535`, i);
    }
    let bindAddress = spec.localAddress;
    let targets: Endpoint[];
    let group: string | undefined;
    // Ports only matter for unicast targets; a port 0 link's peers may leave them out here.
    const sources = new Set(spec.peers.map((p) => parsePeer(i, p, spec.mode === "unicast" ? spec.port : 1).address));
    if (spec.mode === "unicast") {
      targets = spec.peers.map((p) => parsePeer(i, p, spec.port));
    } else if (spec.mode === "multicast") {
      if (spec.group === undefined || !isIPv4(spec.group) || !isMulticast(spec.group)) {
        throw new TransportConfigError(`heartbeat link ${i}: multicast mode needs an IPv4 multicast group (224.0.0.0/4), got ${spec.group ?? "none"}`, i);
      }
      group = spec.group;
      bindAddress = spec.group;
      targets = [{ address: spec.group, port: spec.port }];
    } else if (spec.mode === "broadcast") {
      const b = spec.broadcastAddress;
      if (b === undefined || !isIPv4(b) || isMulticast(b)) {
        throw new TransportConfigError(`heartbeat link ${i}: broadcast mode needs the link's subnet broadcast address (e.g. 198.51.100.255), got ${b ?? "none"}`, i);
      }
      bindAddress = b;
      targets = [{ address: b, port: spec.port }];
    } else {
      throw new TransportConfigError(`heartbeat link ${i}: mode "${String(spec.mode)}" is not unicast, multicast or broadcast`, i);
    }
    const bindKey = `${bindAddress}:${spec.port}`;
    const other = seenBind.get(bindKey);
    if (spec.port !== 0 && other !== undefined) {
      throw new TransportConfigError(`heartbeat links ${other} and ${i} both listen on ${bindKey}; received frames could not be told apart`, i);
    }
    seenBind.set(bindKey, i);
    const connectEach = spec.mode === "unicast" && targets.length > 0;
    return { index: i, mode: spec.mode, localAddress: spec.localAddress, port: spec.port, bindAddress, targets, group, sources, connectEach };
  });
}

function isLocalAddress(address: string): boolean {
  for (const list of Object.values(networkInterfaces())) {
    if (list?.some((a) => a.address === address)) return true;
  }
  return false;
}

/** The backend this runtime should use: Bun's native socket on Bun, node:dgram elsewhere. */
export function defaultUdpBackend(): UdpBackend {
  return bunUdp() === undefined ? dgramBackend : bunBackend;
}

interface LinkSocket {
  sock: UdpSocketLike;
  /** News path (see "News"): the watched socket connected to the peer's port + 1, and ours from port + 1. */
  newsIn: UdpSocketLike | undefined;
  newsOut: UdpSocketLike | undefined;
  sendNews: boolean;
  probe: boolean;
  /** Where it sends: its connect()ed peer (then `to` is undefined), or the link's group or broadcast address. */
  target: Endpoint;
  to: Endpoint | undefined;
  /** Reports a failed send to `target`; made once per socket, not per datagram. */
  failed: (e: unknown) => void;
  /** The same, after one resend of a refused datagram (see sendOn). */
  failedAgain: (e: unknown) => void;
  /** The datagram sent last, for that one resend. */
  last: Uint8Array | undefined;
}

interface OpenLink {
  link: ResolvedLink;
  socks: LinkSocket[];
  bound: Endpoint;
  receiveBuffer: number | undefined;
}

/** What a socket does with what it hears and with its errors; set before it opens. */
interface LinkHandlers {
  onMessage(link: ResolvedLink, boundPort: () => number, bytes: Uint8Array, address: string, port: number, ageMs: number | undefined, news?: boolean): void;
  onError(link: number, e: Error): void;
}

/**
 * Opens the link's sockets (one, or one per peer on a unicast link with
 * several peers), each with its send target. Throws TransportBindError.
 */
/** A link socket as openLink makes it. */
interface OpenedSocket {
  sock: UdpSocketLike;
  target: Endpoint;
  to: Endpoint | undefined;
  newsIn: UdpSocketLike | undefined;
  newsOut: UdpSocketLike | undefined;
}

/** News paths (see "News"): `readLate` says how the sockets connected to a peer's port open. */
export interface NewsOptions {
  readLate: boolean;
}

interface OpenedLink {
  link: ResolvedLink;
  socks: OpenedSocket[];
  bound: Endpoint;
  receiveBuffer: number | undefined;
  /** Opens another socket connected to `peer`'s port, polled or watched (peerPaths). */
  reopen(peer: Endpoint, late: boolean): Promise<UdpSocketLike>;
}

async function openLink(link: ResolvedLink, backend: UdpBackend, polled: UdpBackend | undefined, h: LinkHandlers, news?: NewsOptions): Promise<OpenedLink> {
  const i = link.index;
  if (link.mode !== "unicast" && !isLocalAddress(link.localAddress)) {
    // Multicast/broadcast sockets bind to a shared address, so the kernel
    // would not notice a wrong local address until frames silently vanish.
    throw new TransportBindError(i, link.localAddress, link.port, "EADDRNOTAVAIL", bindErrorMessage(i, "use local address", link.localAddress, link.port, "EADDRNOTAVAIL"));
  }
  let port = link.port;
  const boundPort = (): number => port;
  // Connected sockets hear only their peer, so they may wait to be read (see openUdpTransport).
  const readLate = news === undefined || news.readLate;
  const open = (reuseAddr: boolean, peer: Endpoint | undefined, late = readLate): Promise<UdpSocketLike> =>
    (peer !== undefined && polled !== undefined && late ? polled : backend).open({
      address: link.bindAddress,
      port,
      reuseAddr,
      ...(peer === undefined ? {} : { connect: peer }),
      onMessage: (bytes, address, fromPort, ageMs) => h.onMessage(link, boundPort, bytes, address, fromPort, ageMs),
      onError: (e) => h.onError(i, e),
    });
  const failure = (e: unknown, peer: Endpoint | undefined): TransportBindError => {
    const code = errorCode(e);
    const step = e instanceof OpenSocketError && e.step === "connect" && peer !== undefined ? `connect to peer ${peer.address}:${peer.port} from` : "bind to";
    return new TransportBindError(i, link.bindAddress, port, code, bindErrorMessage(i, step, link.bindAddress, port, code));
  };
  const socks: OpenedSocket[] = [];
  const closeAll = (): Promise<unknown> => Promise.all(socks.map((x) => x.sock.close()));

  // News paths need every socket of the port opened with SO_REUSEADDR, a single peer's too.
  if (link.connectEach && (link.targets.length > 1 || (news !== undefined && polled !== undefined))) {
    // Exclusive first: fails as a single socket would if anyone holds the port.
    try {
      const probe = await open(false, undefined);
      port = probe.port;
      await probe.close();
    } catch (e) {
      throw failure(e, undefined);
    }
    // Peers with no route yet (their link down at start) share one socket that is not connected.
    let unconnected: UdpSocketLike | undefined;
    for (const peer of link.targets) {
      try {
        socks.push({ sock: await open(true, peer), target: peer, to: undefined, newsIn: undefined, newsOut: undefined });
      } catch (e) {
        if (!noRouteYet(e)) {
          await closeAll();
          throw failure(e, peer);
        }
        try {
          unconnected ??= await open(true, undefined);
        } catch (e2) {
          await closeAll();
          throw failure(e2, undefined);
        }
        socks.push({ sock: unconnected, target: peer, to: peer, newsIn: undefined, newsOut: undefined });
      }
    }
  } else {
    let peer = link.connectEach ? link.targets[0] : undefined;
    let sock: UdpSocketLike;
    try {
      sock = await open(false, peer);
    } catch (e) {
      if (peer === undefined || !noRouteYet(e)) throw failure(e, peer);
      // Its link is down at start: the socket is not connected, and strangers are dropped by address here.
      try {
        sock = await open(false, undefined);
      } catch (e2) {
        throw failure(e2, undefined);
      }
      peer = undefined;
    }
    port = sock.port;
    const target = link.targets[0];
    // A unicast link without peers has a socket that only listens.
    // A connected socket refuses a destination, even its own peer's.
    if (target !== undefined) socks.push({ sock, target, to: peer === undefined ? target : undefined, newsIn: undefined, newsOut: undefined });
    else socks.push({ sock, target: { address: link.bindAddress, port }, to: undefined, newsIn: undefined, newsOut: undefined });
    let step = "configure";
    try {
      if (link.mode === "multicast" && link.group !== undefined) {
        step = `join multicast group ${link.group} on`;
        sock.setMulticast(link.localAddress, link.group);
      } else if (link.mode === "broadcast") {
        step = "enable broadcast on";
        sock.setBroadcast();
      }
    } catch (e) {
      await closeAll();
      const code = errorCode(e);
      throw new TransportBindError(i, link.localAddress, port, code, bindErrorMessage(i, step, link.localAddress, port, code));
    }
  }
  const buffers = await Promise.all(socks.map((x) => x.sock.growReceiveBuffer(RECEIVE_BUFFER_BYTES)));
  if (news !== undefined && polled !== undefined && link.connectEach) {
    for (const x of socks) if (x.to === undefined) await openNewsPath(link, port, x, backend, polled, h);
  }
  const reopen = async (peer: Endpoint, late: boolean): Promise<UdpSocketLike> => {
    const sock = await open(true, peer, late);
    await sock.growReceiveBuffer(RECEIVE_BUFFER_BYTES);
    return sock;
  };
  return { link, socks, bound: { address: link.bindAddress, port }, receiveBuffer: buffers[0], reopen };
}

/**
 * The news path of one connected peer (see "News"). Either socket may fail
 * to open (port + 1 taken on our side, say): that peer then has no news
 * path in that direction, and every frame takes the port as before.
 */
async function openNewsPath(link: ResolvedLink, port: number, x: OpenedSocket, backend: UdpBackend, polled: UdpBackend, h: LinkHandlers): Promise<void> {
  if (port === 0 || port >= 65535 || x.target.port >= 65535) return;
  const from = { address: x.target.address, port: x.target.port + 1 };
  try {
    x.newsIn = await backend.open({
      address: link.bindAddress,
      port,
      reuseAddr: true,
      connect: from,
      onMessage: (bytes, address, fromPort, ageMs) => h.onMessage(link, () => port, bytes, address, fromPort, ageMs, true),
      onError: (e) => h.onError(link.index, e),
    });
  } catch {
    x.newsIn = undefined;
  }
  try {
    // Polled: it only sends, and nothing should wake the event loop for it.
    x.newsOut = await polled.open({
      address: link.bindAddress,
      port: port + 1,
      reuseAddr: true,
      connect: x.target,
      onMessage: () => {},
      onError: () => {},
    });
  } catch {
    x.newsOut = undefined;
  }
}

/** A link's socket and its news path's (a socket shared by peers with no route is closed once per peer: harmless). */
function closeLinkSocket(x: { sock: UdpSocketLike; newsIn: UdpSocketLike | undefined; newsOut: UdpSocketLike | undefined }): Promise<unknown> {
  return Promise.all([x.sock.close(), x.newsIn?.close(), x.newsOut?.close()]);
}

/** connect() of a UDP socket fails this way when the peer's link is down: no route yet, not a broken config. */
function noRouteYet(e: unknown): boolean {
  const code = errorCode(e);
  return e instanceof OpenSocketError && e.step === "connect" && (code === "ENETUNREACH" || code === "EHOSTUNREACH" || code === "ENETDOWN");
}

/**
 * Opens each link's sockets (one, or one per peer on a unicast link with
 * several). Rejects with TransportConfigError for a bad spec
 * and TransportBindError (naming link, address:port and the OS cause) when a
 * socket cannot be set up; sockets already opened are closed again.
 * `backend` defaults to the runtime's own (defaultUdpBackend).
 *
 * `polled` (udp-socket-polled.ts), when given, opens the sockets that are
 * connect()ed to a peer: nothing wakes the event loop when their datagrams
 * arrive; readArrived() reads them, each with the kernel's arrival time.
 * A socket that is not connected (multicast, broadcast, a unicast link
 * without peers or whose peer had no route at start) stays on `backend`:
 * anyone can fill its queue, so it is read as datagrams come.
 */
export async function openUdpTransport(links: readonly LinkSpec[], backend: UdpBackend = defaultUdpBackend(), polled?: UdpBackend, news?: NewsOptions): Promise<UdpTransport> {
  const resolved = resolveLinks(links);
  const receivers: ((link: number, bytes: Uint8Array, from: Endpoint, ageMs?: number, news?: boolean) => void)[] = [];
  const errorSinks: ((link: number, err: Error) => void)[] = [];
  const strangerSinks: ((link: number, from: Endpoint) => void)[] = [];
  let closed = false;
  const report = (link: number, err: Error): void => {
    for (const cb of errorSinks) cb(link, err);
  };

  const handlers: LinkHandlers = {
    onMessage(link, boundPort, bytes, address, port, ageMs, viaNews) {
      // Our own multicast/broadcast frames can loop back; they are not news.
      if (address === link.localAddress && port === boundPort()) return;
      const sources = link.sources;
      if (sources.size > 0 && !sources.has(address)) {
        for (const cb of strangerSinks) cb(link.index, { address, port });
        return;
      }
      const from: Endpoint = { address, port };
      for (const cb of receivers) cb(link.index, bytes, from, ageMs, viaNews === true);
    },
    onError(i, e) {
      report(i, new TransportSendError(i, undefined, errorCode(e), `heartbeat link ${i}: socket error: ${e.message}`));
    },
  };

  const open = new Map<number, OpenLink & { reopen: OpenedLink["reopen"] }>();
  const sendError = (i: number, target: Endpoint | undefined, e: unknown): void => {
    const code = errorCode(e);
    const where = target ? ` to ${target.address}:${target.port}` : "";
    const text = e instanceof Error ? e.message : String(e);
    report(i, new TransportSendError(i, target, code, `heartbeat link ${i}: send${where} failed: ${text}`));
  };
  try {
    for (const link of resolved) {
      const o = await openLink(link, backend, polled, handlers, news);
      open.set(link.index, {
        ...o,
        socks: o.socks.map((x) => {
          const failedAgain = (e: unknown): void => sendError(link.index, x.target, e);
          const ls: LinkSocket = { ...x, failedAgain, failed: failedAgain, last: undefined, sendNews: false, probe: false };
          ls.failed = (e) => {
            if (errorCode(e) === "ECONNREFUSED" && ls.last !== undefined) sendOn(ls, ls.last, true);
            else failedAgain(e);
          };
          return ls;
        }),
      });
    }
  } catch (e) {
    await Promise.all([...open.values()].flatMap((o) => o.socks.map((x) => closeLinkSocket(x))));
    throw e;
  }

  /**
   * An ICMP port-unreachable for an earlier datagram (a peer whose daemon
   * died while its host stays up) is reported by node:dgram on Bun as
   * ECONNREFUSED on the NEXT send from the socket, whatever its
   * destination, and that datagram is not sent. Left alone, the frame to a
   * live peer is lost and, with three or more nodes, live peers are declared
   * dead whenever one dies. So a refused send is tried once more: the
   * pending error is consumed by then. (Each socket has one destination, so
   * the datagram to resend is the last one it sent.) Bun's native socket
   * reports that ICMP error as a socket error instead and sends anyway.
   */
  /** The sockets readArrived() reads, listed once: it runs at every wake-up. */
  const polledSocks: UdpSocketLike[] = [];
  const listPolled = (): void => {
    polledSocks.length = 0;
    for (const o of open.values()) for (const x of o.socks) if (x.sock.polled === true) polledSocks.push(x.sock);
  };
  listPolled();

  const sendOn = (ls: LinkSocket, bytes: Uint8Array, retry: boolean): void => {
    ls.last = bytes;
    ls.sock.send(bytes, ls.to, retry ? ls.failedAgain : ls.failed);
  };

  return {
    send(link, bytes, viaNews) {
      const o = open.get(link);
      if (closed || o === undefined) {
        const why = closed ? "the transport is closed" : "no such link";
        const err = Object.assign(new Error(why), { code: closed ? "ECLOSED" : "ENOLINK" });
        queueMicrotask(() => sendError(link, undefined, err));
        return;
      }
      if (o.link.targets.length === 0) return;
      for (const ls of o.socks) {
        const out = (viaNews === "probe" ? ls.probe : viaNews === true && ls.sendNews) ? ls.newsOut : undefined;
        if (out !== undefined) out.send(bytes, undefined, ls.failedAgain);
        else sendOn(ls, bytes, false);
      }
    },
    onReceive(cb) {
      receivers.push(cb);
    },
    readQueued() {
      if (closed) return 0;
      let n = 0;
      // A socket shared by peers with no route at start is listed (and read) once per peer: harmless.
      for (const o of open.values()) for (const x of o.socks) n += (x.newsIn?.readQueued?.() ?? 0) + (x.sock.readQueued?.() ?? 0);
      return n;
    },
    ...(polled === undefined ? {} : {
      readArrived() {
        if (closed) return 0;
        let n = 0;
        for (let i = 0; i < polledSocks.length; i++) n += (polledSocks[i] as UdpSocketLike).readQueued?.() ?? 0;
        return n;
      },
    }),
    onError(cb) {
      errorSinks.push(cb);
    },
    ...(news === undefined || polled === undefined ? {} : {
      async peerPaths(address: string, p: PeerPaths): Promise<boolean> {
        const mine = (ls: LinkSocket): boolean => ls.to === undefined && ls.target.address === address && ls.newsIn !== undefined;
        let any = false;
        // What we send changes at once, on every link, before any socket is reopened.
        for (const o of open.values()) {
          for (const ls of o.socks) {
            if (!mine(ls)) continue;
            any = true;
            ls.sendNews = p.sendNews && ls.newsOut !== undefined;
            ls.probe = p.probe && ls.newsOut !== undefined;
          }
        }
        for (const o of open.values()) {
          for (const ls of o.socks) {
            if (!mine(ls) || (ls.sock.polled === true) === p.readLate) continue;
            const next = await o.reopen(ls.target, p.readLate);
            if (closed) {
              await next.close();
              return any;
            }
            // Both are connected to the peer now; what waits in the old one is read before it closes.
            const old = ls.sock;
            ls.sock = next;
            listPolled();
            old.readQueued?.();
            await old.close();
          }
        }
        return any;
      },
    }),
    boundEndpoint(link) {
      const o = open.get(link);
      return o ? { ...o.bound } : undefined;
    },
    onStranger(cb) {
      strangerSinks.push(cb);
    },
    receiveBufferBytes(link) {
      return open.get(link)?.receiveBuffer;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...open.values()].flatMap((o) => o.socks.map((x) => closeLinkSocket(x))));
    },
  };
}
