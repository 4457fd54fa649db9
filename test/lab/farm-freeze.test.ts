/**
 * A frozen farm daemon on the real binary. SIGSTOP h3's daemon: its kernel
 * lease runs out before h1 and h2 take its buckets (the lease is shorter than
 * the deadtime), so each new connection is answered by exactly one node, the
 * one the split over h1 and h2 predicts, and h3's kernel accepts none of them
 * (its nft counter, read while the daemon is frozen, does not move), while
 * h3's own established connections keep flowing (they do not need the lease).
 * SIGCONT: h3 finds its lease lapsed, holds nothing, listens, and takes
 * exactly its share back; nothing breaks, and new connections again go to
 * exactly the predicted node. Then a clean stop of h3 (SIGTERM): h1 and h2
 * take its buckets from what it says as it stops, not from its silence a
 * deadtime later.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { nftBucket } from "../../src/core/farm/jhash.ts";
import { owners, ownershipTable } from "../../src/core/farm/ownership.ts";
import { BUCKETS } from "../../src/core/farm/types.ts";
import { farmSeeds } from "../../src/daemon/farm/seeds.ts";
import { acceptedCount, askReport, FARM_PORT, FARM_VIP, farmHosts, runClient, startFarmService, startStream, waitForSplit } from "./farm-lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { peerChange, startVigilCluster, type VigilCluster, type VigilNode } from "./vigil-cluster.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describeLab(
  "farm: a frozen daemon",
  () => {
    const lab = useLab({ hosts: 4 });

    labTest("SIGSTOP: its node falls silent before the others take its buckets; SIGCONT: it rejoins cleanly", async () => {
      const { nodes: nodesHosts, client } = farmHosts(lab());
      const dir = mkdtempSync(join(tmpdir(), "vigil-farm-freeze-"));
      let cluster: VigilCluster | undefined;
      let frozen: VigilNode | undefined;
      try {
        for (const h of nodesHosts) await startFarmService(h);
        cluster = await startVigilCluster({
          hosts: nodesHosts,
          dir,
          heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "3s" },
          extraYaml: ["modules:", "  - name: web", "    type: farm", `    vip: ${FARM_VIP}/24`, `    ports: [${FARM_PORT}]`, "    split: client_ip_port"],
        });
        await cluster.waitForMesh();
        const all = cluster.nodes as VigilNode[];
        const [n1, n2, n3] = all as [VigilNode, VigilNode, VigilNode];
        await waitForSplit(all, ["h1", "h2", "h3"]);
        const seeds = farmSeeds(readFileSync(cluster.keyFile), "lab", "web");
        const t = ownershipTable([1, 1, 1].map((weight, i) => ({ name: `h${i + 1}`, weight })), seeds.ownershipSeed);
        const cl = client.addr(1);
        const predict = (view: number, sport: number): string => `h${(owners(t, view)[nftBucket(cl, sport, BUCKETS, seeds.nftSeed)] ?? -2) + 1}`;

        const stream = await startStream(client, "stream-freeze", 45);
        await sleep(1000);
        const before = await askReport(stream);
        expect(before.broken).toEqual([]);
        expect(before.byNode["h3"] ?? 0).toBeGreaterThan(0);

        frozen = n3;
        n3.proc.kill("SIGSTOP");
        await waitForSplit([n1, n2], ["h1", "h2"]);
        const h3Before = await acceptedCount(nodesHosts[2]!);
        const during = await runClient(client, { mode: "tcp", count: 600, concurrency: 30, firstPort: 21000 });
        expect(during.errors).toBe(0);
        expect(during.results.filter(([sport, node]) => predict(0b011, sport) !== node)).toEqual([]);
        // h3's kernel took none of them, though a third of them hash to its old buckets.
        expect(during.results.filter(([sport]) => predict(0b111, sport) === "h3").length).toBeGreaterThan(100);
        expect(await acceptedCount(nodesHosts[2]!)).toBe(h3Before);
        // Its own connections keep flowing while it is frozen; nobody's broke.
        await sleep(1000);
        const mid = await askReport(stream);
        expect(mid.broken).toEqual([]);
        expect(mid.byNode["h3"]).toBe(before.byNode["h3"]);

        n3.proc.kill("SIGCONT");
        frozen = undefined;
        await n3.waitForLog((e) => e.msg.includes("kernel lease lapsed"), { timeoutMs: 10_000 });
        await waitForSplit(all, ["h1", "h2", "h3"]);
        const after = await runClient(client, { mode: "tcp", count: 600, concurrency: 30, firstPort: 23000 });
        expect(after.errors).toBe(0);
        expect(after.results.filter(([sport, node]) => predict(0b111, sport) !== node)).toEqual([]);
        await sleep(1000);
        expect((await askReport(stream)).broken).toEqual([]);
        stream.write("quit\n");

        const since = Date.now();
        const exit = await n3.proc.stop(10_000);
        expect(exit.signal ?? null).toBeNull();
        await waitForSplit([n1, n2], ["h1", "h2"]);
        const taken = await n1.waitForLog((e) => e.msg === "farm rebalanced" && e.fields["about"] === "h3" && Number(e.fields["gained"]) > 0, { after: since });
        const silence = n1.events().find((e) => e.at >= since && e.seq < taken.seq && peerChange("h3", "dead", "silent-deadtime")(e));
        expect(silence).toBeUndefined();
        const stopped = await runClient(client, { mode: "tcp", count: 300, concurrency: 30, firstPort: 25000 });
        expect(stopped.errors).toBe(0);
        expect(stopped.results.filter(([sport, node]) => predict(0b011, sport) !== node)).toEqual([]);
      } finally {
        // A frozen daemon cannot handle the SIGTERM of a clean stop.
        frozen?.proc.kill("SIGCONT");
        await cluster?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 180_000);
  },
  { tools: ["nft"] },
);
