/**
 * Deterministic simulator for pure cores (`step(state, event, now)`).
 *
 * N nodes run one core each over a SimNetwork. Everything that happens goes
 * through one time-ordered queue with a stable tiebreak, and every random
 * choice comes from PRNG streams forked from the seed, so a seed replays
 * exactly (see seeds.ts for SIM_SEED).
 *
 * A core plugs in through a SimAdapter: how to start a node, its tick event,
 * its receive path (decode, filter) and how its actions turn into messages.
 *
 * Node faults:
 * - crash: state is gone; messages to it are dropped; restart() starts a new
 *   incarnation from adapter.start().
 * - pause (SIGSTOP): nothing runs; messages and timer expiries queue up and
 *   are processed, in order, at resume() time, as a frozen process would.
 *
 * Each node has its own monotonic clock: local time = sim time + a fixed
 * offset (kept across restarts, like CLOCK_MONOTONIC), so a core that
 * compares clocks of two nodes shows up as a bug. Sim times are whole
 * milliseconds when the link delays are, which keeps clock conversions exact.
 *
 * Invariants run after every step; a failure (or any throw from a core)
 * becomes a SimFailure naming the seed, the step, the replay command and
 * the last steps of the trace.
 */
import { Prng } from "./prng.ts";
import type { Step } from "../../../src/core/step.ts";
import { EventQueue } from "./event-queue.ts";
import { brief, ms } from "./format.ts";
import { SimNetwork, type LinkProfile } from "./network.ts";
import { replayCommand } from "./seeds.ts";

export interface Envelope<M> {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly link: number;
  readonly msg: M;
  /** Sim time it was sent (or injected). */
  readonly sentAt: number;
  /** "genuine" for the nodes' own traffic; scenarios tag what they inject ("forged", "replayed", ...). */
  readonly tag: string;
  /** 0 for the original, 1 for a duplicate made by the network. */
  readonly copy: number;
}

export interface NodeIo<M> {
  readonly node: string;
  readonly simNow: number;
  send(link: number, to: string, msg: M): void;
  /** To every other node, dead or alive, over the link. */
  broadcast(link: number, msg: M): void;
}

export type ReceiveResult<E> = { readonly ok: true; readonly event: E } | { readonly ok: false; readonly drop: string };

export interface SimAdapter<S, E, A, M> {
  readonly step: Step<S, E, A>;
  /** State of a node (re)starting at local time `now`. `rng` is the node's own stream. */
  start(node: string, ctx: { now: number; simNow: number; incarnation: number; rng: Prng }): S;
  tick(node: string, state: S): E;
  /** The receive path in front of the core (decoding, authentication). */
  receive(node: string, envelope: Envelope<M>, state: S): ReceiveResult<E>;
  /** Local time the node wants its next tick, or null for none. */
  nextWakeAt(state: S): number | null;
  perform(node: string, actions: readonly A[], io: NodeIo<M>): void;
  describeEvent?(event: E): string;
  describeAction?(action: A): string;
  describeMsg?(msg: M): string;
}

export type Lifecycle = "start" | "crash" | "restart" | "pause" | "resume";

interface RecordBase {
  readonly index: number;
  readonly time: number;
}

export type StepRecord<S, E, A, M> =
  | (RecordBase & {
      readonly kind: "step";
      readonly node: string;
      readonly cause: "deliver" | "tick";
      readonly envelope: Envelope<M> | null;
      readonly event: E;
      readonly before: S;
      readonly after: S;
      readonly actions: readonly A[];
      /** Processed at resume time after the node was paused. */
      readonly late: boolean;
    })
  /** Dropped at the receiver: node down, or refused by the receive path. */
  | (RecordBase & { readonly kind: "drop"; readonly node: string; readonly envelope: Envelope<M>; readonly reason: string })
  | (RecordBase & { readonly kind: "lifecycle"; readonly node: string; readonly change: Lifecycle; readonly incarnation: number })
  | (RecordBase & { readonly kind: "control"; readonly label: string });

/** Trace-only records: not passed to invariants. */
type NoteRecord<M> =
  | (RecordBase & { readonly kind: "sent"; readonly envelope: Envelope<M>; readonly fate: string })
  | (RecordBase & { readonly kind: "queued"; readonly node: string; readonly what: string });

