import { randomInt } from "node:crypto";
import {
  initMembership, type MembershipAction, type MembershipConfig, type MembershipCounters, type MembershipEvent,
  type MembershipState, type MembershipView, nextWakeAt, type RejectReason, rejectReasons, stallAt, stepMembership,
  verdictDue, viewMembership,
} from "../../core/membership/membership.ts";
import type { PeerState } from "../../core/membership/types.ts";
import type { Endpoint, LinkSpec, Transport, UdpTransport } from "../../net/udp-transport.ts";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_MAX_CONFIG_KEYS_PER_FRAME,
  HEARTBEAT_VERSION,
  type HeartbeatFrame,
  type ModuleAdvert,
  type VrrpMasterClaim,
} from "../../proto/heartbeat.ts";
import { type OwnDigest, pageFor, type PeerDrift, takePage } from "../../core/membership/drift.ts";
import { echoesNews, forgetSentAt, isNewsProbe, NEWS_PATH_VERSION, type NewsPathChoice, newsPathFor, noteSentAt } from "../../core/membership/news-path.ts";
import { Ring } from "../event-ring.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

export interface HeartbeatEngineOptions {
  membership: MembershipConfig;
  key: Uint8Array;
  links: LinkSpec[];
  /** Opens the transport; injectable so tests can use the in-memory twin. */
  openTransport(links: LinkSpec[]): Promise<Transport>;
  log: Logger;
  metrics: Metrics;
  /** Monotonic ms; injectable for tests. */
  clock?: () => number;
  /** What the modules publish in every frame (role, data generation). */
  modules?: () => ModuleAdvert[];
  /** The VRRP instances this node is MASTER of, published in every frame (version 3). */
  vrrp?: () => VrrpMasterClaim[];
  /** A peer's liveness changed; called before onFrame for the frame that brought it up. */
  onPeer?: (node: string, liveness: PeerState) => void;
  /**
   * The module adverts of every frame the membership core accepted, and the
   * send time (our clock) of our newest frame the peer had received when it
   * sent this one: its echo of us, if it has heard us. `vrrp`: the VRRP
   * instances the peer is MASTER of; undefined when its frame's version
   * does not carry them (an older release). `at`: when the frame arrived
   * (the engine's clock), earlier than now for a frame read late. `hears`:
   * the nodes the peer echoes in this frame, those its membership has up
   * (we are among them when it hears us).
   */
  onFrame?: (node: string, modules: readonly ModuleAdvert[], echo: number | undefined, vrrp: readonly VrrpMasterClaim[] | undefined, at: number, hears: readonly string[]) => void;
  /** The cluster-relevant config as key hashes (config-digest.ts), published for drift checks; absent: not published. */
  configDigest?: OwnDigest;
  /**
   * Frames feed only the membership (nothing else on the node reads their
   * adverts): each is kept with its arrival time and fed to the core at the
   * next wake-up, before the tick (see takePending).
   */
  deferFrames?: boolean;
  /**
   * With a transport that has news paths (peerPaths): "read-late" reads
   * every peer's frames once per round (the transport opened them polled)
   * and only sends news from port + 1; "split" also reads a peer's frames
   * late while its news path is proven (news-path.ts), as they come
   * otherwise.
   */
  newsPaths?: "read-late" | "split";
  /**
   * Runs after every round the timer woke us for, once its frames went
   * out: work due about as often (the health watch's check) rides on this
   * wake-up instead of waking the process itself. Must not throw.
   */
  afterRound?: () => void;
}

/** A received datagram not yet fed to the core, with its arrival time (our clock). */
interface PendingFrame {
  link: number;
  bytes: Uint8Array;
  from: Endpoint;
  at: number;
  /** `at` is the kernel's receive time, earlier than when we read it (a polled socket). */
  stamped: boolean;
  /** It came from the peer's port + 1 (a news path). */
  news: boolean;
}

/** A peer's news path as the driver follows it (news-path.ts). */
interface PeerNewsPath {
  epoch: bigint;
  newsHeardAt: number | null;
  /** When it last echoed one of `newsSent` (news-path.ts): it reads our news from port + 1. */
  newsEchoedAt: number | null;
  /** Send times of our recent rounds that left for it from port + 1. */
  newsSent: number[];
  /** What the transport was last told (its sends follow at once); its sockets are being reopened while `changing`. */
  applied: NewsPathChoice;
  changing: boolean;
  /** What its last news frame said (module adverts and VRRP claims), to tell a change from an acknowledgement. */
  saidLast: string | undefined;
}

/** Pending frames at most: more (a flood from a peer's address) are fed at once. */
const MAX_PENDING_FRAMES = 64;
/**
 * A read of the polled sockets that brings this many datagrams (far more
 * than peers send per round: a flood from a peer's address) is followed by
 * another at the next turn of the event loop, and so on while it lasts, as
 * a socket the event loop watches would be read (setImmediate: a 0 ms
 * timer would wait 1 ms).
 */
