/**
 * Client-visible outage of a failover module's move: vigil beside Linux-HA
 * Heartbeat 3.0.6 (Debian's package, haresources mode) in the same run, with
 * the same resources and the same timers.
 *
 *   node_modules/.bin/bun bench/module-failover.ts [--trials 5] [--preset lan] [--service started|running] [--name NAME]
 *       [--hold SECONDS] [--compare OLD_BIN] [--impls vigil,vigil-compare] [--faults crash]
 *
 * --hold lets the settled pair idle that long before the fault (default 0):
 * with 30 the fault comes after the daemons' later memory trim (initdead +
 * 20 s, memory-trim.ts), so the takeover runs on code pages dropped before.
 * --compare runs the "vigil-compare" pairs (no witness) on another build, in
 * turn with the others. --impls and --faults keep only those rows. Each
 * vigil trial also counts the standby daemon's minor page faults from the
 * fault to its takeover.
 *
 * (VIGIL_BIN=/path/to/vigil picks the binary; default dist/vigil. Root only.)
 *
 * Lab (test/lab/lab.ts): three network namespaces on two links, no default
 * route. h1 runs the module, h2 stands by, h3 is the client; heartbeats go
 * over link 2 (203.0.113.0/24) only, the VIP 198.51.100.100/24 and the
 * client live on link 1. The module is the VIP plus a start/stop script
 * that starts an HTTP server bound to the VIP (module-failover-service.ts),
 * the same script for both:
 * - vigil: a `failover` module, prefer h1, failback manual, no witness;
 * - Heartbeat: haresources `h1 IPaddr::198.51.100.100/24/eth0 websvc`,
 *   crm no, auto_failback off (IPaddr from resource-agents, through the
 *   package's /etc/ha.d/resource.d wrapper).
 * Neither side has a witness or ping node, so a node that hears no peer
 * takes the module in both. The crash is also run with vigil's split-brain
 * guard on (cluster.witness.ping: the client, h3), as the lab tests run it:
 * the standby then takes the module only once a ping round started after
 * the loss has answered; that row is compared with the same Heartbeat runs.
 *
 * Timers: vigil's default preset, lan (interval 100 ms, warntime 250 ms,
 * deadtime 500 ms), and the same values in ha.cf (`keepalive 100ms`,
 * `warntime 250ms`, `deadtime 500ms`: Heartbeat takes millisecond values).
 * --preset picks another of vigil's presets (fast, wan); Heartbeat gets its
 * timers.
 * initdead is 2 s on both (twice the deadtime at wan); it only matters at start. Heartbeat keeps its
 * other defaults (realtime on), vigil runs as it ships.
 *
 * --service running measures the HA daemon's part alone, as a keepalived-style
 * setup runs: the bench starts the HTTP server on both nodes, bound to all
 * addresses, before the daemons, and the module is the VIP alone (vigil: no
 * start/stop; Heartbeat: `h1 IPaddr::198.51.100.100/24/eth0`). A crash
 * SIGKILLs the primary's server with its daemon; a swap leaves it running
 * (the VIP is gone from its host). The default, started, is the above.
 *
 * The client sends GET / to the VIP every 10 ms on a new connection and logs
 * who answered, on its own monotonic clock (module-failover-probe.ts).
 * Outage = the primary's last answer before the fault to the standby's first
 * answer after it.
 *
 * Faults, the same for both:
 * - crash: a power-off. The primary's HA daemon (for Heartbeat every process
 *   of the instance) and the service are SIGKILLed in one instant, then
 *   every link of the primary goes down at the switch. Killing the daemon
 *   alone would leave the service answering on the VIP and measure nothing;
 *   downing the links alone would leave the daemon free to react. Nobody
 *   gets to resign: the standby must detect the death (deadtime), take the
 *   VIP, send gratuitous ARP and start the service.
 * - swap: the operator's handover, run on the primary: `vigil swap web`
 *   against Heartbeat's `hb_standby all` (its standby command; hb_takeover on
 *   the other node is the same request from the other side). The primary
 *   stops the service and releases the VIP, the standby takes both.
 *
 * Every trial starts both daemons afresh; trials take turns between the
 * implementations, so a load burst on the shared machine hits each alike. The
 * fault hits at a random phase of the heartbeat interval.
 *
 * Writes bench/results/module-failover.json and .md (--name picks another
 * name) and prints the table.
 * Namespaces, processes, VIPs and files are removed at the end, also on
 * failure or Ctrl-C.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HEARTBEAT_PRESETS, type HeartbeatPresetName } from "../src/config/defaults.ts";
import { withLab } from "../test/lab/lab.ts";
import { requireVigilBinary, VIGIL_BIN } from "../test/lab/vigil-cluster.ts";
import { HEARTBEAT_BIN, heartbeatVersion, type HaTimers } from "./lib/linux-ha.ts";
import { writeResults } from "./lib/report.ts";
import { moduleFailoverTable, type OutageRow, outageRows } from "./module-failover-report.ts";
import { type Impl, killServices } from "./module-failover-pairs.ts";
import { BUN, SERVICE_MODES, type ServiceMode, writeServiceFiles } from "./module-failover-service.ts";
import { type Fault, killRunningTrial, PROBE_INTERVAL_MS, runTrial, type TrialResult } from "./module-failover-trial.ts";
import { runBench, UsageError } from "./lib/args.ts";
import { median } from "./lib/stats.ts";

const COMMAND = "node_modules/.bin/bun bench/module-failover.ts";
const FAULTS: readonly Fault[] = ["crash", "swap"];
/** A witness only matters to a node that hears no peer: after a crash, not in a swap. */
const IMPLS: Readonly<Record<Fault, readonly Impl[]>> = { crash: ["vigil", "vigil-witness", "heartbeat"], swap: ["vigil", "heartbeat"] };
const INITDEAD_MS = 2_000;