export type Invariant<S, E, A, M> = (sim: Sim<S, E, A, M>, record: StepRecord<S, E, A, M>) => void;

export interface SimNode<S> {
  readonly name: string;
  readonly clockOffset: number;
  alive: boolean;
  paused: boolean;
  /** 0 before the first start, then +1 per start. */
  incarnation: number;
  /** Sim time of the current incarnation's start. */
  startedAt: number;
  state: S | undefined;
  /** Pauses of the current incarnation; `to` is null while paused. */
  pauses: { from: number; to: number | null }[];
}

type Pending<M> = { readonly what: "deliver"; readonly envelope: Envelope<M> } | { readonly what: "tick" };

type Queued<M> =
  | { readonly kind: "deliver"; readonly envelope: Envelope<M> }
  | { readonly kind: "timer"; readonly node: string; readonly generation: number }
  | { readonly kind: "control"; readonly label: string; readonly run: () => void };

interface NodeInternals<M> {
  rng: Prng;
  timerGeneration: number;
  timerAt: number | null;
  pending: Pending<M>[];
}

export interface SimOptions {
  readonly seed: number;
  readonly nodes: readonly string[];
  readonly links: number;
  readonly profile: LinkProfile | readonly LinkProfile[];
  /** Sim time each node first starts; null = stays down until restart(). Default 0 for all. */
  readonly startAt?: Readonly<Record<string, number | null>>;
  /** Give each node its own clock offset (default true). */
  readonly clockOffsets?: boolean;
  /** Keep every trace line (for determinism checks); otherwise only the tail. */
  readonly recordTrace?: boolean;
  /** Steps shown in a failure message (default 40). */
  readonly traceTail?: number;
  /** Guard against runaway cores (default 2,000,000). */
  readonly maxSteps?: number;
}

export class SimFailure extends Error {
  readonly seed: number;
  constructor(message: string, seed: number) {
    super(message);
    this.name = "SimFailure";
    this.seed = seed;
  }
}

const MAX_STEPS_PER_INSTANT = 100_000;

export class Sim<S, E, A, M> {
  readonly seed: number;
  readonly net: SimNetwork;
  /** For the scenario's own choices; the network and nodes draw from their own forks. */
  readonly rng: Prng;
  readonly nodes: ReadonlyMap<string, SimNode<S>>;
  now = 0;
  stepCount = 0;

  private readonly adapter: SimAdapter<S, E, A, M>;
  private readonly queue = new EventQueue<Queued<M>>();
  private readonly netRng: Prng;
  private readonly internals = new Map<string, NodeInternals<M>>();
  private readonly invariants: { name: string; check: Invariant<S, E, A, M> }[] = [];
  /** Ring of the latest records, formatted only when a failure needs them. */
  private readonly tail: (StepRecord<S, E, A, M> | NoteRecord<M>)[] = [];
  private tailNext = 0;
  private readonly tailSize: number;
  private readonly full: string[] | null;
  private readonly maxSteps: number;
  private recordIndex = 0;
  private envelopeIds = 0;
  private sameInstant = { time: -1, count: 0 };

  constructor(adapter: SimAdapter<S, E, A, M>, opts: SimOptions) {
    this.adapter = adapter;
    this.seed = opts.seed;
    const master = Prng.fromSeed(opts.seed);
    this.rng = master.fork();
    this.netRng = master.fork();
    const clockRng = master.fork();
    this.net = new SimNetwork(opts.links, opts.profile);
    this.tailSize = opts.traceTail ?? 40;
    this.full = opts.recordTrace === true ? [] : null;
    this.maxSteps = opts.maxSteps ?? 2_000_000;
    if (new Set(opts.nodes).size !== opts.nodes.length) throw new RangeError(`node names must be unique: ${opts.nodes.join(", ")}`);
    const nodes = new Map<string, SimNode<S>>();
    for (const name of opts.nodes) {
      const clockOffset = opts.clockOffsets === false ? 0 : clockRng.int(1_000, 1_000_000_000);
      nodes.set(name, { name, clockOffset, alive: false, paused: false, incarnation: 0, startedAt: 0, state: undefined, pauses: [] });
      this.internals.set(name, { rng: master.fork(), timerGeneration: 0, timerAt: null, pending: [] });
    }
    this.nodes = nodes;
    for (const name of opts.nodes) {
      const at = opts.startAt?.[name] === undefined ? 0 : opts.startAt[name];
      if (at !== null) this.at(at, `start ${name}`, () => this.restart(name));
    }
  }

