/**
 * Events, actions and state of the failover module core (src/core/module/module.ts).
 */
import type { PeerState } from "../membership/types.ts";

/**
 * A node's state for one module, in SafeKit's words:
 * - STOP: not running here, by the operator's decision (or a failed stop);
 *   nothing happens until `start`.
 * - WAIT: cannot serve here (a wait-class checker fails, a start failed and
 *   was not cleared, isolated without a witness): app stopped, VIP released.
 * - SECOND: standby, ready to take over.
 * - PRIM: runs the module while at least one peer is heard.
 * - ALONE: runs the module and no peer is heard.
 */
export type ModuleRole = "STOP" | "WAIT" | "ALONE" | "PRIM" | "SECOND";

export const MODULE_ROLES: readonly ModuleRole[] = ["STOP", "WAIT", "ALONE", "PRIM", "SECOND"];

/** The role a node has whenever it does not run the module. */
export type RestingRole = "STOP" | "WAIT" | "SECOND";

export function isPrimaryRole(role: ModuleRole | "unknown" | "absent" | null): role is "PRIM" | "ALONE" {
  return role === "PRIM" || role === "ALONE";
}

export type ModuleCommand = "swap" | "stop" | "start" | "restart" | "prim" | "second" | "forceprim";

export const MODULE_COMMANDS: readonly ModuleCommand[] = ["swap", "stop", "start", "restart", "prim", "second", "forceprim"];

export type ModuleInput =
  /** Wake-up. Deliver one at nextWakeAt(state); an early, late or extra tick is harmless. */
  | { readonly type: "tick" }
  /**
   * A peer's liveness from the membership core (its "peer" events; "late"
   * still counts as alive). Deliver it BEFORE the module adverts of the
   * frame that brought the peer up.
   */
  | { readonly type: "peer"; readonly node: string; readonly liveness: PeerState }
  /**
   * This module's advert in a frame the membership core accepted from
   * `node`; role null when the frame lists no advert for this module (the
   * peer does not run it). Deliver one per accepted frame.
   */
  | {
    readonly type: "advert";
    readonly node: string;
    readonly role: string | null;
    readonly generation: number;
    /** It runs the module (PRIM/ALONE) but has not started all its resources yet. Absent: false. */
    readonly starting?: boolean;
    /** Why the module could not start there (its failed start), if it says. */
    readonly failure?: string;
  }
  /** Outcome of the start-resource or stop-resource action numbered `run`. */
  | { readonly type: "resource"; readonly run: number; readonly ok: boolean; readonly detail: string }
  /** One raw checker result; the core counts fall and rise itself. */
  | { readonly type: "check"; readonly checker: string; readonly ok: boolean; readonly detail: string }
  /**
   * A mirror module's data gate from the mirror core: null when this
   * node's copy may be served, else why not (outdated, being resynced, not
   * yet compared with the peer's). A node that does not run the module
   * rests in WAIT while it is set; forceprim overrides it.
   */
  | { readonly type: "data"; readonly blocked: string | null }
  /** One round of pings to the witness addresses: reachable if any answered. */
  | { readonly type: "witness"; readonly reachable: boolean; readonly detail: string }
  /**
   * The arbiter's answer to lease-request `request`. `durationMs` is the
   * lease length it granted (counted by us from when we sent the request);
   * `holder` names who holds it when it was denied.
   */
  | { readonly type: "lease"; readonly request: number; readonly granted: boolean; readonly durationMs: number; readonly holder: string | null; readonly detail: string }
  /**
   * An operator command; answered with an "answer" action carrying the same id.
   * `shutdown`: a stop because the daemon itself is stopping (logged as such).
   */
  | { readonly type: "command"; readonly id: string; readonly command: ModuleCommand; readonly shutdown?: boolean };

export type ModuleReason =
  | "startup"
  | "cleanup-done"
  | "elected"
  | "peer-dead"
  | "peer-stopped"
  | "peers-unknown"
  | "isolated-witness-ok"
  | "isolated-no-witness"
  | "conflict"
  | "failback"
  | "takeover-request"
  | "handover"
  | "operator"
  | "shutdown"
  | "forced"
  | "checker"
  | "wait-checker"
  | "data-not-current"
  | "start-failed"
  | "stop-failed"
  | "lease-lost"
  | "fenced"
  | "peer-primary"
  | "peer-up"
  | "standby";