const POLLED_BURST = 32;
/** Not a peer: an "alive" input for it changes nothing but tells the core when we ran (see markRunning). */
const NO_NODE = "";

/** Bytes of config key names per frame: leaves room for module adverts under the frame limit. */
const CONFIG_PAGE_BUDGET_BYTES = 480;
/**
 * A page of the config digest goes out with at most one round in this many
 * ms, not with every round: it is most of a frame's bytes, and most of the
 * work of encoding and decoding one, while drift is a warning for an
 * operator that can wait a second. Peers take frames without a page as they
 * are (drift.ts assembles the pages that come).
 */
const CONFIG_PAGE_EVERY_MS = 1_000;
/**
 * While a peer speaks an older frame version, every this many rounds go out
 * in ours anyway: see sendVersion(). An old peer drops that round (one in
 * 50 rounds, never two in a row, is far from deadtime).
 */
const VERSION_PROBE_EVERY_ROUNDS = 50;
/** Between the goodbye rounds: one may be lost, both should not be. */
const GOODBYE_GAP_MS = 20;

/** A version 3 frame without VRRP instances: its sender is MASTER of none. */
const NO_CLAIMS: readonly VrrpMasterClaim[] = [];
/** No module adverts (never written to: frames are only encoded). */
const NO_ADVERTS = Object.freeze([]) as unknown as ModuleAdvert[];

/** Rate limit for "read before judging" warnings. */
const QUEUED_LOG_EVERY_MS = 10_000;

/** Rate limit for "rejected frame" log lines, per reason: one per this many ms. */
const REJECT_LOG_EVERY_MS = 10_000;

/**
 * The heartbeat driver: carries the membership core's actions out over the
 * transport, feeds it received frames and wake-ups, and publishes its events
 * to the log, the event ring and the metrics. All decisions live in the core.
 */