  // ---- scenario API -------------------------------------------------------

  /** Adds a check run after every step (in the order added). */
  invariant(name: string, check: Invariant<S, E, A, M>): this {
    this.invariants.push({ name, check });
    return this;
  }

  /** Runs `fn` at sim time `time` (ties: in the order scheduled). */
  at(time: number, label: string, fn: (sim: this) => void): this {
    this.queue.push(Math.max(time, this.now), { kind: "control", label, run: () => fn(this) });
    return this;
  }

  after(delay: number, label: string, fn: (sim: this) => void): this {
    return this.at(this.now + delay, label, fn);
  }

  node(name: string): SimNode<S> {
    const n = this.nodes.get(name);
    if (n === undefined) throw new RangeError(`no node "${name}" in this simulation`);
    return n;
  }

  localNow(name: string): number {
    return this.now + this.node(name).clockOffset;
  }

  crash(name: string): void {
    const n = this.node(name);
    if (!n.alive) return;
    const int = this.inner(name);
    n.alive = false;
    n.paused = false;
    n.state = undefined;
    int.pending = [];
    int.timerGeneration += 1;
    int.timerAt = null;
    this.record({ kind: "lifecycle", index: this.recordIndex++, time: this.now, node: name, change: "crash", incarnation: n.incarnation });
  }

  /** Starts a node that is down; a running node is crashed first. */
  restart(name: string): void {
    const n = this.node(name);
    const first = n.incarnation === 0;
    if (n.alive) this.crash(name);
    n.alive = true;
    n.paused = false;
    n.incarnation += 1;
    n.startedAt = this.now;
    n.pauses = [];
    n.state = this.guard(() =>
      this.adapter.start(name, { now: this.localNow(name), simNow: this.now, incarnation: n.incarnation, rng: this.inner(name).rng }),
    );
    this.record({ kind: "lifecycle", index: this.recordIndex++, time: this.now, node: name, change: first ? "start" : "restart", incarnation: n.incarnation });
    this.scheduleTimer(name);
  }

  pause(name: string): void {
    const n = this.node(name);
    if (!n.alive || n.paused) return;
    n.paused = true;
    n.pauses.push({ from: this.now, to: null });
    this.record({ kind: "lifecycle", index: this.recordIndex++, time: this.now, node: name, change: "pause", incarnation: n.incarnation });
  }

  resume(name: string): void {
    const n = this.node(name);
    if (!n.alive || !n.paused) return;
    n.paused = false;
    const last = n.pauses[n.pauses.length - 1];
    if (last !== undefined) last.to = this.now;
    this.record({ kind: "lifecycle", index: this.recordIndex++, time: this.now, node: name, change: "resume", incarnation: n.incarnation });
    const int = this.inner(name);
    const backlog = int.pending;
    int.pending = [];
    for (const item of backlog) {
      if (!n.alive) break;
      if (item.what === "deliver") this.deliver(item.envelope, true);
      else this.stepNode(name, "tick", null, this.adapter.tick(name, n.state as S), true);
    }
    this.scheduleTimer(name);
  }

  /** Puts a message on the wire at `to` directly (an attacker's frame): no loss, no cut. */
  inject(envelope: { from: string; to: string; link: number; msg: M; tag: string }, delay = 0): Envelope<M> {
    const env: Envelope<M> = { ...envelope, id: ++this.envelopeIds, sentAt: this.now, copy: 0 };
    this.queue.push(this.now + delay, { kind: "deliver", envelope: env });
    this.note({ kind: "sent", index: this.recordIndex++, time: this.now, envelope: env, fate: `injected, arrives +${delay}` });
    return env;
  }

  run(until: number): void {
    for (;;) {
      const t = this.queue.peekTime();
      if (t === undefined || t > until) break;
      const next = this.queue.pop();
      if (next === undefined) break;
      this.now = next.time;
      this.dispatch(next.item);
    }
    this.now = Math.max(this.now, until);
  }

  runFor(duration: number): void {
    this.run(this.now + duration);
  }

