/**
 * A rolling upgrade, as the README describes it, with the previous release's
 * binary (built from git, old-binary.ts) and this one (VIGIL_BIN) in one lab
 * cluster (module-lab.ts: module "web" with a VIP and a service, prefer h1,
 * failback manual):
 *
 *   1. both nodes run the previous release; web runs on h1;
 *   2. h2 is upgraded (SIGTERM, then this build with the same config and
 *      state dir): web keeps running on h1 throughout, h2 comes back SECOND
 *      and reports h1 as a frame version 1 peer, with the warning; the old
 *      `vigil status` reads the new daemon; the mixed cluster runs on through
 *      one of h2's version probes (a round in this release's version the old h1 drops);
 *   3. `vigil swap web` on h2 moves web to h2 across versions;
 *   4. h1 is upgraded the same way: web keeps running on h2 throughout;
 *   5. `vigil swap web` moves it back; both nodes now speak this release's version;
 *   6. h2 is rolled back to the previous release: web stays on h1, which
 *      writes version 1 again.
 *
 * A sampler looks every 50 ms at where the VIP is and where the service
 * runs (its pidfile and process). Never on both nodes; while no command
 * moves the module, on the expected node at every sample.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { type LabHost, waitUntil } from "./lab.ts";
import { startModuleLab, type ModuleLab, VIP } from "./module-lab.ts";
import { oldVigilBinary, PREVIOUS_RELEASE } from "./old-binary.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { HEARTBEAT_VERSION } from "../../src/proto/heartbeat.ts";
import { metricValue, VIGIL_BIN, type VigilNode } from "./vigil-cluster.ts";

type Where = "h1" | "h2" | "both" | "neither";

interface Sample {
  at: number;
  /** What the test was doing: where the module must run, or "moving" while a command moves it. */
  phase: string;
  vip: Where;
  service: Where;
}

/**
 * Reads h1, h2, then h1 again, and says "h1" only when both reads of h1
 * agree: a handover between the reads (either way) can then never look like
 * "both", and a real overlap still does.
 */
async function whereAba(isOn: (node: "h1" | "h2") => Promise<boolean> | boolean): Promise<Where> {
  const a = await isOn("h1");
  const b = await isOn("h2");
  const c = await isOn("h1");
  const h1 = a && c;
  if (h1 && b) return "both";
  if (h1) return "h1";
  if (b && !a && !c) return "h2";
  return "neither";
}

/**
 * Whether the VIP sits on the host's eth0, with any prefix: the previous
 * release adds it as a /32 (module-lab's holdsVip expects the /24 of the config).
 */