function isPreset(name: string): name is HeartbeatPresetName {
  return Object.hasOwn(HEARTBEAT_PRESETS, name);
}

const isServiceMode = (s: string): s is ServiceMode => (SERVICE_MODES as readonly string[]).includes(s);

interface Options {
  trials: number;
  preset: HeartbeatPresetName;
  serviceMode: ServiceMode;
  name: string;
  holdMs: number;
  compare: string | undefined;
  impls: Readonly<Record<Fault, readonly Impl[]>>;
  faults: readonly Fault[];
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        trials: { type: "string", default: "5" },
        preset: { type: "string", default: "lan" },
        service: { type: "string", default: "started" },
        name: { type: "string", default: "module-failover" },
        hold: { type: "string", default: "0" },
        compare: { type: "string" },
        impls: { type: "string" },
        faults: { type: "string" },
      },
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const trials = Number(values.trials);
  if (!Number.isInteger(trials) || trials < 1) throw new UsageError(`--trials must be a whole number >= 1, got "${values.trials}"`);
  const preset = values.preset;
  if (!isPreset(preset)) throw new UsageError(`--preset must be one of ${Object.keys(HEARTBEAT_PRESETS).join(", ")}, got "${preset}"`);
  const serviceMode = values.service;
  if (!isServiceMode(serviceMode)) throw new UsageError(`--service must be one of ${SERVICE_MODES.join(", ")}, got "${serviceMode}"`);
  if (!/^[\w.-]+$/.test(values.name)) throw new UsageError(`--name must be a file name (letters, digits, ".", "-", "_"), got "${values.name}"`);
  const hold = Number(values.hold);
  if (!Number.isFinite(hold) || hold < 0) throw new UsageError(`--hold must be seconds >= 0, got "${values.hold}"`);
  const faults = values.faults === undefined ? FAULTS : values.faults.split(",");
  for (const f of faults) if (!(FAULTS as readonly string[]).includes(f)) throw new UsageError(`--faults: unknown fault "${f}"; known: ${FAULTS.join(", ")}`);
  const withCompare = (list: readonly Impl[]): Impl[] => (values.compare === undefined ? [...list] : [...list, "vigil-compare"]);
  const picked = values.impls?.split(",");
  const known: readonly string[] = ["vigil", "vigil-witness", "vigil-compare", "heartbeat"];
  for (const i of picked ?? []) if (!known.includes(i)) throw new UsageError(`--impls: unknown "${i}"; known: ${known.join(", ")}`);
  if (picked?.includes("vigil-compare") === true && values.compare === undefined) throw new UsageError("--impls vigil-compare needs --compare OLD_BIN");
  const keep = (list: Impl[]): Impl[] => (picked === undefined ? list : list.filter((i) => picked.includes(i)));
  const impls = { crash: keep(withCompare(IMPLS.crash)), swap: keep(withCompare(IMPLS.swap)) };
  return { trials, preset, serviceMode, name: values.name, holdMs: hold * 1000, compare: values.compare, impls, faults: faults as Fault[] };
}

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const describe = (t: TrialResult): string =>
  `${t.impl} ${t.fault} #${t.n}: ` +
  (t.outage === null ? `no figure (${t.problem ?? "unknown"})` : `${t.outage.outageMs.toFixed(0)} ms outage, ${t.outage.lostProbes} probes lost`);