  /** Every trace line so far (only with recordTrace). */
  trace(): readonly string[] {
    if (this.full === null) throw new Error("Sim was created without recordTrace");
    return this.full;
  }

  /** Throws a SimFailure carrying the seed, the replay command and the trace tail. */
  fail(message: string): never {
    throw new SimFailure(this.failureText(message), this.seed);
  }

  check(condition: boolean, message: string | (() => string)): void {
    if (!condition) this.fail(typeof message === "string" ? message : message());
  }

  // ---- machinery ----------------------------------------------------------

  private inner(name: string): NodeInternals<M> {
    const i = this.internals.get(name);
    if (i === undefined) throw new RangeError(`no node "${name}" in this simulation`);
    return i;
  }

  private failureText(message: string): string {
    return [
      `[sim seed=${this.seed} step=${this.stepCount} t=${ms(this.now)}ms] ${message}`,
      `replay: ${replayCommand(this.seed)}`,
      `last ${this.tail.length} trace lines:`,
      ...this.tailInOrder().map((r) => `  ${this.describe(r)}`),
    ].join("\n");
  }

  /** Runs core/adapter code, turning any throw into a SimFailure with context. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof SimFailure) throw err;
      const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new SimFailure(this.failureText(`a core or adapter threw ${text}`), this.seed);
    }
  }

  private dispatch(item: Queued<M>): void {
    if (item.kind === "control") {
      item.run();
      this.record({ kind: "control", index: this.recordIndex++, time: this.now, label: item.label });
      return;
    }
    if (item.kind === "deliver") {
      this.deliver(item.envelope, false);
      return;
    }
    const n = this.node(item.node);
    const int = this.inner(item.node);
    if (item.generation !== int.timerGeneration || !n.alive) return;
    int.timerAt = null;
    if (n.paused) {
      int.pending.push({ what: "tick" });
      this.note({ kind: "queued", index: this.recordIndex++, time: this.now, node: n.name, what: "timer (paused)" });
      return;
    }
    this.stepNode(n.name, "tick", null, this.adapter.tick(n.name, n.state as S), false);
  }

  private deliver(env: Envelope<M>, late: boolean): void {
    const n = this.node(env.to);
    if (!n.alive) {
      this.record({ kind: "drop", index: this.recordIndex++, time: this.now, node: n.name, envelope: env, reason: "node is down" });
      return;
    }
    if (n.paused) {
      this.inner(n.name).pending.push({ what: "deliver", envelope: env });
      this.note({ kind: "queued", index: this.recordIndex++, time: this.now, node: n.name, what: `message #${env.id} (paused)` });
      return;
    }
    const got = this.guard(() => this.adapter.receive(n.name, env, n.state as S));
    if (!got.ok) {
      this.record({ kind: "drop", index: this.recordIndex++, time: this.now, node: n.name, envelope: env, reason: got.drop });
      return;
    }
    this.stepNode(n.name, "deliver", env, got.event, late);
  }

  private stepNode(name: string, cause: "deliver" | "tick", envelope: Envelope<M> | null, event: E, late: boolean): void {
    const n = this.node(name);
    if (++this.stepCount > this.maxSteps) this.fail(`more than ${this.maxSteps} steps: runaway core?`);
    if (this.sameInstant.time === this.now) {
      if (++this.sameInstant.count > MAX_STEPS_PER_INSTANT) this.fail(`more than ${MAX_STEPS_PER_INSTANT} steps at one instant: a core asks to wake in the past?`);
    } else this.sameInstant = { time: this.now, count: 1 };
    const before = n.state as S;
    const out = this.guard(() => this.adapter.step(before, event, this.localNow(name)));
    n.state = out.state;
    const record: StepRecord<S, E, A, M> = {
      kind: "step",
      index: this.recordIndex++,
      time: this.now,
      node: name,
      cause,
      envelope,
      event,
      before,
      after: out.state,
      actions: out.actions,
      late,
    };
    this.record(record);
    this.guard(() => this.adapter.perform(name, out.actions, this.io(name)));
    this.scheduleTimer(name);
  }

  private io(name: string): NodeIo<M> {
    const send = (link: number, to: string, msg: M): void => {
      const sentAt = this.now;
      const { delays, dropped } = this.net.route(link, name, to, this.netRng);
      if (dropped !== null) {
        const env: Envelope<M> = { id: ++this.envelopeIds, from: name, to, link, msg, sentAt, tag: "genuine", copy: 0 };
        this.note({ kind: "sent", index: this.recordIndex++, time: this.now, envelope: env, fate: dropped });
        return;
      }
      delays.forEach((delay, copy) => {
        const env: Envelope<M> = { id: ++this.envelopeIds, from: name, to, link, msg, sentAt, tag: "genuine", copy };
        this.queue.push(sentAt + delay, { kind: "deliver", envelope: env });
        this.note({ kind: "sent", index: this.recordIndex++, time: this.now, envelope: env, fate: `arrives +${delay}${copy > 0 ? " (dup)" : ""}` });
      });
    };
    return {
      node: name,
      simNow: this.now,
      send,
      broadcast: (link, msg) => {
        for (const other of this.nodes.keys()) if (other !== name) send(link, other, msg);
      },
    };
  }

  private scheduleTimer(name: string): void {
    const n = this.node(name);
    const int = this.inner(name);
    if (!n.alive || n.paused) return;
    const wake = this.adapter.nextWakeAt(n.state as S);
    if (wake === null) {
      int.timerGeneration += 1;
      int.timerAt = null;
      return;
    }
    const at = Math.max(this.now, wake - n.clockOffset);
    if (at === int.timerAt) return;
    int.timerGeneration += 1;
    int.timerAt = at;
    this.queue.push(at, { kind: "timer", node: name, generation: int.timerGeneration });
  }

  private describe(rec: StepRecord<S, E, A, M> | NoteRecord<M>): string {
    const a = this.adapter;
    const msg = (m: M) => (a.describeMsg ? a.describeMsg(m) : brief(m));
    const head = `#${rec.index} t=${ms(rec.time)}`;
    switch (rec.kind) {
      case "step": {
        const ev = a.describeEvent ? a.describeEvent(rec.event) : brief(rec.event);
        const from = rec.envelope === null ? "" : ` <- ${rec.envelope.from} L${rec.envelope.link} #${rec.envelope.id}${rec.envelope.tag === "genuine" ? "" : ` [${rec.envelope.tag}]`}`;
        const acts = rec.actions.map((x) => (a.describeAction ? a.describeAction(x) : brief(x)));
        return `${head} ${rec.node}${from}${rec.late ? " (late)" : ""}: ${ev}${acts.length > 0 ? ` => ${acts.join("; ")}` : ""}`;
      }
      case "drop":
        return `${head} ${rec.node} dropped #${rec.envelope.id} from ${rec.envelope.from} L${rec.envelope.link} [${rec.envelope.tag}]: ${rec.reason}`;
      case "lifecycle":
        return `${head} ${rec.node} ${rec.change} (incarnation ${rec.incarnation})`;
      case "control":
        return `${head} control: ${rec.label}`;
      case "sent":
        return `${head} ${rec.envelope.from} -> ${rec.envelope.to} L${rec.envelope.link} #${rec.envelope.id} ${msg(rec.envelope.msg)}: ${rec.fate}`;
      case "queued":
        return `${head} ${rec.node} queued ${rec.what}`;
    }
  }

  private tailInOrder(): (StepRecord<S, E, A, M> | NoteRecord<M>)[] {
    if (this.tail.length < this.tailSize) return [...this.tail];
    return [...this.tail.slice(this.tailNext), ...this.tail.slice(0, this.tailNext)];
  }

  private remember(rec: StepRecord<S, E, A, M> | NoteRecord<M>): void {
    if (this.tailSize > 0) {
      if (this.tail.length < this.tailSize) this.tail.push(rec);
      else this.tail[this.tailNext] = rec;
      this.tailNext = (this.tailNext + 1) % this.tailSize;
    }
    this.full?.push(this.describe(rec));
  }

  private note(rec: NoteRecord<M>): void {
    this.remember(rec);
  }

  private record(rec: StepRecord<S, E, A, M>): void {
    this.remember(rec);
    for (const inv of this.invariants) {
      try {
        inv.check(this, rec);
      } catch (err) {
        if (err instanceof SimFailure) throw err;
        const text = err instanceof Error ? err.message : String(err);
        this.fail(`invariant "${inv.name}" failed: ${text}`);
      }
    }
  }
}