async function holdsVip(host: LabHost): Promise<boolean> {
  const r = await host.exec(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
  return r.stdout.includes(` ${VIP}/`);
}

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

function startSampler(m: ModuleLab): { phase(p: string): void; count(p: string): number; stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let phase = "h1";
  let running = true;
  const host = (n: "h1" | "h2") => m.node(n).host;
  const loop = (async () => {
    while (running) {
      const p = phase;
      const vip = await whereAba((n) => holdsVip(host(n)));
      const service = await whereAba((n) => alive(m.servicePid(n)));
      samples.push({ at: Date.now(), phase: p === phase ? p : "moving", vip, service });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    phase: (p) => (phase = p),
    count: (p) => samples.filter((s) => s.phase === p).length,
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** The samples as runs of equal ones: "phase h1: vip h1, service h1 x12; ...". */
function timeline(samples: readonly Sample[]): string {
  const runs: { key: string; n: number }[] = [];
  for (const s of samples) {
    const key = `phase ${s.phase}: vip ${s.vip}, service ${s.service}`;
    const last = runs.at(-1);
    if (last?.key === key) last.n += 1;
    else runs.push({ key, n: 1 });
  }
  return runs.map((r) => `${r.key} x${r.n}`).join("; ");
}

/** SIGTERM to the daemon (a clean stop), then `bin` with the same config and state dir. */
async function upgrade(m: ModuleLab, node: VigilNode, bin: string): Promise<number> {
  await m.terminate(node);
  const at = Date.now();
  await node.start(bin);
  return at;
}

describeLab("rolling upgrade from the previous release", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  let oldBin = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vigil-rolling-upgrade-"));
    oldBin = await oldVigilBinary(PREVIOUS_RELEASE);
  }, 240_000);
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("every node upgraded one by one: the module runs throughout, swaps work across versions, frames end at this release's version", async () => {
    expect(existsSync(oldBin)).toBe(true);
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "run-")), failback: "manual", bin: oldBin });
    onTestFinished(() => m.stop());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    expect(h1.bin).toBe(oldBin);
    await m.waitRunsOn("h1", "now");

    const sampler = startSampler(m);
    let samples: Sample[] = [];
    try {
      // 2. h2 to this build: web stays on h1.
      const h2Back = await upgrade(m, h2, VIGIL_BIN);
      expect(h2.bin).toBe(VIGIL_BIN);
      await m.waitRole(h2, ["SECOND"]);
      await h1.waitForLog((e) => e.msg === "peer h2 up", { after: h2Back, what: "the old h1 hearing the upgraded h2" });
      const warned = await h2.waitForLog((e) => e.msg.startsWith("peer h1 speaks heartbeat frame version 1"), { what: "the mixed-version warning" });
      expect(warned.level).toBe("warn");
      const mixed = (await h2.status()).peers.find((p) => p.name === "h1");
      expect(mixed?.state).toBe("up");
      expect(mixed?.frameVersion).toBe(1);
      // The previous release's `vigil status` still reads the upgraded daemon (the README says so).
      const oldCli = await h2.host.exec([oldBin, "status", "--json", "--state-dir", h2.stateDir]);
      expect(oldCli.code, oldCli.stderr).toBe(0);
      expect((JSON.parse(oldCli.stdout) as StatusSnapshot).modules.find((x) => x.name === "web")?.state).toBe("SECOND");
      // The mixed cluster runs on through one of h2's version probes (a round in this release's version, which h1 drops).
      const rejected = async () => metricValue(await h1.metrics(), "vigil_heartbeat_frames_rejected_total", { reason: "bad-version" });
      const before = await rejected();
      await waitUntil(async () => (await rejected()) > before, { timeoutMs: 15_000, what: "h1 to receive a version probe of h2" });
      expect((await h1.status()).peers.find((p) => p.name === "h2")?.state).toBe("up");
      expect((await h2.status()).peers.find((p) => p.name === "h1")?.frameVersion).toBe(1);

      // 3. swap on the new node, to itself, while h1 runs the previous release.
      sampler.phase("moving");
      const toH2 = await m.cli(h2, ["swap", "web"]);
      expect(toH2.code, JSON.stringify(toH2)).toBe(0);
      expect(toH2.stdout.split("\n")[0]).toMatch(/^swap web: done: .*\bh2\b/);
      await m.waitRunsOn("h2", "now");
      sampler.phase("h2");

      // 4. h1 to this build: web stays on h2.
      const h1Back = await upgrade(m, h1, VIGIL_BIN);
      await m.waitRole(h1, ["SECOND"]);
      await h2.waitForLog((e) => e.msg === "peer h1 up", { after: h1Back, what: "h2 hearing the upgraded h1" });
      // An upgrade can be over within a few samples: the sampler looks a while at web on h2 before it moves.
      await waitUntil(() => sampler.count("h2") > 5, { timeoutMs: 10_000, what: "the sampler to look at web on h2" });

      // 5. swap back, both on this build.
      sampler.phase("moving");
      const toH1 = await m.cli(h1, ["swap", "web"]);
      expect(toH1.code, JSON.stringify(toH1)).toBe(0);
      expect(toH1.stdout.split("\n")[0]).toMatch(/^swap web: done: .*\bh1\b/);
      await m.waitRunsOn("h1", "now");
      sampler.phase("h1");

      // Both speak this release's version again, each as the other sees it.
      for (const [node, peer] of [[h1, "h2"], [h2, "h1"]] as const) {
        let seen: number | undefined;
        try {
          await waitUntil(async () => {
            seen = (await node.status()).peers.find((p) => p.name === peer)?.frameVersion;
            return seen === HEARTBEAT_VERSION;
          }, { timeoutMs: 15_000, what: `${node.name} to see ${peer} at frame version ${HEARTBEAT_VERSION}` });
        } catch (e) {
          throw new Error(`${(e as Error).message}: it sees version ${String(seen)} (log: ${node.proc.log})`);
        }
      }

      // 6. Rollback: h2 back to the previous release; web stays on h1, which writes version 1 again.
      const h2Old = await upgrade(m, h2, oldBin);
      await m.waitRole(h2, ["SECOND"]);
      await h1.waitForLog((e) => e.msg.startsWith("peer h2 speaks heartbeat frame version 1"), { after: h2Old, what: "h1 warning that h2 speaks version 1 again" });
      expect((await h1.status()).peers.find((p) => p.name === "h2")?.frameVersion).toBe(1);
      await h2.waitForLog((e) => e.msg === "peer h1 up", { after: h2Old, what: "the rolled-back h2 hearing h1" });
    } finally {
      samples = await sampler.stop();
    }

    const story = timeline(samples);
    const both = samples.filter((s) => s.vip === "both" || s.service === "both");
    expect(both.length, `samples with the VIP or the service on both nodes at once; ${story}`).toBe(0);
    const steady = samples.filter((s) => s.phase !== "moving");
    const off = steady.filter((s) => s.vip !== s.phase || s.service !== s.phase);
    expect(off.length, `samples where web was not where it should run; ${story}`).toBe(0);
    // The sampler really looked during both upgrades.
    expect(steady.filter((s) => s.phase === "h1").length).toBeGreaterThan(5);
    expect(steady.filter((s) => s.phase === "h2").length).toBeGreaterThan(5);
    console.log(`rolling upgrade ${PREVIOUS_RELEASE} -> ${VIGIL_BIN}: ${samples.length} samples, none on both nodes; ${story}`);
  }, 120_000);
});

