/**
 * The replication link as a sign of life, on the real binary (mirror-lab.ts):
 * during the first sync, the heartbeats are cut both ways and so is the one
 * direction of the SECOND's own connection that carries the PRIM's answers
 * and timed pings (h1's server to h2's client), while the PRIM's connection
 * to the SECOND still flows. h2 then hears h1 only through the records of
 * that one connection (the sync's ops and requests, h1's pings, the answers
 * to its own pings): it must not call h1 dead, and its silent connection
 * must not cut the link and the sync with it (src/net/replication-link-
 * hearing.ts, "Records" in src/core/membership/membership.ts). Nothing here
 * depends on how long anything takes: the cut lasts until the sync ended.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTestNeeding, useLab, useRunDirs } from "./lab-test.ts";
import { explainOnFailure, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { nftCut } from "./nft-cut.ts";
import { noise } from "../unit/resync-fixture.ts";

/** 40 files of 512 KiB at resync_rate 2 MiB/s: a first sync of about ten seconds, whatever the host. */
const FILES = 40;
const FILE_BYTES = 512 * 1024;

describeLab("mirror module: the replication link keeps the peer alive", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-liveness-");

  labTestNeeding("nft")("heartbeats and one direction of the SECOND's connection cut during the first sync: nobody is called dead, the sync is not cut", async () => {
    // A deadtime of 2 s: on a host at load 30 an answer to a ping on the connection that carries the sync comes
    // back 1-2 s late (it waits behind the sync's data and for two late event loops); the rules under test scale
    // with the deadtime, the host's lateness does not.
    const m = await startMirrorLab({ lab: lab(), dir: runDir("live"), start: [], extraModuleYaml: ["    resync_rate: 2"], heartbeat: "{ interval: 200ms, deadtime: 2s, initdead: 5s }" });
    onTestFinished(() => m.stopAll());
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    const d1 = join(m.data("h1"), "big");
    mkdirSync(d1, { recursive: true });
    for (let i = 0; i < FILES; i++) writeFileSync(join(d1, `f${i}`), noise(i + 1, FILE_BYTES));
    await h1.start();
    await h2.start();
    await h2.waitModule((x) => x.mirror?.link === "up" && x.mirror.data === "inconsistent", "h2's first sync is under way", 60_000);

    // Only what the daemons say from the cut on counts (a loaded host may see late frames at start-up).
    const before = { h1: h1.proc?.output().length ?? 0, h2: h2.proc?.output().length ?? 0 };
    const table = `vigil_live_${lab().run.replace(/\W/g, "")}`;
    const lift = await nftCut(h2.host, table, [
      // Heartbeats, both ways; and what h1's server (port 7696) sends to h2's client.
      "chain input { type filter hook input priority 0; udp dport 7694 drop; udp sport 7694 drop; tcp sport 7696 drop; }",
      "chain output { type filter hook output priority 0; udp dport 7694 drop; udp sport 7694 drop; }",
    ]);
    const atCut = await h2.module();
    if (atCut.mirror?.data !== "inconsistent") throw new Error(`the first sync ended before the cut (h2's copy is ${atCut.mirror?.data}): the test saw nothing; give it more data`);

    const synced = await h2.waitModule((x) => x.mirror?.data === "uptodate", "h2's first sync ended under the cut", 120_000);
    expect(synced.mirror?.link, JSON.stringify(synced.mirror)).toBe("up");
    // The heartbeats were cut (h2's heartbeat link to h1 is down), yet h1 is alive for h2, and h2 for h1.
    const peerOf = async (n: typeof h1, peer: string) => (await n.status()).peers.find((p) => p.name === peer);
    const h1seen = await peerOf(h2, "h1");
    expect({ state: h1seen?.state, link: h1seen?.links[0]?.state }).toEqual({ state: "up", link: "down" });
    expect((await peerOf(h1, "h2"))?.state).toBe("up");
    await lift();

    const log1 = (h1.proc?.output() ?? "").slice(before.h1);
    const log2 = (h2.proc?.output() ?? "").slice(before.h2);
    const lines = (log: string, re: RegExp) => log.split("\n").filter((l) => re.test(l));
    expect(lines(log2, /"msg":"peer h1 dead"/), "h2 called h1 dead").toEqual([]);
    expect(lines(log1, /"msg":"peer h2 dead"/), "h1 called h2 dead").toEqual([]);
    expect(lines(log1, /"msg":"mirror resync failed"/), "a resync pass was cut or failed").toEqual([]);
    expect((await h1.module()).state).toBe("PRIM");

    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0 && x.mirror.writes === "replicate", "no write of h1 waiting");
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
  }, 300_000);
});
