/**
 * Client-visible outage of a VRRP failover: vigil beside keepalived 2.2.7 in
 * the same run, with the same advert_int (1 s and 100 ms), and at vigil's
 * fastest stable advert_int.
 *
 *   node_modules/.bin/bun bench/failover.ts [--trials 5] [--idle-seconds 60] [--fast 30ms,20ms,10ms]
 *     [--compare 1s,100ms] [--stress] [--name NAME] [--keep-logs]
 *
 * --compare lists the advert_ints measured for both before the search
 * ("none" for no such row; 20ms measures vigil beside keepalived at 20 ms
 * directly). --fast none skips the search. --stress runs the idle checks
 * under `stress-ng --cpu 2` (both cores busy at normal priority), so they
 * count flaps of a loaded machine.
 *
 * (VIGIL_BIN=/path/to/vigil picks the binary; default dist/vigil.)
 *
 * Lab (test/lab/lab.ts, root only): three network namespaces on one bridge,
 * 198.51.100.0/24, no default route. h1 and h2 are the routers, a homogeneous
 * pair per implementation (vigil+vigil or keepalived+keepalived), one VRID,
 * VIP 198.51.100.100, priorities 150/100, VRRPv3 multicast, preempt on (the
 * default of both) but never used: every trial starts the pair afresh, the
 * master first, so no trial depends on the one before. vigil runs as deployed:
 * a two-node cluster with a key, heartbeats included. Each router runs a UDP
 * responder that answers with its host name; h3 sends a numbered datagram to
 * the VIP every 10 ms and logs who answered, on its own monotonic clock.
 *
 * Outage = time from the master's last answer before the fault to the
 * backup's first answer after it, as the client saw them (10 ms resolution).
 * The fault hits at a random phase of the advert schedule.
 *
 * Faults:
 * - SIGKILL: the master's VRRP daemon (for keepalived, its VRRP child and the
 *   parent) and the master's responder are SIGKILLed in the same instant: the
 *   node's HA daemon and its service die together, as in a crash. Killing the
 *   daemon alone would measure nothing: both implementations leave the VIP on
 *   a killed master's interface, so its still-running service would go on
 *   answering until the backup's gratuitous ARP moved the client. With the
 *   service gone, the dead master's kernel drops the probes (port
 *   unreachable) until the client follows the backup's gratuitous ARP. The same
 *   is done to both implementations, and neither gets a chance to resign
 *   (no priority-0 advert).
 * - link down: `ip link set eth0 down` in the master's namespace.
 *
 * Settings: advert_int 1 s and 100 ms for both (keepalived's down timer is 3
 * adverts plus skew; vigil's down_timer_adverts is left at its default, 3).
 * Then vigil's fastest stable advert_int: each --fast candidate, slowest
 * first, runs an idle vigil pair for --idle-seconds; stable means no role
 * change at all. The search stops at the first unstable candidate. The
 * fastest stable one gets the same trials, and keepalived gets its idle check
 * and its trials at that setting too, for a ratio. Trials alternate between
 * the implementations, so a load burst on a shared machine hits both alike.
 *
 * --keep-logs leaves the daemons' logs in the temp directory (its path is
 * printed), to read what a flapping pair saw.
 *
 * Writes bench/results/failover.json and bench/results/failover.md (--name
 * picks another name) and prints the table. Every namespace, process and VIP is removed at the end, also on
 * failure or Ctrl-C.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/config/duration.ts";
import { withLab } from "../test/lab/lab.ts";
import { makeKey, requireVigilBinary, VIGIL } from "../test/lab/vrrp-lab.ts";
import { writeResults } from "./lib/report.ts";
import { startStress } from "./lib/stress.ts";
import { advertLabel, outageTable, rows, type Setting, stabilityTable } from "./failover-report.ts";
import { type Fault, idleCheck, type IdleResult, PROBE_INTERVAL_MS, runTrial, type TrialResult } from "./failover-trial.ts";
import { runBench, UsageError } from "./lib/args.ts";

const COMMAND = "node_modules/.bin/bun bench/failover.ts";
const FAULTS: readonly Fault[] = ["kill", "link-down"];
const compared = (adverts: readonly number[]): Setting[] => adverts.map((advertMs) => ({ advertMs, impls: ["vigil", "keepalived"] }));
/** vigil's fastest stable setting; keepalived runs it too, so that row has a ratio as well. */
const FASTEST = (advertMs: number): Setting => ({ advertMs, impls: ["vigil", "keepalived"], fastest: true });
const DOWN_TIMER_ADVERTS = 3;


