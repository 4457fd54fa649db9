/**
 * The farm's kernel side on real namespaces, without the daemon: vigil's own
 * nft table, macvlan and ARP responder (src/sys/farm) on three nodes, driven
 * by the owners the core computes, and a client on the same switch.
 *
 * - the kernel's jhash puts each (client, port) in the bucket the port predicts;
 * - every TCP connection and UDP flow is answered by exactly the predicted node;
 * - the client learns the virtual MAC from the ARP owner and the switch never does;
 * - a re-split (a node leaves, then returns) keeps every established
 *   connection to the nodes that stay, including those in moved buckets.
 */
import { join } from "node:path";
import { expect } from "vitest";
import { nftBucket } from "../../src/core/farm/jhash.ts";
import { virtualMac } from "../../src/core/farm/vmac.ts";
import { applyView, askReport, BUN, FARM_FIXTURES, FARM_VIP, farmHosts, type FarmSysNode, farmTable, predictedOwner, runClient, startFarmSysNode, type StreamReport } from "./farm-lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";

const spec = { module: "web", seed: 0x5eed0001, ownershipSeed: 0x0fa57, split: "client_ip_port" as const, weights: [1, 1, 1] };

describeLab(
  "farm split on the kernel (no daemon)",
  () => {
    const lab = useLab({ hosts: 4 });

    labTest("the kernel's jhash matches the port, for saddr . sport and saddr alone", async () => {
      const h = lab().host(1);
      const rules = [
        "table inet jhcheck {",
        "  set seen { type ipv4_addr . inet_service . mark; flags dynamic; size 4096; }",
        "  set seen4 { type ipv4_addr . mark; flags dynamic; size 16; }",
        "  chain out { type filter hook output priority 0;",
        "    udp dport 9 meta mark set jhash ip saddr . udp sport mod 256 seed 0xa5a5a5a5",
        "    udp dport 9 add @seen { ip saddr . udp sport . meta mark }",
        "    udp dport 9 meta mark set jhash ip saddr mod 256 seed 0x01020304",
        "    udp dport 9 add @seen4 { ip saddr . meta mark }",
        "  }",
        "}",
        "",
      ].join("\n");
      await h.exec(["nft", "-f", "-"], { input: rules, check: true });
      try {
        await h.exec([BUN, join(FARM_FIXTURES, "farm-client.ts"), JSON.stringify({ mode: "udp", vip: "198.51.100.99", port: 9, count: 300, firstPort: 30000 })], {
          check: true,
          timeoutMs: 60_000,
        });
        const seen = JSON.parse((await h.exec(["nft", "-j", "list", "set", "inet", "jhcheck", "seen"], { check: true })).stdout) as {
          nftables: { set?: { elem?: { concat: [string, number, number] }[] } }[];
        };
        const elems = seen.nftables.find((x) => x.set !== undefined)?.set?.elem ?? [];
        expect(elems.length).toBe(300);
        const wrong = elems.filter(({ concat: [ip, port, mark] }) => nftBucket(ip, port, 256, 0xa5a5a5a5) !== mark);
        expect(wrong).toEqual([]);
        const seen4 = JSON.parse((await h.exec(["nft", "-j", "list", "set", "inet", "jhcheck", "seen4"], { check: true })).stdout) as {
          nftables: { set?: { elem?: { concat: [string, number] }[] } }[];
        };
        const e4 = seen4.nftables.find((x) => x.set !== undefined)?.set?.elem ?? [];
        expect(e4.length).toBe(1);
        expect(e4.every(({ concat: [ip, mark] }) => nftBucket(ip, undefined, 256, 0x01020304) === mark)).toBe(true);
      } finally {
        await h.exec(["nft", "delete", "table", "inet", "jhcheck"]);
      }
    });

    labTest("three nodes split TCP and UDP as predicted; re-splits keep every established connection", async () => {
      const { nodes: nodeHosts, client: cl } = farmHosts(lab());
      const nodes: FarmSysNode[] = [];
      for (const h of nodeHosts) nodes.push(await startFarmSysNode(h, spec));
      for (const n of nodes) await n.command("setup");
      const t = farmTable(spec);
      const ALL = 0b111;
      await applyView(nodes, t, ALL);

      const tcp = await runClient(cl, { mode: "tcp", count: 1500, concurrency: 30, firstPort: 20000 });
      expect(tcp.errors).toBe(0);
      const mispredicted = tcp.results.filter(([sport, node]) => predictedOwner(t, spec, ALL, cl.addr(1), sport) !== node);
      expect(mispredicted).toEqual([]);
      expect(Object.keys(tcp.byNode).sort()).toEqual(["h1", "h2", "h3"]);

      const udp = await runClient(cl, { mode: "udp", count: 400, firstPort: 40000 });
      expect(udp.errors).toBe(0);
      expect(udp.results.filter(([sport, node]) => predictedOwner(t, spec, ALL, cl.addr(1), sport) !== node)).toEqual([]);

      // Every SYN was accepted by exactly one node: the nodes' counters add up.
      const counters = await Promise.all(nodes.map(async (n) => JSON.parse(await n.command("counters")) as { connections: number; othersConnections: number }));
      expect(counters.reduce((s, c) => s + c.connections, 0)).toBe(1500);
      expect(counters.reduce((s, c) => s + c.othersConnections, 0)).toBe(3000);

      // The client learned the virtual MAC from the ARP owner; the switch never learned it.
      const neigh = await cl.exec(["ip", "neigh", "show", FARM_VIP], { check: true });
      expect(neigh.stdout).toContain(virtualMac("lab", spec.module));
      const fdb = await lab().switch.exec(["bridge", "fdb", "show"], { check: true });
      expect(fdb.stdout).not.toContain(virtualMac("lab", spec.module));

      // Long-lived connections, streaming through a node leaving and returning.
      const stream = cl.spawn([BUN, join(FARM_FIXTURES, "farm-client.ts"), JSON.stringify({ mode: "stream", vip: FARM_VIP, port: 8080, count: 60, intervalMs: 50 })], {
        logName: "farm-stream",
      });
      await stream.waitFor(/^streaming$/m, 20_000);
      const report = (): Promise<StreamReport> => askReport(stream);
      const report2 = (): Promise<StreamReport> => askReport(stream2);
      await new Promise((r) => setTimeout(r, 1500));
      const start = await report();
      expect(start.broken).toEqual([]);
      expect(start.byNode["h3"] ?? 0).toBeGreaterThan(0);

      // h3 leaves the way a killed daemon's exit guard leaves: its table goes.
      await nodes[2]!.command("teardown");
      await applyView(nodes, t, 0b011, ALL);
      const afterLeave = await runClient(cl, { mode: "tcp", count: 600, concurrency: 30, firstPort: 22000 });
      expect(afterLeave.errors).toBe(0);
      expect(afterLeave.results.filter(([sport, node]) => predictedOwner(t, spec, 0b011, cl.addr(1), sport) !== node)).toEqual([]);
      await new Promise((r) => setTimeout(r, 1000));
      const mid = await report();
      // Only connections to h3 broke (its VIP is gone); none to the nodes that stayed.
      expect(mid.broken.filter((b) => !b.startsWith("h3:"))).toEqual([]);

      // Connections opened while h3 is away: about a third of them are in buckets h3 takes back.
      const stream2 = cl.spawn([BUN, join(FARM_FIXTURES, "farm-client.ts"), JSON.stringify({ mode: "stream", vip: FARM_VIP, port: 8080, count: 60, intervalMs: 50 })], {
        logName: "farm-stream2",
      });
      await stream2.waitFor(/^streaming$/m, 20_000);
      await new Promise((r) => setTimeout(r, 1000));

      // h3 returns and takes back its buckets: the others let go first.
      await nodes[2]!.command("setup");
      await applyView(nodes, t, ALL, 0b011);
      const back = await runClient(cl, { mode: "tcp", count: 600, concurrency: 30, firstPort: 24000 });
      expect(back.errors).toBe(0);
      expect(back.results.filter(([sport, node]) => predictedOwner(t, spec, ALL, cl.addr(1), sport) !== node)).toEqual([]);
      await new Promise((r) => setTimeout(r, 1000));
      const end = await report();
      expect(end.broken.filter((b) => !b.startsWith("h3:"))).toEqual([]);
      const moved = await report2();
      expect(moved.open).toBe(60);
      expect(moved.broken).toEqual([]);
      // Served by h1 and h2, though a good part of them now hash into h3's buckets.
      expect(moved.byNode["h3"] ?? 0).toBe(0);
      const inH3Buckets = moved.ports.filter(([sport]) => predictedOwner(t, spec, ALL, cl.addr(1), sport) === "h3").length;
      expect(inH3Buckets).toBeGreaterThan(5);
      expect(moved.lines).toBeGreaterThan(60 * 20);
      stream.write("quit\n");
      stream2.write("quit\n");
      for (const n of nodes) await n.command("teardown");
      for (const n of nodes) {
        n.proc.write("quit\n");
        await n.proc.exited;
      }
    }, 240_000);

    labTest("client_ip keeps every connection of one client on one node, the predicted one", async () => {
      const { nodes: nodeHosts, client: cl } = farmHosts(lab());
      const ipSpec = { ...spec, module: "byip", split: "client_ip" as const };
      const nodes: FarmSysNode[] = [];
      for (const h of nodeHosts) nodes.push(await startFarmSysNode(h, ipSpec));
      try {
        for (const n of nodes) await n.command("setup");
        const t = farmTable(ipSpec);
        await applyView(nodes, t, 0b111);
        const r = await runClient(cl, { mode: "tcp", count: 300, concurrency: 20 });
        expect(r.errors).toBe(0);
        const expected = predictedOwner(t, ipSpec, 0b111, cl.addr(1), 0);
        expect(r.byNode).toEqual({ [expected]: 300 });
        const u = await runClient(cl, { mode: "udp", count: 100, firstPort: 45000 });
        expect(u.errors).toBe(0);
        expect(u.byNode).toEqual({ [expected]: 100 });
      } finally {
        for (const n of nodes) await n.command("teardown");
        for (const n of nodes) n.proc.write("quit\n");
      }
    }, 120_000);
  },
  { tools: ["nft"] },
);
