/**
 * Farm modules on the real binary: three vigil nodes share 198.51.100.50 and
 * split a client's connections through nftables; a fourth host is the client.
 *
 * - thousands of TCP connections from many source ports, and UDP flows: each
 *   answered by exactly one node, the one the split predicts;
 * - SIGKILL of a daemon (also of the ARP owner: clients asking again learn
 *   the virtual MAC from the new one), and a pulled cable: the others answer its buckets,
 *   and the killed daemon's own established connections keep flowing too;
 *   streaming connections to them never break; back, the node takes exactly
 *   its own buckets again and still nothing breaks;
 * - a failing checker takes a node out of the split and back in;
 * - `vigil stop web` drains a node: new clients go elsewhere while its
 *   established connections keep streaming;
 * - stopping the daemons leaves no table, macvlan or VIP behind.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runForOutput, type RunOutput } from "./exec.ts";
import { expect } from "vitest";
import { nftBucket } from "../../src/core/farm/jhash.ts";
import { owners, ownershipTable } from "../../src/core/farm/ownership.ts";
import { farmSeeds } from "../../src/daemon/farm/seeds.ts";
import { BUCKETS } from "../../src/core/farm/types.ts";
import { askReport, BUN, type ClientResult, FARM_FIXTURES, FARM_PORT, FARM_VIP, farmHosts, farmOf, runClient, startStream, type StreamReport, waitForSplit } from "./farm-lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import type { LabHost, LabProcess } from "./lab.ts";
import { waitUntil } from "./lab.ts";
import { startVigilCluster, VIGIL_BIN, type VigilCluster, type VigilNode } from "./vigil-cluster.ts";

const WEIGHTS = [1, 1, 1];

function farmYaml(): string[] {
  return [
    "modules:",
    "  - name: web",
    "    type: farm",
    `    vip: ${FARM_VIP}/24`,
    `    ports: [${FARM_PORT}]`,
    "    split: client_ip_port",
    "    checkers:",
    `      - { tcp: 127.0.0.1:${FARM_PORT}, interval: 200ms, timeout: 150ms, fall: 2, rise: 2, on_fail: failover }`,
  ];
}

function predictor(keyFile: string): (view: number, client: string, sport: number) => string {
  const key = readFileSync(keyFile);
  const seeds = farmSeeds(key, "lab", "web");
  const t = ownershipTable(WEIGHTS.map((weight, i) => ({ name: `h${i + 1}`, weight })), seeds.ownershipSeed);
  return (view, client, sport) => {
    const o = owners(t, view)[nftBucket(client, sport, BUCKETS, seeds.nftSeed)] ?? -1;
    return o < 0 ? "none" : `h${o + 1}`;
  };
}

function startServer(h: LabHost): LabProcess {
  const args = { name: h.name, module: "svc", interface: h.ifname(1), vip: FARM_VIP, vmac: "02:00:00:00:00:01", seed: 0, ports: [FARM_PORT], split: "client_ip_port" };
  return h.spawn([BUN, join(FARM_FIXTURES, "farm-node.ts"), JSON.stringify(args)], { logName: `svc-${h.name}` });
}

const vigil = (args: string[]): Promise<RunOutput> => runForOutput([VIGIL_BIN, ...args], 30_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const lapsed = (n: VigilNode): number => n.events().filter((e) => e.msg.includes("kernel lease lapsed")).length;

/** Source ports for repeated runs: below the ephemeral range and apart from every first run's ports. */
let retryPort = 10_000;

/**
 * Runs the TCP client once the split over `members` has settled and expects
 * every connection answered, each by the node `owner` predicts. A node whose kernel lease lapses during the run (a stall on a
 * loaded host) rightly falls silent and its peers answer its buckets until it
 * takes them back: such a run still must have no error, and is repeated once
 * the split has settled again. Without a lapse logged in the run, a single
 * connection answered by another node fails the test.
 */
