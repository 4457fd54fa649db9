/**
 * One failover trial and one idle-stability check, on a lab of three hosts:
 * h1 the master (150), h2 the backup (100), h3 the client. Each trial starts
 * the service and the pair afresh and leaves the hosts as it found them
 * (daemons and service stopped, link up, no VIP), also when it fails.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { Lab, LabHost, LabProcess } from "../test/lab/lab.ts";
import { REPO_ROOT } from "../test/lab/lab.ts";
import { VIP } from "../test/lab/vrrp-lab.ts";
import { sleep, WaitTimeout } from "../test/lab/wait.ts";
import { outageOf, parseAnswers, type Outage } from "./failover-outage.ts";
import { clearVip, type Impl, type Pair, startPair } from "./failover-routers.ts";

export type Fault = "kill" | "link-down";

export const PROBE_INTERVAL_MS = 10;
const SERVICE_PORT = 9901;
const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const UDP = join(REPO_ROOT, "bench", "failover-udp.ts");
/** Answers in a row from the master before the fault: the client is settled on it. */
const STEADY_ANSWERS = 30;
/** Answers from the backup after the fault: it has taken over, not flickered. */
const TAKEN_OVER_ANSWERS = 20;

export interface TrialSpec {
  impl: Impl;
  advertMs: number;
  downTimerAdverts?: number;
  fault: Fault;
  /** 1-based, for the log. */
  n: number;
}

export interface TrialResult extends TrialSpec {
  outage: Outage | null;
  /** Why there is no outage figure, or what went wrong besides. */
  problem?: string;
}

export interface LabContext {
  lab: Lab;
  /** Parent of the per-trial directories. */
  dir: string;
  key: string;
}

const hosts = (lab: Lab): [LabHost, LabHost, LabHost] => [lab.host(1), lab.host(2), lab.host(3)];

function startResponder(host: LabHost): LabProcess {
  return host.spawn([BUN, UDP, "respond", host.name, String(SERVICE_PORT)], { logName: "responder" });
}

/** What a trial or idle check has started so far, for cleanUp. */
interface Started {
  pair?: Pair;
  prober?: LabProcess;
  responders: LabProcess[];
  linkDown: boolean;
}

/** Everything the trial started, stopped in the order that leaves no VIP and no dead link behind. */
async function cleanUp(ctx: LabContext, started: Started): Promise<void> {
  const [master, backup] = hosts(ctx.lab);
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const prober = started.prober;
  if (prober) await attempt("stop the prober", () => prober.stop(1_000));
  if (started.pair) {
    const { master: m, backup: b } = started.pair;
    await attempt("stop the routers", () => Promise.all([m.stop(), b.stop()]));
  }
  if (started.linkDown) await attempt(`bring ${master.name}'s link up`, () => ctx.lab.linkUp(master));
  for (const r of started.responders) await attempt("stop a responder", () => r.stop(1_000));
  for (const h of [master, backup]) await attempt(`remove the VIP from ${h.name}`, () => clearVip(h));
  if (errors.length > 0) throw new Error(`cleaning up after a trial failed: ${errors.join("; ")}`);
}

/** The last `n` answers all come from `host`. */
const settledOn = (answers: ReturnType<typeof parseAnswers>, host: string, n: number): boolean =>
  answers.length >= n && answers.slice(-n).every((a) => a.host === host);

export async function runTrial(ctx: LabContext, spec: TrialSpec): Promise<TrialResult> {
  const [master, backup, client] = hosts(ctx.lab);
  const dir = mkdtempSync(join(ctx.dir, `${spec.impl}-${spec.advertMs}ms-${spec.fault}-${spec.n}-`));
  const started: Started = { responders: [], linkDown: false };
  try {
    const responders = [startResponder(master), startResponder(backup)];
    started.responders.push(...responders);
    await Promise.all(responders.map((r) => r.waitFor(/responding as/, 10_000)));
    // A stale ARP entry from the previous trial would point at the wrong router.
    await client.exec(["ip", "neigh", "flush", "to", VIP, "dev", client.ifname()], { check: true });

    const pair = await startPair({
      impl: spec.impl, advertMs: spec.advertMs, master, backup, dir, key: ctx.key,
      ...(spec.downTimerAdverts === undefined ? {} : { downTimerAdverts: spec.downTimerAdverts }),
    });
    started.pair = pair;
    // Let the backup hear a few adverts, so its master-down timer runs from them and not from its start.
    await sleep(3 * spec.advertMs + 200);

    const prober = client.spawn([BUN, UDP, "probe", VIP, String(SERVICE_PORT), String(PROBE_INTERVAL_MS)], { logName: "prober" });
    started.prober = prober;
    await prober.waitFor(() => settledOn(parseAnswers(prober.output()), master.name, STEADY_ANSWERS), 15_000);
    // Any phase against the master's advert schedule, as a real fault would hit.
    await sleep(Math.random() * spec.advertMs);
    if (pair.backup.masterEntries() > 0 || pair.master.masterExits() > 0) {
      return { ...spec, outage: null, problem: "spurious failover before the fault" };
    }

    if (spec.fault === "kill") {
      await pair.master.crash(responders[0] as LabProcess);
    } else {
      started.linkDown = true;
      await ctx.lab.linkDown(master, { side: "host" });
    }

    const deadline = Math.max(15_000, 20 * spec.advertMs);
    try {
      await prober.waitFor(() => parseAnswers(prober.output()).filter((a) => a.host === backup.name).length >= TAKEN_OVER_ANSWERS, deadline);
    } catch (e) {
      if (!(e instanceof WaitTimeout)) throw e;
      return { ...spec, outage: null, problem: `${backup.name} did not answer ${TAKEN_OVER_ANSWERS} probes within ${deadline} ms of the fault` };
    }
    await prober.stop(1_000);
    const outage = outageOf(parseAnswers(prober.output()), master.name, backup.name);
    return outage === null ? { ...spec, outage, problem: "no answer from the master before the backup's first" } : { ...spec, outage };
  } finally {
    await cleanUp(ctx, started);
  }
}

export interface IdleResult {
  impl: Impl;
  advertMs: number;
  downTimerAdverts: number;
  seconds: number;
  /** The backup became MASTER, or the master left MASTER, with nothing wrong. */
  spuriousFailovers: number;
  stable: boolean;
}

/** A pair left alone for `seconds` (no prober): stable means no role change at all. */
export async function idleCheck(ctx: LabContext, impl: Impl, advertMs: number, downTimerAdverts: number, seconds: number): Promise<IdleResult> {
  const [master, backup] = hosts(ctx.lab);
  const dir = mkdtempSync(join(ctx.dir, `idle-${impl}-${advertMs}ms-`));
  const started: Started = { responders: [], linkDown: false };
  try {
    const pair = await startPair({
      impl, advertMs, master, backup, dir, key: ctx.key,
      // keepalived's down timer is fixed at 3 adverts; vigil's is configured.
      ...(impl === "vigil" ? { downTimerAdverts } : {}),
    });
    started.pair = pair;
    await sleep(3 * advertMs + 200);
    await sleep(seconds * 1_000);
    // Counted from the start: a flap while settling is just as spurious.
    const spuriousFailovers = pair.backup.masterEntries() + pair.master.masterExits();
    return { impl, advertMs, downTimerAdverts, seconds, spuriousFailovers, stable: spuriousFailovers === 0 };
  } finally {
    await cleanUp(ctx, started);
  }
}