interface Options {
  trials: number;
  idleSeconds: number;
  fast: number[];
  compare: number[];
  stress: boolean;
  name: string;
  keepLogs: boolean;
}

/** "30ms,20ms" to milliseconds, each a VRRPv3 interval; "none" is the empty list. */
function advertList(flag: string, text: string): number[] {
  if (text.trim() === "none") return [];
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    const ms = parseDuration(s);
    // VRRPv3 carries the interval in centiseconds.
    if (ms === undefined || ms < 10 || ms % 10 !== 0) throw new UsageError(`--${flag}: "${s}" is not an advert_int vigil accepts (a duration in steps of 10ms, at least 10ms)`);
    return ms;
  });
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        trials: { type: "string", default: "5" },
        "idle-seconds": { type: "string", default: "60" },
        fast: { type: "string", default: "30ms,20ms,10ms" },
        compare: { type: "string", default: "1s,100ms" },
        stress: { type: "boolean", default: false },
        name: { type: "string", default: "failover" },
        "keep-logs": { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const trials = Number(values.trials);
  if (!Number.isInteger(trials) || trials < 1) throw new UsageError(`--trials must be a whole number >= 1, got "${values.trials}"`);
  const idleSeconds = Number(values["idle-seconds"]);
  if (!Number.isFinite(idleSeconds) || idleSeconds <= 0) throw new UsageError(`--idle-seconds must be a number of seconds > 0, got "${values["idle-seconds"]}"`);
  const fast = advertList("fast", values.fast);
  const compare = advertList("compare", values.compare);
  if (!/^[\w.-]+$/.test(values.name)) throw new UsageError(`--name must be a file name (letters, digits, ".", "-", "_"), got "${values.name}"`);
  return { trials, idleSeconds, fast: [...new Set(fast)].sort((a, b) => b - a), compare: [...new Set(compare)].sort((a, b) => b - a), stress: values.stress === true, name: values.name, keepLogs: values["keep-logs"] === true };
}

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const describe = (t: TrialResult): string =>
  `${t.impl} ${advertLabel(t.advertMs)} ${t.fault} #${t.n}: ` +
  (t.outage === null ? `no figure (${t.problem ?? "unknown"})` : `${t.outage.outageMs.toFixed(0)} ms outage, ${t.outage.lostProbes} probes lost`);