async function expectPredicted(
  client: LabHost,
  nodes: readonly VigilNode[],
  members: readonly string[],
  run: { count: number; concurrency: number; firstPort: number },
  owner: (sport: number) => string,
): Promise<ClientResult> {
  for (let attempt = 1; ; attempt++) {
    await waitForSplit(nodes, members);
    const before = nodes.map(lapsed);
    const firstPort = attempt === 1 ? run.firstPort : retryPort;
    if (attempt > 1) retryPort += run.count;
    const r = await runClient(client, { mode: "tcp", ...run, firstPort });
    expect(r.errors).toBe(0);
    const wrong = r.results.filter(([sport, node]) => owner(sport) !== node);
    if (wrong.length === 0) return r;
    const lapses = (): string[] => nodes.filter((n, i) => lapsed(n) > (before[i] ?? 0)).map((n) => n.name);
    // The daemon logs the lapse once it runs again; its line may still be on its way.
    await waitUntil(() => lapses().length > 0, { timeoutMs: 3000, what: "a lease lapse logged" }).catch(() => undefined);
    expect(lapses(), `${wrong.length} of ${r.results.length} connections answered by another node than predicted (first: ${JSON.stringify(wrong.slice(0, 3))}), and no lease lapsed during the run`).not.toEqual([]);
    expect(attempt, "a lease lapsed in three runs in a row").toBeLessThan(3);
  }
}