export interface ModuleTransition {
  readonly type: "transition";
  readonly module: string;
  /** +1 per transition or event of this module, from 1. */
  readonly seq: number;
  readonly at: number;
  readonly from: ModuleRole;
  readonly to: ModuleRole;
  readonly reason: ModuleReason;
  /** One line for a log or the console. */
  readonly detail: string;
}

export type ModuleEventKind =
  | "checker-failing"
  | "checker-healthy"
  | "restart"
  | "restart-limit"
  | "start-failed"
  | "stop-failed"
  | "lease-granted"
  | "lease-denied"
  | "lease-lost"
  | "fenced"
  | "takeover-wait"
  | "stale-result"
  | "bad-advert";

export interface ModuleNote {
  readonly type: "event";
  readonly module: string;
  readonly seq: number;
  readonly at: number;
  readonly kind: ModuleEventKind;
  readonly detail: string;
}

/**
 * What the driver carries out, in the order given. Ordering obligations:
 *
 * - Resources: one start-resource or stop-resource is outstanding at a
 *   time; the core issues the next only after the "resource" result of
 *   the previous one. So resources start in list order and stop in reverse,
 *   and a failed start is followed by stopping what was started (the failed
 *   one included, as it may be half up).
 * - Taking over: (with an arbiter: lease granted, watchdog armed) publish
 *   PRIM/ALONE and notify, THEN start resources. The claim is made visible
 *   first so that a peer that also wants the module sees it and backs off.
 * - Leaving: stop every resource (app stopped, VIP removed) BEFORE
 *   releasing the lease, BEFORE disarming the watchdog, BEFORE publishing
 *   SECOND/WAIT/STOP. Until then the node keeps publishing PRIM/ALONE, so no
 *   peer starts while anything still runs here.
 * - persist before any action that follows it.
 */
export type ModuleAction =
  /**
   * Start resource `index` (vip: add the address, wait until it is on the
   * interface, THEN send gratuitous ARP). Report { type: "resource", run }
   * once done, failed or timed out; never leave it unanswered.
   */
  | { readonly type: "start-resource"; readonly module: string; readonly run: number; readonly index: number; readonly resource: ModuleResource }
  /**
   * Stop resource `index`; report "ok" only once it is really stopped
   * (script exited, address gone). `cleanup` marks the stops run at our
   * start or after the watchdog fired: the resource is probably already
   * stopped, and stopping it again must succeed.
   */
  | { readonly type: "stop-resource"; readonly module: string; readonly run: number; readonly index: number; readonly resource: ModuleResource; readonly cleanup: boolean }
  /**
   * Put { module, role, generation } in every heartbeat frame sent from now
   * on. Until the first publish (after the start-up cleanup), frames list
   * no advert for this module.
   */
  | {
    readonly type: "publish";
    readonly module: string;
    readonly role: ModuleRole;
    readonly generation: number;
    /** Set while PRIM/ALONE with resources not all started: peers do not count it as running yet. */
    readonly starting?: true;
    /** Set while a failed start keeps the module off this node: why (peers name it in their answers). */
    readonly failure?: string;
  }
  /** A role change. Log it, show it, run notify hooks; AFTER the actions before it. */
  | ModuleTransition
  /** Something worth a log line: checker verdicts, restarts, lease news. */
  | ModuleNote
  /**
   * Ask the arbiter for this module's lease (or its renewal) under request
   * number `request`, and feed back its answer as a "lease" event. No answer
   * is fine: the core asks again.
   */
  | { readonly type: "lease-request"; readonly module: string; readonly request: number }
  /** Tell the arbiter we give the lease up. Only sent after every resource stopped. */
  | { readonly type: "lease-release"; readonly module: string }
  /**
   * The self-fence. Arm (or move) it to fire at `deadline` (our monotonic
   * ms); null disarms. When it fires, it must kill the module's scripts and
   * services and remove its VIPs by itself, even if the daemon is frozen:
   * run it in a separate process or the kernel watchdog, not on the
   * daemon's event loop. Arm it BEFORE the start-resource that follows.
   */
  | { readonly type: "watchdog"; readonly module: string; readonly deadline: number | null }
  /**
   * Run exactly these checkers from now on, each at its interval, and feed
   * their results as "check" events. Wait-class checkers are always listed;
   * the others only while the module runs here.
   */
  | { readonly type: "watch-checkers"; readonly module: string; readonly checkers: readonly string[] }
  /**
   * Save crash-safely, BEFORE carrying out what follows: `blocked` is why
   * this node must not take the module back (a failed start), null once
   * cleared. Give it back to initModule after a restart.
   */
  | { readonly type: "persist"; readonly module: string; readonly blocked: string | null }
  /** The outcome of the operator command `id`. */
  | { readonly type: "answer"; readonly module: string; readonly id: string; readonly ok: boolean; readonly detail: string };