async function main(): Promise<void> {
  const o = options();
  requireVigilBinary();
  if (!existsSync("/usr/sbin/keepalived")) throw new Error("keepalived is not installed (/usr/sbin/keepalived); apt-get install keepalived");
  const startedAt = { date: new Date().toISOString(), loadavg: loadavg() };
  const dir = mkdtempSync(join(tmpdir(), "vigil-failover-"));
  // On Ctrl-C the lab's exit hook tears the lab down; the temp dir is ours to remove.
  const SIGNAL_CODES = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  for (const [sig, code] of Object.entries(SIGNAL_CODES)) {
    process.once(sig, () => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(128 + code);
    });
  }
  const trials: TrialResult[] = [];
  const idle: IdleResult[] = [];
  let fastest: number | null = null;
  try {
    await withLab({ hosts: 3 }, async (lab) => {
      const ctx = { lab, dir, key: await makeKey(dir) };
      say(`lab ${lab.run}: logs in ${lab.dir}`);
      const trialsOf = async (s: Setting): Promise<void> => {
        for (const fault of FAULTS) {
          for (let n = 1; n <= o.trials; n++) {
            for (const impl of s.impls) {
              let t: TrialResult;
              try {
                t = await runTrial(ctx, { impl, advertMs: s.advertMs, fault, n });
              } catch (e) {
                // One broken trial (a daemon that would not start) is a figure missing, not a run lost.
                t = { impl, advertMs: s.advertMs, fault, n, outage: null, problem: (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "" };
              }
              trials.push(t);
              say(describe(t));
            }
          }
        }
      };
      for (const s of compared(o.compare)) await trialsOf(s);
      const stress = o.stress ? startStress(lab.switch, ["--cpu", "2", "--timeout", "0"]) : undefined;
      try {
      for (const advertMs of o.fast) {
        say(`idle check: vigil at ${advertLabel(advertMs)} for ${o.idleSeconds} s${o.stress ? " under stress-ng --cpu 2" : ""}`);
        const r = await idleCheck(ctx, "vigil", advertMs, DOWN_TIMER_ADVERTS, o.idleSeconds);
        idle.push(r);
        say(`  ${r.spuriousFailovers} spurious failovers: ${r.stable ? "stable" : "not stable"}`);
        if (!r.stable) break;
        fastest = advertMs;
      }
      // Under stress keepalived is checked even where vigil flapped: the comparison is the point.
      const kaAt = fastest ?? (o.stress ? (o.fast[0] ?? null) : null);
      if (kaAt !== null) {
        say(`idle check: keepalived at ${advertLabel(kaAt)} for ${o.idleSeconds} s`);
        const k = await idleCheck(ctx, "keepalived", kaAt, DOWN_TIMER_ADVERTS, o.idleSeconds);
        idle.push(k);
        say(`  ${k.spuriousFailovers} spurious failovers: ${k.stable ? "stable" : "not stable"}`);
      }
      } finally {
        await stress?.stop(2_000);
      }
      if (fastest !== null) await trialsOf(FASTEST(fastest));
    });
  } finally {
    if (o.keepLogs) say(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }

  const settings: Setting[] = [...compared(o.compare), ...(fastest === null ? [] : [FASTEST(fastest)])];
  const table = rows(settings, FAULTS, trials);
  const list = (l: readonly number[]): string => (l.length === 0 ? "none" : l.map((ms) => `${ms}ms`).join(","));
  const cmd = `${COMMAND} --trials ${o.trials} --idle-seconds ${o.idleSeconds} --fast ${list(o.fast)} --compare ${list(o.compare)}${o.stress ? " --stress" : ""}${o.name === "failover" ? "" : ` --name ${o.name}`}`;
  const md = [
    `Client-visible outage of a VRRP failover (a UDP probe to the VIP every ${PROBE_INTERVAL_MS} ms; ${o.trials} trials per cell; ${cpus().length} CPUs, load average ${startedAt.loadavg.map((x) => x.toFixed(1)).join(" ")} at start).`,
    "",
    outageTable(table),
    "",
    ...(o.fast.length === 0
      ? []
      : [
          `vigil's fastest stable advert_int (down_timer_adverts ${DOWN_TIMER_ADVERTS}, an idle pair for ${o.idleSeconds} s${o.stress ? " under stress-ng --cpu 2" : ""}, slowest candidate first): ${fastest === null ? "none of the candidates was stable" : `${advertLabel(fastest)}; keepalived was checked and measured at the same setting`}.`,
          "",
          stabilityTable(idle),
          "",
        ]),
    `Command: \`${cmd}\``,
    "",
  ].join("\n");
  writeResults(o.name, {
    command: cmd,
    vigil: VIGIL,
    started: startedAt,
    finished: { date: new Date().toISOString(), loadavg: loadavg() },
    cpus: cpus().length,
    probeIntervalMs: PROBE_INTERVAL_MS,
    trialsPerCell: o.trials,
    stress: o.stress,
    downTimerAdverts: DOWN_TIMER_ADVERTS,
    fastestStableAdvertMs: fastest,
    rows: table,
    idle,
    trials,
  }, md);
  console.log(md);
}

runBench(main);