describeLab(
  "farm module on the real binary",
  () => {
    const lab = useLab({ hosts: 4 });

    labTest("split, kill, pulled cable, checker, drain and clean stop", async () => {
      const { nodes: nodesHosts, client } = farmHosts(lab());
      const dir = mkdtempSync(join(tmpdir(), "vigil-farm-"));
      let cluster: VigilCluster | undefined;
      const servers = new Map<string, LabProcess>();
      try {
        for (const h of nodesHosts) {
          const s = startServer(h);
          await s.waitFor(/^ready$/m, 20_000);
          servers.set(h.name, s);
        }
        // Leftovers of a farm an earlier, crashed run had and the config no longer has.
        const h1 = nodesHosts[0]!;
        await h1.exec(["nft", "-f", "-"], { input: "table inet vigil_farm_old {\n  set mine { type mark; }\n}\n", check: true });
        await h1.exec(["ip", "link", "add", "vf0123456789", "link", h1.ifname(1), "type", "macvlan", "mode", "private"], { check: true });
        cluster = await startVigilCluster({ hosts: nodesHosts, dir, heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "3s" }, extraYaml: farmYaml() });
        await cluster.waitForMesh();
        const [n1, n2, n3] = cluster.nodes as [VigilNode, VigilNode, VigilNode];
        expect((await h1.exec(["nft", "list", "tables"], { check: true })).stdout).not.toContain("vigil_farm_old");
        expect((await h1.exec(["ip", "-o", "link"], { check: true })).stdout).not.toContain("vf0123456789");
        expect(n1.events().some((e) => e.msg.includes("removed nft table inet vigil_farm_old"))).toBe(true);
        const all = [n1, n2, n3];
        await waitForSplit(all, ["h1", "h2", "h3"]);
        const predict = predictor(cluster.keyFile);
        const cl = client.addr(1);
        const vmac = (await farmOf(n1))?.vmac ?? "?";
        // The switch must never learn the virtual MAC: it would then send every client to one node.
        const switchNeverLearned = async (when: string): Promise<void> => {
          const fdb = (await lab().switch.exec(["bridge", "fdb", "show"], { check: true })).stdout;
          expect(fdb.split("\n").filter((l) => l.includes(vmac)), `bridge fdb ${when}`).toEqual([]);
        };
        await switchNeverLearned("after start");

        // Every connection and flow answered by exactly the predicted node.
        const tcp = await expectPredicted(client, all, ["h1", "h2", "h3"], { count: 2000, concurrency: 40, firstPort: 20000 }, (sport) => predict(0b111, cl, sport));
        expect(Object.keys(tcp.byNode).sort()).toEqual(["h1", "h2", "h3"]);
        const udp = await runClient(client, { mode: "udp", count: 500, firstPort: 40000 });
        expect(udp.errors).toBe(0);
        expect(udp.results.filter(([sport, node]) => predict(0b111, cl, sport) !== node)).toEqual([]);
        const f1 = await farmOf(n1);
        expect(f1?.arpOwner).not.toBeNull();
        // Traffic that is not split (ICMP) is answered by the ARP owner alone: no duplicates.
        const ping = await client.exec(["ping", "-c", "5", "-i", "0.2", "-W", "1", FARM_VIP]);
        expect(ping.stdout).toContain("5 received");
        expect(ping.stdout).not.toContain("DUP!");
        expect((f1?.members ?? []).map((m) => m.buckets).reduce((a, b) => a + b, 0)).toBe(BUCKETS);

        // SIGKILL h3's daemon: its exit guard removes its table, h1 and h2 take its buckets.
        const stream = await startStream(client, "stream-1", 60);
        await sleep(1000);
        expect((await askReport(stream)).broken).toEqual([]);
        n3.proc.kill("SIGKILL");
        await waitForSplit([n1, n2], ["h1", "h2"]);
        await expectPredicted(client, [n1, n2], ["h1", "h2"], { count: 600, concurrency: 40, firstPort: 23000 }, (sport) => predict(0b011, cl, sport));
        const k = await askReport(stream);
        // None broke: not to h1 or h2, and not even h3's own, since its exit
        // guard only empties its sets and its service still runs.
        expect(k.byNode["h3"] ?? 0).toBeGreaterThan(0);
        expect(k.broken).toEqual([]);

        await switchNeverLearned("after a kill");
        // Back: h3 takes exactly its buckets again; streams opened meanwhile keep going.
        const stream2 = await startStream(client, "stream-2", 60);
        await sleep(1000);
        await n3.start();
        await waitForSplit(all, ["h1", "h2", "h3"]);
        await expectPredicted(client, all, ["h1", "h2", "h3"], { count: 600, concurrency: 40, firstPort: 24000 }, (sport) => predict(0b111, cl, sport));
        await sleep(1000);
        const s2 = await askReport(stream2);
        expect(s2.broken).toEqual([]);
        expect(s2.ports.filter(([sport]) => predict(0b111, cl, sport) === "h3").length).toBeGreaterThan(5);
        // h3's daemon back: its old connections survived the crash and the restart too.
        expect((await askReport(stream)).broken).toEqual([]);

        await switchNeverLearned("after a return");
        // The ARP owner dies: a client that has to ask again gets the virtual MAC from the new one.
        const arpOwner = (await farmOf(n1))?.arpOwner;
        const ownerNode = all.find((n) => n.name === arpOwner);
        expect(ownerNode).toBeDefined();
        const others = all.filter((n) => n !== ownerNode);
        // Its own streaming connections end with it (its VIP goes); the others' do not.
        const beforeArpKill = await askReport(stream2);
        ownerNode!.proc.kill("SIGKILL");
        await waitForSplit(others, others.map((n) => n.name));
        const newOwner = (await farmOf(others[0]!))?.arpOwner;
        expect(newOwner).not.toBe(arpOwner);
        expect(others.map((n) => n.name)).toContain(newOwner);
        await client.exec(["ip", "neigh", "flush", "dev", client.ifname(1)], { check: true });
        const view = others.reduce((m, n) => m | (1 << (Number(n.name.slice(1)) - 1)), 0);
        await expectPredicted(client, others, others.map((n) => n.name), { count: 300, concurrency: 30, firstPort: 25000 }, (sport) => predict(view, cl, sport));
        expect((await client.exec(["ip", "neigh", "show", FARM_VIP], { check: true })).stdout).toContain((await farmOf(others[0]!))?.vmac ?? "?");
        await ownerNode!.start();
        await waitForSplit(all, ["h1", "h2", "h3"]);
        const notOwner = (r: StreamReport): string[] => r.broken.filter((b) => !b.startsWith(`${arpOwner}:`));
        expect(notOwner(await askReport(stream2))).toEqual(notOwner(beforeArpKill));

        stream2.write("quit\n");
        await switchNeverLearned("after the ARP owner died and returned");
        // A pulled cable on h2: h1 and h3 answer its buckets; connections to them keep streaming.
        const stream4 = await startStream(client, "stream-4", 60);
        await sleep(1000);
        await lab().linkDown(nodesHosts[1]!);
        await waitForSplit([n1, n3], ["h1", "h3"]);
        await expectPredicted(client, [n1, n3], ["h1", "h3"], { count: 600, concurrency: 40, firstPort: 26000 }, (sport) => predict(0b101, cl, sport));
        await switchNeverLearned("with a cable out");
        await lab().linkUp(nodesHosts[1]!);
        await waitForSplit(all, ["h1", "h2", "h3"]);
        await switchNeverLearned("after the cable is back");
        await expectPredicted(client, all, ["h1", "h2", "h3"], { count: 600, concurrency: 40, firstPort: 28000 }, (sport) => predict(0b111, cl, sport));
        const s4 = await askReport(stream4);
        expect(s4.broken.filter((b) => !b.startsWith("h2:"))).toEqual([]);
        expect((s4.byNode["h1"] ?? 0) + (s4.byNode["h3"] ?? 0)).toBeGreaterThan(20);
        stream4.write("quit\n");

        await switchNeverLearned("before the checker failure");
        // A failing checker on h1 (its service is gone): h1 leaves the split, and returns with it.
        await servers.get("h1")!.stop(2000);
        await waitForSplit(all, ["h2", "h3"]);
        await expectPredicted(client, all, ["h2", "h3"], { count: 300, concurrency: 30, firstPort: 30000 }, (sport) => predict(0b110, cl, sport));
        const s1 = startServer(nodesHosts[0]!);
        await s1.waitFor(/^ready$/m, 20_000);
        servers.set("h1", s1);
        await waitForSplit(all, ["h1", "h2", "h3"]);

        // Drain h3 with `vigil stop web`: new clients go to h1 and h2, h3's streams continue.
        const stream3 = await startStream(client, "stream-3", 30);
        await sleep(1000);
        const drain = await vigil(["stop", "web", "--state-dir", n3.stateDir]);
        expect(drain.code, drain.stderr + drain.stdout).toBe(0);
        await waitUntil(async () => (await farmOf(n3))?.mode === "drain", { timeoutMs: 10_000, what: "h3 draining" });
        await waitForSplit([n1, n2], ["h1", "h2"]);
        await expectPredicted(client, [n1, n2], ["h1", "h2"], { count: 300, concurrency: 30, firstPort: 31000 }, (sport) => predict(0b011, cl, sport));
        await sleep(1000);
        const r3 = await askReport(stream3);
        expect(r3.byNode["h3"] ?? 0).toBeGreaterThan(0);
        expect(r3.broken).toEqual([]);
        stream3.write("quit\n");
        stream.write("quit\n");
        // Once its connections are gone, h3 removes everything.
        await waitUntil(async () => (await farmOf(n3))?.mode === "stopped", { timeoutMs: 20_000, what: "h3 drained" });
        // The status says stopped as soon as it decided; the removal follows.
        await waitUntil(async () => !(await nodesHosts[2]!.exec(["nft", "list", "tables"])).stdout.includes("vigil_farm"), {
          timeoutMs: 10_000,
          what: "h3's farm table removed after the drain",
        });
        await n3.waitForLog((e) => e.msg === "farm removed", { timeoutMs: 10_000 });

        // `vigil start web` joins again and takes its share back.
        const start = await vigil(["start", "web", "--state-dir", n3.stateDir]);
        expect(start.code, start.stderr + start.stdout).toBe(0);
        await waitForSplit(all, ["h1", "h2", "h3"]);
        await expectPredicted(client, all, ["h1", "h2", "h3"], { count: 300, concurrency: 30, firstPort: 32000 }, (sport) => predict(0b111, cl, sport));

        // Clean stop: nothing left on any node.
        await cluster.stop();
        for (const h of nodesHosts) {
          expect((await h.exec(["nft", "list", "tables"])).stdout).not.toContain("vigil_farm");
          expect((await h.exec(["ip", "-o", "link"])).stdout).not.toMatch(/ vf[0-9a-f]{10}[@:]/);
          expect((await h.exec(["ip", "-o", "addr", "show", "dev", "lo"])).stdout).not.toContain(FARM_VIP);
        }
      } finally {
        await cluster?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 300_000);
  },
  { tools: ["nft"] },
);
