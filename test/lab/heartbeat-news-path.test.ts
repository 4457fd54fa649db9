/**
 * Heartbeat news paths (udp-transport.ts "News", news-path.ts) through the
 * real binary on two lab nodes with a failover module (module-lab.ts):
 *
 * - two nodes of this build read each other's periodic frames once per
 *   round once the news path is heard; an nft rule on h2 that drops UDP
 *   from the heartbeat port + 1 (a firewall that filters on the source
 *   port) makes h1 read h2's frames as they come again, with a warning;
 *   h2 is never late or dead meanwhile, and a swap to h2 and back works
 *   through the cut; h2, whose probes h1 no longer echoes, sends its news
 *   to h1 from the port again (with a warning), so its goodbye arrives
 *   (h1 says stopped, not dead); lifted, the news path is taken again both
 *   ways;
 * - beside a node of the previous release (frame version 3), this build
 *   takes no news path to it, both stay up, and swaps work both ways.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { type ModuleLab, startModuleLab } from "./module-lab.ts";
import { nftCut } from "./nft-cut.ts";
import { oldVigilBinary } from "./old-binary.ts";
import type { VigilLogEvent, VigilNode } from "./vigil-cluster.ts";
import { DEFAULT_HEARTBEAT_PORT } from "../../src/net/udp-transport.ts";

/** The last commit whose frames are version 3 (before news paths). */
const VERSION_3_RELEASE = "ae84582";

const readLate = (peer: string) => (e: VigilLogEvent): boolean => e.msg === `peer ${peer}: its frames are read once per round, its news as it comes (from its port + 1)`;
const silentNews = (peer: string) => (e: VigilLogEvent): boolean => e.level === "warn" && e.msg.startsWith(`peer ${peer}: nothing came from its port + 1 for `);
const newsUnread = (peer: string) => (e: VigilLogEvent): boolean => e.level === "warn" && e.msg.startsWith(`peer ${peer}: it has read nothing from our port + 1 for `);
const newsRead = (peer: string) => (e: VigilLogEvent): boolean => e.msg === `peer ${peer}: it reads our news from our port + 1; our news goes to it from there`;
/**
 * Dead or stopped verdicts about `peer` in `node`'s log since `since`. (Late
 * warnings are not counted: on a loaded machine a peer's own stalls give
 * some, with or without news paths.)
 */
const verdicts = (node: VigilNode, peer: string, since: number): string[] =>
  node.events().filter((e) => e.at >= since && e.msg.startsWith(`peer ${peer} `) && /\b(dead|stopped)$/.test(e.msg)).map((e) => e.msg);

/** h2's firewall drops every datagram it sends from the heartbeat's port + 1; the returned call lifts it. */
const dropNewsPort = (host: VigilNode["host"], table: string): Promise<() => Promise<void>> =>
  nftCut(host, `${table}${process.pid}`, [`chain out { type filter hook output priority 0; udp sport ${DEFAULT_HEARTBEAT_PORT + 1} drop; }`]);

/** `web` swapped to h2 and back to h1, each swap answered and carried out. */
async function swapThereAndBack(m: ModuleLab, h1: VigilNode, h2: VigilNode): Promise<void> {
  for (const to of [h2, h1]) {
    const r = await m.cli(to, ["swap", "web"]);
    expect(r.code, r.stderr).toBe(0);
    await m.waitRole(to, ["PRIM"], 30_000);
  }
}

