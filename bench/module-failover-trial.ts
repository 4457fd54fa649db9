/**
 * One module-failover trial on a lab of three hosts and two links: h1 the
 * primary, h2 the standby, h3 the client. The pair starts afresh, the
 * client settles on h1, the fault hits, and the trial ends once h2 has
 * answered the client for a while. It leaves the hosts as it found them
 * (daemons and services stopped, links up, no VIP), also when it fails.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab, LabHost, LabProcess } from "../test/lab/lab.ts";
import { REPO_ROOT, waitUntil } from "../test/lab/lab.ts";
import { sleep, WaitTimeout } from "../test/lab/wait.ts";
import type { HeartbeatYaml } from "../test/lab/vigil-cluster.ts";
import { outageOf, parseAnswers, type Outage } from "./failover-outage.ts";
import type { HaTimers } from "./lib/linux-ha.ts";
import { heartbeatPair, type Impl, killServices, type ModulePair, vigilPair } from "./module-failover-pairs.ts";
import { BUN, SERVICE_PORT, type ServiceFiles, type ServiceMode, VIP, VIP_INTERFACE } from "./module-failover-service.ts";

/** crash: the primary dies (daemon and service SIGKILLed, then every link down); swap: the operator's handover. */
export type Fault = "crash" | "swap";

export const PROBE_INTERVAL_MS = 10;
/** A request with no answer by then is given up; a dead primary's SYNs just vanish. */
const PROBE_TIMEOUT_MS = 500;
const PROBER = join(REPO_ROOT, "bench", "module-failover-probe.ts");
/** Answers in a row from the primary before the fault: the client is settled on it. */
const STEADY_ANSWERS = 30;
/** Answers from the standby after the fault: it has taken over, not flickered. */
const TAKEN_OVER_ANSWERS = 20;
const TAKEOVER_DEADLINE_MS = 30_000;

export interface TrialSpec {
  impl: Impl;
  fault: Fault;
  /** 1-based, for the log. */
  n: number;
}

export interface TrialResult extends TrialSpec {
  outage: Outage | null;
  /** Minor page faults of the standby's daemon from the fault to its takeover (vigil). */
  standbyMinorFaults?: number;
  /** Why there is no outage figure. */
  problem?: string;
}

export interface TrialContext {
  lab: Lab;
  /** Parent of the per-trial directories. */
  dir: string;
  service: ServiceFiles;
  serviceMode: ServiceMode;
  vigilHeartbeat: HeartbeatYaml;
  haTimers: HaTimers;
  /** Heartbeat interval: the fault hits at a random phase of it. */
  intervalMs: number;
  /** How long the settled pair idles before the fault (--hold): past the daemons' later memory trim. */
  holdMs?: number;
  /** The build of the "vigil-compare" pairs (--compare). */
  compareBin?: string;
}

