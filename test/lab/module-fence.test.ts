/**
 * The fencing watchdog on a real kernel: two nodes (h1, h2) run a failover
 * module under an arbiter (h3, `vigil witness`); the module is a VIP on
 * link 1 and a small HTTP service; heartbeats go over link 2.
 *
 * The PRIM node's daemon is frozen (SIGSTOP). Its own ticks stop, so only
 * the separate watchdog process can take the module down there when the
 * lease runs out. The other node takes over after lease + grace + takeover
 * wait. Sampled every 20 ms on both nodes, the VIP is never on both; the
 * frozen node's service is stopped by its stop script; and once the frozen
 * daemon runs again (SIGCONT) it settles as SECOND or WAIT while the other
 * node keeps the module, with no second takeover either way.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import type { LabHost, LabProcess } from "./lab.ts";
import { createTestLab, labTest } from "./lab-test.ts";
import { launchVigil, parseVigilLog, peerChange, requireVigilBinary, VIGIL_BIN, vigilKeygen, type VigilLogEvent } from "./vigil-cluster.ts";
import { sampleUntilStopped } from "./sampler.ts";
import { sleep, waitUntil } from "./wait.ts";
import { ARBITER_VIP, arbiterPairYaml, GRACE_MS, isPrimary, LEASE_MS, writeWebService } from "./arbiter-pair.ts";

const VIP = ARBITER_VIP;
const PORT = 8090;

let root = "";
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "vigil-fence-lab-"));
});
afterAll(() => {
  if (root !== "") rmSync(root, { recursive: true, force: true });
});

/** A process that is gone, or a zombie waiting to be reaped. */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

interface Pair {
  dir: string;
  n1: LabNode;
  n2: LabNode;
  events(n: LabNode): VigilLogEvent[];
  role(n: LabNode): Promise<string>;
  holdsVip(n: LabNode): Promise<boolean>;
}

interface LabNode {
  host: LabHost;
  name: string;
  stateDir: string;
  proc: LabProcess;
}

/** h1 PRIM with the VIP and its service, h2 SECOND, the arbiter on h3; stopped when the test ends. */
async function startPair(): Promise<Pair> {
  requireVigilBinary();
  const lab = await createTestLab({ hosts: 3, links: 2 });
  const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
  const dir = mkdtempSync(join(root, "run-"));
  const keyFile = await vigilKeygen(join(dir, "vigil.key"));
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, arbiterPairYaml(keyFile, h1, h2, h3, "manual"));
  writeWebService(dir, PORT);

  const witness = h3.spawn([VIGIL_BIN, "witness", "--config", config, "--state-dir", join(dir, "state-witness"), "--log-format", "json"], { logName: "witness" });
  await witness.waitFor(/"msg":"vigil witness started"/, 15_000);
  const nodes = await Promise.all([h1, h2].map(async (host): Promise<LabNode> => {
    const stateDir = join(dir, `state-${host.name}`);
    return { host, name: host.name, stateDir, proc: await launchVigil(host, { config, node: host.name, stateDir }) };
  }));
  onTestFinished(async () => {
    // stop() sends SIGCONT too, in case the test ended while a daemon was frozen.
    await Promise.all(nodes.map((n) => n.proc.stop(5_000)));
    await witness.stop(3_000);
  });
  const [n1, n2] = nodes as [LabNode, LabNode];
  const pair: Pair = {
    dir,
    n1,
    n2,
    events: (n) => parseVigilLog(n.proc.output()),
    async role(n) {
      const r = await n.host.exec([VIGIL_BIN, "status", "--json", "--state-dir", n.stateDir]);
      const st = JSON.parse(r.stdout) as { modules: { name: string; state: string }[] };
      return st.modules.find((m) => m.name === "web")?.state ?? "absent";
    },
    async holdsVip(n) {
      const r = await n.host.exec(["ip", "-4", "-o", "addr", "show", "dev", n.host.ifname(1)]);
      return r.stdout.includes(` ${VIP}/`);
    },
  };
  await waitUntil(async () => (await pair.role(n1)) === "PRIM" && (await pair.role(n2)) === "SECOND" && (await pair.holdsVip(n1)) && !(await pair.holdsVip(n2)), {
    timeoutMs: 30_000, intervalMs: 200, what: "h1 PRIM with the VIP, h2 SECOND",
  });
  // A few renewals, so the watchdog has been armed and moved on h1.
  await sleep(LEASE_MS);
  return pair;
}

interface Sample { at: number; h1: boolean; h2: boolean }

/** The VIP on both nodes, every 20 ms, until stop(). */
function sampleVip(p: Pair): { stop(): Promise<Sample[]> } {
  return sampleUntilStopped(async () => {
    const [h1, h2] = await Promise.all([p.holdsVip(p.n1), p.holdsVip(p.n2)]);
    return { h1, h2 };
  });
}

/** Never on both; on h1 only before it first was on h2, and never again after. */
function expectHandedOver(samples: readonly Sample[]): void {
  expect(samples.length).toBeGreaterThan(50);
  const both = samples.filter((s) => s.h1 && s.h2).map((s) => new Date(s.at).toISOString());
  expect(both, "samples where both nodes held the VIP").toEqual([]);
  const lastOnH1 = samples.filter((s) => s.h1).at(-1);
  const firstOnH2 = samples.find((s) => s.h2);
  expect(lastOnH1, "h1 held the VIP when the fault began").toBeDefined();
  expect(firstOnH2, "h2 took the VIP").toBeDefined();
  expect(lastOnH1?.at ?? Infinity).toBeLessThan(firstOnH2?.at ?? -Infinity);
}

