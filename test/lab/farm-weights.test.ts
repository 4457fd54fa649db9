/**
 * Farm weights on the real binary: h1:h2:h3 = 1:2:1 share 2000 connections
 * from many source ports close to 25/50/25 %, each on the node the split
 * predicts. (The same over 10k clients without a network is in
 * test/unit/farm-ownership.test.ts.) Every node's status counts every
 * node's connections, the same on all three.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { nftBucket } from "../../src/core/farm/jhash.ts";
import { owners, ownershipTable } from "../../src/core/farm/ownership.ts";
import { BUCKETS } from "../../src/core/farm/types.ts";
import { farmSeeds } from "../../src/daemon/farm/seeds.ts";
import { BUN, FARM_FIXTURES, FARM_PORT, FARM_VIP, farmHosts, farmOf, runClient, waitForSplit } from "./farm-lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { waitUntil } from "./lab.ts";
import { startVigilCluster, type VigilCluster, type VigilNode } from "./vigil-cluster.ts";

describeLab(
  "farm weights on the real binary",
  () => {
    const lab = useLab({ hosts: 4 });

    labTest("1:2:1 gives 25/50/25 % within a few points", async () => {
      const { nodes: nodesHosts, client } = farmHosts(lab());
      const dir = mkdtempSync(join(tmpdir(), "vigil-farm-w-"));
      let cluster: VigilCluster | undefined;
      try {
        for (const h of nodesHosts) {
          const args = { name: h.name, module: "svc", interface: h.ifname(1), vip: FARM_VIP, vmac: "02:00:00:00:00:01", seed: 0, ports: [FARM_PORT], split: "client_ip_port" };
          await h.spawn([BUN, join(FARM_FIXTURES, "farm-node.ts"), JSON.stringify(args)], { logName: `svc-${h.name}` }).waitFor(/^ready$/m, 20_000);
        }
        cluster = await startVigilCluster({
          hosts: nodesHosts,
          dir,
          heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "3s" },
          extraYaml: ["modules:", "  - name: web", "    type: farm", `    vip: ${FARM_VIP}/24`, `    ports: [${FARM_PORT}]`, "    split: client_ip_port", "    weights: { h1: 1, h2: 2, h3: 1 }"],
        });
        await cluster.waitForMesh();
        const nodes = cluster.nodes as VigilNode[];
        await waitForSplit(nodes, ["h1", "h2", "h3"]);
        const f = await farmOf(nodes[0]!);
        expect(f?.members.map((m) => [m.node, m.weight, m.buckets])).toEqual([
          ["h1", 1, 64],
          ["h2", 2, 128],
          ["h3", 1, 64],
        ]);

        const r = await runClient(client, { mode: "tcp", count: 2000, concurrency: 40, firstPort: 20000 });
        expect(r.errors).toBe(0);
        const share = (n: string): number => (100 * (r.byNode[n] ?? 0)) / 2000;
        expect(Math.abs(share("h1") - 25), JSON.stringify(r.byNode)).toBeLessThan(5);
        expect(Math.abs(share("h2") - 50), JSON.stringify(r.byNode)).toBeLessThan(5);
        expect(Math.abs(share("h3") - 25), JSON.stringify(r.byNode)).toBeLessThan(5);
        const seeds = farmSeeds(readFileSync(cluster.keyFile), "lab", "web");
        const t = ownershipTable([1, 2, 1].map((weight, i) => ({ name: `h${i + 1}`, weight })), seeds.ownershipSeed);
        const o = owners(t, 0b111);
        const wrong = r.results.filter(([sport, node]) => `h${(o[nftBucket(client.addr(1), sport, BUCKETS, seeds.nftSeed)] ?? -2) + 1}` !== node);
        expect(wrong).toEqual([]);
        // Each node counts all nodes' new connections (it sees every SYN) and names each one's.
        // A SYN the client sent again counts again, so a count may be a little above.
        const want = ["h1", "h2", "h3"].map((n) => r.byNode[n] ?? 0);
        let seen = "";
        await waitUntil(
          async () => {
            const fs = await Promise.all(nodes.map(farmOf));
            const counts = fs.map((x) => (x?.members ?? []).map((m) => m.connections ?? -1));
            seen = JSON.stringify(counts);
            return counts.every((c) => c.length === 3 && c.every((v, i) => v >= (want[i] ?? 0) && v <= (want[i] ?? 0) * 1.02 + 3));
          },
          { timeoutMs: 10_000, what: `every node's status to count about ${want.join(",")} connections for h1,h2,h3` },
        ).catch((e: unknown) => {
          throw new Error(`${e instanceof Error ? e.message : String(e)}; last seen ${seen}`);
        });
      } finally {
        await cluster?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 180_000);
  },
  { tools: ["nft"] },
);
