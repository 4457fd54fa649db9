/**
 * Two or more module engines joined by an in-memory "heartbeat": peer
 * liveness and the adverts of each frame are handed across as the daemon's
 * heartbeat engine would, and every host effect (scripts, VIPs, GARP) is
 * recorded instead of carried out.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModuleCoreConfig, ModuleResource } from "../../src/core/module/module.ts";
import type { HeartbeatEngine } from "../../src/daemon/heartbeat/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import type { ModuleCheckSpec } from "../../src/daemon/module/checks.ts";
import { ModuleEngine } from "../../src/daemon/module/engine.ts";
import type { ResourceIo } from "../../src/daemon/module/resources.ts";
import type { RunOptions, RunResult } from "../../src/sys/run-script.ts";
import type { Checker } from "../../src/sys/checkers/types.ts";
import type { MemoryNetwork } from "../../src/net/memory-transport.ts";
import { pairEngine, pairMembership } from "./heartbeat-engine-pair.ts";

export const VIP: ModuleResource = { kind: "vip", address: "198.51.100.100/24", interface: null };
export const SCRIPT: ModuleResource = { kind: "script", start: "/srv/start.sh", stop: "/srv/stop.sh" };

export function ran(ok: boolean, message = ok ? "exited 0" : "exited 1"): RunResult {
  return { ok, exitCode: ok ? 0 : 1, signal: null, timedOut: false, aborted: false, durationMs: 0, outputTail: "", message };
}

/** Host effects of one node, as lines: "start /srv/start.sh", "add 198.51.100.100/24 eth0", ... */
export class FakeHost implements ResourceIo {
  readonly effects: string[] = [];
  /** Scripts that exit 1. */
  readonly failing = new Set<string>();

  run = async (command: string, o: RunOptions): Promise<RunResult> => {
    this.effects.push(`run ${[command, ...(o.args ?? [])].join(" ")}`);
    return ran(!this.failing.has(command));
  };
  addVip = async (a: string, i: string) => {
    this.effects.push(`add ${a} ${i}`);
    return { ok: true as const };
  };
  removeVip = async (a: string, i: string) => {
    this.effects.push(`del ${a} ${i}`);
    return { ok: true as const, removed: true };
  };
  sendGarp = async (i: string, a: string) => {
    this.effects.push(`garp ${i} ${a}`);
    return { ok: true as const };
  };
  interfaceFor = (_address: string): string | null => "eth0";
}

/** A checker whose answer the test sets. */
export class SwitchChecker implements Checker {
  readonly kind = "custom" as const;
  ok = true;
  constructor(readonly target: string) {}
  run = async () => ({ ok: this.ok, detail: `${this.target}: ${this.ok ? "ok" : "down"}`, durationMs: 0 });
}

export interface TestNode {
  readonly name: string;
  readonly engine: ModuleEngine;
  readonly host: FakeHost;
  readonly log: string[];
  readonly metrics: Metrics;
  readonly stateDir: string;
  /** Made by makeNode, so removed with the wire. */
  readonly ownsStateDir: boolean;
}

export interface NodeSetup {
  readonly core?: Partial<ModuleCoreConfig>;
  readonly checks?: readonly ModuleCheckSpec[];
  readonly witness?: { readonly reachable: () => boolean };
  readonly stateDir?: string;
}

export function baseCore(self: string, nodes: readonly string[], over: Partial<ModuleCoreConfig> = {}): ModuleCoreConfig {
  return {
    module: "web",
    self,
    nodes,
    prefer: nodes[0] as string,
    failback: "manual",
    resources: [VIP, SCRIPT],
    absentGraceMs: 300,
    handoverTimeoutMs: 3000,
    ...over,
  };
}