const servicePid = (p: Pair): number => Number(readFileSync(join(p.dir, "svc-h1.pid"), "utf8").trim());

labTest("a frozen PRIM daemon: its watchdog process removes the VIP before the other node adds it", async () => {
  const p = await startPair();
  const { n1, n2 } = p;
  const service = servicePid(p);
  expect(processGone(service)).toBe(false);
  const vip = sampleVip(p);

  const frozenAt = Date.now();
  n1.proc.kill("SIGSTOP");
  await waitUntil(() => n1.proc.state() === "T", { timeoutMs: 5_000, what: "h1's daemon to be stopped" });
  await waitUntil(() => p.events(n2).some((e) => e.at >= frozenAt && peerChange("h1", "dead")(e)), { timeoutMs: 10_000, what: "h2 to see h1 dead" });
  await waitUntil(async () => isPrimary(await p.role(n2)) && (await p.holdsVip(n2)), {
    timeoutMs: 30_000, intervalMs: 100, what: "h2 to take the module over with the arbiter's lease",
  });
  // The frozen daemon has not run since; its VIP and service went all the same.
  expect(n1.proc.state()).toBe("T");
  expect(await p.holdsVip(n1)).toBe(false);
  await waitUntil(() => processGone(service), { timeoutMs: 15_000, what: "h1's service to be stopped by the fence" });
  expect(readFileSync(join(p.dir, "stops-h1.log"), "utf8")).toContain("fenced");
  await sleep(1_000);

  const thawedAt = Date.now();
  n1.proc.kill("SIGCONT");
  await waitUntil(async () => ["SECOND", "WAIT"].includes(await p.role(n1)), { timeoutMs: 30_000, intervalMs: 200, what: "h1 to settle as SECOND or WAIT after SIGCONT" });
  // Long enough for a wrong second takeover to show.
  await sleep(LEASE_MS + GRACE_MS);
  const samples = await vip.stop();

  expect(["SECOND", "WAIT"]).toContain(await p.role(n1));
  expect(isPrimary(await p.role(n2))).toBe(true);
  expect(await p.holdsVip(n1)).toBe(false);
  expect(await p.holdsVip(n2)).toBe(true);
  expectHandedOver(samples);

  // One takeover by h2 (ALONE, then PRIM once it hears h1 again is the same run), none back by h1.
  const transitions = (n: LabNode, since: number): string[] =>
    p.events(n).filter((e) => e.at >= since && e.msg.startsWith("module web ") && e.msg.includes(" -> ")).map((e) => `${String(e.fields["from"])} -> ${String(e.fields["to"])}`);
  const claims = (t: string[]): string[] => t.filter((x) => /^(SECOND|WAIT|STOP) -> (PRIM|ALONE)$/.test(x));
  const leaves = (t: string[]): string[] => t.filter((x) => /^(PRIM|ALONE) -> (SECOND|WAIT|STOP)$/.test(x));
  const h2Moves = transitions(n2, frozenAt);
  expect(claims(h2Moves), `h2's transitions: ${h2Moves.join(", ")}`).toHaveLength(1);
  expect(leaves(h2Moves), `h2's transitions: ${h2Moves.join(", ")}`).toEqual([]);
  const h1Moves = transitions(n1, thawedAt);
  expect(claims(h1Moves), `h1's transitions: ${h1Moves.join(", ")}`).toEqual([]);
  // The watchdog's lines reached h1's log once it ran again.
  expect(p.events(n1).some((e) => e.msg === "fence watchdog: module fenced" && e.fields["module"] === "web")).toBe(true);
  expect(existsSync(join(p.dir, "svc-h1.pid"))).toBe(false);
}, 120_000);

labTest("a PRIM daemon killed: its watchdog process removes the VIP and stops the service at once, then leaves", async () => {
  const p = await startPair();
  const { n1, n2 } = p;
  const service = servicePid(p);
  const pidFile = join(n1.stateDir, "fence-watchdog.pid");
  const watchdogPid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : null;
  const vip = sampleVip(p);
  // A few samples first: the watchdog takes the VIP away within milliseconds of the kill.
  await sleep(200);

  // The daemon only: its watchdog process lives on, orphaned, sees its stdin end and fences at once.
  n1.proc.kill("SIGKILL");
  await n1.proc.exited;
  await waitUntil(async () => isPrimary(await p.role(n2)) && (await p.holdsVip(n2)), {
    timeoutMs: 30_000, intervalMs: 100, what: "h2 to take the module over with the arbiter's lease",
  });
  expect(await p.holdsVip(n1)).toBe(false);
  await waitUntil(() => processGone(service), { timeoutMs: 15_000, what: "h1's service to be stopped by the fence" });
  expect(watchdogPid, "h1's watchdog PID in its state dir").not.toBeNull();
  await waitUntil(() => processGone(watchdogPid ?? 0), { timeoutMs: 15_000, what: "h1's orphaned watchdog to leave once it fenced" });
  await sleep(1_000);
  expectHandedOver(await vip.stop());
  expect(readFileSync(join(p.dir, "stops-h1.log"), "utf8")).toContain("fenced");
}, 120_000);