describeLab("heartbeat news paths", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  let v3Bin = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vigil-news-path-"));
    v3Bin = await oldVigilBinary(VERSION_3_RELEASE);
  }, 600_000);
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  /** A module lab of its own under DIR/NAME: h1 PRIM of `web`, h2 SECOND. */
  async function pair(name: string): Promise<{ m: ModuleLab; h1: VigilNode; h2: VigilNode }> {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, `${name}-`)), failback: "manual" });
    onTestFinished(() => m.stop());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await m.waitRole(h1, ["PRIM"], 30_000);
    await m.waitRole(h2, ["SECOND"], 30_000);
    return { m, h1, h2 };
  }

  labTest("a firewall that drops the port + 1 turns the news path off, not the peer: no verdict, swaps work, it comes back when lifted", async () => {
    const { m, h1, h2 } = await pair("cut");
    await h1.waitForLog(readLate("h2"), { timeoutMs: 30_000, what: "h1 reads h2's frames once per round" });
    await h2.waitForLog(readLate("h1"), { timeoutMs: 30_000, what: "h2 reads h1's frames once per round" });

    const cutAt = Date.now();
    const lift = await dropNewsPort(h2.host, "newscut");
    await h1.waitForLog(silentNews("h2"), { after: cutAt, timeoutMs: 40_000, what: "h1 warns that nothing comes from h2's port + 1" });
    await h2.waitForLog(newsUnread("h1"), { after: cutAt, timeoutMs: 40_000, what: "h2 warns that h1 reads nothing from its port + 1" });
    await swapThereAndBack(m, h1, h2);
    expect(verdicts(h1, "h2", cutAt)).toEqual([]);
    expect(verdicts(h2, "h1", cutAt)).toEqual([]);

    const liftAt = Date.now();
    await lift();
    await h1.waitForLog(readLate("h2"), { after: liftAt, timeoutMs: 30_000, what: "h1 reads h2's frames once per round again" });
    await h2.waitForLog(newsRead("h1"), { after: liftAt, timeoutMs: 30_000, what: "h2 sends its news to h1 from its port + 1 again" });
    expect(verdicts(h1, "h2", cutAt)).toEqual([]);
  }, 150_000);

  labTest("behind a firewall that drops the port + 1, a stopping node's goodbye still arrives: its peer says stopped, not dead", async () => {
    const { m, h1, h2 } = await pair("bye");
    await h1.waitForLog(readLate("h2"), { timeoutMs: 30_000, what: "h1 reads h2's frames once per round" });
    await h2.waitForLog(newsRead("h1"), { timeoutMs: 30_000, what: "h2 sends its news to h1 from its port + 1" });

    const cutAt = Date.now();
    await dropNewsPort(h2.host, "byecut");
    await h2.waitForLog(newsUnread("h1"), { after: cutAt, timeoutMs: 40_000, what: "h2 warns that h1 reads nothing from its port + 1" });
    const byeAt = Date.now();
    await m.terminate(h2);
    await h1.waitForLog((e) => e.msg === "peer h2 stopped" || e.msg === "peer h2 dead", { after: byeAt, timeoutMs: 10_000, what: "h1's verdict on h2" });
    expect(verdicts(h1, "h2", cutAt)).toEqual(["peer h2 stopped"]);
  }, 120_000);

  labTest("beside a node of the previous release (version 3): no news path to it, both up, swaps work both ways", async () => {
    const { m, h1, h2 } = await pair("mixed");
    const byeAt = Date.now();
    await m.terminate(h2);
    await h1.waitForLog((e) => e.msg === "peer h2 stopped", { after: byeAt, timeoutMs: 10_000 });
    const oldAt = Date.now();
    await h2.start(v3Bin);
    await h1.waitForLog((e) => e.msg === "peer h2 up", { after: oldAt, timeoutMs: 30_000 });
    await h1.waitForLog((e) => e.msg.startsWith("peer h2 speaks heartbeat frame version 3"), { after: oldAt, timeoutMs: 30_000 });
    await m.waitRole(h2, ["SECOND"], 30_000);
    await swapThereAndBack(m, h1, h2);
    const peer = (await h1.status()).peers.find((p) => p.name === "h2");
    expect(peer?.frameVersion).toBe(3);
    expect(h1.events().filter((e) => e.at >= oldAt && readLate("h2")(e))).toEqual([]);
    expect(verdicts(h1, "h2", oldAt)).toEqual([]);
    expect(verdicts(h2, "h1", oldAt)).toEqual([]);
  });
});
