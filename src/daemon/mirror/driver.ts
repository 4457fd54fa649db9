/**
 * One mirror module on this node: the driver of the mirror core
 * (src/core/mirror/mirror.ts). It owns the replication link in both
 * directions, this node's copy record, the FUSE interception while this
 * node runs the module, the applier while it stands by, the ALONE journal
 * and the resync. The module's failover core (through ModuleInstance)
 * decides where the module runs; this driver tells it when this copy must
 * not be served (the gate), and is the "mirror" resource: mounted first,
 * unmounted last.
 *
 * The link: each node listens (its server applies the peer's ops and
 * answers its questions) and connects to the peer (its client carries this
 * node's ops when it runs the module, and its questions). The core's "link"
 * is up once this node's client asked the peer for its copy (the hello) and
 * both connections are up; it goes down when either does.
 *
 * Carrying out the core's actions, in order: persist is written (fsync)
 * before the next action is looked at; gate goes to the module core;
 * writes settles or holds intercepted ops (ack-queue.ts); resync runs in the
 * background and reports back as events.
 */
import { closeSync, constants as C, mkdirSync, openSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { ConflictKind, CopyRecord } from "../../core/mirror/copy.ts";
import { initMirror, mirrorWakeAt, peerInSync, stepMirror } from "../../core/mirror/mirror.ts";
import { compareGens, EMPTY_GEN, mayHoldUnsentWrites } from "../../core/mirror/copy.ts";
import { copyOnDisk } from "../../core/mirror/unsaved.ts";
import { pathKey } from "../../core/mirror/resync-plan.ts";
import type { DataMark, MirrorAction, MirrorInput, MirrorModuleRole, MirrorState, PeerCopy } from "../../core/mirror/types.ts";
import type { PeerLiveness } from "../../core/membership/types.ts";
import { isPrimaryRole } from "../../core/module/types.ts";
import { type AgreedFeatures, featureNames, LINK_FEATURE } from "../../core/link-features.ts";
import { type LinkEndpoint, type LinkTimers, ReplicationClient, ReplicationServer, type RequestAnswerer } from "../../net/replication-link.ts";
import { PeerHearing } from "../../net/replication-link-hearing.ts";
import type { CopyWire, MirrorControlAction } from "../../proto/mirror-control.ts";
import type { ResyncRequest, ResyncResponse } from "../../proto/replication-resync.ts";
import type { ApplyResult } from "../../replicator/apply-result.ts";
import { type KeepSpec, type OpApplier, startApplier } from "../../replicator/apply-threaded.ts";
import { KeepAside } from "./keep-aside.ts";
import { cleanStaleMount, type MountedFolder, mountInPlace } from "../../replicator/intercept.ts";
import { Breather } from "../../replicator/breathe.ts";
import { Journal } from "../../replicator/journal.ts";
import { journalLostText } from "../../core/mirror/journal-state.ts";
import { followLive } from "../../replicator/live-follow.ts";
import type { MirrorOp } from "../../replicator/ops.ts";
import { FolderAnswerer } from "../../replicator/remote-peer-answers.ts";
import { RemoteResyncPeer } from "../../replicator/remote-peer.ts";
import type { ResyncProgress } from "../../replicator/resync-progress.ts";
import { Resync } from "../../replicator/resync.ts";
import { type ResyncTurn, ResyncTurns } from "./resync-turns.ts";
import { verifyTrees } from "../../replicator/verify.ts";
import { compileExclude, type ExcludeTest } from "../../replicator/exclude.ts";
import { loadDirCalls } from "../../sys/ffi/dir-calls.ts";
import { loadFsCalls } from "../../sys/ffi/fs-calls.ts";
import type { MirrorReadStatus, MirrorStatus } from "../../api/modules.ts";
import type { Logger } from "../log.ts";
import type { MirrorResource, ResourceContext, ResourceOutcome } from "../module/resources.ts";
import { AckQueue, type AheadBudget } from "./ack-queue.ts";
import { AckWatch } from "./ack-watch.ts";
import { DEFAULT_ACK_TIMEOUT_MS } from "../../core/mirror/ack-bound.ts";
import { DEFAULT_DISK_TIMEOUT_MS } from "../../core/mirror/disk-bound.ts";
import { combineOutcomes, PeerTimes } from "./peer-times.ts";
import { mirrorStateDir, readCopyRecord, writeCopyRecord } from "./copy-file.ts";

export interface MirrorDriverOptions {
  readonly module: string;
  readonly self: string;
  readonly peer: string;
  /** The replicated folder (absolute). */
  readonly folder: string;
  /**
   * Where this folder's copy record and journal are kept in the state dir;
   * the module's name by default. A module of several folders keys each by
   * its path too: each folder has its own data generations.
   */
  readonly copyKey?: string;
  readonly cluster: string;
  readonly key: Uint8Array;
  /** Where this node's server listens, and the peer's addresses for its client. */
  readonly listen: readonly LinkEndpoint[];
  readonly peerAddresses: readonly string[];
  readonly port: number;
  readonly linkTimers: LinkTimers;
  /** See MirrorTimers. */
  readonly detachGraceMs: number;
  readonly stateDir: string;
  readonly boot: string;
  readonly log: Logger;
  readonly rateLimitBytesPerSec?: number;
  /** sync (default): a call returns once the peer applied its op; async: once queued, within asyncQueueBytes. */
  readonly mode?: "sync" | "async";
  readonly asyncQueueBytes?: number;
  /** Mode async: the module's budget, shared by its folders' drivers (else one of asyncQueueBytes of its own). */
  readonly asyncBudget?: AheadBudget;
  /** `exclude:` name patterns: not replicated, not resynced, not verified. */
  readonly exclude?: readonly string[];
  /** How the mount serves reads of files opened read-only (MountInPlaceOptions.read); "cache" by default. */
  readonly read?: "cache" | "direct";
  /** Monotonic ms; performance.now() by default. */
  readonly clock?: () => number;
  /**
   * How long an op may wait on the wire for the peer's acknowledgement before
   * the link is dropped (`ack_timeout`; src/core/mirror/ack-bound.ts); 0: no bound.
   */
  readonly ackTimeoutMs?: number;
  /**
   * How long the disk beneath this copy may finish no op of the applier
   * before the copy is detached (`disk_timeout`; src/core/mirror/disk-bound.ts); 0: never.
   */
  readonly diskTimeoutMs?: number;
  /** The module's preferred node: at the first contact of two new copies, its copy is the source (mirror.ts, rule 7). */
  readonly prefer?: string | null;
  /**
   * The module's folders whose copies are new held files when the daemon
   * started, measured before any mount (holds-files.ts): told to the peer
   * at first contact (rule 7). Null or absent: not measured, not told.
   */
  readonly holdsFiles?: boolean | null;
}

/** What the driver needs of the module instance it belongs to. */
export interface MirrorHost {
  /** The gate for the module core (the "data" input). */
  gate(blocked: string | null): void;
  /** The data mark changed: publish it now. */
  republish(): void;
  /**
   * Send a heartbeat round on every link at once, with the module's advert
   * as it is once the current turn's steps are carried out, and call `sent`
   * right after it left ("announce-alone", rule 3 (b)). `sent` may never be
   * called (no heartbeat running): the core asks again.
   */
  announce(sent: () => void): void;
  /**
   * `peer`'s vigil answered a ping of ours on the link, sent `ageMs` ago (the
   * link counts as a heartbeat link); `proof` "record": not an answer, records
   * of it were read, the last one `ageMs` ago (see "Records" in membership.ts).
   */
  alive?(peer: string, ageMs: number, proof?: "answer" | "record"): void;
}


/** How long a stop waits for the async queue to reach the peer before it unmounts anyway. */
const ASYNC_DRAIN_MS = 30_000;

/** The errno of an op refused with the copy untouched (not a failed apply: the copy is not outdated by it). */
const NOT_SECOND = "ENOTSECOND";

/** Live ops the SECOND could not apply while a resync of it is pending or under way (MirrorDriver.intercepted). */
interface LiveFailures {
  /** In the order their failures came back; resyncTurn counts those its passes covered. */
  readonly entries: ReturnType<AckQueue["waiting"]>[number][];
  /** The peer accepted the resync: its copy is inconsistent until the end. */
  begun: boolean;
  /**
   * The turn's last pass ended clean and the peer is about to be told it is
   * in sync: a live op that fails from now on is not covered by any pass of
   * this turn, so its call waits for the resync that follows (resyncTurn).
   */
  closing: boolean;
}

const toWire = (s: MirrorState): CopyWire => {
  // Rule 8: while the record is unsaved the peer is told the one on disk.
  const copy = s.unsaved === null ? s.copy : copyOnDisk(s.unsaved);
  return {
    gen: copy.gen,
    history: copy.history,
    data: copy.data,
    running: isPrimaryRole(s.role),
    unclean: s.unclean,
    ...(copy.gen === EMPTY_GEN && s.holdsFiles !== null ? { holdsFiles: s.holdsFiles } : {}),
  };
};

export class MirrorDriver implements MirrorResource {
  private state: MirrorState;
  private host: MirrorHost | null = null;
  private readonly clock: () => number;
  private readonly server: ReplicationServer;
  private readonly client: ReplicationClient;
  private readonly ackWatch: AckWatch;
  /** The last drop for an overdue acknowledgement, shown in status until the peer is in sync again. */
  private ackDrop: { reason: string; at: string } | null = null;
  private applier: OpApplier | null = null;
  /** Why the disk beneath this copy is taken for hung (the applier's watch), until it answers again. */
  private diskHung: string | null = null;
  private journal: Journal | null = null;
  private mount: MountedFolder | null = null;
  /** The folder beneath the mount, reached through a directory fd opened before it. */
  private beneathFd: number | null = null;
  private readonly queue: AckQueue;
  private resync: Resync | null = null;
  /** One resync pass at a time; the link's outage stops the one under way. */
  private readonly turns = new ResyncTurns();
  /** The main thread's shared turn (breathe.ts): long synchronous steps of a resync let the heartbeats run. */
  private readonly breather = new Breather();
  private resyncProgress: ResyncProgress | null = null;
  private clientUp = false;
  private serverUp = false;
  /** Counts the peer's connections to our server coming and going: a question of a connection gone is not acted on. */
  private serverConnections = 0;
  private linkUp = false;
  private helloSeq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private startProblem: string | null = null;
  private pendingInit: readonly MirrorAction[];
  private folderAnswerer: FolderAnswerer;

  private readonly excluded: ExcludeTest | null;
  private readonly copyKey: string;
  /** Log fields naming this copy: the module, and the folder when the module has several. */
  private readonly tag: { module: string; folder?: string };

  constructor(private readonly o: MirrorDriverOptions) {
    this.copyKey = o.copyKey ?? o.module;
    this.queue = new AckQueue(o.mode === "async" ? (o.asyncBudget ?? o.asyncQueueBytes ?? 64 * 1048576) : null);
    this.tag = o.copyKey === undefined ? { module: o.module } : { module: o.module, folder: o.folder };
    this.excluded = compileExclude(o.exclude ?? []);
    this.folderAnswerer = new FolderAnswerer(o.folder, { fsCalls: null });
    this.clock = o.clock ?? (() => performance.now());
    const read = readCopyRecord(o.stateDir, this.copyKey);
    if (!read.ok) this.startProblem = read.message;
    // Its `since` is wall-clock time; the core's own is the monotonic clock's (see carryOut).
    else this.lastSaved = read.copy;
    const init = initMirror({
      module: o.module, self: o.self, peer: o.peer, timers: { detachGraceMs: o.detachGraceMs, resyncRetryMs: 10_000 },
      copy: read.ok ? read.copy : null, boot: o.boot, prefer: o.prefer ?? null, holdsFiles: o.holdsFiles ?? null,
    }, this.clock());
    this.state = init.state;
    this.pendingInit = init.actions;
    // The link's two connections hear the one peer together (replication-link-hearing.ts).
    const identity = { cluster: o.cluster, node: o.self, peer: o.peer, key: o.key, hearing: new PeerHearing() };
    const answerer: RequestAnswerer = {
      request: (id, q, reply) => {
        if (q.kind === "control") return this.answerControl(q, reply);
        // Never from a disk taken for hung: the question fails now, with why.
        if (this.diskHung !== null) return void reply({ kind: "error", errno: "EIO", message: `${o.self}: ${this.diskHung}` });
        // The applier's thread reads the copy (apply-threaded.ts): this thread makes no call into its disk.
        // Only an applier on this thread (no Worker here) leaves the answers to this one.
        const onThread = this.applier?.answerer ?? null;
        return onThread === null ? this.folderAnswerer.request(id, q, reply) : onThread.request(id, q, reply);
      },
      reset: () => {
        this.applier?.answerer?.reset();
        this.folderAnswerer.reset();
      },
    };
    this.server = new ReplicationServer({ ...identity, listen: o.listen, apply: (op) => this.applyFromPeer(op), answerer, timers: o.linkTimers });
    this.client = new ReplicationClient({ ...identity, addresses: o.peerAddresses, port: o.port, timers: o.linkTimers });
    this.ackWatch = new AckWatch(this.client, o.peer, o.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS, (reason, pauseMs) => {
      this.ackDrop = { reason, at: new Date().toISOString() };
      this.o.log.error("mirror peer does not acknowledge", { ...this.tag, peer: this.o.peer, detail: reason, reconnectInMs: pauseMs });
    });
  }


  get name(): string {
    return this.o.module;
  }

  get folder(): string {
    return this.o.folder;
  }

  /** The data mark for heartbeat adverts (see DataMark). */
  get mark(): DataMark {
    return this.state.mark;
  }

  get core(): MirrorState {
    return this.state;
  }

  /** Wires the driver to its module instance, then starts the link. Errors show as the gate. */
  attach(host: MirrorHost): void {
    this.host = host;
    this.carryOut(this.pendingInit);
    this.pendingInit = [];
    if (this.startProblem !== null) {
      host.gate(`copy record unusable: ${this.startProblem}`);
      return;
    }
    void this.startIo().catch((e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      this.startProblem = msg;
      this.o.log.error("mirror cannot start", { ...this.tag, detail: msg });
      host.gate(`mirror cannot start: ${msg}`);
    });
  }

  private async startIo(): Promise<void> {
    // A mount left by a crashed daemon would hang every access to the folder.
    const removed = await cleanStaleMount(this.o.folder, (level, msg) => this.o.log[level](msg, this.tag));
    if (removed > 0) this.o.log.warn("removed a mount left by an earlier run", { ...this.tag, folder: this.o.folder });
    this.beneathFd = openSync(this.o.folder, C.O_RDONLY | C.O_DIRECTORY);
    let fsCalls = null;
    try {
      fsCalls = await loadFsCalls("mirror");
    } catch {
      fsCalls = null;
    }
    await this.openJournal();
    const started = await startApplier(this.beneathPath(), {
      timeoutMs: this.o.diskTimeoutMs ?? DEFAULT_DISK_TIMEOUT_MS,
      folder: this.o.folder,
      onHung: (why) => this.diskHangs(why),
      onAnswering: () => this.diskAnswers(),
    });
    this.applier = started.applier;
    if (!started.threaded) this.o.log.info("mirror applies on the main thread", { ...this.tag, why: started.why });
    // The applier's thread answers the resync's questions (the vigil binary); else this thread does,
    // through directory fds where the runtime has the `*at` calls (not under Node).
    if ((started.applier.answerer ?? null) === null) {
      const dirCalls = await loadDirCalls("mirror resync answers").catch(() => null);
      this.folderAnswerer = new FolderAnswerer(this.beneathPath(), { fsCalls, dirCalls });
    }
    this.server.onUp(() => {
      this.serverConnections++;
      this.serverUp = true;
      this.hello();
    });
    this.server.onDown((reason) => {
      this.serverConnections++;
      this.serverUp = false;
      this.linkDown(`the peer's connection to us: ${reason}`);
    });
    this.client.onUp((at) => {
      this.clientUp = true;
      this.startFailure = null;
      const agreed = this.client.agreed;
      // Before any op of this session is sent: a peer that announces features says whether it reads folded times.
      this.peerTimes.session(agreed);
      this.o.log.info("mirror link connected", { ...this.tag, peer: this.o.peer, at: `${at.address}:${at.port}`, peerVersion: agreed.peer?.version ?? 1, features: featureNames(agreed.common) });
      this.hello();
    });
    // A connection that fails its handshake or feature exchange is logged, once per reason until the link is up.
    this.client.onConnectFailed((at, reason) => this.startFailed(`to ${at.address}:${at.port}`, reason));
    this.server.onRefused((from, reason) => this.startFailed(`from ${from.address}:${from.port}`, reason));
    this.client.onDown((reason) => {
      this.clientUp = false;
      this.linkDown(reason);
    });
    this.client.onAlive((ageMs) => this.host?.alive?.(this.o.peer, ageMs));
    this.server.onAlive((ageMs) => this.host?.alive?.(this.o.peer, ageMs));
    this.client.onHeard((ageMs) => this.host?.alive?.(this.o.peer, ageMs, "record"));
    this.server.onHeard((ageMs) => this.host?.alive?.(this.o.peer, ageMs, "record"));
    await this.server.start();
    this.client.start();
    this.ackWatch.start();
    this.o.log.info("mirror link listening", { ...this.tag, on: this.o.listen.map((l) => `${l.address}:${l.port}`).join(" ") });
  }

  /**
   * Opens the ALONE journal. One that cannot be opened (an empty journal on a
   * full state dir) keeps this copy from being served, not the link or the
   * applier: the core tries it again every second (rule 9).
   */
  private async openJournal(): Promise<void> {
    if (this.journal !== null || this.closed) return;
    let journal: Journal;
    try {
      journal = await Journal.open(mirrorStateDir(this.o.stateDir, this.copyKey), {
        onLost: (why) => {
          this.o.log.error("ALONE journal lost (its file cannot grow): writes go on, the next resync compares every file", { ...this.tag, detail: why });
          this.journalGaveUp(why);
        },
      });
    } catch (e) {
      this.input({ type: "journal-unopened", detail: this.unsavedWhy(e) });
      return;
    }
    if (this.closed) {
      await journal.close();
      return;
    }
    this.journal = journal;
    if (this.state.journalUnopened !== null) this.input({ type: "journal-opened" });
    this.journalGaveUp(journal.givenUp);
  }

  /** The core learns once that the journal no longer holds the changes (rule 9: status shows why). */
  private journalGaveUp(why: string | null): void {
    if (why !== null && this.state.journalLost === null) this.input({ type: "journal-lost", detail: why });
  }

  /**
   * The folder beneath the mount. The trailing "/." matters: /proc/self/fd/N
   * itself is a symlink to lstat (the tree scan would see the root as a link),
   * "/proc/self/fd/N/." is the directory.
   */
  private beneathPath(): string {
    return this.beneathFd === null ? this.o.folder : `/proc/self/fd/${this.beneathFd}/.`;
  }

  // ---- module instance → core ------------------------------------------------

  /** The module's role changed (a transition); `reason` "forced" is forceprim, which the copy records. */
  role(role: MirrorModuleRole, reason: string): void {
    if (reason === "forced") this.input({ type: "forced" });
    this.input({ type: "role", role, unacked: this.takeUnacked() });
  }

  peer(liveness: PeerLiveness): void {
    if (liveness === "dead" || liveness === "unknown") this.peerTimes.peerGone();
    this.input({ type: "peer", liveness });
  }

  /** `heardAt`: the frame's arrival (performance.now()), for rule 4; absent: now. */
  peerAdvert(role: string, mark: DataMark | null, heardAt?: number): void {
    this.input({ type: "peer-mark", mark, running: role === "PRIM" || role === "ALONE", alone: role === "ALONE", ...(heardAt === undefined ? {} : { heardAt }) });
  }

  // ---- the "mirror" resource ---------------------------------------------------

  async start(_ctx: ResourceContext): Promise<ResourceOutcome> {
    const s = this.state;
    if (this.startProblem !== null) return { ok: false, detail: `mirror ${this.o.folder}: ${this.startProblem}` };
    if (s.gate !== null) return { ok: false, detail: `mirror ${this.o.folder}: ${s.gate}` };
    if (this.mount !== null) return { ok: true, detail: `mirror ${this.o.folder} already mounted` };
    // Ops of the old PRIM handed to the applier before this node took over must land before our
    // own service writes: applied after, they would overwrite what it acknowledged.
    await this.appliesDrained();
    // From now on the service changes the copy, not the applier: what its caches name may not be there when this node is SECOND again.
    this.applier?.forgetCaches();
    try {
      await cleanStaleMount(this.o.folder);
      this.mount = await mountInPlace({
        dir: this.o.folder,
        name: this.o.module,
        onMutation: (_seq, op) => this.intercepted(op),
        log: (level, msg) => this.o.log[level](msg, this.tag),
        ...(this.o.exclude === undefined ? {} : { exclude: this.o.exclude }),
        ...(this.o.read === undefined ? {} : { read: this.o.read }),
      });
    } catch (e) {
      return { ok: false, detail: `mirror ${this.o.folder}: ${e instanceof Error ? e.message : String(e)}` };
    }
    const m = this.mount;
    void m.closed.then((why) => {
      if (this.mount === m && !this.closed) this.o.log.error("mirror interception ended on its own", { ...this.tag, detail: why });
    });
    const how = { replicate: `replicated to ${this.o.peer}`, hold: `held until ${this.o.peer} is heard or outdated`, alone: "journaled (running alone)" }[this.state.writes];
    return { ok: true, detail: `mirror ${this.o.folder} mounted in place; writes ${how}` };
  }

  /**
   * The module's stop sequence began; the folders are unmounted at its end.
   * Writes held (the link is down, the peer neither heard nor outdated) can
   * then only fail, and FUSE keeps a process waiting for a request the
   * daemon has read out of reach of every signal, SIGKILL included: the stop
   * script could not end the service. So they fail now (EIO, as at the
   * unmount), and so does every write held until the unmount.
   */
  stopping(): void {
    if (this.mount === null || this.leaving) return;
    this.leaving = true;
    if (this.state.writes === "hold") this.failHeld();
  }

  private leaving = false;

  private failHeld(): void {
    const n = this.queue.fail("the module is stopping here while its writes are held (the peer is not heard and not outdated)");
    if (n === 0) return;
    this.unacked = true;
    this.o.log.warn("mirror: held writes failed (EIO) as the module stops here", { ...this.tag, writes: String(n) });
  }

  async stop(_ctx: ResourceContext, cleanup: boolean): Promise<ResourceOutcome> {
    const m = this.mount;
    this.mount = null;
    if (m === null) {
      if (cleanup) {
        const n = await cleanStaleMount(this.o.folder);
        return { ok: true, detail: n > 0 ? `mirror ${this.o.folder}: removed a mount left behind` : `mirror ${this.o.folder}: nothing mounted` };
      }
      return { ok: true, detail: `mirror ${this.o.folder}: nothing mounted` };
    }
    // Mode async: what the service was told is written reaches the peer before the folder goes,
    // so a swap loses nothing in this mode either (bounded: a peer gone meanwhile is the journal's).
    let lagged = "";
    if (this.o.mode === "async" && this.queue.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([this.queue.empty().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ASYNC_DRAIN_MS)))]);
      clearTimeout(timer);
      if (!drained) {
        const lag = this.queue.lag();
        lagged = `; ${lag.bytes} bytes acknowledged in mode async had not reached ${this.o.peer} after ${ASYNC_DRAIN_MS / 1000} s`;
        this.o.log.warn("mirror: the async queue did not drain before the unmount", { ...this.tag, bytes: String(lag.bytes) });
      }
    }
    try {
      await m.unmount();
    } catch (e) {
      return { ok: false, detail: `mirror ${this.o.folder}: unmount failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    this.unacked = this.queue.fail("the mirror was unmounted") > 0 || this.unacked;
    this.leaving = false;
    return { ok: true, detail: `mirror ${this.o.folder} unmounted${this.unacked ? " (writes never acknowledged by the peer were left: this copy is compared in full next time)" : ""}${lagged}` };
  }

  private unacked = false;
  /** Whether the peer reads namespace ops with their times folded in (peer-times.ts). */
  private readonly peerTimes = new PeerTimes();
  /** From the core's decision to resync until that resync's turn ends: the live ops the SECOND could not apply. */
  private liveFailures: LiveFailures | null = null;

  private resyncEnded(): void {
    this.resync = null;
  }

  // ---- the data path (PRIM) ----------------------------------------------------

  private intercepted(op: MirrorOp): Promise<void> {
    const { entry, done } = this.queue.add(op);
    switch (this.state.writes) {
      case "replicate":
        if (this.linkUp) {
          this.noteLive(op);
          // Not in sync yet: the journal's marks and the pass under way follow the op (live-follow.ts).
          const followed = peerInSync(this.state) ? null : this.followLive(op);
          const wire = this.peerTimes.wire(op);
          const sending = wire.length === 1 ? this.client.sendNext(op) : Promise.all(wire.map((part) => this.client.sendNext(part))).then(combineOutcomes);
          // Mode async: on its way, so the call may return ahead of the peer (within the budget).
          this.queue.sent(entry);
          void sending.then((out) => {
            const found = this.peerTimes.outcome(op, wire, out);
            if (found !== null) this.o.log.warn("mirror: namespace ops travel without their times folded in", { ...this.tag, peer: this.o.peer, why: found });
            if (out.delivered && out.result.ok) {
              if (followed === null) this.queue.settle(entry);
              else void followed.then(() => this.queue.settle(entry));
              return;
            }
            // Not applied there: the op stays waiting until a resync has covered its path.
            if (out.delivered && !out.result.ok) {
              const failures = this.liveFailures;
              // A resync of the peer is pending or under way (a copy behind lacks names it has still to
              // create: expected). The SECOND's copy is outdated or inconsistent, persisted before it
              // answered (it was behind, or this failure outdated it), so never served until a resync
              // completes; and this resync passes over the op's path after the op (resyncTurn):
              // journaled, the call may return now instead of at its end. Not once the last pass is
              // over: the SECOND may take our gen without this op. Refused with its copy untouched
              // before it accepted the resync, the peer may still run the module: below.
              if (failures !== null && (failures.begun || out.result.errno !== NOT_SECOND)) {
                failures.entries.push(entry);
                if (failures.closing) void this.journalMark(op).catch(() => undefined);
                else void this.journalMark(op).then(() => this.queue.settle(entry), () => undefined);
              }
              // Refused, copy untouched (the peer still runs the module): never a reason to go on alone.
              else if (out.result.errno === NOT_SECOND) this.input({ type: "peer-refused", detail: out.result.message });
              else this.input({ type: "peer-apply-failed", detail: out.result.message });
            }
          });
        }
        break;
      case "alone":
        void this.journalMark(op).then(() => this.queue.settle(entry), (e: unknown) => entry.reject(e as Error));
        break;
      case "hold":
        if (this.leaving) this.failHeld();
        break;
    }
    return done;
  }

  /**
   * Paths live ops named while the peer's copy is not in sync: a full resync
   * compares their blocks even when size and mtime agree (see resync.ts).
   */
  private liveTouched = new Set<string>();
  private liveTouchedOverflow = false;
  /** Wall-clock ns, a little before the link came up: files changed since are compared by blocks too. */
  private linkUpWallNs: bigint | null = null;

  private noteLive(op: MirrorOp): void {
    if (peerInSync(this.state)) return;
    if (this.liveTouched.size >= 100_000) {
      this.liveTouchedOverflow = true;
      return;
    }
    if (op.op === "rename") {
      this.liveTouched.add(pathKey(op.from));
      this.liveTouched.add(pathKey(op.to));
    } else if (op.path !== null) this.liveTouched.add(pathKey(op.path));
  }

  private forgetLive(): void {
    this.liveTouched.clear();
    this.liveTouchedOverflow = false;
  }

  /**
   * Resolves once the journal holds what `op` changed of its marks; a journal
   * that cannot be written leaves the next pass a full checksum compare.
   */
  private followLive(op: MirrorOp): Promise<void> | null {
    let followed: Promise<void> | null;
    try {
      followed = followLive(op, this.journal, this.resync);
    } catch (e) {
      followed = Promise.reject(e);
    }
    return followed?.catch((e: unknown) => {
      this.checksumAll = true;
      this.journalGaveUp(this.journal?.givenUp ?? (e as Error).message);
      this.o.log.error("ALONE journal write failed while it followed a live rename: the next resync pass compares every file by checksums", { ...this.tag, detail: (e as Error).message });
    }) ?? null;
  }

  private journalMark(op: MirrorOp): Promise<void> {
    if (this.journal === null) return Promise.reject(new Error("the ALONE journal is not open"));
    const marked = this.journal.mark(op);
    // Over its limits, the journal gave up at this mark (a lost or broken one says so on its own).
    this.journalGaveUp(this.journal.givenUp);
    return marked;
  }

  /** Every op still waiting goes into the journal, then counts as covered by the coming resync or ALONE. */
  private async journalWaiting(): Promise<readonly ReturnType<AckQueue["waiting"]>[number][]> {
    const waiting = this.queue.waiting();
    await this.journalOrCompareAll(waiting);
    return waiting;
  }

  /**
   * Marks the ops in the journal. A journal that cannot be written (a full
   * state dir) stays so until a resync completes, so it must not keep the
   * link down or the resync from starting: the next pass compares every
   * file by checksums instead, which finds these ops too.
   */
  private async journalOrCompareAll(entries: readonly { readonly op: MirrorOp }[]): Promise<void> {
    try {
      await Promise.all(entries.map((e) => this.journalMark(e.op)));
    } catch (e) {
      this.checksumAll = true;
      this.journalGaveUp(this.journal?.givenUp ?? (e as Error).message);
      this.o.log.error("ALONE journal write failed: the next resync pass compares every file by checksums", { ...this.tag, detail: (e as Error).message });
    }
  }

  // ---- the data path (SECOND) ---------------------------------------------------

  /**
   * The applier's watch found the disk beneath this copy hung: every op it
   * owed failed, and so does every new one (the PRIM goes on alone at the
   * first); the copy is outdated (persisted in the state dir, on another
   * disk) and takes no resync until the disk answers again.
   */
  private diskHangs(why: string): void {
    this.diskHung = why;
    this.o.log.error("mirror copy's disk hung: copy detached", { ...this.tag, detail: why });
    this.input({ type: "apply-failed", detail: why });
  }

  private diskAnswers(): void {
    const was = this.diskHung;
    this.diskHung = null;
    this.o.log.warn("mirror copy's disk answers again: the copy waits for a resync", { ...this.tag, was: was ?? "" });
  }

  private async applyFromPeer(op: MirrorOp): Promise<ApplyResult> {
    const s = this.state;
    if (isPrimaryRole(s.role)) return { ok: false, kind: "refused", errno: NOT_SECOND, message: `${this.o.self} runs ${this.o.module}: it does not take the peer's writes` };
    if (this.applier === null) return { ok: false, kind: "refused", errno: NOT_SECOND, message: "the applier is not ready" };
    // Rule 8: the copy stands still while its record is not on disk; not applied, the PRIM goes on alone.
    if (s.unsaved !== null) {
      const why = `${this.o.self} applies nothing while its copy record is not saved (${s.unsaved.detail})`;
      this.input({ type: "apply-failed", detail: why });
      return { ok: false, kind: "failed", errno: "ENOSPC", message: why };
    }
    // The server hands several ops over before their results: count them, so a takeover waits
    // until none of the old PRIM's ops is still being applied before it mounts (see start()).
    this.applying++;
    const applied = this.applyKeeping(this.applier, op);
    this.beingApplied.add(applied);
    try {
      const r = await applied;
      if (!r.ok) this.input({ type: "apply-failed", detail: r.message, errno: r.errno });
      return r;
    } finally {
      this.beingApplied.delete(applied);
      this.applying--;
      if (this.applying === 0) for (const fn of this.appliedAll.splice(0)) fn();
    }
  }

  /**
   * While a resync that keeps this copy's divergent files runs, each op first
   * keeps the paths it changes (keep-aside.ts): here only when the applier
   * runs on this thread (setKeeper; an applier's thread keeps on its own).
   * Ops reach the applier in the order the server handed them over: each
   * one's turn begins once the one before was handed to the applier.
   */
  private async applyKeeping(applier: OpApplier, op: MirrorOp): Promise<ApplyResult> {
    const keeper = this.keeper;
    // Straight to the applier only when no earlier op still waits for its turn
    // (and then in the caller's turn, so the server's runs reach the applier together).
    if (this.turnsWaiting === 0 && (keeper === null || keeper.nothingToKeep(op))) return applier.apply(op);
    this.turnsWaiting++;
    let applied: Promise<ApplyResult> | ApplyResult = { ok: false, kind: "failed", errno: "EIO", message: "not applied" };
    const turn = this.keepTurn
      .then(async () => {
        const why = keeper === null ? null : await keeper.before(op);
        applied = why === null ? applier.apply(op) : { ok: false, kind: "failed", errno: "EIO", message: why };
      })
      .finally(() => this.turnsWaiting--);
    this.keepTurn = turn.catch(() => {});
    await turn;
    return applied;
  }

  /** The keeper on this thread (an applier without a thread of its own), or where the thread's keeps (keptOnThread). */
  private keeper: KeepAside | null = null;
  private keptOnThread: string | null = null;
  private lastKept: { cause: ConflictKind; dest: string; recorded: boolean } | null = null;
  private keepTurn: Promise<void> = Promise.resolve();
  private turnsWaiting = 0;

  private applying = 0;
  private readonly appliedAll: (() => void)[] = [];
  /** The peer's ops handed to the applier and not finished, whatever connection brought them. */
  private readonly beingApplied = new Set<Promise<ApplyResult>>();

  /** Resolves once every op handed to the applier before this call has finished (later ones are not waited for). */
  private appliedSoFar(): Promise<void> {
    return Promise.allSettled([...this.beingApplied]).then(() => undefined);
  }

  /** Resolves once no op of the peer is being applied here (new ones are refused: we run the module). */
  private appliesDrained(): Promise<void> {
    if (this.applying === 0) return Promise.resolve();
    return new Promise((resolve) => this.appliedAll.push(resolve));
  }

  // ---- the link ------------------------------------------------------------------

  private hello(): void {
    if (!this.clientUp || !this.serverUp || this.linkUp) return;
    const seq = ++this.helloSeq;
    void this.control("state").then(async (peer) => {
      if (seq !== this.helloSeq || !this.clientUp || !this.serverUp) return;
      if (peer === null) return;
      // Ops the SECOND may lack go into the journal first: the core then resyncs them (a gap).
      const gap = isPrimaryRole(this.state.role) && this.queue.gap;
      if (gap) await this.journalWaiting();
      this.linkUp = true;
      // Two seconds of slack for the granularity of file times and a late write.
      this.linkUpWallNs = BigInt(Date.now() - 2000) * 1_000_000n;
      this.forgetLive();
      this.input({ type: "link-up", peer, gap });
    }).catch((e: unknown) => this.o.log.error("mirror hello failed", { ...this.tag, peer: this.o.peer, detail: e instanceof Error ? e.message : String(e) }));
  }

  /** The last connection failure logged (startFailed), until the link is up. */
  private startFailure: string | null = null;

  private startFailed(where: string, reason: string): void {
    // A peer that is not listening (its daemon stopped or starting) is the link's ordinary down state, shown in status.
    if (reason.includes("ECONNREFUSED") || reason === this.startFailure) return;
    this.startFailure = reason;
    this.o.log.warn("mirror link connection failed", { ...this.tag, peer: this.o.peer, connection: where, detail: reason });
  }

  private linkDown(reason: string): void {
    this.helloSeq++;
    this.turns.interrupt();
    if (!this.linkUp) return;
    this.linkUp = false;
    // The link's end is what an outdated copy or a resync that follows goes back to: its reason is said here, once per session.
    this.o.log.info("mirror link down", { ...this.tag, peer: this.o.peer, detail: reason });
    this.input({ type: "link-down", detail: reason });
    // Down as a whole: the other connection goes too, so the peer learns it at once, also
    // when the connection that failed cannot tell it (replication-link-hearing.ts).
    const why = `the link's other connection went down: ${reason}`;
    if (this.clientUp) this.client.drop(why);
    if (this.serverUp) this.server.drop(why);
  }

  /** The peer's copy as it answers `action`; null when it did not answer or refused (given to `refused`, else logged). */
  private control(action: MirrorControlAction, refused?: (why: string) => void): Promise<PeerCopy | null> {
    return new Promise((resolve) => {
      const h = this.client.request({ kind: "control", action, copy: this.wire(this.client.agreed) }, (r, failure) => {
        if (r === null) {
          if (failure !== undefined) this.o.log.warn("mirror control question failed", { ...this.tag, action, detail: failure });
          resolve(null);
          return;
        }
        if (r.kind === "control") resolve({ ...r.copy });
        else {
          const why = r.kind === "error" ? `${r.errno}: ${r.message}` : r.kind;
          if (refused !== undefined) refused(why);
          else this.o.log.warn("mirror control refused by the peer", { ...this.tag, action, detail: why });
          resolve(null);
        }
      });
      if (h === null) resolve(null);
    });
  }

  private async answerControl(q: ResyncRequest, reply: (r: ResyncResponse) => boolean): Promise<void> {
    if (q.kind !== "control") return;
    switch (q.action) {
      case "state":
        break;
      case "resync-begin":
      case "resync-begin-keep":
        // An op of a connection that dropped while the applier was slow (ack_timeout, a cut link) may still
        // be on its way to the disk: the resync reads this copy from now on, so it lands first. Landing
        // after the resync's look (a create of a file the PRIM then removed alone, say), it would leave the
        // copy unlike the PRIM's once the resync calls it up to date.
        const asked = this.serverConnections;
        await this.appliedSoFar();
        // The PRIM gave up waiting (ack_timeout) and dropped the connection that asked: that resync is not
        // coming, and its start must not mark this copy inconsistent or change the keeper of one under way.
        if (asked !== this.serverConnections) return;
        if (isPrimaryRole(this.state.role)) {
          reply({ kind: "error", errno: "EBUSY", message: `${this.o.self} runs ${this.o.module}: its copy is not resynced` });
          return;
        }
        if (this.diskHung !== null) {
          reply({ kind: "error", errno: "EIO", message: `${this.o.self} takes no resync while its disk is hung: ${this.diskHung}` });
          return;
        }
        // Rule 8: "inconsistent" could not be saved before the first byte.
        if (this.state.unsaved !== null) {
          reply({ kind: "error", errno: "EIO", message: `${this.o.self} takes no resync while its copy record is not saved (${this.state.unsaved.detail})` });
          return;
        }
        this.setKeeper(null);
        // Mode async: this node died while it ran the module, so writes it acknowledged may never have
        // reached the peer, which took over; they are kept (what the resync replaces) as a split brain's are.
        const unsent = q.action === "resync-begin" && mayHoldUnsentWrites(this.state.copy, this.o.mode ?? "sync", false);
        // A new copy's folder may hold files of its own: whatever the PRIM asks, what replaces them keeps them first.
        const firstSync = this.state.copy.gen === EMPTY_GEN;
        if (q.action === "resync-begin-keep" || unsent || firstSync) {
          const kept = this.keepAside(firstSync ? "first-sync" : unsent ? "unsent-writes" : "split-brain");
          if (typeof kept === "string") {
            reply({ kind: "error", errno: "EIO", message: `cannot keep this copy aside before the resync: ${kept}` });
            return;
          }
          this.setKeeper(kept);
        }
        this.input({ type: "resync-incoming" });
        break;
      case "resync-end":
        if (this.keeper !== null) this.o.log.info("mirror resync ended: this copy's changed paths were kept aside", { ...this.tag, kept: this.keeper.count, in: this.keeper.dest });
        else if (this.keptOnThread !== null) this.o.log.info("mirror resync ended: this copy's changed paths were kept aside", { ...this.tag, kept: this.applier?.keptCount ?? 0, in: this.keptOnThread });
        this.setKeeper(null);
        this.input({ type: "resync-complete", gen: q.copy.gen, history: q.copy.history });
        break;
    }
    reply({ kind: "control", copy: this.wire(this.server.agreed) });
  }

  /**
   * Our copy as told on a connection whose feature exchange agreed on
   * `agreed`: with whether it may hold unsent writes (mode async) where the
   * peer reads it, so the PRIM holds its live ops until our keeping resync
   * has begun (mirror.ts, keepingResyncPending).
   */
  private wire(agreed: AgreedFeatures): CopyWire {
    const c = toWire(this.state);
    if ((agreed.common & LINK_FEATURE.unsentWrites) === 0) return c;
    return { ...c, unsent: mayHoldUnsentWrites(this.state.copy, this.o.mode ?? "sync", isPrimaryRole(this.state.role)) };
  }

  /**
   * Both copies changed while apart (or the peer's data is newer, or this is
   * a new copy's first sync): what the resync changes in this copy is kept in
   * the state dir first, path by path (keep-aside.ts). The keeper, or why
   * there is none.
   */
  private keepAside(cause: ConflictKind): Omit<KeepSpec, "root"> | string {
    // A resync that resumes after an interruption keeps into the same folder (what is there stays);
    // recorded already if the interrupted pass kept something, else recorded at the first path kept.
    const last = this.lastKept;
    if (last !== null && last.cause === cause && last.recorded && this.state.copy.conflict !== null) return { dest: last.dest, onFirstKeep: null };
    if (last !== null && last.cause === cause && !last.recorded) return { dest: last.dest, onFirstKeep: () => this.recordKept(last) };
    const at = new Date().toISOString().replace(/[:.]/g, "-");
    const moduleDir = join(this.o.stateDir, "conflicts", encodeURIComponent(this.o.module));
    // Each folder of a module keeps under its own name, at the time its own resync began (the module's status names every one).
    const dest = this.o.copyKey === undefined ? join(moduleDir, at) : join(moduleDir, at, encodeURIComponent(this.o.folder));
    // The time's folder is made only once something is kept; that the state dir takes it is known now.
    try {
      mkdirSync(moduleDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      return (e as Error).message;
    }
    const kept = { cause, dest, recorded: false };
    this.lastKept = kept;
    // Recorded (persisted) just before the first path is kept: a resync that replaces nothing here
    // (an empty new copy's first sync) leaves no record and no banner.
    return { dest, onFirstKeep: () => this.recordKept(kept) };
  }

  /**
   * The keeper of the resync that begins (null: none): on the applier's
   * thread where it runs on one (the copy's disk is then never called from
   * this thread, and the keeper's work is owed work for the disk's watch),
   * else here, before each op is handed over (applyKeeping).
   */
  private setKeeper(k: Omit<KeepSpec, "root"> | null): void {
    const applier = this.applier;
    if (applier?.keepAside !== undefined) {
      this.keeper = null;
      this.keptOnThread = k?.dest ?? null;
      applier.keepAside(k === null ? null : { root: this.beneathPath(), ...k });
      return;
    }
    this.keptOnThread = null;
    this.keeper = k === null ? null : new KeepAside(this.beneathPath(), k.dest, k.onFirstKeep);
  }

  private recordKept(kept: { cause: ConflictKind; dest: string; recorded: boolean }): void {
    kept.recorded = true;
    this.o.log.warn(
      kept.cause === "unsent-writes"
        ? "mode async: this node died before its last writes reached the peer; the files the resync changes are kept aside first"
        : kept.cause === "first-sync"
          ? "first sync: this new copy's own files that the sync replaces or removes are kept aside first"
          : "split brain: this node's files that the resync changes are kept aside first",
      { ...this.tag, to: kept.dest },
    );
    this.input({ type: "conflict-kept", path: kept.dest, cause: kept.cause });
  }

  // ---- the core ----------------------------------------------------------------------

  private input(ev: MirrorInput): void {
    if (this.closed) return;
    const r = stepMirror(this.state, ev, this.clock());
    this.state = r.state;
    this.carryOut(r.actions);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const at = mirrorWakeAt(this.state);
    if (at === null || this.closed) return;
    this.timer = setTimeout(() => this.input({ type: "tick" }), Math.max(0, at - this.clock()) + 1);
  }

  private carryOut(actions: readonly MirrorAction[]): void {
    let saved = false;
    for (const a of actions) {
      switch (a.type) {
        case "persist": {
          // "Outdated since T" is wall-clock time: kept while the data state stays, set when it changes.
          const was = this.lastSaved;
          const copy = { ...a.copy, since: was !== null && was.data === a.copy.data ? was.since : Date.now() };
          try {
            writeCopyRecord(this.o.stateDir, this.copyKey, copy, this.o.folder);
            this.lastSaved = copy;
            saved = true;
          } catch (e) {
            // Not saved: nothing after it may be carried out as if it were; the core holds the copy still (rule 8).
            this.input({ type: "persist-failed", detail: this.unsavedWhy(e), saved: this.lastSaved });
            // A "mark" among the actions left out is published all the same: the core's mark never says
            // more than the disk holds (rule 8), and an outdated one is what lets the peer go on alone.
            this.host?.republish();
            return;
          }
          break;
        }
        case "gate":
          this.host?.gate(this.startProblem ?? a.blocked);
          break;
        case "writes":
          this.onWrites(a.mode);
          break;
        case "resync":
          void this.runResync(a.mode, a.base, a.keepConflicts);
          break;
        case "mark":
          this.host?.republish();
          break;
        case "note":
          this.o.log[a.level](`mirror ${a.kind.replace(/-/g, " ")}`, { ...this.tag, detail: a.detail });
          break;
        case "open-journal":
          void this.openJournal();
          break;
        case "announce-alone":
          this.host?.announce(() => this.input({ type: "alone-announced" }));
          break;
      }
    }
    if (saved && this.state.unsaved !== null) this.input({ type: "persisted" });
  }

  /** A failed record write in the operator's words: a full state dir is named as such. */
  private unsavedWhy(e: unknown): string {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT") return `state dir ${this.o.stateDir} full (${code})`;
    return e instanceof Error ? e.message : String(e);
  }

  private lastSaved: CopyRecord | null = null;

  private onWrites(mode: "replicate" | "hold" | "alone"): void {
    if (mode === "alone") {
      const waiting = this.queue.waiting();
      void Promise.all(waiting.map((e) => this.journalMark(e.op))).then(
        () => this.queue.settleAll(waiting),
        (e: unknown) => this.o.log.error("ALONE journal write failed: held writes stay held", { ...this.tag, detail: (e as Error).message }),
      );
    }
  }

  private async runResync(planned: "journal" | "full", base: string | null, planKeep: boolean): Promise<void> {
    // Live ops flow from the core's decision on (writes "replicate"), before the peer has accepted the
    // resync (a keeping resync's only once it has: mirror.ts, keepingResyncPending): one it cannot
    // apply from now on is this resync's to carry.
    const failures: LiveFailures = { entries: [], begun: false, closing: false };
    this.liveFailures = failures;
    // A pass the link's outage interrupted may still be running (see resync-turns.ts): it stops first.
    const turn = await this.turns.begin();
    try {
      await this.resyncTurn(turn, failures, planned, base, planKeep);
    } catch (e) {
      // Started on its own: a rejection nobody handles would end the daemon. A fault the turn
      // did not foresee fails this resync like any other (tried again after the pause).
      this.resyncEnded();
      if (!turn.stale) this.input({ type: "resync-failed", detail: e instanceof Error ? e.message : String(e), touched: true });
    } finally {
      // What failed late stays waiting (unsettled): the next resync covers it.
      if (this.liveFailures === failures) this.liveFailures = null;
      turn.end();
    }
  }

  private async resyncTurn(turn: ResyncTurn, failures: LiveFailures, planned: "journal" | "full", base: string | null, planKeep: boolean): Promise<void> {
    if (turn.stale) return;
    if (this.journal === null || this.beneathFd === null) {
      this.input({ type: "resync-failed", detail: "the mirror is not started" , touched: false });
      return;
    }
    // The plan was made from the peer's copy as its hello told it; a peer that ran the module
    // meanwhile (a split brain healing) may have moved on since: ask again before trusting it.
    const now = await this.control("state");
    if (turn.stale) return;
    if (now === null) {
      this.input({ type: "resync-failed", detail: `${this.o.peer} did not say what its copy holds`, touched: false });
      return;
    }
    const order = compareGens(this.state.copy, now);
    const keepConflicts = planKeep || order === "diverged" || order === "peer-newer";
    const mode = planned === "journal" && (now.gen !== base || now.unclean) ? "full" : planned;
    if (mode !== planned || keepConflicts !== planKeep) {
      this.o.log.warn("mirror resync widened: the peer's copy changed since the link came up", { ...this.tag, peer_gen: now.gen, peer_unclean: String(now.unclean), mode, keep_aside: String(keepConflicts) });
    }
    // Live ops go no further than the journal until the peer keeps what they change (mirror.ts, keepingResyncPending).
    if (keepConflicts && !planKeep) this.input({ type: "resync-keeps" });
    // A refusal is the failure's reason, said by the core once however often it comes (resync-retry.ts).
    let refusal: string | null = null;
    const begun = await this.control(keepConflicts ? "resync-begin-keep" : "resync-begin", (why) => (refusal = why));
    if (turn.stale) return;
    if (begun === null) {
      this.input({ type: "resync-failed", detail: refusal === null ? `${this.o.peer} did not accept the resync` : `${this.o.peer} refused it: ${refusal}`, touched: false });
      return;
    }
    failures.begun = true;
    this.input({ type: "resync-begun" });
    // What waits now went into the journal (see hello, and waiting ops are journaled below): the resync covers it.
    const covered = [...this.queue.waiting()];
    await this.journalOrCompareAll(covered);
    // Live ops keep flowing during the resync; one the SECOND could not apply (its name was not
    // there yet) is journaled and its path compared again by a pass that begins after its failure
    // came back. Those in so far are marked before the first pass's set is built, so that pass
    // covers them (it reads every path after they failed); each later one counts for the pass
    // after the one it came back during (or between), until a pass ends with none.
    let seen = failures.entries.length;
    await this.journalOrCompareAll(failures.entries.slice(0, seen));
    if (turn.stale) return;
    let pass = mode;
    for (;;) {
      // Built while the heartbeats run (thousands of marks); a live rename meanwhile moves marks the set still reaches.
      const dirty = pass === "journal" && !this.checksumAll ? await this.journal.dirtyBreathing(() => this.breather.breathe()) : null;
      if (turn.stale) return;
      // Taken for this pass; set again during it (a journal that failed to follow a live op) it is the next pass's.
      const checksumAll = this.checksumAll;
      this.checksumAll = false;
      this.resync = new Resync({
        root: this.beneathPath(),
        peer: new RemoteResyncPeer(this.client, { mtimeWindowNs: 2000 }),
        // A full pass takes no journal, so no checkpoint is honoured: a checkpoint left by an
        // interrupted resync describes an earlier target, and skipping "done" files against
        // today's target could leave it without acknowledged data.
        dirty: checksumAll ? null : dirty,
        full: pass === "full" || checksumAll,
        checksumAll,
        ...(this.linkUpWallNs === null ? {} : { liveSinceNs: this.linkUpWallNs }),
        liveTouched: (k) => this.liveTouchedOverflow || this.liveTouched.has(k),
        checkpointFile: join(mirrorStateDir(this.o.stateDir, this.copyKey), "resync.checkpoint"),
        ...(this.o.rateLimitBytesPerSec === undefined ? {} : { rateLimitBytesPerSec: this.o.rateLimitBytesPerSec }),
        ...(this.excluded === null ? {} : { exclude: this.excluded }),
        onProgress: (p) => (this.resyncProgress = p),
        signal: turn.signal,
      });
      let result;
      try {
        result = await this.resync.run();
      } catch (e) {
        result = null;
        this.resyncEnded();
        this.checksumAll ||= checksumAll;
        if (turn.stale) return;
        this.input({ type: "resync-failed", detail: e instanceof Error ? e.message : String(e) , touched: true });
        return;
      }
      const failed = failures.entries.slice(seen);
      seen = failures.entries.length;
      this.o.log.info("mirror resync pass ended", {
        ...this.tag, mode: result.progress.mode, completed: String(result.completed), files: result.progress.filesTotal,
        ms: Object.entries(result.phaseMs).map(([k, v]) => `${k} ${Math.round(v)}`).join(", "),
        ...(seen === 0 ? {} : { live_ops_left_to_resync: String(seen) }),
      });
      this.resyncEnded();
      this.resyncProgress = result.progress;
      // Stopped by the link's outage: the core counted it as interrupted, and resumes when the link is back.
      if (turn.stale) return;
      if (!result.completed) {
        const why = result.error ?? result.failures.map((f) => `${f.op} ${f.path}: ${f.errno}`).slice(0, 3).join("; ");
        this.input({ type: "resync-failed", detail: why , touched: true });
        return;
      }
      if (failed.length === 0) {
        failures.closing = true;
        break;
      }
      await this.journalOrCompareAll(failed);
      if (turn.stale) return;
      covered.push(...failed);
      pass = "journal";
    }
    // Persisted before the peer is told: a node that dies after the peer took our gen must not find
    // itself "the last writer" at its restart (the peer may have taken over and written since).
    if (turn.stale) return;
    this.input({ type: "resync-ending" });
    if (this.lastSaved?.resyncEnding !== true) {
      this.input({ type: "resync-failed", detail: "the copy record could not be saved before the end of the resync", touched: true });
      return;
    }
    // Answered, the peer took our gen: the resync is over even if the link went down meanwhile.
    const ended = await this.control("resync-end");
    if (ended === null) {
      this.input({ type: "resync-failed", detail: `${this.o.peer} did not confirm the end of the resync` , touched: true });
      return;
    }
    try {
      await this.journal.clear();
      this.input({ type: "journal-cleared" });
    } catch (e) {
      // The peer has everything. The journal stays broken (the next hello or resync compares every
      // file by checksums); marks left in its file only make a later resync compare more.
      this.o.log.error("mirror: the ALONE journal could not be cleared after the resync", { ...this.tag, detail: e instanceof Error ? e.message : String(e) });
    }
    this.queue.settleAll(covered);
    // A live op sent after the last pass, applied by the SECOND after it took our gen, may have
    // failed there (it then outdated its copy): the SECOND lacks it although both copies now carry
    // the same gen. Its call still waits; it takes another resync. (Without it, resync-done made the
    // peer in sync here, nothing resynced it again, and the call waited for ever.)
    const late = failures.entries.length > seen;
    if (this.liveFailures === failures) this.liveFailures = null;
    this.input({ type: "resync-done" });
    if (late) this.input({ type: "peer-apply-failed", detail: "a live op failed there as the resync ended" });
    if (peerInSync(this.state)) this.forgetLive();
  }

  // ---- operator commands -----------------------------------------------------------------

  /** `vigil verify`: this copy against the peer's, by checksum, changing neither. */
  async verify(): Promise<{ ok: boolean; detail: string }> {
    if (!this.linkUp) return { ok: false, detail: `the replication link to ${this.o.peer} is down (${this.client.downReason}): nothing to compare with` };
    if (this.beneathFd === null) return { ok: false, detail: "the mirror is not started" };
    let r;
    try {
      r = await verifyTrees(this.beneathPath(), new RemoteResyncPeer(this.client, { mtimeWindowNs: 2000 }), { maxDifferences: 50, ...(this.excluded === null ? {} : { exclude: this.excluded }) });
    } catch (e) {
      return { ok: false, detail: `the comparison stopped: ${e instanceof Error ? e.message : String(e)}` };
    }
    const mib = (r.bytesCompared / 1048576).toFixed(1);
    const what = `${r.entriesCompared} entries, ${r.filesCompared} files, ${mib} MiB compared with ${this.o.peer}'s copy`;
    if (r.differences.length === 0) return { ok: true, detail: `the copies are identical: ${what}` };
    const running = isPrimaryRole(this.state.role);
    const lines = r.differences.map((d) => `  ${d.path === "" ? "." : d.path}: ${d.kind} (here ${d.detail})`);
    return {
      ok: false,
      detail: [
        `${r.differences.length}${r.truncated ? "+" : ""} difference${r.differences.length === 1 ? "" : "s"} (${what})${running ? "; files the service wrote during the comparison may show here" : ""}:`,
        ...lines,
        running ? `  \`vigil resync ${this.o.module}\` here sends ${this.o.peer} what differs` : `  \`vigil resync ${this.o.module}\` on ${this.o.peer} (it runs the module) sends this node what differs`,
      ].join("\n"),
    };
  }

  /** `vigil resync`: on the node that runs the module, a full checksum resync of the peer, now. */
  resyncAll(): { ok: boolean; detail: string } {
    const running = isPrimaryRole(this.state.role);
    if (!running) return { ok: false, detail: `${this.o.self} does not run ${this.o.module}: run it on the node that does (data flows from there)` };
    if (!this.linkUp) return { ok: false, detail: `the replication link to ${this.o.peer} is down (${this.client.downReason})` };
    if (this.state.resyncing) return { ok: false, detail: `a resync to ${this.o.peer} is already under way; \`vigil status\` shows its progress` };
    this.checksumAll = true;
    this.input({ type: "peer-apply-failed", detail: "the operator asked for a full resync" });
    return { ok: true, detail: `full checksum resync of ${this.o.peer} started; \`vigil status\` shows its progress` };
  }

  private checksumAll = false;

  /** `vigil ack`: the operator has seen the split brain (and what was kept where); the banner goes. */
  ack(): { ok: boolean; detail: string } {
    const c = this.state.copy.conflict;
    if (c === null) return { ok: true, detail: "no split brain to acknowledge" };
    this.input({ type: "ack" });
    return { ok: true, detail: `acknowledged: ${c}` };
  }

  // ---- status and life -----------------------------------------------------------------

  status(): MirrorStatus {
    const s = this.state;
    return {
      folder: this.o.folder,
      data: s.copy.data,
      gen: s.copy.gen,
      since: new Date(this.lastSaved?.since ?? s.copy.since).toISOString(),
      serving: this.startProblem ?? s.gate,
      link: this.linkUp ? "up" : "down",
      linkDetail: this.linkDetail(),
      peerData: s.link?.data ?? null,
      writes: isPrimaryRole(s.role) ? s.writes : "standby",
      waitingOps: this.queue.blocked,
      mode: this.o.mode ?? "sync",
      asyncLag: this.o.mode === "async" ? this.queue.lag() : null,
      resync: this.resyncProgress === null ? null : {
        phase: this.resyncProgress.phase, mode: this.resyncProgress.mode,
        filesTotal: this.resyncProgress.filesTotal, filesDone: this.resyncProgress.filesDone,
        bytesTotal: this.resyncProgress.bytesTotal, bytesDone: this.resyncProgress.bytesDone, bytesSent: this.resyncProgress.bytesSent,
        bytesPerSec: Math.round(this.resyncProgress.bytesPerSec), etaSec: this.resyncProgress.etaSec === null ? null : Math.round(this.resyncProgress.etaSec),
        elapsedMs: Math.round(this.resyncProgress.elapsedMs),
      },
      splitBrain: s.copy.conflict ?? s.splitBrain,
      ...(s.copy.conflict !== null && (s.copy.conflictKind === "unsent-writes" || s.copy.conflictKind === "first-sync") ? { keptKind: s.copy.conflictKind } : {}),
      forcedAt: s.copy.forcedAt === null ? null : new Date(s.copy.forcedAt).toISOString(),
      journalLost: s.journalLost === null ? null : journalLostText(s, s.journalLost),
      diskHung: this.diskHung,
      read: this.readStatus(),
    };
  }

  /** How the mount served reads when it last mounted (the kernel does not change under a running daemon). */
  private readsServed: "cache" | "direct" | null = null;

  private readStatus(): MirrorReadStatus {
    const configured = this.o.read ?? "cache";
    this.readsServed = this.mount?.reads() ?? this.readsServed;
    const served = this.readsServed;
    const fellBack = served !== null && served !== configured;
    return { configured, served, fallback: fellBack ? "this kernel cannot map direct-I/O files shared (FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6)" : null };
  }

  /** Up: connected, and while the peer is not in sync again, the last drop for an overdue acknowledgement. */
  private linkDetail(): string {
    if (this.ackDrop !== null && peerInSync(this.state)) this.ackDrop = null;
    const drop = this.ackDrop === null ? "" : `; at ${this.ackDrop.at} ${this.ackDrop.reason}`;
    return this.linkUp ? `connected to ${this.o.peer}${drop}` : this.client.downReason === this.ackDrop?.reason ? this.client.downReason : `${this.client.downReason}${drop}`;
  }

  /** The leaving role's `unacked` flag for the core (see MirrorInput "role"). */
  takeUnacked(): boolean {
    const u = this.unacked;
    this.unacked = false;
    return u;
  }

  /** Clean stop: the copy is synced, the link closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.turns.interrupt();
    this.ackWatch.stop();
    await this.mount?.unmount().catch(() => {});
    this.mount = null;
    await this.client.close();
    await this.server.close();
    this.folderAnswerer.close();
    await this.applier?.close();
    await this.journal?.close();
    // The applied ops reached the disk: a crash of the machine now loses nothing acknowledged.
    // Not on a hung disk, where the sync would never end (the copy is outdated anyway).
    if (this.beneathFd !== null && this.diskHung === null) {
      await new Promise<void>((resolve) => {
        const p = spawn("sync", ["-f", `/proc/${process.pid}/fd/${String(this.beneathFd)}`], { stdio: "ignore" });
        p.on("exit", () => resolve());
        p.on("error", () => resolve());
      });
      this.input({ type: "shutdown" });
      closeSync(this.beneathFd);
      this.beneathFd = null;
    }
    this.closed = true;
    // A record the shutdown could not save is not retried after the close.
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}
