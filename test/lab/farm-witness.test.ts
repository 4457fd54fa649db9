/**
 * A two-node farm, on the real binary, first without a witness, then with a
 * ping witness (cluster.witness.ping: the client host h3).
 *
 * - Without a witness, SIGKILL of h2: h1 hears no peer, cannot tell the crash
 *   from its own isolation, and serves every bucket (availability first):
 *   every new connection answered, by h1.
 * - With the witness, SIGKILL of h2: h1 hears no peer, the witness answers a
 *   round asked after that, and h1 serves every bucket alone: every new
 *   connection answered, by h1;
 * - h2 back, then cut off behind its switch port (carrier up): it reaches
 *   neither h1 nor the witness and holds nothing, while h1 (witness
 *   answering) serves everything; the cut heals and both share again, with
 *   every connection answered by exactly the predicted node.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { nftBucket } from "../../src/core/farm/jhash.ts";
import { owners, ownershipTable } from "../../src/core/farm/ownership.ts";
import { BUCKETS } from "../../src/core/farm/types.ts";
import { farmSeeds } from "../../src/daemon/farm/seeds.ts";
import { cutAtSwitch, FARM_PORT, FARM_VIP, farmOf, runClient, startFarmService, waitForSplit } from "./farm-lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { type LabHost, waitUntil } from "./lab.ts";
import { startVigilCluster, type VigilCluster, type VigilNode } from "./vigil-cluster.ts";

describeLab(
  "farm: two nodes and a ping witness",
  () => {
    const lab = useLab({ hosts: 3 });

    labTest("the survivor of a crash serves alone, without a witness and on the witness's word; with one, a node cut off from both holds nothing", async () => {
      const [h1, h2, client] = lab().hosts as [LabHost, LabHost, LabHost];
      const dir = mkdtempSync(join(tmpdir(), "vigil-farm-witness-"));
      let cluster: VigilCluster | undefined;
      try {
        for (const h of [h1, h2]) await startFarmService(h);
        cluster = await startVigilCluster({
          hosts: [h1, h2],
          dir,
          heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "1s" },
          extraYaml: ["modules:", "  - name: web", "    type: farm", `    vip: ${FARM_VIP}/24`, `    ports: [${FARM_PORT}]`, "    split: client_ip_port"],
          start: [],
        });
        const [n1, n2] = cluster.nodes as [VigilNode, VigilNode];
        await Promise.all([n1.start(), n2.start()]);
        await waitForSplit([n1, n2], ["h1", "h2"]);

        // No witness: the survivor of a crash serves every bucket.
        n2.proc.kill("SIGKILL");
        await waitUntil(async () => (await farmOf(n1))?.held === BUCKETS, { timeoutMs: 10_000, what: "h1 serving alone without a witness" });
        expect((await farmOf(n1))?.detail).toContain("no witness to tell");
        const unwitnessed = await runClient(client, { mode: "tcp", count: 100, concurrency: 20, firstPort: 20000 });
        expect(unwitnessed.errors).toBe(0);
        expect(unwitnessed.byNode).toEqual({ h1: 100 });

        // The witness belongs under cluster:, which clusterYaml writes without one.
        writeFileSync(cluster.config, readFileSync(cluster.config, "utf8").replace("  heartbeat:", `  witness: { ping: [${client.addr(1)}] }\n  heartbeat:`));
        n1.proc.kill("SIGTERM");
        await n1.proc.exited;
        await Promise.all([n1.start(), n2.start()]);
        await waitForSplit([n1, n2], ["h1", "h2"]);
        const seeds = farmSeeds(readFileSync(cluster.keyFile), "lab", "web");
        const t = ownershipTable([1, 1].map((weight, i) => ({ name: `h${i + 1}`, weight })), seeds.ownershipSeed);
        const cl = client.addr(1);
        const predict = (view: number, sport: number): string => `h${(owners(t, view)[nftBucket(cl, sport, BUCKETS, seeds.nftSeed)] ?? -2) + 1}`;

        n2.proc.kill("SIGKILL");
        await waitUntil(async () => (await farmOf(n1))?.held === BUCKETS, { timeoutMs: 10_000, what: "h1 serving alone" });
        expect((await farmOf(n1))?.detail).toContain("witness answers");
        const alone = await runClient(client, { mode: "tcp", count: 200, concurrency: 20, firstPort: 21000 });
        expect(alone.errors).toBe(0);
        expect(alone.byNode).toEqual({ h1: 200 });

        await n2.start();
        await waitForSplit([n1, n2], ["h1", "h2"]);
        await cutAtSwitch(lab().switch, h2, true);
        await waitUntil(async () => (await farmOf(n2))?.detail.includes("the witness does not answer") === true, { timeoutMs: 10_000, what: "h2 cut off" });
        expect((await farmOf(n2))?.held).toBe(0);
        await waitUntil(async () => (await farmOf(n1))?.held === BUCKETS, { timeoutMs: 10_000, what: "h1 serving alone again" });
        const cutOff = await runClient(client, { mode: "tcp", count: 200, concurrency: 20, firstPort: 22000 });
        expect(cutOff.errors).toBe(0);
        expect(cutOff.byNode).toEqual({ h1: 200 });
        await cutAtSwitch(lab().switch, h2, false);
        await waitForSplit([n1, n2], ["h1", "h2"]);
        const healed = await runClient(client, { mode: "tcp", count: 300, concurrency: 30, firstPort: 23000 });
        expect(healed.errors).toBe(0);
        expect(healed.results.filter(([sport, node]) => predict(0b11, sport) !== node)).toEqual([]);
      } finally {
        await cluster?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  },
  { tools: ["nft"] },
);
