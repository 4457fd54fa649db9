/**
 * The heartbeat engine on a real kernel: three `dist/vigil run` daemons on
 * lab hosts h1..h3, two links each (eth0 on 198.51.100.0/24, eth1 on
 * 203.0.113.0/24), unicast UDP, JSON logs. h4 stays free for an intruder.
 *
 * Detection times come from the observers' own log timestamps; every
 * process shares this machine's clock, so "killed at" (taken here just
 * before the signal) and "declared dead at" (in the peer's log) compare
 * directly. The bound checked is the protocol's: a peer is dead at most
 * deadtime + one interval after its last frame, which came before the kill.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { HEARTBEAT_PRESETS } from "../../src/config/defaults.ts";
import { udpCounters } from "./udp-flood.ts";
import { sleep } from "./wait.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import {
  anyPeerChange, clusterYaml, isStall, launchVigil, linkChange, metricValue, peerChange, startVigilCluster, vigilKeygen,
  type VigilCluster, type VigilLogEvent, type VigilNode,
} from "./vigil-cluster.ts";

const LAN = HEARTBEAT_PRESETS.lan; // 100 ms interval, 250 ms warntime, 500 ms deadtime

/**
 * What the bound allows beyond deadtime + interval for getting the verdict
 * out: the observer's timer firing late (a normal-priority process on a
 * 2-core box shared with other test workers) and writing the log line.
 * Freezes longer than two intervals are not covered by it: the engine
 * reports them as stalls and stretches its deadlines by the credited time,
 * which the bound then adds (see stallCredit).
 */
const SCHEDULING_ALLOWANCE_MS = 50;
/** Log timestamps and status ages are whole ms, taken on two clocks of the same machine. */
const CLOCK_ROUNDING_MS = 3;

