/**
 * The contract between the module engine (src/daemon/module/engine.ts), the
 * control surfaces (control socket, HTTP API, CLI verbs) and the console:
 * what a module looks like from outside, and how a command is asked for and
 * answered. Kept apart so each side can be built and tested on its own.
 */
import type { ModuleCommand, ModuleRole } from "../core/module/types.ts";

export interface CheckerStatus {
  name: string;
  /** "tcp 127.0.0.1:8080", "process httpd", ... */
  target: string;
  /** restart | failover | stop | ignore | wait */
  onFail: string;
  /** null until the first result. */
  ok: boolean | null;
  /** Past fall: the module acts on it. */
  failing: boolean;
  detail: string;
  lastCheckedAt: string | null;
}

export interface ModuleNodeView {
  node: string;
  /** This node's own role; a peer's last advertised role, or "unknown" / "dead" / "stopped" (it said goodbye). */
  role: ModuleRole | "unknown" | "dead" | "stopped";
  generation: number | null;
}

export interface ModuleStatus {
  name: string;
  type: string;
  /** This node's role. */
  state: ModuleRole;
  /** The preferred node, or null. */
  prefer: string | null;
  failback: "auto" | "manual";
  /** Every node of the cluster, this one included, in config order. */
  nodes: ModuleNodeView[];
  lastTransition: { time: string; from: string; to: string; reason: string; detail: string } | null;
  /**
   * Why this node rests in its state now, while that differs from what the
   * last transition said: a node that went SECOND "waiting to hear scada1"
   * stays SECOND once scada1 is heard, now because "scada1 runs it".
   * Absent or null while running the module or when nothing changed.
   */
  why?: { reason: string; detail: string } | null;
  checkers: CheckerStatus[];
  /** Why this node will not take the module until cleared (a failed start), or null. */
  blocked: string | null;
  /** Restarts counted in the current window. */
  restarts: number;
  /** The command this node is carrying out, or null. */
  pending: { command: ModuleCommand; since: string } | null;
  witness: { reachable: boolean | null; detail: string } | null;
  lease: { holder: string | null; expiresInMs: number | null; detail: string } | null;
  /** Mirror modules only: this node's copy, the link and the resync. */
  mirror?: MirrorStatus;
}

/** A mirror module's data, as this node sees it. */
export interface MirrorStatus {
  folder: string;
  /** This node's copy: uptodate, outdated (the peer has newer data) or inconsistent (being resynced). */
  data: "uptodate" | "outdated" | "inconsistent";
  /** The copy's data generation ("<counter>:<node>"). */
  gen: string;
  /** When `data` last changed (ISO time). */
  since: string;
  /** Why this copy may not be served now, or null. */
  serving: string | null;
  link: "up" | "down";
  linkDetail: string;
  /** The peer's copy as its hello told it (while the link is up). */
  peerData: "uptodate" | "outdated" | "inconsistent" | null;
  /** replicate, hold (the link is down and the peer not yet outdated) or alone (journaled); standby off PRIM. */
  writes: string;
  /** Application calls waiting for their acknowledgement. */
  waitingOps: number;
  /** sync: calls return once the peer applied them; async: once queued for it. */
  mode: "sync" | "async";
  /** Mode async: what the service was told is written and the peer may still lack (bytes, and the age of the oldest). */
  asyncLag: { bytes: number; seconds: number } | null;
  resync: MirrorResyncStatus | null;
  splitBrain: string | null;
  /**
   * What `splitBrain` reports when it is not a split brain: writes acknowledged in mode async that
   * never reached the peer, or files a new copy held before its first sync replaced them; kept aside.
   */
  keptKind?: "unsent-writes" | "first-sync";
  /** When forceprim served this copy against the rules (ISO time), or null. */
  forcedAt: string | null;
  /**
   * Why the ALONE journal no longer holds the changes one by one (marked lost
   * on a full state dir, unreadable, over its limits), and that the next
   * resync compares every file; null while it holds them. Absent: a daemon
   * of an earlier release, which does not tell.
   */
  journalLost?: string | null;
  /** How reads are served (`read:`); absent: a daemon of an earlier release. */
  read?: MirrorReadStatus;
  /**
   * Why the disk beneath this copy is taken for hung (no op of the applier
   * finished within disk_timeout): the copy is detached, outdated, and
   * refuses the peer's ops and resyncs until the disk answers again; null
   * while it answers. Absent: a daemon of an earlier release.
   */
  diskHung?: string | null;
  /**
   * A module of several folders: each folder's own copy, link and resync, in
   * config order; the fields above then sum them up (the least ready folder
   * decides each one). Absent with one folder.
   */
  folders?: MirrorStatus[];
}

/**
 * `read:` on this node: `configured`, and `served`, what its mount does on
 * this kernel as its last mount in this daemon's life found (null: the
 * folder was not mounted here since the daemon started, as on a SECOND).
 * `fallback` says why `served` is not `configured` (direct needs a kernel
 * with FUSE_DIRECT_IO_ALLOW_MMAP), else null.
 */
export interface MirrorReadStatus {
  configured: "cache" | "direct";
  served: "cache" | "direct" | null;
  fallback: string | null;
}

export interface MirrorResyncStatus {
  phase: string;
  mode: "full" | "journal";
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  bytesSent: number;
  bytesPerSec: number;
  etaSec: number | null;
  elapsedMs: number;
}

/**
 * Commands of mirror modules only, carried out by the mirror driver, not the
 * module core: verify compares both copies by checksum without changing
 * either; resync sends the standby everything that differs after a full
 * checksum comparison; ack acknowledges a split brain (its banner goes).
 */
export type MirrorCommand = "verify" | "resync" | "ack";
export const MIRROR_COMMANDS: readonly MirrorCommand[] = ["verify", "resync", "ack"];
/** What each mirror command is for, said when it is sent to a module that is not a mirror. */
export const MIRROR_COMMAND_DOES: Readonly<Record<MirrorCommand, string>> = {
  verify: "verify compares the two copies of a mirror module's folders",
  resync: "resync sends a mirror module's folders to its standby again",
  ack: "ack clears a mirror module's split brain",
};

/** What an operator can ask of a module. */
export type OperatorCommand = ModuleCommand | MirrorCommand;

export interface ModuleCommandRequest {
  module: string;
  command: OperatorCommand;
  /** forceprim only: the operator acknowledged the risk (--yes). */
  yes: boolean;
  /** How long to wait for the cluster to reach the new state. */
  timeoutMs: number;
  /** Who asked, for the log: "http from 198.51.100.7 (user ops)", "control socket (pid=4242 uid=0, as the client says)". */
  source?: string;
}

export interface ModuleCommandOutcome {
  ok: boolean;
  module: string;
  command: OperatorCommand;
  /** One line: what happened, or why it was refused or missed its goal (verify: one line per difference after it). */
  detail: string;
  /** Each node's role for the module when the answer was given. */
  nodes: ModuleNodeView[];
  /** Not done yet when the caller's timeout ran out: the command goes on (ok is false). Absent: false. */
  inProgress?: boolean;
}

/** What the engine offers the control routes. */
export interface ModuleControl {
  statuses(): ModuleStatus[];
  /** Resolves once the goal is reached, refused, or timeoutMs passed (ok false, saying so). Never rejects. */
  command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome>;
}
