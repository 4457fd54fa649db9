/**
 * A vigil cluster (test/lab/vigil-cluster.ts: real `vigil run` daemons with
 * JSON logs) behind the benchmark's ClusterUnderTest surface. Each daemon's
 * log file is followed by a LogWatch, as Heartbeat's is, so both are timed
 * alike; the JSON line's own millisecond timestamp is kept as `loggedAt`.
 */
import type { LabHost } from "../../test/lab/lab.ts";
import {
  anyPeerChange, parseVigilLog, peerChange, startVigilCluster, type HeartbeatPreset, type LogPredicate, type VigilCluster,
  type VigilLogEvent, type VigilNode,
} from "../../test/lab/vigil-cluster.ts";
import type { ClusterUnderTest, Verdict, VerdictsInWindow } from "./cluster-under-test.ts";
import { LogWatch, type SeenLine } from "./log-watch.ts";

const event = (l: SeenLine): VigilLogEvent | undefined => (l.text.startsWith("{") ? parseVigilLog(l.text)[0] : undefined);

const isLinkDown: LogPredicate = (e) => e.msg.startsWith("link ") && typeof e.fields.peer === "string" && e.fields.to === "down";

/**
 * `bin`: the build its daemons run (default VIGIL_BIN); `label` names it in
 * the results (default "vigil"); `port`: the heartbeat port, for two
 * clusters on the same hosts; `extraYaml`: a `modules:` or `vrrp:` block.
 */
export function vigilUnderTest(o: {
  hosts: readonly LabHost[]; dir: string; preset: HeartbeatPreset; bin?: string; label?: string; port?: number; extraYaml?: readonly string[];
}): ClusterUnderTest & {
  /** Every line any node logged that `pred` takes, seen within [from, to], with the node that logged it. */
  lines(pred: LogPredicate, from: number, to: number): { observer: string; seenAt: number }[];
} {
  let cluster: VigilCluster | undefined;
  // One watcher per log file: a restarted daemon logs to a new file.
  const watches = new Map<string, { observer: string; watch: LogWatch }>();

  const need = (): VigilCluster => {
    if (cluster === undefined) throw new Error("the vigil cluster has not been started");
    return cluster;
  };
  const nodeOf = (h: LabHost): VigilNode => need().node(h.name);
  const watchOf = (n: VigilNode): LogWatch => {
    const log = n.proc.log;
    let w = watches.get(log);
    if (w === undefined) {
      w = { observer: n.name, watch: new LogWatch(log) };
      watches.set(log, w);
    }
    return w.watch;
  };
  const running = (n: VigilNode): boolean => {
    try {
      return n.proc.exitStatus === null;
    } catch {
      return false;
    }
  };

  /** Waits for a matching event seen at or after `after` in the node's current log. */
  const waitEvent = async (n: VigilNode, pred: LogPredicate, after: number, timeoutMs: number, what: string): Promise<{ line: SeenLine; e: VigilLogEvent }> => {
    let hit: VigilLogEvent | undefined;
    const line = await watchOf(n).waitFor(
      (l) => {
        if (l.seenAt < after) return false;
        const e = event(l);
        if (e === undefined || !pred(e)) return false;
        hit = e;
        return true;
      },
      { timeoutMs, what },
    );
    return { line, e: hit as VigilLogEvent };
  };

  return {
    label: o.label ?? "vigil",
    hosts: o.hosts,
    async start() {
      const heartbeat = { preset: o.preset, ...(o.port === undefined ? {} : { port: o.port }) };
      cluster = await startVigilCluster({ hosts: o.hosts, dir: o.dir, name: "bench", heartbeat, ...(o.extraYaml === undefined ? {} : { extraYaml: o.extraYaml }), start: [] });
      await Promise.all(cluster.nodes.map((n) => n.start(o.bin)));
      for (const n of cluster.nodes) watchOf(n);
      await cluster.waitForMesh(30_000);
    },
    crash(victim) {
      for (const w of watches.values()) w.watch.readNew();
      const at = Date.now();
      nodeOf(victim).proc.kill("SIGKILL");
      return at;
    },
    async waitDead(observer, victim, after, timeoutMs) {
      const { line, e } = await waitEvent(nodeOf(observer), peerChange(victim.name, "dead"), after, timeoutMs, `vigil on ${observer.name} to declare ${victim.name} dead`);
      return { observer: observer.name, peer: victim.name, seenAt: line.seenAt, loggedAt: e.at, text: line.text };
    },
    async restart(victim, timeoutMs) {
      const at = Date.now();
      const node = nodeOf(victim);
      await node.start(o.bin);
      const others = o.hosts.filter((h) => h !== victim).map(nodeOf);
      await Promise.all([
        ...others.map((n) => waitEvent(n, peerChange(victim.name, "up"), at, timeoutMs, `vigil on ${n.name} to see ${victim.name} up again`)),
        ...others.map((p) => waitEvent(node, peerChange(p.name, "up"), at, timeoutMs, `restarted vigil on ${victim.name} to see ${p.name} up`)),
      ]);
    },
    verdicts(from, to) {
      const out: VerdictsInWindow = { dead: [], late: [], linkDown: [] };
      for (const { observer, watch } of watches.values()) {
        watch.readNew();
        for (const l of watch.lines) {
          if (l.seenAt < from || l.seenAt > to) continue;
          const e = event(l);
          if (e === undefined) continue;
          const v: Verdict = { observer, peer: String(e.fields.peer), seenAt: l.seenAt, loggedAt: e.at, text: l.text };
          if (anyPeerChange("dead")(e)) out.dead.push(v);
          else if (anyPeerChange("late")(e)) out.late.push(v);
          else if (isLinkDown(e)) out.linkDown.push(v);
        }
      }
      return out;
    },
    lines(pred, from, to) {
      const out: { observer: string; seenAt: number }[] = [];
      for (const { observer, watch } of watches.values()) {
        watch.readNew();
        for (const l of watch.lines) {
          if (l.seenAt < from || l.seenAt > to) continue;
          const e = event(l);
          if (e !== undefined && pred(e)) out.push({ observer, seenAt: l.seenAt });
        }
      }
      return out;
    },
    pids(host) {
      const n = nodeOf(host);
      return running(n) ? [n.proc.pid] : [];
    },
    notRunning() {
      return cluster === undefined ? o.hosts.map((h) => h.name) : cluster.nodes.filter((n) => !running(n)).map((n) => n.name);
    },
    async stop() {
      try {
        await cluster?.stop();
      } finally {
        for (const w of watches.values()) w.watch.close();
      }
    },
  };
}