/** Minor page faults of a process so far (/proc/PID/stat), undefined when it cannot be read. */
function minorFaults(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ");
    const v = Number(f?.[7]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The pair of the trial under way, for Ctrl-C. */
let running: ModulePair | undefined;

/** SIGKILL to whatever the trial under way has started; synchronous, for a signal handler. */
export function killRunningTrial(): void {
  running?.kill();
}

async function clearVip(host: LabHost): Promise<void> {
  const shown = await host.exec(["ip", "-4", "-o", "addr", "show", "dev", VIP_INTERFACE], { check: true });
  for (const m of shown.stdout.matchAll(/\binet (\S+)/g)) {
    const cidr = m[1] as string;
    if (cidr.split("/")[0] === VIP) await host.exec(["ip", "addr", "del", cidr, "dev", VIP_INTERFACE], { check: true });
  }
}

/** running mode: the service on `host`, bound to all addresses, before any HA daemon starts; resolves once it answers. */
async function startRunningService(host: LabHost, service: ServiceFiles): Promise<LabProcess> {
  const p = host.spawn([BUN, service.serverJs, host.name, String(SERVICE_PORT), "0.0.0.0"], { logName: "service" });
  const url = `http://${host.addr(1)}:${SERVICE_PORT}/`;
  await waitUntil(async () => (await host.exec(["curl", "-s", "-o", "/dev/null", "-m", "0.5", url])).code === 0, {
    timeoutMs: 10_000,
    what: `the service on ${host.name} to listen`,
  });
  return p;
}

/** The last `n` answers all come from `host`. */
const settledOn = (answers: ReturnType<typeof parseAnswers>, host: string, n: number): boolean =>
  answers.length >= n && answers.slice(-n).every((a) => a.host === host);

export async function runTrial(ctx: TrialContext, spec: TrialSpec): Promise<TrialResult> {
  const [primary, standby, client] = [ctx.lab.host(1), ctx.lab.host(2), ctx.lab.host(3)];
  const dir = mkdtempSync(join(ctx.dir, `${spec.impl}-${spec.fault}-${spec.n}-`));
  const pairSpec = { primary, standby, dir, service: ctx.service, serviceMode: ctx.serviceMode, vigilHeartbeat: ctx.vigilHeartbeat, haTimers: ctx.haTimers };
  const pair: ModulePair =
    spec.impl === "heartbeat"
      ? heartbeatPair(pairSpec)
      : vigilPair(spec.impl === "vigil" ? pairSpec : spec.impl === "vigil-compare" ? { ...pairSpec, bin: ctx.compareBin ?? "" } : { ...pairSpec, witness: client.addr(1) });
  let prober: LabProcess | undefined;
  const services: LabProcess[] = [];
  let linkDown = false;
  running = pair;
  try {
    // A neighbour entry left from the previous trial would point at the wrong node.
    await client.exec(["ip", "neigh", "flush", "to", VIP, "dev", client.ifname()], { check: true });
    if (ctx.serviceMode === "running") for (const h of [primary, standby]) services.push(await startRunningService(h, ctx.service));
    await pair.start();
    const p = client.spawn([BUN, PROBER, VIP, String(SERVICE_PORT), String(PROBE_INTERVAL_MS), String(PROBE_TIMEOUT_MS)], { logName: "prober" });
    prober = p;
    await p.waitFor(() => settledOn(parseAnswers(p.output()), primary.name, STEADY_ANSWERS), 15_000);
    if ((ctx.holdMs ?? 0) > 0) {
      await sleep(ctx.holdMs ?? 0);
      if (!settledOn(parseAnswers(p.output()), primary.name, STEADY_ANSWERS)) throw new Error(`the client was not answered by ${primary.name} only during the hold`);
    }
    // Any phase against the heartbeat schedule, as a real fault would hit.
    await sleep(Math.random() * ctx.intervalMs);
    const standbyPid = pair.standbyPid?.();
    const faultsBefore = minorFaults(standbyPid);
    if (spec.fault === "crash") {
      pair.crashPrimary();
      // The power-off takes the always-running service down with its host.
      services[0]?.kill("SIGKILL");
      linkDown = true;
      await ctx.lab.linkDown(primary);
    } else {
      await pair.swap();
    }
    try {
      await p.waitFor(() => parseAnswers(p.output()).filter((a) => a.host === standby.name).length >= TAKEN_OVER_ANSWERS, TAKEOVER_DEADLINE_MS);
    } catch (e) {
      if (!(e instanceof WaitTimeout)) throw e;
      return { ...spec, outage: null, problem: `${standby.name} did not answer ${TAKEN_OVER_ANSWERS} probes within ${TAKEOVER_DEADLINE_MS} ms of the fault` };
    }
    const faultsAfter = minorFaults(standbyPid);
    const faults = faultsBefore === undefined || faultsAfter === undefined ? {} : { standbyMinorFaults: faultsAfter - faultsBefore };
    await p.stop(1_000);
    const outage = outageOf(parseAnswers(p.output()), primary.name, standby.name);
    return outage === null ? { ...spec, outage, problem: "no answer from the primary before the standby's first", ...faults } : { ...spec, outage, ...faults };
  } finally {
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    if (prober !== undefined) await attempt("stop the prober", () => (prober as LabProcess).stop(1_000));
    await attempt(`stop ${spec.impl}`, () => pair.stop());
    running = undefined;
    for (const s of services) await attempt("stop the service", () => s.stop(1_000));
    killServices(ctx.service);
    if (linkDown) await attempt(`bring ${primary.name}'s links up`, () => ctx.lab.linkUp(primary));
    for (const h of [primary, standby]) await attempt(`remove the VIP from ${h.name}`, () => clearVip(h));
    if (errors.length > 0) throw new Error(`cleaning up after a trial failed: ${errors.join("; ")}`);
  }
}
