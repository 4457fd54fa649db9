/**
 * A Linux-HA Heartbeat cluster (bench/lib/linux-ha.ts: one instance per lab
 * host, unicast on every link) behind the benchmark's ClusterUnderTest
 * surface. Heartbeat's log has whole-second timestamps, so every verdict is
 * timed by when its line appears in the file.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { LabHost, LinkNo } from "../../test/lab/lab.ts";
import type { ClusterUnderTest, Verdict, VerdictsInWindow } from "./cluster-under-test.ts";
import { haDeadPeer, haLatePeer, haLinkDeadLine, haLinkUpLine, haUpLine, heartbeatVersion, prepareHaNode, type HaNode, type HaTimers } from "./linux-ha.ts";
import type { SeenLine } from "./log-watch.ts";

export function linuxHaUnderTest(o: { hosts: readonly LabHost[]; links: readonly LinkNo[]; dir: string; timers: HaTimers; realtime?: boolean }): ClusterUnderTest {
  const secret = randomBytes(16).toString("hex");
  const nodes = o.hosts.map((host) =>
    prepareHaNode({
      host,
      nodes: o.hosts,
      timers: o.timers,
      dir: join(o.dir, host.name),
      secret,
      links: o.links,
      ...(o.realtime === undefined ? {} : { realtime: o.realtime }),
    }),
  );
  const nodeOf = (h: LabHost): HaNode => {
    const n = nodes.find((x) => x.host === h);
    if (n === undefined) throw new Error(`the Heartbeat cluster has no node on ${h.name}`);
    return n;
  };
  const running = (n: HaNode): boolean => n.pids().length > 0;

  /** Every other node heard on every link, in lines seen at or after `after`. */
  const seesPeers = (n: HaNode, after: number, timeoutMs: number): Promise<SeenLine[]> =>
    Promise.all(
      nodes
        .filter((p) => p !== n)
        .flatMap((p) =>
          o.links.map((l) =>
            n.watch.waitFor((x) => x.seenAt >= after && haLinkUpLine(p.host.name, n.host.ifname(l))(x.text), {
              timeoutMs,
              what: `heartbeat on ${n.host.name} to hear ${p.host.name} on ${n.host.ifname(l)}`,
            }),
          ),
        ),
    );

  return {
    label: `heartbeat ${heartbeatVersion() ?? "(not installed)"}`,
    hosts: o.hosts,
    async start() {
      const at = Date.now();
      await Promise.all(nodes.map((n) => n.start()));
      await Promise.all(nodes.map((n) => seesPeers(n, at, 30_000)));
    },
    crash(victim) {
      for (const n of nodes) n.watch.readNew();
      return nodeOf(victim).crash();
    },
    async waitDead(observer, victim, after, timeoutMs) {
      const line = await nodeOf(observer).watch.waitFor((l) => l.seenAt >= after && haDeadPeer(l.text) === victim.name, {
        timeoutMs,
        what: `heartbeat on ${observer.name} to declare ${victim.name} dead`,
      });
      return { observer: observer.name, peer: victim.name, seenAt: line.seenAt, text: line.text };
    },
    async restart(victim, timeoutMs) {
      const node = nodeOf(victim);
      await node.stop(); // its log must not mix two live instances
      const at = Date.now();
      await node.start();
      await Promise.all([
        ...nodes
          .filter((n) => n !== node)
          .map((n) =>
            n.watch.waitFor((x) => x.seenAt >= at && haUpLine(victim.name)(x.text), { timeoutMs, what: `heartbeat on ${n.host.name} to see ${victim.name} up again` }),
          ),
        seesPeers(node, at, timeoutMs),
      ]);
    },
    verdicts(from, to) {
      const out: VerdictsInWindow = { dead: [], late: [], linkDown: [] };
      for (const n of nodes) {
        n.watch.readNew();
        const observer = n.host.name;
        for (const l of n.watch.lines) {
          if (l.seenAt < from || l.seenAt > to) continue;
          const dead = haDeadPeer(l.text);
          const late = haLatePeer(l.text);
          const v = (peer: string): Verdict => ({ observer, peer, seenAt: l.seenAt, text: l.text });
          if (dead !== null) out.dead.push(v(dead));
          // It also times its own frames coming back to it; only peers count.
          else if (late !== null && late !== observer) out.late.push(v(late));
          else if (haLinkDeadLine(l.text)) out.linkDown.push(v(/Link (\S+):/.exec(l.text)?.[1] ?? "?"));
        }
      }
      return out;
    },
    pids: (host) => nodeOf(host).pids(),
    notRunning: () => nodes.filter((n) => !running(n)).map((n) => n.host.name),
    async stop() {
      try {
        await Promise.all(nodes.map((n) => n.stop()));
      } finally {
        for (const n of nodes) n.watch.close();
      }
    },
  };
}