function requireTools(): void {
  requireVigilBinary();
  if (!existsSync(HEARTBEAT_BIN)) throw new Error(`Linux-HA Heartbeat is not installed (${HEARTBEAT_BIN}); apt-get install heartbeat`);
  if (!existsSync("/usr/lib/ocf/resource.d/heartbeat/IPaddr")) throw new Error("the IPaddr resource agent is missing (/usr/lib/ocf/resource.d/heartbeat/IPaddr); apt-get install resource-agents");
  if (!existsSync(BUN)) throw new Error(`${BUN} is missing: run "npm install"`);
}

async function main(): Promise<void> {
  const { trials, preset: PRESET, serviceMode, name, holdMs, compare, impls: IMPLS_RUN, faults: FAULTS_RUN } = options();
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (network namespaces)");
  requireTools();
  const preset = HEARTBEAT_PRESETS[PRESET];
  // initdead must be at least deadtime (vigil refuses less): 2 s, or twice the deadtime of a slower preset.
  const initdeadMs = Math.max(INITDEAD_MS, 2 * preset.deadtime);
  const haTimers: HaTimers = { intervalMs: preset.interval, warntimeMs: preset.warntime, deadtimeMs: preset.deadtime, initdeadMs };
  const started = { date: new Date().toISOString(), loadavg: loadavg() };
  const dir = mkdtempSync(join(tmpdir(), "vigil-module-failover-"));
  const service = writeServiceFiles(dir);
  // On Ctrl-C the lab's exit hook tears the lab down; the daemons' children (Heartbeat's, the services) and the temp dir are ours.
  const SIGNAL_CODES = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  for (const [sig, code] of Object.entries(SIGNAL_CODES)) {
    process.once(sig, () => {
      killRunningTrial();
      killServices(service);
      rmSync(dir, { recursive: true, force: true });
      process.exit(128 + code);
    });
  }
  const results: TrialResult[] = [];
  try {
    await withLab({ hosts: 3, links: 2 }, async (lab) => {
      say(`lab ${lab.run}: logs in ${lab.dir}`);
      const ctx = {
        lab,
        dir,
        service,
        serviceMode,
        vigilHeartbeat: { preset: PRESET, initdead: `${initdeadMs}ms` } as const,
        haTimers,
        intervalMs: preset.interval,
        holdMs,
        ...(compare === undefined ? {} : { compareBin: compare }),
      };
      for (const fault of FAULTS_RUN) {
        for (let n = 1; n <= trials; n++) {
          // Who goes first rotates, so none always runs right after the same other's cleanup.
          const impls = IMPLS_RUN[fault];
          const order = impls.map((_, i) => impls[(i + n - 1) % impls.length] as Impl);
          for (const impl of order) {
            let t: TrialResult;
            try {
              t = await runTrial(ctx, { impl, fault, n });
            } catch (e) {
              // One broken trial (a daemon that would not start) is a figure missing, not a run lost.
              t = { impl, fault, n, outage: null, problem: (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "" };
            }
            results.push(t);
            say(describe(t));
          }
        }
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const haVersion = heartbeatVersion() ?? "unknown";
  const rows: OutageRow[] = outageRows(FAULTS_RUN, results);
  const extra = process.argv.slice(2).filter((a, i, all) => ["--hold", "--compare", "--impls", "--faults"].some((o) => a === o || all[i - 1] === o || a.startsWith(`${o}=`)));
  const cmd = `${COMMAND} --trials ${trials}${PRESET === "lan" ? "" : ` --preset ${PRESET}`}${serviceMode === "started" ? "" : ` --service ${serviceMode}`}${name === "module-failover" ? "" : ` --name ${name}`}${extra.length === 0 ? "" : ` ${extra.join(" ")}`}`;
  const faultCounts = [...new Set(results.map((t) => t.impl))].flatMap((impl) =>
    FAULTS_RUN.flatMap((fault) => {
      const counts = results.filter((t) => t.impl === impl && t.fault === fault && t.standbyMinorFaults !== undefined).map((t) => t.standbyMinorFaults as number);
      return counts.length === 0 ? [] : [`${impl} ${fault}: median ${median(counts)} (${Math.min(...counts)}-${Math.max(...counts)}, n=${counts.length})`];
    }));
  const md = [
    `Client-visible outage of a failover module's move (${serviceMode === "started" ? "VIP + a start script that starts an HTTP server" : "the VIP alone; an HTTP server bound to all addresses runs on both nodes before the fault"}), vigil beside Linux-HA Heartbeat ${haVersion} (haresources: ${serviceMode === "started" ? "IPaddr + the same script" : "IPaddr alone"}), same run. An HTTP GET to the VIP every ${PROBE_INTERVAL_MS} ms; ${trials} trials per cell; timers interval ${preset.interval} ms, warntime ${preset.warntime} ms, deadtime ${preset.deadtime} ms on both (vigil's ${PRESET} preset); ${cpus().length} CPUs, load average ${started.loadavg.map((x) => x.toFixed(1)).join(" ")} at start.`,
    "",
    moduleFailoverTable(rows, `Heartbeat ${haVersion}`),
    "",
    `Primary crash: the primary's HA daemon (every process of it) and the service SIGKILLed in one instant, then all its links down, as in a power-off. Swap: the operator's handover run on the primary. Witness ping: vigil with cluster.witness.ping set to the client, so the standby takes over only after a fresh ping round answered; Heartbeat has no ping node in any row.${serviceMode === "running" ? " Swap: the primary's server keeps running; only the VIP moves." : ""}`,
    "",
    ...(holdMs > 0 ? [`Each settled pair idled ${holdMs / 1000} s before the fault.`, ""] : []),
    ...(compare === undefined ? [] : [`--compare build: ${compare}; this build: ${VIGIL_BIN}.`, ""]),
    ...(faultCounts.length === 0 ? [] : [`Minor page faults of the standby's daemon from the fault to its takeover: ${faultCounts.join("; ")}.`, ""]),
    `Command: \`${cmd}\``,
    "",
  ].join("\n");
  writeResults(name, {
    command: cmd,
    vigil: VIGIL_BIN,
    heartbeat: haVersion,
    started,
    finished: { date: new Date().toISOString(), loadavg: loadavg() },
    cpus: cpus().length,
    probeIntervalMs: PROBE_INTERVAL_MS,
    trialsPerCell: trials,
    timers: { preset: PRESET, ...haTimers },
    serviceMode,
    rows,
    trials: results,
  }, md);
  console.log(md);
}

runBench(main);