export class HeartbeatEngine {
  private state: MembershipState;
  private transport: Transport | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires (our clock); Infinity when none is armed. */
  private timerAt = Infinity;
  /** The timer's callback, made once: no closure per wake-up. */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.wake();
  };
  private publishQueued = false;
  private announceQueued = false;
  private announceWaiting: (() => void)[] = [];
  private pending: PendingFrame[] = [];
  /** readArrived() is running: its frames are sorted and fed together afterwards. */
  private reading = false;
  private burstQueued = false;
  private readonly onBurst = (): void => {
    this.burstQueued = false;
    if (!this.transport) return;
    this.takeArrived();
    this.schedule();
  };
  private digest: OwnDigest | undefined;
  private round = 0;
  /** Periodic rounds sent: after every so many, an extra round probes the news paths. */
  private periodicRounds = 0;
  /** The next extra round (not a goodbye) is a probe of the news paths: it leaves from port + 1 to every peer that reads news there. */
  private probeOwed = false;
  /** How the round under way goes: from the port, as news, or as a probe. */
  private roundPath: boolean | "probe" = false;
  /** The send time of our last periodic round, which leaves from the port (news-path.ts, noteSentAt). */
  private routineAt = NaN;
  private readonly newsPaths = new Map<string, PeerNewsPath>();
  /** Pages of the config digest sent so far (which one is next), and when the next may go. */
  private page = 0;
  private nextPageAt = -Infinity;
  /** The page of the round being sent: the same on every link. */
  private roundPage: HeartbeatFrame["config"] | undefined;
  private readonly drift = new Map<string, PeerDrift>();
  private pageTooBig = false;
  /** Per peer: the highest frame version heard from its current incarnation (epoch). */
  private readonly peerVersion = new Map<string, { epoch: bigint; version: number }>();
  /** The oldest version in peerVersion (and ours): kept as it changes, read every frame sent. */
  private oldestVersion: number;
  /**
   * The newest version this node writes: version 4 says it reads news from
   * a peer's port + 1 (news-path.ts), so a node without news paths (the
   * `fast` preset, a runtime without FFI) writes version 3 at most.
   */
  private readonly ownVersion: number;
  private readonly clock: () => number;
  private readonly lastRejectLog = new Map<string, number>();
  readonly events = new Ring<MembershipEvent>(1000);
  private readonly counters: {
    sent: (l?: Record<string, string>, by?: number) => void;
    received: (l?: Record<string, string>, by?: number) => void;
    rejected: (l?: Record<string, string>, by?: number) => void;
    detections: (l?: Record<string, string>, by?: number) => void;
    stalls: (l?: Record<string, string>, by?: number) => void;
    strangers: (l?: Record<string, string>, by?: number) => void;
    readBeforeVerdict: (l?: Record<string, string>, by?: number) => void;
  };
  private readonly gauges: { linkUp: (v: number, l?: Record<string, string>) => void; peerUp: (v: number, l?: Record<string, string>) => void };

  constructor(private readonly opts: HeartbeatEngineOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.ownVersion = opts.newsPaths === undefined ? Math.min(HEARTBEAT_VERSION, NEWS_PATH_VERSION - 1) : HEARTBEAT_VERSION;
    this.oldestVersion = this.ownVersion;
    this.digest = opts.configDigest;
    // A later start always has a larger epoch, so peers can tell a restart
    // from a replay of our previous life; the random part separates two
    // starts in the same millisecond.
    const epoch = (BigInt(Date.now()) << 16n) | BigInt(randomInt(0, 65536));
    this.state = initMembership(opts.membership, { now: this.clock(), epoch });
    const m = opts.metrics;
    this.counters = {
      sent: m.counter("vigil_heartbeat_frames_sent_total", "Heartbeat frames sent, by link."),
      received: m.counter("vigil_heartbeat_frames_received_total", "Heartbeat frames accepted, by peer and link."),
      rejected: m.counter("vigil_heartbeat_frames_rejected_total", "Heartbeat frames rejected, by reason."),
      detections: m.counter("vigil_membership_changes_total", "Peer state changes, by peer and new state."),
      stalls: m.counter("vigil_local_stalls_total", "Times our own process ran late enough to stretch peer deadlines."),
      strangers: m.counter("vigil_heartbeat_strangers_dropped_total", "Datagrams on a heartbeat port from an address that is no peer, dropped unread, by link."),
      readBeforeVerdict: m.counter("vigil_heartbeat_read_before_verdict_total", "Datagrams found waiting unread in a heartbeat socket when a peer deadline came, read before judging."),
    };
    this.gauges = {
      linkUp: m.gauge("vigil_heartbeat_link_up", "1 when the peer is heard on this link, 0 when down."),
      peerUp: m.gauge("vigil_peer_up", "1 when the peer is up or late, 0 otherwise."),
    };
  }

  async start(): Promise<void> {
    const t = await this.opts.openTransport(this.opts.links);
    this.transport = t;
    t.onReceive((link, bytes, from, ageMs, news) => {
      const at = this.clock() - (ageMs ?? 0);
      // While the sockets are read (readArrived, readQueued) every frame waits, to be fed in arrival order with the others.
      if (!this.reading && this.opts.deferFrames !== true && ageMs === undefined) {
        // A peer's older frames may wait in a polled socket: fed after this one, they would be old-seq.
        if (t.readArrived !== undefined) this.takeArrived(false);
        return this.onBytes(link, bytes, from, at, true, news === true);
      }
      this.pending.push({ link, bytes, from, at, stamped: ageMs !== undefined, news: news === true });
      if (!this.reading && this.pending.length >= MAX_PENDING_FRAMES) this.takePending();
    });
    t.onError((link, err) => this.rateLimitedWarn(`send-error-${link}`, "heartbeat send failed", { link, error: err.message }));
    if (isUdp(t)) {
      t.onStranger((link, from) => {
        this.counters.strangers({ link: String(link) });
        this.rateLimitedWarn(`stranger-${link}`, "heartbeat datagram from an address that is no peer dropped", { link, from: `${from.address}:${from.port}` });
      });
      for (const l of this.opts.links) this.opts.log.debug("heartbeat link receive buffer", { link: l.index, bytes: t.receiveBufferBytes(l.index) ?? 0 });
    }
    this.wake();
  }

  /**
   * Our goodbye, for a clean stop (not a reload): two rounds of frames
   * flagged leaving, so peers mark us STOPPED at once instead of waiting
   * deadtime. Call it after the services stopped, then stop().
   */
  async leave(): Promise<void> {
    if (!this.transport) return;
    this.takeArrived();
    this.disarm();
    for (let i = 0; i < 2; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, GOODBYE_GAP_MS));
      this.apply(stepMembership(this.state, { type: "leave" }, this.clock()));
    }
    // Let the datagrams leave before the sockets close.
    await new Promise((r) => setTimeout(r, GOODBYE_GAP_MS));
    this.opts.log.info("said goodbye to peers", { peers: this.state.peers.map((p) => p.name).join(", ") });
  }

  /** The config changed without the heartbeat restarting (a reload that kept cluster:): publish the new digest. */
  setConfigDigest(d: OwnDigest): void {
    this.digest = d;
    this.round = 0;
    this.page = 0;
    this.nextPageAt = -Infinity;
    this.drift.clear();
  }

  /** Per peer: the config keys that differ from ours ([] = same); absent until known. */
  configDrift(): ReadonlyMap<string, readonly string[]> {
    const out = new Map<string, readonly string[]>();
    for (const [peer, d] of this.drift) if (d.differing !== null) out.set(peer, d.differing);
    return out;
  }

  /** Per peer: the highest frame version its current incarnation sent; absent until heard. */
  peerFrameVersions(): ReadonlyMap<string, number> {
    return new Map([...this.peerVersion].map(([peer, v]) => [peer, v.version]));
  }

  async stop(): Promise<void> {
    this.disarm();
    this.pending = [];
    this.burstQueued = false;
    await this.transport?.close();
    this.transport = undefined;
  }

  /**
   * What modules() returns has changed: frames go out now instead of at the
   * next interval (the core limits how often). Changes made in the same turn
   * (several modules reacting to one peer event) share one round.
   */
  publish(): void {
    if (!this.transport || this.publishQueued) return;
    this.publishQueued = true;
    queueMicrotask(() => {
      this.publishQueued = false;
      if (!this.transport) return;
      this.takeArrived();
      this.apply(stepMembership(this.state, { type: "publish" }, this.clock()));
      this.schedule();
    });
  }

  /**
   * A round must leave at once, whatever the spacing of extra rounds (a
   * mirror PRIM's first write acknowledged alone waits on its ALONE advert):
   * sent after this turn, so the adverts changed in it are in its frames,
   * and each `sent` is called right after its datagrams were handed to the
   * sockets. Asks of one turn share the round; none is answered while the
   * transport is closed.
   */
  announce(sent: () => void): void {
    if (!this.transport) return;
    this.announceWaiting.push(sent);
    if (this.announceQueued) return;
    this.announceQueued = true;
    queueMicrotask(() => {
      this.announceQueued = false;
      const waiting = this.announceWaiting;
      this.announceWaiting = [];
      if (!this.transport) return;
      this.takeArrived();
      this.apply(stepMembership(this.state, { type: "publish", now: true }, this.clock()));
      this.schedule();
      for (const fn of waiting) fn();
    });
  }

  /** `node` answered on another channel (a mirror's replication link), or its records arrived there: see "Other channels" and "Records" in membership.ts. */
  alive(node: string, via: string, ageMs: number, proof: "answer" | "record" = "answer"): void {
    if (!this.transport) return;
    this.takeArrived();
    this.apply(stepMembership(this.state, { type: "alive", node, via, ageMs, proof }, this.clock()));
    this.schedule();
  }

  /** Reads the polled sockets now and feeds what waited there (Membership.readArrived). */
  readArrived(): void {
    if (!this.transport) return;
    this.takeArrived();
  }

  view(): MembershipView {
    this.takePending();
    return viewMembership(this.state, this.clock());
  }

  private wake(): void {
    if (!this.transport) return;
    // The tick below re-arms the timer once, after the round went out.
    this.takeArrived(false);
    if (verdictDue(this.state, this.clock())) {
      this.readQueued();
      this.takePending(false);
    }
    if (!this.transport) return;
    this.apply(stepMembership(this.state, { type: "tick" }, this.clock()));
    this.schedule();
    this.followNewsPaths();
    this.opts.afterRound?.();
  }

  /**
   * Tells the transport, per peer, how its frames are read and how our
   * news reaches it, when news-path.ts's answer changed (a peer's version,
   * a news path proven or gone silent). Reopening sockets is asynchronous;
   * one change per peer at a time.
   */
  private followNewsPaths(): void {
    const t = this.transport;
    const mode = this.opts.newsPaths;
    if (t?.peerPaths === undefined || mode === undefined) return;
    const now = this.clock();
    for (const [peer, n] of this.newsPaths) {
      if (n.changing) continue;
      const want = newsPathFor({ version: this.peerVersion.get(peer)?.version, newsHeardAt: n.newsHeardAt, newsEchoedAt: n.newsEchoedAt }, now, this.opts.membership.intervalMs);
      if (mode === "read-late") want.readLate = true;
      const was = n.applied;
      if (want.readLate === was.readLate && want.sendNews === was.sendNews && want.probe === was.probe) continue;
      n.changing = true;
      const addresses = this.opts.membership.nodes.find((x) => x.name === peer)?.links ?? [];
      // A peer that went quiet altogether (dead, stopped) says nothing on any path: no warning about its port + 1 then.
      const heard = this.state.peers.some((p) => p.name === peer && (p.state === "up" || p.state === "late"));
      const silentFor = n.newsHeardAt === null || !heard ? undefined : Math.round(now - n.newsHeardAt);
      // The transport sends as told at once (peerPaths), so rounds sent from now on are noted as it sends them.
      n.applied = want;
      this.tellNewsSends(peer, was, want, n.newsEchoedAt === null || !heard ? undefined : Math.round(now - n.newsEchoedAt));
      void Promise.all(addresses.map((a) => t.peerPaths?.(a, want)))
        .then(() => {
          if (mode === "split" && want.readLate !== was.readLate) {
            if (want.readLate) this.opts.log.info(`peer ${peer}: its frames are read once per round, its news as it comes (from its port + 1)`, { peer });
            else if (silentFor !== undefined) this.opts.log.warn(`peer ${peer}: nothing came from its port + 1 for ${silentFor} ms (a firewall that filters on the source port?); its frames are read as they come`, { peer, silent_ms: silentFor });
          }
        })
        .catch((e: unknown) => {
          // The sends changed; the sockets did not: the next round tries them again.
          n.applied = { ...want, readLate: was.readLate };
          this.opts.log.warn("heartbeat news path could not change", { peer, error: (e as Error).message });
        })
        .finally(() => {
          n.changing = false;
        });
    }
  }

  /** Says when our news to `peer` starts or stops leaving from port + 1. */
  private tellNewsSends(peer: string, was: NewsPathChoice, want: NewsPathChoice, unechoedMs: number | undefined): void {
    if (want.sendNews === was.sendNews) return;
    if (want.sendNews) {
      this.opts.log.info(`peer ${peer}: it reads our news from our port + 1; our news goes to it from there`, { peer });
    } else if (was.sendNews && unechoedMs !== undefined) {
      this.opts.log.warn(`peer ${peer}: it has read nothing from our port + 1 for ${unechoedMs} ms (a firewall that filters on the source port?); our news goes to it from the port`, { peer, unechoed_ms: unechoedMs });
    }
  }

  /**
   * "Reading before judging" (membership.ts): frames the kernel already
   * holds are fed before a tick that would convict. Finding any means the
   * runtime had not read them by the deadline: said, rate-limited, as it
   * shows a receive path that lags (or has stopped).
   */
  private readQueued(): void {
    this.reading = true;
    let n = 0;
    try {
      n = this.transport?.readQueued?.() ?? 0;
    } finally {
      this.reading = false;
    }
    // Polled sockets are read at every wake-up: what they held is no sign of a lagging receive path.
    n -= this.pending.reduce((k, p) => k + (p.stamped ? 1 : 0), 0);
    if (n <= 0) return;
    this.counters.readBeforeVerdict(undefined, n);
    this.rateLimitedWarn("read-before-verdict", "heartbeat frames were waiting unread in the socket at a peer deadline; read them before judging", { datagrams: n });
  }

  /**
   * Keeps one timer armed at the core's next deadline. A step that moved
   * the deadline later (a frame usually moves only the peer's own, which
   * are not the earliest) leaves the timer as it is: a tick before a
   * deadline is harmless (the core acts on what is due), and costs less
   * than re-arming on every frame.
   */
  private schedule(): void {
    if (!this.transport) return;
    const at = nextWakeAt(this.state);
    if (this.timer !== undefined && this.timerAt <= at) return;
    this.disarm();
    this.timerAt = at;
    // Whole ms, rounded up: Bun truncates a fractional delay and fires up to
    // 1 ms early, before the deadline, and the round then took a second
    // wake-up (a tick with nothing due, and a timer of less than 1 ms).
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(at - this.clock())));
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /**
   * Reads the polled sockets (the transport's readArrived: datagrams that
   * waited in the kernel since the last wake-up, each with the kernel's
   * receive time), then feeds everything pending.
   */
  private takeArrived(rearm = true): void {
    const t = this.transport;
    if (t?.readArrived !== undefined) {
      this.reading = true;
      let n = 0;
      try {
        n = t.readArrived();
      } finally {
        this.reading = false;
      }
      if (n >= POLLED_BURST && !this.burstQueued) {
        this.burstQueued = true;
        setImmediate(this.onBurst);
      }
    }
    this.takePending(rearm);
  }

  /**
   * Feeds the frames kept by deferFrames, in arrival order and each at its
   * arrival time: the core sets the same deadlines as if it had taken them
   * at once, and they come before the event that takes them (a tick, a
   * publish), so a verdict never misses one. Their news (a peer up, a
   * goodbye) waits at most until the next wake-up, one interval; in
   * exchange a round's receiving and sending run in one wake-up, in code the
   * CPU's caches still hold, instead of three.
   *
   * Frames of polled sockets carry the kernel's receive time, which can lie
   * before our last event (they waited in the kernel while we did not run),
   * so the core is first told that we run now (markRunning) when it would
   * find us late (stallAt): its check for our own stalls (membership.ts,
   * "Our own freezes") then measures from our events, and the frames fed
   * after it at earlier times count as news, not as moments we ran.
   */
  private takePending(rearm = true): void {
    if (this.pending.length === 0) return;
    const list = this.pending;
    this.pending = [];
    let stamped = false;
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as PendingFrame;
      stamped ||= p.stamped;
      // In arrival order across sockets (a frame's deadline replaces the one before); usually already sorted.
      let j = i;
      while (j > 0 && (list[j - 1] as PendingFrame).at > p.at) {
        list[j] = list[j - 1] as PendingFrame;
        j -= 1;
      }
      list[j] = p;
    }
    // Only when the core would find us late now: otherwise no frame's earlier time can read as a stall either.
    if (stamped && stallAt(this.state, this.clock())) this.markRunning();
    for (const p of list) {
      if (!this.transport) return;
      this.onBytes(p.link, p.bytes, p.from, p.at, false, p.news);
    }
    if (rearm) this.schedule();
  }

  /**
   * An input that changes nothing but carries the time we run: "alive" for
   * a name that is no peer. The core credits our own stalls on every input
   * from its time (creditStall), so a freeze or a late timer is found here,
   * at the moment we really ran, and not at a frame's earlier kernel time.
   */
  private markRunning(): void {
    this.apply(stepMembership(this.state, { type: "alive", node: NO_NODE, via: "heartbeat", ageMs: 0 }, this.clock()));
  }

  /** `from` is the datagram's source, named in rejection logs so an operator can find the host; `at` its arrival. */
  private onBytes(link: number, bytes: Uint8Array, from: Endpoint, at: number, rearm = true, news = false): void {
    const r = decodeHeartbeat(bytes, this.opts.key);
    if (!r.ok) {
      this.counters.rejected({ reason: r.error.kind });
      this.rateLimitedWarn(`reject-${r.error.kind}`, "heartbeat frame rejected", { reason: r.error.kind, link, sender: `${from.address}:${from.port}`, detail: r.error.detail });
      return;
    }
    const before = this.state.counters;
    this.apply(stepMembership(this.state, { type: "frame", link, frame: r.frame }, at));
    const reason = newRejectReason(before, this.state.counters, r.frame.node);
    if (reason !== undefined) {
      this.counters.rejected({ reason });
      this.rateLimitedWarn(`reject-${reason}`, "heartbeat frame rejected", { reason, link, sender: `${from.address}:${from.port}`, from: r.frame.node });
    } else {
      this.counters.received(this.peerLinkLabels(r.frame.node, link));
      const echo = echoOf(r.frame, this.opts.membership.self);
      const version = bytes[4] ?? HEARTBEAT_VERSION;
      this.opts.onFrame?.(r.frame.node, r.frame.modules, echo, version >= 3 ? (r.frame.vrrp ?? NO_CLAIMS) : undefined, at, r.frame.echoes.map((e) => e.node));
      if (r.frame.config !== undefined) this.takeConfigPage(r.frame.node, r.frame.config);
      this.notePeerVersion(r.frame.node, r.frame.epoch, version);
      if (this.opts.newsPaths !== undefined) this.noteNewsPath(r.frame.node, r.frame.epoch, news ? at : null, echo, at);
      if (news && this.opts.newsPaths !== undefined) this.answerNews(r.frame);
    }
    // A frame can move a deadline earlier (a link coming up), so re-arm.
    if (rearm) this.schedule();
  }

  private apply(stepped: { state: MembershipState; actions: readonly MembershipAction[] }): void {
    this.state = stepped.state;
    for (const a of stepped.actions) {
      switch (a.type) {
        case "send-heartbeat": {
          const frame: HeartbeatFrame = { ...a.frame, modules: this.opts.modules?.() ?? NO_ADVERTS };
          const vrrp = this.opts.vrrp?.();
          if (vrrp !== undefined && vrrp.length > 0) frame.vrrp = vrrp;
          if (a.frame.link === 0) {
            this.startRound();
            this.noteRoundPath(a.news, frame);
          }
          if (this.roundPage !== undefined && !this.pageTooBig) frame.config = this.roundPage;
          this.transport?.send(a.frame.link, this.encode(frame), this.roundPath);
          this.counters.sent(this.linkLabels(a.frame.link));
          break;
        }
        case "event":
          this.report(a);
          break;
        case "stall":
          this.counters.stalls();
          this.opts.log.warn("this node ran late; peer deadlines stretched so the delay is not blamed on peers", {
            gap_ms: Math.round(a.gapMs),
            credited_ms: Math.round(a.creditedMs),
          });
          break;
      }
    }
  }

  /**
   * A round starts with its frame on link 0. It carries a page of the config
   * digest when one is due (CONFIG_PAGE_EVERY_MS), the same page on every
   * link: peers assemble the pages (drift.ts).
   */
  private startRound(): void {
    this.round += 1;
    this.roundPage = undefined;
    if (this.digest === undefined || this.pageTooBig) return;
    const now = this.clock();
    if (now < this.nextPageAt) return;
    this.nextPageAt = now + CONFIG_PAGE_EVERY_MS;
    const page = pageFor(this.digest, this.page, HEARTBEAT_MAX_CONFIG_KEYS_PER_FRAME, CONFIG_PAGE_BUDGET_BYTES);
    this.roundPage = { ...page, keys: page.keys.map((k) => ({ ...k })) };
    this.page += 1;
  }

  private readonly labelsByLink: Record<string, string>[] = [];
  private readonly labelsByPeerLink = new Map<string, Record<string, string>[]>();

  /** The label set of a link's series, made once per link. */
  private linkLabels(link: number): Record<string, string> {
    let l = this.labelsByLink[link];
    if (l === undefined) {
      l = { link: String(link) };
      this.labelsByLink[link] = l;
    }
    return l;
  }

  /** The label set of a peer's series on a link, made once (only for accepted frames: configured peers). */
  private peerLinkLabels(peer: string, link: number): Record<string, string> {
    let byLink = this.labelsByPeerLink.get(peer);
    if (byLink === undefined) {
      byLink = [];
      this.labelsByPeerLink.set(peer, byLink);
    }
    let l = byLink[link];
    if (l === undefined) {
      l = { peer, link: String(link) };
      byLink[link] = l;
    }
    return l;
  }

  /**
   * Rolling upgrades: a node of the previous release reads only its own
   * frame version, and would call us dead. So we write the oldest version
   * any peer speaks (its frames tell); goodbyes, config drift and start
   * progress wait until every peer speaks ours.
   *
   * An upgraded peer that heard only our older frames writes the older
   * version too, and looks like an old node. So a peer's version is the
   * highest one its current incarnation ever sent (a later frame in version
   * 1 does not lower it; a restart, which may be a rollback, does), and
   * while we write an older version, a probe round goes out in ours now and
   * then: without both, two upgraded nodes that missed each other's first
   * frames (a link that came up late) would write version 1 forever.
   */
  private sendVersion(frame: HeartbeatFrame): number {
    const oldest = this.oldestVersion;
    const probe = oldest < this.ownVersion && frame.leaving !== true && this.round % VERSION_PROBE_EVERY_ROUNDS === 0;
    return probe ? this.ownVersion : oldest;
  }

  private notePeerVersion(peer: string, epoch: bigint, heard: number): void {
    const was = this.peerVersion.get(peer);
    const version = was?.epoch === epoch ? Math.max(was.version, heard) : heard;
    if (was?.version === version) {
      if (was.epoch !== epoch) this.peerVersion.set(peer, { epoch, version });
      return;
    }
    this.peerVersion.set(peer, { epoch, version });
    this.oldestVersion = this.ownVersion;
    for (const v of this.peerVersion.values()) if (v.version < this.oldestVersion) this.oldestVersion = v.version;
    if (version < this.ownVersion) {
      this.opts.log.warn(`peer ${peer} speaks heartbeat frame version ${version}: this node writes version ${version} too until every peer is upgraded (no goodbye, config drift or start progress meanwhile)`, { peer, version });
    } else if (was !== undefined) {
      this.opts.log.info(`peer ${peer} speaks heartbeat frame version ${version}`, { peer, version });
    }
  }

  /**
   * A peer's news frame that says something new (not an acknowledgement of
   * ours: the same adverts and claims as its previous news) is answered by
   * an extra round of ours, news too: it echoes the peer's frame, and a
   * peer that waits for that echo (a farm's handover) reads it at once,
   * where it would read our next periodic round only once per round.
   */
  private answerNews(frame: HeartbeatFrame): void {
    const n = this.newsPaths.get(frame.node);
    if (n === undefined) return;
    const said = JSON.stringify([frame.modules, frame.vrrp ?? null, frame.leaving === true]);
    if (said === n.saidLast) return;
    n.saidLast = said;
    if (frame.leaving !== true) this.publish();
  }

  /**
   * A round starts (its frame on link 0): how it leaves, and its send time
   * noted where an echo of it is looked for (news-path.ts, echoesNews).
   * After every NEWS_PROBE_EVERY_ROUNDS periodic rounds, an extra round is
   * a probe, news beside the periodic one: a path that drops it costs no
   * periodic frame. A goodbye is never a probe: it leaves as news does.
   */
  private noteRoundPath(news: boolean, frame: HeartbeatFrame): void {
    if (this.opts.newsPaths === undefined) {
      this.roundPath = news;
      return;
    }
    if (!news) {
      this.roundPath = false;
      this.routineAt = frame.sentAt;
      for (const n of this.newsPaths.values()) forgetSentAt(n.newsSent, frame.sentAt);
      if (isNewsProbe(++this.periodicRounds)) {
        this.probeOwed = true;
        this.publish();
      }
      return;
    }
    const probe = this.probeOwed && frame.leaving !== true;
    if (probe) this.probeOwed = false;
    this.roundPath = probe ? "probe" : true;
    for (const n of this.newsPaths.values()) if (probe ? n.applied.probe : n.applied.sendNews) noteSentAt(n.newsSent, frame.sentAt, this.routineAt);
  }

  /**
   * A frame of `peer`'s was accepted; `newsAt`: its arrival, when it came
   * from the peer's port + 1; `echo`: its echo of us, and `at` its arrival.
   */
  private noteNewsPath(peer: string, epoch: bigint, newsAt: number | null, echo: number | undefined, at: number): void {
    let n = this.newsPaths.get(peer);
    if (n === undefined) {
      const readLate = this.opts.newsPaths === "read-late";
      n = { epoch, newsHeardAt: null, newsEchoedAt: null, newsSent: [], applied: { readLate, sendNews: false, probe: false }, changing: false, saidLast: undefined };
      this.newsPaths.set(peer, n);
    } else if (n.epoch !== epoch) {
      // A new incarnation proves its news path anew (it may be a rollback to an older release), and that it reads ours.
      n.epoch = epoch;
      n.newsHeardAt = null;
      n.newsEchoedAt = null;
      n.newsSent = [];
      n.saidLast = undefined;
    }
    if (newsAt !== null && (n.newsHeardAt === null || newsAt > n.newsHeardAt)) n.newsHeardAt = newsAt;
    if (echoesNews(n.newsSent, echo) && (n.newsEchoedAt === null || at > n.newsEchoedAt)) n.newsEchoedAt = at;
  }

  /** Encodes; a frame over the size limit with its config page goes without it (drift checks stop, heartbeats do not). */
  private encode(frame: HeartbeatFrame): Uint8Array {
    const version = this.sendVersion(frame);
    try {
      return encodeHeartbeat(frame, this.opts.key, version);
    } catch (e) {
      if (frame.config === undefined) throw e;
      this.pageTooBig = true;
      this.opts.log.warn("config digest left out of heartbeat frames: with it they would be too large; config drift is not checked", { detail: (e as Error).message });
      const { config: _dropped, ...rest } = frame;
      return encodeHeartbeat(rest, this.opts.key, version);
    }
  }

  private takeConfigPage(peer: string, page: NonNullable<HeartbeatFrame["config"]>): void {
    const own = this.digest;
    if (own === undefined) return;
    const { next, changed } = takePage(this.drift.get(peer), page, own);
    this.drift.set(peer, next);
    if (!changed || next.differing === null) return;
    if (next.differing.length === 0) {
      this.opts.log.info(`config of peer ${peer} matches this node's`, { peer });
      return;
    }
    const shown = next.differing.slice(0, 12).join(", ") + (next.differing.length > 12 ? ` and ${next.differing.length - 12} more` : "");
    this.opts.log.warn(`config differs from peer ${peer}: ${shown}`, {
      peer,
      keys: next.differing.join(","),
      detail: `${peer} runs with other values for ${shown}; every node needs the same vigil.yaml (compare both files, then reload)`,
    });
  }

  private report(e: MembershipEvent): void {
    this.events.push(e);
    const level = e.scope === "peer" && e.to === "dead" ? "error" : e.to === "down" || e.to === "late" ? "warn" : "info";
    if (e.scope === "peer" && e.to === "stopped") this.drift.delete(e.node);
    if (e.scope === "peer") {
      this.counters.detections({ peer: e.node, to: e.to });
      this.gauges.peerUp(e.to === "up" || e.to === "late" ? 1 : 0, { peer: e.node });
      this.opts.log.log(level, `peer ${e.node} ${e.to}`, { peer: e.node, from: e.from, to: e.to, reason: e.reason, event_seq: e.seq, detail: e.detail });
      this.opts.onPeer?.(e.node, e.to);
    } else {
      this.gauges.linkUp(e.to === "up" ? 1 : 0, { peer: e.node, link: String(e.link) });
      this.opts.log.log(level, `link ${e.link} to ${e.node} ${e.to}`, { peer: e.node, link: e.link, from: e.from, to: e.to, reason: e.reason, event_seq: e.seq, detail: e.detail });
    }
  }

  private rateLimitedWarn(key: string, msg: string, fields: Record<string, string | number>): void {
    const now = this.clock();
    const last = this.lastRejectLog.get(key);
    if (last !== undefined && now - last < REJECT_LOG_EVERY_MS) return;
    this.lastRejectLog.set(key, now);
    this.opts.log.warn(msg, fields);
  }
}

/** The send time of ours that `frame` echoes back to `self`, if it does (a loop: this runs for every frame). */
function echoOf(frame: HeartbeatFrame, self: string): number | undefined {
  for (const e of frame.echoes) if (e.node === self) return e.sentAt;
  return undefined;
}

function isUdp(t: Transport): t is UdpTransport {
  return "onStranger" in t && "receiveBufferBytes" in t;
}

/**
 * The reason whose counter a single frame from `node` moved, if the core
 * rejected it: an unattributed one, or one of that node's (the core counts
 * a peer's rejects under the name its frame gives).
 */
function newRejectReason(before: MembershipCounters, after: MembershipCounters, node: string): RejectReason | undefined {
  if (before === after) return undefined;
  const c = after.peers[node];
  const was = before.peers[node];
  // Accepted (most frames): nothing to look for.
  if (c !== undefined && was !== undefined && c.accepted > was.accepted) return undefined;
  for (const r of rejectReasons) {
    if (after.unattributed[r] > before.unattributed[r]) return r;
    if (c !== undefined && c !== was && c.rejected[r] > (was?.rejected[r] ?? 0)) return r;
  }
  return undefined;
}
