/**
 * A flood from a host that is not a peer: nodes (h1 PRIM of module `web`,
 * h2 SECOND, and in the second case h3) on one link at the lan preset, and
 * an attacker on h4, on the same bridge, without the cluster key but with
 * heartbeat frames "captured" from h2 (valid MACs, old seqs). Several C
 * senders replay them at h1's heartbeat port as fast as this machine lets
 * them for 10 s. h1 has one socket per peer, connect()ed to it, so the
 * kernel drops the flood: with two nodes one socket, with three two on the
 * same port.
 *
 * What must hold: no dead verdict on either node and no module move. The
 * rate reached and what it cost (h1's CPU and RSS, the kernel's drops in
 * h1's namespace) are printed beside the same figures for a quiet period
 * of the same length; they are figures, not assertions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { HEARTBEAT_PRESETS } from "../../src/config/defaults.ts";
import { describeLab, labTestNeeding, useLab } from "./lab-test.ts";
import { anyPeerChange, startVigilCluster, type VigilLogEvent, type VigilNode } from "./vigil-cluster.ts";
import { sleep, waitUntil } from "./wait.ts";
import { buildFlooder, counterDelta, flood, processUsage, udpCounters, writeReplayFrames } from "./udp-flood.ts";

const LAN = HEARTBEAT_PRESETS.lan;
const FLOOD_SECONDS = 10;
/** Two cores here: two senders keep both busy; a third only takes turns. */
const SENDERS = 2;
const VIP = "198.51.100.100";

describeLab("a heartbeat flood from a host that is not a peer", () => {
  const lab = useLab({ hosts: 4, links: 1 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-flood-lab-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  const moduleRole = async (n: VigilNode): Promise<string | undefined> => (await n.status()).modules?.find((m) => m.name === "web")?.state;
  const isMove = (e: VigilLogEvent): boolean => e.msg.startsWith("module web ") && e.msg.includes(" -> ");

  async function floodPrim(nodes: 2 | 3): Promise<void> {
    const [h1, h2, h3, attacker] = [lab().host(1), lab().host(2), lab().host(3), lab().host(4)];
    const c = await startVigilCluster({
      hosts: nodes === 2 ? [h1, h2] : [h1, h2, h3],
      dir: mkdtempSync(join(dir, "c-")),
      heartbeat: { preset: "lan" },
      extraYaml: [
        "modules:",
        "  - name: web",
        "    type: failover",
        "    prefer: h1",
        "    failback: manual",
        `    vip: ${VIP}/24`,
        `    interface: ${h1.ifname(1)}`,
      ],
    });
    onTestFinished(() => c.stop());
    await c.waitForMesh();
    const [n1, n2] = [c.node("h1"), c.node("h2")];
    await waitUntil(async () => (await moduleRole(n1)) === "PRIM" && (await moduleRole(n2)) === "SECOND", { timeoutMs: 30_000, intervalMs: 200, what: "h1 PRIM, h2 SECOND" });

    const flooder = await buildFlooder(join(dir, "bin"));
    const frames = join(dir, "frames.bin");
    writeReplayFrames(frames, { keyFile: c.keyFile, cluster: "lab", node: "h2" });

    const from = Date.now();
    const measure = async (run: () => Promise<unknown>) => {
      const k0 = await udpCounters(h1);
      const u0 = processUsage(n1.proc.pid);
      const t0 = performance.now();
      const out = await run();
      const seconds = (performance.now() - t0) / 1000;
      const u1 = processUsage(n1.proc.pid);
      const kernel = counterDelta(k0, await udpCounters(h1));
      return { out, seconds, kernel, cpu: (u1.cpuSeconds - u0.cpuSeconds) / seconds, rssKiB: u1.rssKiB };
    };
    const quiet = await measure(() => sleep(FLOOD_SECONDS * 1000));
    const loud = await measure(() => flood(attacker, { flooder, frames, address: h1.addr(1), port: 7694, seconds: FLOOD_SECONDS, processes: SENDERS }));
    const sent = (loud.out as Awaited<ReturnType<typeof flood>>);
    // Verdicts come at most deadtime + interval after a silence: wait that out and more.
    await sleep(3 * (LAN.deadtime + LAN.interval));

    const row = (name: string, m: typeof quiet, rate: number): string =>
      `| ${name} | ${Math.round(rate)} | ${(m.cpu * 100).toFixed(1)} % | ${(m.rssKiB / 1024).toFixed(1)} MiB | ${m.kernel.InDatagrams} | ${m.kernel.NoPorts} | ${m.kernel.RcvbufErrors} |`;
    console.log([
      `${nodes} nodes: flood of h1 from h4 (${SENDERS} senders, ${FLOOD_SECONDS} s, replayed frames of h2), lan preset`,
      "| run | datagrams/s at h1 | h1 daemon CPU | h1 RSS | UDP InDatagrams | NoPorts (kernel drop) | RcvbufErrors |",
      "|---|---|---|---|---|---|---|",
      row("quiet", quiet, 0),
      row("flood", loud, sent.perSecond),
    ].join("\n"));

    // The flood did reach h1's kernel: most of what was sent, counted as received, refused or dropped.
    const arrived = loud.kernel.InDatagrams + loud.kernel.NoPorts + loud.kernel.InErrors;
    expect(arrived, `datagrams counted in h1's namespace of ${sent.sent} sent`).toBeGreaterThan(sent.sent / 2);
    expect(sent.sent).toBeGreaterThan(100_000);

    for (const n of c.nodes) {
      expect(n.events().filter((e) => e.at >= from && anyPeerChange("dead")(e)), `dead verdicts on ${n.name}`).toEqual([]);
      expect(n.events().filter((e) => e.at >= from && isMove(e)).map((e) => e.msg), `module moves on ${n.name}`).toEqual([]);
    }
    expect(await moduleRole(n1)).toBe("PRIM");
    expect(await moduleRole(n2)).toBe("SECOND");
  }

  labTestNeeding("gcc")("two nodes, replayed frames at the PRIM's heartbeat port: no dead verdict, no module move", () => floodPrim(2), 120_000);
  labTestNeeding("gcc")("three nodes (a socket per peer on one port): no dead verdict, no module move", () => floodPrim(3), 120_000);
});