export function makeNode(name: string, nodes: readonly string[], s: NodeSetup = {}): TestNode {
  const host = new FakeHost();
  const log: string[] = [];
  const stateDir = s.stateDir ?? mkdtempSync(join(tmpdir(), `vigil-me-${name}-`));
  const metrics = new Metrics();
  const engine = new ModuleEngine({
    modules: [{
      core: baseCore(name, nodes, { ...(s.witness === undefined ? {} : { witnessPing: true }), ...s.core }),
      type: "failover",
      checks: s.checks ?? [],
      checkerInfo: new Map(),
      resources: { io: host },
      stateDir,
      log: new Logger("json", (l) => log.push(l)),
    }],
    ...(s.witness === undefined
      ? {}
      : {
        witness: {
          addresses: ["192.0.2.1"],
          intervalMs: 20,
          checkerFor: (address: string): Checker => ({
            kind: "ping",
            target: address,
            run: async () => ({ ok: s.witness?.reachable() ?? false, detail: address, durationMs: 0 }),
          }),
        },
      }),
    log: new Logger("json", (l) => log.push(l)),
    metrics,
  });
  return { name, engine, host, log, metrics, stateDir, ownsStateDir: s.stateDir === undefined };
}

/**
 * Delivers frames between connected nodes every few ms, as heartbeats do;
 * cut() and join() change who hears whom, telling each side as the
 * membership core would (peer dead / up before the next frame).
 */
export class Wire {
  private readonly cutPairs = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly nodes: readonly TestNode[]) {}

  private key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  connected(a: string, b: string): boolean {
    return !this.cutPairs.has(this.key(a, b));
  }

  start(): void {
    for (const n of this.nodes) n.engine.start();
    for (const a of this.nodes) for (const b of this.nodes) if (a !== b && this.connected(a.name, b.name)) b.engine.peer(a.name, "up");
    this.timer = setInterval(() => this.pump(), 10);
  }

  pump(): void {
    for (const from of this.nodes) {
      for (const to of this.nodes) {
        if (from === to || !this.connected(from.name, to.name)) continue;
        to.engine.frame(from.name, from.engine.adverts());
      }
    }
  }

  cut(a: string, b: string): void {
    this.cutPairs.add(this.key(a, b));
    this.node(a).engine.peer(b, "dead");
    this.node(b).engine.peer(a, "dead");
  }

  join(a: string, b: string): void {
    this.cutPairs.delete(this.key(a, b));
    this.node(a).engine.peer(b, "up");
    this.node(b).engine.peer(a, "up");
  }

  /** Takes a node off the wire for good, as if its daemon died. */
  kill(name: string): void {
    for (const n of this.nodes) if (n.name !== name) this.cut(name, n.name);
    this.node(name).engine.halt();
  }

  node(name: string): TestNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const n of this.nodes) {
      n.engine.halt();
      if (n.ownsStateDir) rmSync(n.stateDir, { recursive: true, force: true });
    }
  }
}

/** Polls until `pred` holds; the test's own timeout bounds the wait. */
export async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 5));
}

/** The role `viewer` last heard from `node` for the module ("dead", "unknown" or a role). */
export function seenBy(viewer: TestNode, node: string): string {
  return viewer.engine.statuses()[0]?.nodes.find((v) => v.node === node)?.role ?? "none";
}

export function roleOf(n: TestNode): string {
  return n.engine.statuses()[0]?.state ?? "none";
}

const wiredNodes: { hb: HeartbeatEngine; node: TestNode }[] = [];

/**
 * Node `self` of the pair a, b: a module engine carried by a real heartbeat
 * engine over the in-memory network, wired as the daemon wires them. Stop
 * them all with stopWired() after each test.
 */
export async function wired(net: MemoryNetwork, self: "a" | "b", initdeadMs: number): Promise<{ hb: HeartbeatEngine; node: TestNode }> {
  const node = makeNode(self, ["a", "b"]);
  const { e: hb } = pairEngine(self, (l) => net.open(l), {
    membership: { ...pairMembership(self), intervalMs: 20, warntimeMs: 60, deadtimeMs: 100, initdeadMs },
    // Real timers here: the daemon's own clock.
    clock: () => performance.now(),
    modules: () => node.engine.adverts(),
    onPeer: (peer, liveness) => node.engine.peer(peer, liveness),
    onFrame: (peer, adverts) => node.engine.frame(peer, adverts),
  });
  node.engine.start();
  await hb.start();
  const r = { hb, node };
  wiredNodes.push(r);
  return r;
}

export async function stopWired(): Promise<void> {
  for (const r of wiredNodes.splice(0)) {
    r.node.engine.halt();
    await r.hb.stop();
  }
}