/** What we know of a peer, for this module. */
export interface PeerModule {
  readonly name: string;
  readonly liveness: PeerState;
  /**
   * Its latest advert while alive: "unknown" before the first one, "absent"
   * when its frames do not list this module (or list a role we do not
   * know). A node lists no role until its start-up cleanup is done.
   */
  readonly role: ModuleRole | "unknown" | "absent";
  readonly generation: number;
  /** The last role it announced, kept when it dies: was it running the module? */
  readonly lastRole: ModuleRole | null;
  /** When we saw it step down from PRIM/ALONE to SECOND (a handover): it goes last in the election. */
  readonly yieldedAt: number | null;
  /** When it became an alive SECOND other than by stepping down: the start of the failback delay. */
  readonly arrivedAt: number | null;
  /** When we last started hearing it (null while not alive). */
  readonly upAt: number | null;
  /** Its advert says it runs the module but is still starting its resources. */
  readonly starting: boolean;
  /** Its advert says why the module could not start there; null when it says nothing. */
  readonly failure: string | null;
}

/** Where this node wants to be: running the module, or resting in `rest`. */
export interface Decision {
  readonly primary: boolean;
  readonly rest: RestingRole;
  readonly reason: ModuleReason;
  readonly detail: string;
  /** A step-down that is a handover (failback, a peer's takeover request): others take it, we go last. */
  readonly yieldTo: boolean;
}

/** The resource operation under way. */
export interface ResourceRun {
  readonly token: number;
  readonly op: "start" | "stop";
  readonly index: number;
  readonly since: number;
  readonly cleanup: boolean;
  /** Overtaken by the watchdog: its result changes nothing. */
  readonly voided: boolean;
}

export interface PendingCommand {
  readonly id: string;
  readonly command: ModuleCommand;
  /** What swap turned into. */
  readonly as: "prim" | "second" | "forceprim" | "start" | "stop" | "restart";
  readonly since: number;
  /** Give up waiting for another node at this time; null = no limit (only our own resources). */
  readonly until: number | null;
  /**
   * Why the goal cannot be reached any more (the node that took the module
   * could not start it); the answer waits until it is known where the
   * module runs now, to say so.
   */
  readonly failure: string | null;
  /** second: we have stepped down at least once since the command came. */
  readonly left: boolean;
}

