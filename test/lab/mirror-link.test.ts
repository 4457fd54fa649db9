/**
 * Mirror modules when the network fails, on the real binary (see
 * mirror-lab.ts for the topology and the recorder):
 *
 * - Only the replication link is cut (nft drops its port on the SECOND)
 *   while heartbeats flow: the PRIM keeps serving and acknowledging, the
 *   SECOND declares its copy outdated and waits; when the port opens again
 *   it is resynced from the ALONE journal and the copies end identical.
 * - Only the heartbeat port is cut while the replication link flows: the
 *   link counts as a heartbeat link, so neither node declares the other
 *   dead and the module stays where it is (the heartbeat link shows down).
 * - The only link is cut (a split brain without witness): both run the
 *   module and both write; when the cable is back one keeps the module and
 *   its tree, the other's copy is kept whole in its state dir
 *   (conflicts/vms/<time>/), then resynced; nothing is merged silently.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, labTestNeeding, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, type MirrorLab, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { nftCut } from "./nft-cut.ts";
import { waitUntil } from "./lab.ts";
import { isPrimary } from "./arbiter-pair.ts";

async function startPair(m: MirrorLab): Promise<void> {
  await m.node("h1").waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate" && x.mirror.resync?.phase !== "scanning", "h1 runs vms and replicates", 30_000);
  await m.node("h2").waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", 30_000);
}

describeLab("mirror module: link failures", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-link-");

  labTestNeeding("nft")("replication port cut while heartbeats flow: the PRIM goes on alone, the SECOND is outdated, then resynced from the journal", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("cut") });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    const table = `vigil_mirror_cut_${lab().run.replace(/\W/g, "")}`;
    const lift = await nftCut(h2.host, table, [
      "chain input { type filter hook input priority 0; tcp dport 7696 drop; tcp sport 7696 drop; }",
      "chain output { type filter hook output priority 0; tcp sport 7696 drop; tcp dport 7696 drop; }",
    ]);
    const h2out = await h2.waitModule((x) => x.state === "WAIT" && x.mirror?.data === "outdated", "h2 declares its copy outdated", 20_000);
    expect(h2out.mirror?.serving).toMatch(/outdated/);
    const h1alone = await h1.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "alone", "h1 writes alone (journaled)", 20_000);
    expect(h1alone.state).toBe("PRIM");
    // The recorder keeps being acknowledged while the SECOND is away.
    const before = m.acked("h1").records.length;
    await waitUntil(() => m.acked("h1").records.length > before + 20, { timeoutMs: 20_000, what: "more records acknowledged on h1 while alone" });

    await lift();
    const back = await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 resynced", 60_000);
    expect(back.mirror?.resync ?? null).toBeNull();
    await h1.waitModule((x) => x.mirror?.writes === "replicate", "h1 replicates again");
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write of h1 waiting");
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
  });

  labTestNeeding("nft")("heartbeat port cut while the replication link flows: nobody is declared dead, nothing moves", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("hb") });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    const [t1, t2] = [(await h1.module()).lastTransition?.time, (await h2.module()).lastTransition?.time];
    const table = `vigil_hb_cut_${lab().run.replace(/\W/g, "")}`;
    await h2.host.exec(["nft", "-f", "-"], {
      check: true,
      input: `table inet ${table} {\n chain input { type filter hook input priority 0; udp dport 7694 drop; }\n chain output { type filter hook output priority 0; udp dport 7694 drop; }\n}\n`,
    });
    onTestFinished(async () => {
      await h2.host.exec(["nft", "delete", "table", "inet", table]);
    });
    // Silent heartbeat links for three deadtimes (500 ms): each side sees its heartbeat link down, the peer up.
    for (const [me, peer] of [[h1, "h2"], [h2, "h1"]] as const) {
      await waitUntil(async () => {
        const p = (await me.status()).peers.find((x) => x.name === peer);
        return p !== undefined && p.state === "up" && p.links[0]?.state === "down" && (p.links[0]?.lastHeardMsAgo ?? 0) > 1_500;
      }, { timeoutMs: 20_000, what: `${me.name}: its heartbeat link to ${peer} down for three deadtimes, ${peer} still up` });
    }
    const [a, b] = [await h1.module(), await h2.module()];
    // No transition on either node since the cut.
    expect({ h1: a.state, h2: b.state, link: b.mirror?.link, t1: a.lastTransition?.time, t2: b.lastTransition?.time }).toEqual({ h1: "PRIM", h2: "SECOND", link: "up", t1, t2 });
    expect(a.mirror?.writes).toBe("replicate");
  });

  labTest("split brain without witness: both write; the one that keeps the module keeps its tree, the other's changed files are kept aside", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("split") });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    // Segments both copies hold before the cut: the same on both sides, so the resync changes none of them.
    const shared = await waitUntil(() => {
      const segs = m.acked("h1").segments;
      return segs.length >= 2 ? segs : null;
    }, { timeoutMs: 20_000, what: "segments written before the cut" });
    await lab().linkDown("h2");
    let up = false;
    onTestFinished(async () => {
      if (!up) await lab().linkUp("h2");
    });
    await h2.waitModule((x) => x.state === "ALONE", "h2 takes the module too (no witness)", 15_000);
    await h1.waitModule((x) => x.state === "ALONE", "h1 runs alone", 15_000);
    // Both recorders write on their own copy.
    await waitUntil(() => m.acked("h2").records.length > 20 && m.acked("h1").records.length > 20, { timeoutMs: 20_000, what: "both sides to write" });
    await lab().linkUp("h2");
    up = true;
    // One keeps the module; the other rests, its copy kept aside, then resynced.
    const settled = async (): Promise<{ winner: "h1" | "h2"; loser: "h1" | "h2" } | null> => {
      let a, b;
      try {
        [a, b] = [await h1.module(), await h2.module()];
      } catch {
        return null;
      }
      // The loser rests as soon as the heartbeats settle who keeps the module, before its replication
      // link is back: until then its copy (its own tree) still reads up to date. Only with the link up
      // does it learn that both wrote, and only a resync makes it up to date again.
      if (isPrimary(a.state) && b.state === "SECOND" && b.mirror?.data === "uptodate" && b.mirror.link === "up") return { winner: "h1", loser: "h2" };
      if (isPrimary(b.state) && a.state === "SECOND" && a.mirror?.data === "uptodate" && a.mirror.link === "up") return { winner: "h2", loser: "h1" };
      return null;
    };
    const { winner, loser } = await waitUntil(settled, { timeoutMs: 60_000, what: "one node running vms, the other resynced" });
    const kept = join(m.node(loser).stateDir, "conflicts", "vms");
    expect(existsSync(kept), `${loser} kept its copy in ${kept}`).toBe(true);
    const snapshots = readdirSync(kept);
    expect(snapshots.length).toBeGreaterThan(0);
    // The loser's own records are in the kept copy, not lost.
    const loserRecords = m.acked(loser).records;
    const inKept = new Set<number>();
    for (const s of snapshots) for (const r of copyContents(join(kept, s)).records) inKept.add(r);
    const lostForGood = loserRecords.filter((r) => !inKept.has(r) && !copyContents(m.data(winner)).records.has(r));
    expect(lostForGood, `records ${loser} acknowledged that are neither kept aside nor in ${winner}'s copy`).toEqual([]);
    // Only what the resync changed is kept: no segment the copies shared before the cut.
    const keptShared = snapshots.flatMap((s) => [...copyContents(join(kept, s)).segments.keys()]).filter((n) => shared.includes(n));
    expect(keptShared, "segments kept aside although the resync did not change them").toEqual([]);
    await m.stopRecorder(winner);
    await m.node(winner).waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting on the winner");
    expect(treeDigest(m.data(loser))).toBe(treeDigest(m.data(winner)));
    // The split brain stays shown on both nodes, after the resync too, until acknowledged there.
    const loserView = await m.node(loser).module();
    expect(loserView.mirror?.splitBrain).toMatch(new RegExp(`both copies changed while apart.*this node's copy is in .*conflicts/vms/`));
    expect((await m.node(winner).module()).mirror?.splitBrain).toMatch(/both copies changed while apart/);
    for (const n of [winner, loser]) {
      const r = await m.node(n).cli(["ack", "vms"]);
      expect(r.code, r.out).toBe(0);
      expect((await m.node(n).module()).mirror?.splitBrain).toBeNull();
    }
  });

  labTest("vigil verify finds a difference made behind vigil's back, vigil resync repairs it", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("verify") });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    await waitUntil(() => m.acked("h1").records.length > 30, { timeoutMs: 20_000, what: "some records written" });
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting");
    let r = await h2.cli(["verify", "vms"]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/the copies are identical/);

    // Damage h2's copy beneath vigil: 16 bytes in the middle of rec.log.
    execFileSync("dd", ["if=/dev/urandom", `of=${join(m.data("h2"), "rec.log")}`, "bs=16", "count=1", "seek=100", "conv=notrunc"], { stdio: "ignore" });
    r = await h1.cli(["verify", "vms"]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/rec\.log: content/);
    r = await h2.cli(["resync", "vms"]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/does not run vms/);
    r = await h1.cli(["resync", "vms"]);
    expect(r.code, r.out).toBe(0);
    await h1.waitModule((x) => x.mirror?.resync?.phase === "done" && x.mirror.writes === "replicate", "the full resync ended", 60_000);
    await h2.waitModule((x) => x.mirror?.data === "uptodate", "h2 up to date again");
    r = await h1.cli(["verify", "vms"]);
    expect(r.code, r.out).toBe(0);
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
    const metrics = await h2.metrics();
    expect(metrics).toMatch(/vigil_mirror_copy\{module="vms",state="uptodate"\} 1/);
    expect(metrics).toMatch(/vigil_mirror_link_up\{module="vms"\} 1/);
  });
});
