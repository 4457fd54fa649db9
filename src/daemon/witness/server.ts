/**
 * The arbiter's driver (`vigil witness`): a UDP socket, the real clock and
 * the pure arbiter core (src/core/witness.ts). It authenticates requests,
 * drops replays, feeds the core, sends its replies and logs and counts what
 * happens. Every decision about leases is the core's.
 *
 * Anti-replay: each node's (epoch, seq) goes through a sliding window
 * (src/core/replay-window.ts). A replayed release could otherwise free a
 * lease its holder still uses, and a replayed request could renew a lease
 * for a node that stopped. The windows live in memory: after OUR restart the
 * quiet period (no grants for lease + grace) covers what an old request
 * could do, and a node's next message sets its window again. A node silent
 * for lease + grace may come back with an OLDER epoch (its clock was set
 * back): it is taken as a restart then, since it can hold no lease that a
 * replayed release could free; its earlier, larger epochs stay refused. An
 * on-path attacker replaying captured messages can at worst hold a lease
 * for a node that does not use it, or keep a node out for lease + grace.
 */
import { randomInt } from "node:crypto";
import * as dgram from "node:dgram";
import { checkReplay, type ReplayVerdict, type ReplayWindow } from "../../core/replay-window.ts";
import {
  initWitness, nextWakeAt, stepWitness, type WitnessAction, type WitnessConfig, type WitnessEventKind, type WitnessState,
} from "../../core/witness.ts";
import { clipDetail, decodeWitness, encodeWitness, type WitnessMessage } from "../../proto/witness.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

export interface WitnessServerOptions {
  readonly cluster: string;
  readonly key: Uint8Array;
  readonly witness: WitnessConfig;
  readonly listen: { readonly host: string; readonly port: number };
  readonly log: Logger;
  readonly metrics: Metrics;
  /** false: grant at once, because no lease of an earlier run can still be running (see witness.ts). */
  readonly quiet?: boolean;
  /** Monotonic ms; injectable for tests. */
  readonly clock?: () => number;
  readonly epoch?: bigint;
}

export interface WitnessLeaseStatus {
  module: string;
  holder: string;
  token: number;
  /** held: running; grace: ran out, nobody else gets it yet; released: given back. */
  state: "held" | "grace" | "released";
  heldForMs: number;
  /** Until it runs out (negative once in grace). */
  expiresInMs: number;
}

export interface WitnessNodeStatus {
  name: string;
  /** Where its last accepted message came from; null before the first. */
  address: string | null;
  lastHeardMsAgo: number | null;
}

export interface WitnessStatus {
  cluster: string;
  listen: string;
  leaseMs: number;
  graceMs: number;
  /** Still in the quiet period after our start: ms left, else 0. */
  quietForMs: number;
  leases: WitnessLeaseStatus[];
  nodes: WitnessNodeStatus[];
  /** granted/denied count answers (a refusal is also a denial); rejected: messages dropped unanswered, by reason. */
  counters: { requests: number; releases: number; granted: number; denied: number; refused: number; rejected: Record<string, number> };
}

/** One log line per kind of problem and sender per this many ms. */
const LOG_EVERY_MS = 10_000;

export class WitnessServer {
  private state: WitnessState;
  private socket: dgram.Socket | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly clock: () => number;
  private readonly epoch: bigint;
  private seq = 0;
  private readonly senders = new Map<string, { window: ReplayWindow; maxEpoch: bigint }>();
  private readonly heard = new Map<string, { address: string; at: number }>();
  private readonly lastLog = new Map<string, number>();
  private readonly counts: WitnessStatus["counters"] = { requests: 0, releases: 0, granted: 0, denied: 0, refused: 0, rejected: {} };
  private readonly metric: {
    received: (l?: Record<string, string>) => void;
    rejected: (l?: Record<string, string>) => void;
    replies: (l?: Record<string, string>) => void;
    events: (l?: Record<string, string>) => void;
  };
  private where = "";

  constructor(private readonly opts: WitnessServerOptions) {
    // Whole milliseconds: the core's details ("held by h1 for 2547 ms more") are read by people.
    this.clock = opts.clock ?? (() => Math.floor(performance.now()));
    this.epoch = opts.epoch ?? ((BigInt(Date.now()) << 16n) | BigInt(randomInt(0, 65536)));
    this.state = initWitness(opts.witness, { now: this.clock(), quiet: opts.quiet !== false });
    const m = opts.metrics;
    this.metric = {
      received: m.counter("vigil_witness_messages_received_total", "Authentic arbiter messages accepted, by type."),
      rejected: m.counter("vigil_witness_messages_rejected_total", "Arbiter messages dropped, by reason."),
      replies: m.counter("vigil_witness_replies_total", "Answers sent, by result (granted, denied)."),
      events: m.counter("vigil_witness_lease_events_total", "Lease changes, by kind (granted, released, expired, denied, refused)."),
    };
  }