export interface ModuleState {
  readonly config: ResolvedModuleConfig;
  /** What we announce (published in heartbeats). */
  readonly role: ModuleRole;
  /**
   * Our generation (always even, see generation.ts): the one of our claim
   * while PRIM/ALONE, otherwise the highest claim generation heard.
   */
  readonly generation: number;
  /** Highest claim generation heard in any advert. */
  readonly highestHeard: number;
  readonly peers: readonly PeerModule[];
  readonly decision: Decision;
  readonly run: ResourceRun | null;
  /** Resources [0, started) may be up and need a stop. */
  readonly started: number;
  /** The stops under way are a cleanup (at our start, or after the watchdog fired). */
  readonly cleanup: boolean;
  /** A local restart: stop everything, then start everything, staying PRIM. */
  readonly restartPending: boolean;
  /**
   * A checker asked to fail over (restart limit reached, or `failover`)
   * while no other node could take the module: it is left as it is here,
   * not restarted again, and handed over once a node can take it. Cleared
   * when the checker is healthy again, the module (re)starts here or stops.
   */
  readonly failoverWanted: { readonly checker: string; readonly detail: string } | null;
  /** Set: we rest in STOP (operator, checker `then: stop`). */
  readonly stopped: { readonly reason: "operator" | "checker" | "shutdown"; readonly detail: string } | null;
  /**
   * Set: a stop failed, so something may still run here. We rest in STOP,
   * and with an arbiter neither release the lease nor disarm the watchdog:
   * it fires when the lease runs out and kills what is left.
   */
  readonly stopFailed: string | null;
  /** Set: a start failed here; we do not take the module until cleared. */
  readonly blocked: string | null;
  /** Set: a mirror module's copy here may not be served (see the "data" input). */
  readonly dataBlocked: string | null;
  /** forceprim: the witness rule, blocks and wait-class checkers are overridden until a peer is heard. */
  readonly forced: boolean;
  /** We handed over (command, failback, checker): we go last until someone claims or it times out. */
  readonly handover: {
    readonly since: number;
    /** Set once we stepped down; null while still stopping. */
    readonly until: number | null;
    /** Why (failback, operator, checker, a peer's request), for the transition. */
    readonly reason: ModuleReason;
    readonly detail: string;
  } | null;
  /** Our takeover request (operator prim): published as an odd generation above every claim we know. */
  readonly request: { readonly generation: number; readonly until: number } | null;
  readonly command: PendingCommand | null;
  readonly checkers: readonly CheckerTrack[];
  /** The checkers the driver runs now (last watch-checkers). */
  readonly watching: readonly string[];
  readonly witness: { readonly reachable: boolean; readonly at: number; readonly detail: string } | null;
  /**
   * Back from isolation (the witness answers again while no peer is heard):
   * peers not heard count as unknown until this time, so a peer that ran
   * the module meanwhile is heard before we claim it.
   */
  readonly rejoinUntil: number | null;
  readonly lease: LeaseTrack;
  /** What was last published; null before the first publish. */
  readonly published: { readonly role: ModuleRole; readonly generation: number; readonly starting: boolean; readonly failure: string | null } | null;
  readonly seq: number;
  readonly nextToken: number;
  readonly startedAt: number;
  /** Time of the last step: every deadline up to it has been acted on. */
  readonly lastStepAt: number | null;
}

/**
 * One thing the module starts, in list order, and stops in reverse order.
 * - vip: start = add the address to the interface, then gratuitous ARP;
 *   stop = remove it. Adding an address already there and removing one
 *   already gone both succeed.
 * - script: start runs `start`, stop runs `stop` (null = nothing to run).
 * - service: systemd unit, `systemctl start` / `systemctl stop`.
 */
export type ModuleResource =
  /**
   * A mirror module's replicated folders, always first: start = this node's
   * copy may be served (the mirror driver refuses otherwise), then each
   * folder is mounted over itself so every write is replicated; stop =
   * unmounted once everything after it (the app) has stopped.
   */
  | { readonly kind: "mirror"; readonly folders: readonly string[] }
  | { readonly kind: "vip"; readonly address: string; readonly interface: string | null }
  | { readonly kind: "script"; readonly start: string | null; readonly stop: string | null; readonly timeouts?: ResourceTimeouts }
  | { readonly kind: "service"; readonly unit: string; readonly timeouts?: ResourceTimeouts };

/** How long a start or stop may take before its process group is killed and it counts as failed; absent: the driver's default. */
export interface ResourceTimeouts {
  readonly startMs: number;
  readonly stopMs: number;
}

/**
 * What a checker's failure does:
 * - restart: restart the module here, up to `restarts` times within
 *   `windowMs`; one more failure does `then` (failover or stop);
 * - failover: hand the module over to another node at once;
 * - stop: stop the module here (STOP);
 * - ignore: report only;
 * - wait: this node cannot serve (a ping or interface check): WAIT, never
 *   taking the module while it fails. Runs on every node, all the time.
 */
export type CheckerPolicy = "restart" | "failover" | "stop" | "ignore" | "wait";

export interface ModuleCheckerConfig {
  /** Unique within the module; the driver reports results under this name. */
  readonly name: string;
  readonly onFail: CheckerPolicy;
  readonly then?: "failover" | "stop";
  readonly restarts?: number;
  readonly windowMs?: number;
  /** Failures in a row before the checker counts as failing. */
  readonly fall?: number;
  /** Successes in a row before a failing checker counts as healthy again. */
  readonly rise?: number;
}

