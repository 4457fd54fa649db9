/**
 * A node's link to the arbiter (`vigil witness`): sends the module cores'
 * lease requests and releases, and hands back the answers that belong to a
 * request it sent, shaped as the core's "lease" input.
 *
 * - Retries and timing are the core's business; this only sends and matches.
 * - An answer counts only if it is authentic, addressed to this node, echoes
 *   this life's epoch and a request still pending here. Each pending request
 *   is answered at most once, so a replayed or duplicated answer is dropped.
 * - send() never throws: send errors go to onProblem like rejected answers.
 * One client serves every module of the node (one socket, one epoch, one seq).
 */
import { randomInt } from "node:crypto";
import * as dgram from "node:dgram";
import { decodeWitness, encodeWitness, type WitnessMessage } from "../proto/witness.ts";

/** The core's "lease" input (core/module/types.ts), without its type tag. */
export interface ArbiterAnswer {
  readonly request: number;
  readonly granted: boolean;
  readonly durationMs: number;
  readonly holder: string | null;
  readonly detail: string;
}

export type ArbiterProblemKind =
  | "truncated" | "oversized" | "bad-magic" | "bad-version" | "bad-mac" | "malformed"
  | "not-an-answer" | "other-cluster" | "not-for-us" | "other-life" | "unknown-request" | "send-failed" | "unencodable";

export interface ArbiterClientOptions {
  readonly cluster: string;
  /** This node's name. */
  readonly self: string;
  readonly key: Uint8Array;
  readonly arbiter: { readonly address: string; readonly port: number };
  /** Send from this address; default: whichever the route picks. */
  readonly localAddress?: string;
  /** An answer to a request of `module`; feed it to that module's core as { type: "lease", ...answer }. */
  onAnswer(module: string, answer: ArbiterAnswer): void;
  /** Something was dropped or could not be sent; for logs and counters (may come often: rate-limit it). */
  onProblem?(kind: ArbiterProblemKind, detail: string): void;
  /** Injectable for tests; default: wall-clock ms << 16 | random16, like the heartbeat epoch. */
  readonly epoch?: bigint;
}

/** What the module engine needs; tests can stand in for it. */
export interface Arbiter {
  request(module: string, requestNumber: number): void;
  release(module: string): void;
  close(): Promise<void>;
}

/** Requests remembered per module; the core never waits on more (core/module/lease.ts). */
const MAX_PENDING = 16;

export class ArbiterClient implements Arbiter {
  private epoch: bigint;
  private seq = 0;
  private readonly pending = new Map<string, number[]>();
  private closed = false;
  readonly counters = { sent: 0, answers: 0, dropped: 0 };

  private constructor(private readonly socket: dgram.Socket, private readonly opts: ArbiterClientOptions) {
    this.epoch = opts.epoch ?? ((BigInt(Date.now()) << 16n) | BigInt(randomInt(0, 65536)));
    socket.on("message", (msg) => this.onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)));
    socket.on("error", (e) => this.problem("send-failed", e.message));
  }

  /** Opens the socket (an ephemeral port). Rejects with a one-line reason if it cannot bind. */
  static open(opts: ArbiterClientOptions): Promise<ArbiterClient> {
    const socket = dgram.createSocket({ type: "udp4" });
    return new Promise((resolve, reject) => {
      socket.once("error", (e: NodeJS.ErrnoException) => {
        socket.close();
        reject(new Error(`arbiter client: cannot bind a UDP socket on ${opts.localAddress ?? "0.0.0.0"}: ${e.code ?? e.message}`));
      });
      socket.bind({ address: opts.localAddress ?? "0.0.0.0", port: 0 }, () => {
        socket.removeAllListeners("error");
        resolve(new ArbiterClient(socket, opts));
      });
    });
  }

  /**
   * The same, without waiting for the bind: sends made meanwhile are queued
   * by the socket, and a bind failure goes to onProblem. The socket does not
   * keep the process alive.
   */
  static create(opts: ArbiterClientOptions): ArbiterClient {
    const socket = dgram.createSocket({ type: "udp4" });
    const client = new ArbiterClient(socket, opts);
    socket.bind({ address: opts.localAddress ?? "0.0.0.0", port: 0 });
    socket.unref();
    return client;
  }

  /** Where answers come back to. */
  localEndpoint(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  request(module: string, requestNumber: number): void {
    const list = this.pending.get(module) ?? [];
    list.push(requestNumber);
    this.pending.set(module, list.slice(-MAX_PENDING));
    this.send({ type: "request", module, request: requestNumber });
  }

  /** Gives the lease up; answers still on their way for this module are dropped. */
  release(module: string): void {
    this.pending.delete(module);
    this.send({ type: "release", module });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private send(m: { type: "request"; module: string; request: number } | { type: "release"; module: string }): void {
    if (this.closed) return;
    if (this.seq >= 0xffffffff) {
      // A new life: answers to requests of the old one can no longer match.
      this.epoch += 1n;
      this.seq = 0;
      this.pending.clear();
    }
    this.seq += 1;
    const base = { cluster: this.opts.cluster, node: this.opts.self, epoch: this.epoch, seq: this.seq, module: m.module };
    const msg: WitnessMessage = m.type === "request" ? { ...base, type: "request", request: m.request } : { ...base, type: "release" };
    let bytes: Uint8Array;
    try {
      bytes = encodeWitness(msg, this.opts.key);
    } catch (e) {
      // A name or number the wire cannot carry: a bug or a config mistake, never a reason to crash the daemon.
      return this.problem("unencodable", `${m.type} of ${m.module}: ${(e as Error).message}`);
    }
    const { address, port } = this.opts.arbiter;
    this.counters.sent += 1;
    this.socket.send(bytes, port, address, (err) => {
      if (err) this.problem("send-failed", `${m.type} of ${m.module} to ${address}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
  }

  private onDatagram(bytes: Uint8Array): void {
    const r = decodeWitness(bytes, this.opts.key);
    if (!r.ok) return this.problem(r.error.kind, r.error.detail);
    const m = r.message;
    if (m.type !== "grant" && m.type !== "deny") return this.problem("not-an-answer", `a ${m.type} from ${m.node} came to this node's arbiter socket`);
    if (m.cluster !== this.opts.cluster) return this.problem("other-cluster", `answer for cluster ${m.cluster}, we are ${this.opts.cluster}`);
    if (m.node !== this.opts.self) return this.problem("not-for-us", `answer addressed to ${m.node}, we are ${this.opts.self}`);
    if (m.peerEpoch !== this.epoch) return this.problem("other-life", `answer to request ${m.request} of ${m.module} from epoch ${m.peerEpoch}, ours is ${this.epoch}`);
    const list = this.pending.get(m.module);
    const at = list?.indexOf(m.request) ?? -1;
    if (list === undefined || at < 0) return this.problem("unknown-request", `answer to request ${m.request} of ${m.module}, which is not pending (already answered, released or forgotten)`);
    list.splice(at, 1);
    this.counters.answers += 1;
    const answer: ArbiterAnswer = m.type === "grant"
      ? { request: m.request, granted: true, durationMs: m.durationMs, holder: m.node, detail: m.detail }
      : { request: m.request, granted: false, durationMs: 0, holder: m.holder, detail: m.detail };
    this.opts.onAnswer(m.module, answer);
  }

  private problem(kind: ArbiterProblemKind, detail: string): void {
    this.counters.dropped += kind === "send-failed" || kind === "unencodable" ? 0 : 1;
    this.opts.onProblem?.(kind, detail);
  }
}