describeLab("heartbeat engine on a real kernel (3 nodes, 2 links)", () => {
  const lab = useLab({ hosts: 4, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-heartbeat-lab-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  /** h1..h3 at the lan preset (`initdead` instead of its 5 s), every node seeing every peer up; stopped when the test ends. */
  async function meshOfThree(opts: { initdead?: string } = {}): Promise<VigilCluster> {
    const hosts = [lab().host(1), lab().host(2), lab().host(3)];
    const cluster = await startVigilCluster({ hosts, dir: mkdtempSync(join(dir, "c-")), heartbeat: { preset: "lan", ...opts } });
    onTestFinished(() => cluster.stop());
    await cluster.waitForMesh();
    return cluster;
  }

  const since = (n: VigilNode, t: number, pred: (e: VigilLogEvent) => boolean): VigilLogEvent[] => n.events().filter((e) => e.at >= t && pred(e));

  /**
   * When `n` last heard `peer` on any link, on this machine's clock: no later
   * than the truth, as the age is read after the status was asked for.
   */
  const lastHeard = async (n: VigilNode, peer: string): Promise<number> => {
    const askedAt = Date.now();
    const ages = (await n.status()).peers.find((p) => p.name === peer)?.links.flatMap((l) => (l.lastHeardMsAgo === null ? [] : [l.lastHeardMsAgo])) ?? [];
    expect(ages.length, `${n.name} has heard ${peer} on some link`).toBeGreaterThan(0);
    return askedAt - Math.min(...ages);
  };

  /** Deadline stretch the observer granted itself for its own freezes between two instants. */
  const stallCredit = (n: VigilNode, from: number, to: number): number =>
    n.events().filter((e) => isStall(e) && e.at >= from && e.at <= to).reduce((sum, e) => sum + Number(e.fields.credited_ms), 0);

  /**
   * h3 is SIGKILLed; both observers must call it dead within deadtime +
   * `graceMs` + one interval of its last frame, and not before that much
   * silence. `graceMs`: the start-up grace they give it (0 once its start-up
   * is over, "Start-up grace" in membership.ts).
   */
  async function killH3AndCheck(c: VigilCluster, graceMs: number): Promise<void> {
    const [h1, h2, h3] = [c.node("h1"), c.node("h2"), c.node("h3")];
    // When each observer last heard h3 before the kill, as it says itself. Not
    // "one interval before the kill": a node is often silent for a few hundred
    // ms just after its first frames (its start-up's last work, right after
    // the mesh forms), and on a loaded host its frames can wait for a CPU
    // before they are delivered; a verdict deadtime after its real last frame
    // is then less than deadtime after the kill, and right.
    const heardAt = await Promise.all([h1, h2].map((n) => lastHeard(n, "h3")));
    const killedAt = Date.now();
    h3.proc.kill("SIGKILL");
    const verdicts = await Promise.all([h1, h2].map((n) => n.waitForLog(peerChange("h3", "dead"), { after: killedAt, timeoutMs: 5_000 })));

    for (const [i, observer] of [h1, h2].entries()) {
      const dead = verdicts[i] as VigilLogEvent;
      const detection = dead.at - killedAt;
      const bound = LAN.deadtime + graceMs + LAN.interval + stallCredit(observer, killedAt, dead.at) + SCHEDULING_ALLOWANCE_MS;
      expect(dead.fields).toMatchObject({ peer: "h3", from: expect.stringMatching(/^(up|late)$/), reason: "silent-deadtime" });
      expect(String(dead.fields.detail).includes("start-up grace"), String(dead.fields.detail)).toBe(graceMs > 0);
      expect(detection, `${observer.name} declared h3 dead ${detection} ms after the kill`).toBeLessThanOrEqual(bound);
      // Never before deadtime (and the grace) of silence, counted from a last
      // frame that lies between one it had heard before the kill and the kill itself.
      const silent = Number(/silent on all \d+ links for (\d+) ms/.exec(String(dead.fields.detail))?.[1]);
      expect(silent, `${observer.name}: ${String(dead.fields.detail)}`).toBeGreaterThanOrEqual(LAN.deadtime + graceMs);
      const lastFrame = dead.at - silent;
      expect(lastFrame, `${observer.name} last heard h3 ${(heardAt[i] as number) - lastFrame} ms before a frame it had already heard`).toBeGreaterThanOrEqual((heardAt[i] as number) - CLOCK_ROUNDING_MS);
      expect(lastFrame - killedAt, `${observer.name} last heard h3 after the kill`).toBeLessThanOrEqual(LAN.interval);
    }
    // The survivors keep each other, also while frames to the dead node's
    // closed port come back as ICMP port-unreachable for a while.
    await sleep(3 * LAN.deadtime);
    for (const [a, b] of [[h1, h2], [h2, h1]] as const) {
      expect(since(a, killedAt, peerChange(b.name, "dead"))).toEqual([]);
      const st = await a.status();
      expect(st.peers.find((p) => p.name === b.name)?.state).toBe("up");
      expect(st.peers.find((p) => p.name === "h3")?.state).toBe("dead");
    }
  }

  labTest("a killed node is declared dead by both peers within deadtime + one interval", async () => {
    const c = await meshOfThree();
    // Past h3's start-up: for initdead after its peers first hear it, they give
    // it one deadtime more.
    await sleep(LAN.initdead);
    await killH3AndCheck(c, 0);
  });

  labTest("a node killed in its start-up: its peers give it one deadtime of grace, and call it dead within 2 x deadtime + one interval", async () => {
    // initdead 10 s: the mesh forms well within h3's start-up grace, however loaded the host.
    const c = await meshOfThree({ initdead: "10s" });
    const firstHeard = Math.max(...[c.node("h1"), c.node("h2")].map((n) => n.events().find(peerChange("h3", "up"))?.at ?? Infinity));
    expect(Date.now() - firstHeard, "the mesh formed late in h3's start-up grace").toBeLessThan(8_000);
    await killH3AndCheck(c, LAN.deadtime);
  });

  labTest("a link going down degrades the link, not the peer, and shows in vigil status", async () => {
    const c = await meshOfThree();
    const [h1, h2, h3] = [c.node("h1"), c.node("h2"), c.node("h3")];
    const h3link2 = lab().host(3).addr(2);
    const linkOf = async (n: VigilNode, peer: string, address: string) => {
      const p = (await n.status()).peers.find((x) => x.name === peer);
      return { peer: p?.state, link: p?.links.find((l) => l.address === address)?.state };
    };

    const downAt = Date.now();
    await lab().linkDown(lab().host(3), { link: 2 });
    // Link index 1 is the second address of each node: link 2 of the lab.
    await Promise.all([
      h1.waitForLog(linkChange("h3", 1, "down"), { after: downAt }),
      h2.waitForLog(linkChange("h3", 1, "down"), { after: downAt }),
      h3.waitForLog(linkChange("h1", 1, "down"), { after: downAt }),
      h3.waitForLog(linkChange("h2", 1, "down"), { after: downAt }),
    ]);
    for (const n of [h1, h2]) {
      expect(await linkOf(n, "h3", h3link2)).toEqual({ peer: "up", link: "down" });
      expect(await linkOf(n, "h3", lab().host(3).addr(1))).toEqual({ peer: "up", link: "up" });
    }
    expect(await linkOf(h3, "h1", lab().host(1).addr(2))).toEqual({ peer: "up", link: "down" });
    // h1 and h2 still hear each other on link 2: only h3's cable is out.
    expect(await linkOf(h1, "h2", lab().host(2).addr(2))).toEqual({ peer: "up", link: "up" });

    const upAt = Date.now();
    await lab().linkUp(lab().host(3), { link: 2 });
    await Promise.all([
      h1.waitForLog(linkChange("h3", 1, "up"), { after: upAt }),
      h2.waitForLog(linkChange("h3", 1, "up"), { after: upAt }),
    ]);
    expect(await linkOf(h1, "h3", h3link2)).toEqual({ peer: "up", link: "up" });
    expect(await linkOf(h2, "h3", h3link2)).toEqual({ peer: "up", link: "up" });
    await h3.waitForLog(linkChange("h1", 1, "up"), { after: upAt });
    expect(await linkOf(h3, "h1", lab().host(1).addr(2))).toEqual({ peer: "up", link: "up" });

    for (const n of [h1, h2, h3]) expect(since(n, downAt, anyPeerChange("dead")), `dead verdicts on ${n.name}`).toEqual([]);
  });

  labTest("a frozen node: short freezes are tolerated, long ones are dead until it runs again", async () => {
    const c = await meshOfThree();
    const [h1, h2, h3] = [c.node("h1"), c.node("h2"), c.node("h3")];

    const shortAt = Date.now();
    h3.proc.kill("SIGSTOP");
    await sleep(LAN.deadtime / 3);
    h3.proc.kill("SIGCONT");
    // Give a wrong verdict every chance to show up before looking.
    await sleep(2 * LAN.deadtime);
    for (const n of [h1, h2, h3]) expect(since(n, shortAt, anyPeerChange("dead")), `dead verdicts on ${n.name} after a short freeze`).toEqual([]);

    const longAt = Date.now();
    h3.proc.kill("SIGSTOP");
    await Promise.all([h1, h2].map((n) => n.waitForLog(peerChange("h3", "dead"), { after: longAt, timeoutMs: 5_000 })));
    await sleep(3 * LAN.deadtime - (Date.now() - longAt));
    const contAt = Date.now();
    h3.proc.kill("SIGCONT");

    const back = await Promise.all([h1, h2].map((n) => n.waitForLog(peerChange("h3", "up"), { after: contAt, timeoutMs: 5_000 })));
    for (const e of back) expect(e.fields).toMatchObject({ from: "dead", to: "up", reason: "heard-again" });
    // The frozen node blames itself, not its peers.
    const stall = await h3.waitForLog(isStall, { after: longAt, timeoutMs: 5_000 });
    expect(Number(stall.fields.gap_ms)).toBeGreaterThanOrEqual(3 * LAN.deadtime - 2 * LAN.interval);
    expect(since(h3, longAt, anyPeerChange("dead"))).toEqual([]);
    const st = await h3.status();
    expect(st.peers.map((p) => [p.name, p.state])).toEqual([["h1", "up"], ["h2", "up"]]);
  });

  labTest("an impostor with another key on a host that is no peer: its frames never reach vigil and change nothing", async () => {
    const c = await meshOfThree();
    const [h1, h2] = [c.node("h1"), c.node("h2")];
    const strangers = async (n: VigilNode) => metricValue(await n.metrics(), "vigil_heartbeat_strangers_dropped_total", { link: "0" });
    const badMac = async (n: VigilNode) => metricValue(await n.metrics(), "vigil_heartbeat_frames_rejected_total", { reason: "bad-mac" });
    // Every heartbeat socket is connected to its peers: the kernel drops the rest as for a closed port.
    const noPorts = () => Promise.all([1, 2].map(async (i) => (await udpCounters(lab().host(i))).NoPorts));
    const before = await noPorts();

    // An impostor on h4 with a key of its own, claiming to be h3 of the same cluster: same
    // cluster and node names as the real config, h3 at h4's addresses.
    const h4 = lab().host(4);
    const impostorDir = mkdtempSync(join(dir, "impostor-"));
    const config = join(impostorDir, "vigil.yaml");
    writeFileSync(config, clusterYaml({
      name: "lab",
      keyFile: await vigilKeygen(join(impostorDir, "other.key")),
      nodes: [1, 2, 4].map((i) => ({ name: i === 4 ? "h3" : `h${i}`, addresses: lab().host(i).addrs })),
      heartbeat: { preset: "lan" },
    }));
    const startedAt = Date.now();
    const proc = await launchVigil(h4, { config, node: "h3", stateDir: join(impostorDir, "state"), logName: "impostor" });
    onTestFinished(async () => {
      await proc.stop(3_000);
    });

    await proc.waitFor(async () => (await noPorts()).every((x, i) => x >= (before[i] ?? 0) + 10), 10_000);
    // Let it go on for a whole deadtime and more: still nothing may move.
    await sleep(2 * LAN.deadtime);
    // Dropped before vigil could even look at them.
    expect(await Promise.all([h1, h2].map(badMac))).toEqual([0, 0]);
    expect(await Promise.all([h1, h2].map(strangers))).toEqual([0, 0]);

    for (const n of [h1, h2]) {
      expect(since(n, startedAt, anyPeerChange()), `peer changes on ${n.name} while the impostor ran`).toEqual([]);
      const st = await n.status();
      expect(st.peers.every((p) => p.state === "up")).toBe(true);
    }
  });
});