export type ResolvedCheckerConfig = Required<ModuleCheckerConfig>;

export interface ArbiterTerms {
  readonly leaseMs: number;
  readonly renewMs: number;
  /** Ask again this long after a request without an answer, or after a denial. */
  readonly retryMs: number;
  readonly stopBeforeMs: number;
  readonly fenceMs: number;
  /** The fence's own duration at most (see the header); part of takeoverWaitMs. */
  readonly stopBudgetMs: number;
  readonly takeoverWaitMs: number;
}

export interface ModuleCoreConfig {
  readonly module: string;
  /** Our own node name. */
  readonly self: string;
  /** Every node of the cluster, ourselves included. */
  readonly nodes: readonly string[];
  /** The node that runs the module when it can (Heartbeat's haresources owner). */
  readonly prefer?: string;
  /** auto: move back to `prefer` when it returns (Heartbeat's auto_failback on). */
  readonly failback: "auto" | "manual";
  /** With auto: how long `prefer` must be back and ready before the move. Default 0. */
  readonly failbackDelayMs?: number;
  /** Started in this order, stopped in reverse. */
  readonly resources: readonly ModuleResource[];
  readonly checkers?: readonly ModuleCheckerConfig[];
  /** Witness addresses are configured: an isolated node needs them to answer (the driver pings). */
  readonly witnessPing?: boolean;
  /** An arbiter (`vigil witness`) grants the PRIM lease. */
  readonly arbiter?: ArbiterTerms;
  /** How long a handover or takeover request waits for the other node. Default 10 s. */
  readonly handoverTimeoutMs?: number;
  /**
   * How long a peer that is heard but lists no advert for this module is
   * waited for before taking the module (it may still be cleaning up at its
   * start); after that it counts as not running the module. Default 5 s;
   * from vigil.yaml: initdead.
   */
  readonly absentGraceMs?: number;
  /**
   * A node that was isolated (no peer heard, witness silent) and whose
   * witness answers again waits this long for its peers' frames before
   * taking the module: its links usually come back with the witness, and a
   * peer that ran the module meanwhile must be heard first. Default 2 s;
   * from vigil.yaml: deadtime + interval.
   */
  readonly rejoinWaitMs?: number;
}

export interface ResolvedModuleConfig {
  readonly module: string;
  readonly self: string;
  readonly nodes: readonly string[];
  readonly prefer: string | null;
  readonly failback: "auto" | "manual";
  readonly failbackDelayMs: number;
  readonly resources: readonly ModuleResource[];
  readonly checkers: readonly ResolvedCheckerConfig[];
  readonly witnessPing: boolean;
  readonly arbiter: ArbiterTerms | null;
  readonly handoverTimeoutMs: number;
  readonly absentGraceMs: number;
  readonly rejoinWaitMs: number;
}

export interface CheckerTrack {
  readonly name: string;
  readonly failing: boolean;
  /** Failures in a row (while healthy) or successes in a row (while failing). */
  readonly streak: number;
  readonly detail: string;
  /** Times of the restarts this checker caused, oldest first, within its window. */
  readonly restarts: readonly number[];
}

export interface LeaseTrack {
  /** End of our lease (our clock); null = none. */
  readonly validUntil: number | null;
  /** Requests not answered yet, oldest first. */
  readonly requests: readonly { readonly id: number; readonly sentAt: number }[];
  readonly nextId: number;
  readonly lastSentAt: number | null;
  /** Send time of the request whose grant set validUntil. */
  readonly grantSentAt: number | null;
  readonly lastReplyAt: number | null;
  /** Who holds it, from the last denial. */
  readonly deniedBy: string | null;
  /**
   * The run of identical denials we are in (same holder), since the last
   * grant: each is reported once, with the count of its repeats when the
   * answer changes.
   */
  readonly denials: { readonly holder: string | null; readonly count: number } | null;
  /** The right to run ended: stop, then rest, before asking again. */
  readonly lost: boolean;
  /** After a grant while a peer is not heard: do not start before this. */
  readonly startNotBefore: number | null;
  /** The armed watchdog deadline; null = disarmed. */
  readonly watchdog: number | null;
}