  /** Binds the socket; rejects with a one-line reason naming the address. */
  async start(): Promise<void> {
    const { host, port } = this.opts.listen;
    const socket = dgram.createSocket({ type: "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", (e: NodeJS.ErrnoException) => {
        socket.close();
        reject(new Error(`cannot listen for arbiter requests on ${host}:${port}: ${bindHint(e)}`));
      });
      socket.bind({ address: host, port }, () => {
        socket.removeAllListeners("error");
        resolve();
      });
    });
    socket.on("error", (e) => this.rateLimited("socket-error", "warn", "arbiter socket error", { error: e.message }));
    socket.on("message", (msg, rinfo) => this.onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), rinfo));
    this.socket = socket;
    const a = socket.address();
    this.where = `${a.address}:${a.port}`;
    this.schedule();
  }

  /** "address:port" really bound (port 0 in the options picks a free one). */
  endpoint(): { address: string; port: number } {
    const a = this.socket?.address();
    return { address: a?.address ?? this.opts.listen.host, port: a?.port ?? this.opts.listen.port };
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** No lease is running or in its grace: a restart now could skip the quiet period. */
  idle(): boolean {
    this.apply(stepWitness(this.state, { type: "tick" }, this.clock()));
    return this.state.leases.length === 0;
  }

  status(): WitnessStatus {
    const now = this.clock();
    const c = this.opts.witness;
    return {
      cluster: this.opts.cluster,
      listen: this.where,
      leaseMs: c.leaseMs,
      graceMs: c.graceMs,
      quietForMs: Math.max(0, Math.round(this.state.quietUntil - now)),
      leases: this.state.leases.map((l) => ({
        module: l.module,
        holder: l.holder,
        token: l.token,
        state: l.released ? "released" : now < l.expiresAt ? "held" : "grace",
        heldForMs: Math.round(now - l.grantedAt),
        expiresInMs: Math.round(l.expiresAt - now),
      })),
      nodes: c.nodes.map((name) => {
        const h = this.heard.get(name);
        return { name, address: h?.address ?? null, lastHeardMsAgo: h === undefined ? null : Math.round(now - h.at) };
      }),
      counters: { ...this.counts, rejected: { ...this.counts.rejected } },
    };
  }

  /**
   * The replay check of one message. A new life (a new window) needs an
   * epoch above every one heard from the node, or the node silent for
   * lease + grace (see the header): a later life of the node and then a
   * replay of its earlier one must not pass as yet another restart.
   */
  private checkSender(node: string, epoch: bigint, seq: number, now: number): ReplayVerdict {
    const prev = this.senders.get(node);
    let v = checkReplay(prev?.window ?? null, epoch, seq);
    const newLife = v.ok ? v.how === "restarted" : v.why === "stale-epoch";
    if (newLife && prev !== undefined && epoch <= prev.maxEpoch) {
      if (!this.forgettable(node, now)) {
        return { ok: false, why: "stale-epoch", detail: `epoch ${epoch} is not above ${prev.maxEpoch}, already heard from ${node} within lease + grace` };
      }
      v = checkReplay(null, epoch, seq);
      this.opts.log.warn("node restarted with an older epoch (was its clock set back?)", { node, epoch: String(epoch) });
    } else if (v.ok && v.how === "restarted") {
      this.opts.log.info("node restarted", { node, epoch: String(epoch) });
    }
    if (v.ok) this.senders.set(node, { window: v.window, maxEpoch: prev === undefined || epoch > prev.maxEpoch ? epoch : prev.maxEpoch });
    return v;
  }

  /** Nothing accepted from `node` for lease + grace: no lease of its can still run here. */
  private forgettable(node: string, now: number): boolean {
    const h = this.heard.get(node);
    const c = this.opts.witness;
    return h === undefined || now - h.at >= c.leaseMs + c.graceMs;
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.socket) return;
    const at = nextWakeAt(this.state);
    if (at === null) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.apply(stepWitness(this.state, { type: "tick" }, this.clock()));
      this.schedule();
    }, Math.max(0, at - this.clock()));
  }

  private onDatagram(bytes: Uint8Array, from: dgram.RemoteInfo): void {
    const source = `${from.address}:${from.port}`;
    const r = decodeWitness(bytes, this.opts.key);
    if (!r.ok) return this.reject(r.error.kind, source, r.error.detail);
    const m = r.message;
    if (m.type !== "request" && m.type !== "release") return this.reject("not-a-request", source, `a ${m.type} addressed to ${m.node}; the arbiter only takes requests and releases`);
    if (m.cluster !== this.opts.cluster) return this.reject("other-cluster", source, `from ${m.node} of cluster ${m.cluster}; this arbiter serves ${this.opts.cluster}`);
    const known = this.opts.witness.nodes.includes(m.node);
    // Unknown names are refused by the core (with the reason); keep no window for them.
    if (known) {
      const now = this.clock();
      const v = this.checkSender(m.node, m.epoch, m.seq, now);
      if (!v.ok) return this.reject(v.why, source, `${m.type} from ${m.node}: ${v.detail}`);
      this.heard.set(m.node, { address: source, at: now });
    }
    this.metric.received({ type: m.type });
    if (m.type === "request") {
      this.counts.requests += 1;
      this.apply(stepWitness(this.state, { type: "request", node: m.node, module: m.module, request: m.request }, this.clock()), m, from);
    } else {
      this.counts.releases += 1;
      this.apply(stepWitness(this.state, { type: "release", node: m.node, module: m.module }, this.clock()), m, from);
    }
    this.schedule();
  }

  private apply(stepped: { state: WitnessState; actions: readonly WitnessAction[] }, cause?: WitnessMessage, from?: dgram.RemoteInfo): void {
    this.state = stepped.state;
    for (const a of stepped.actions) {
      if (a.type === "event") this.event(a.kind, a.module, a.node, a.detail);
      else if (cause !== undefined && from !== undefined) this.reply(a, cause, from);
    }
  }

  private reply(a: Extract<WitnessAction, { type: "reply" }>, cause: WitnessMessage, to: dgram.RemoteInfo): void {
    if (!this.socket) return;
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    const base = { cluster: this.opts.cluster, node: a.to, epoch: this.epoch, seq: this.seq, module: a.module, request: a.request, peerEpoch: cause.epoch, token: a.token, detail: clipDetail(a.detail) };
    const msg: WitnessMessage = a.granted
      ? { ...base, type: "grant", durationMs: a.durationMs }
      : { ...base, type: "deny", holder: a.holder };
    this.metric.replies({ result: a.granted ? "granted" : "denied" });
    if (a.granted) this.counts.granted += 1;
    else this.counts.denied += 1;
    this.socket.send(encodeWitness(msg, this.opts.key), to.port, to.address, (err) => {
      if (err) this.rateLimited(`send-${to.address}`, "warn", "arbiter reply not sent", { to: `${to.address}:${to.port}`, error: (err as NodeJS.ErrnoException).code ?? err.message });
    });
  }

  private event(kind: WitnessEventKind, module: string, node: string, detail: string): void {
    this.metric.events({ kind });
    if (kind === "refused") this.counts.refused += 1;
    const fields = { module, node, detail };
    switch (kind) {
      case "granted":
      case "released":
        this.opts.log.info(`lease ${kind}`, fields);
        break;
      case "expired":
        this.opts.log.warn("lease expired", fields);
        break;
      case "denied":
      case "refused":
        // A waiting node asks again every retry: one line per node and module now and then is enough.
        this.rateLimited(`${kind}-${module}-${node}`, kind === "refused" ? "warn" : "info", `lease ${kind}`, fields);
        break;
      case "renewed":
        break;
    }
  }

  private reject(reason: string, source: string, detail: string): void {
    this.counts.rejected[reason] = (this.counts.rejected[reason] ?? 0) + 1;
    this.metric.rejected({ reason });
    // Keyed by reason only: a flood from forged sources must not grow the table.
    this.rateLimited(`reject-${reason}`, "warn", "arbiter message rejected", { reason, from: source, detail });
  }

  private rateLimited(key: string, level: "info" | "warn", msg: string, fields: Record<string, string>): void {
    const now = this.clock();
    const last = this.lastLog.get(key);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    this.lastLog.set(key, now);
    this.opts.log.log(level, msg, fields);
  }
}

function bindHint(e: NodeJS.ErrnoException): string {
  const hints: Record<string, string> = {
    EADDRINUSE: "the port is already in use (is another vigil witness running?)",
    EADDRNOTAVAIL: "that address is not configured on any interface of this host",
    EACCES: "permission denied (ports below 1024 need root)",
  };
  return `${e.code ?? "error"}: ${(e.code !== undefined ? hints[e.code] : undefined) ?? e.message}`;
}
