/**
 * What the heartbeat benchmark needs from a cluster, whichever daemon runs
 * it (vigil, Linux-HA Heartbeat): crash a node, notice its peers' verdicts,
 * bring it back, and read every verdict the nodes gave over a window.
 *
 * Times are wall-clock ms (Date.now()) on this machine, which every lab
 * process shares. A verdict's `seenAt` is when its line appeared in the
 * observer's log file, measured the same way for every daemon (LogWatch);
 * `loggedAt` is the daemon's own timestamp where it has one precise enough.
 */
import type { LabHost } from "../../test/lab/lab.ts";

export interface Verdict {
  /** The node that gave the verdict. */
  readonly observer: string;
  /** The node it is about. */
  readonly peer: string;
  readonly seenAt: number;
  readonly loggedAt?: number;
  readonly text: string;
}

export interface VerdictsInWindow {
  /** A peer declared dead (the whole node, not one link). */
  readonly dead: Verdict[];
  /** A peer reported late (warntime passed without a frame). */
  readonly late: Verdict[];
  /** One link to a peer given up on. */
  readonly linkDown: Verdict[];
}

export interface ClusterUnderTest {
  /** "vigil" or "heartbeat 3.0.6", as the tables print it. */
  readonly label: string;
  readonly hosts: readonly LabHost[];
  /** Starts every node; resolves once every node has seen every peer up. */
  start(): Promise<void>;
  /** SIGKILL to the node's daemon (all its processes), as a crash would; returns Date.now() taken just before. */
  crash(victim: LabHost): number;
  /** The observer's first verdict that `victim` is dead, seen at or after `after`. */
  waitDead(observer: LabHost, victim: LabHost, after: number, timeoutMs: number): Promise<Verdict>;
  /** Starts the crashed node again; resolves once it and every other node have seen each other up. */
  restart(victim: LabHost, timeoutMs: number): Promise<void>;
  /** Every verdict any node gave about any peer, seen within [from, to]. */
  verdicts(from: number, to: number): VerdictsInWindow;
  /** The processes of one node's daemon. */
  pids(host: LabHost): number[];
  /** Hosts whose daemon is not running. */
  notRunning(): string[];
  /** Stops every daemon and the log watchers. */
  stop(): Promise<void>;
}
