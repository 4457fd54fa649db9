/**
 * Idle VRRP pairs side by side, all at once, for the same minutes under the
 * same load: does either node of a pair ever change role with nothing wrong?
 * Two vigil builds and keepalived 2.2.7 can thus be compared in one window
 * instead of one after the other (load on a shared machine changes from
 * minute to minute).
 *
 *   node_modules/.bin/bun bench/failover-side-by-side.ts --pairs old=/path/vigil-a,new=/path/vigil-b,keepalived
 *     [--advert 20ms] [--seconds 600] [--stress] [--name NAME] [--keep-logs]
 *
 * --pairs: one pair per item, LABEL=BINARY for vigil, or `keepalived`.
 * --stress: `stress-ng --cpu 2` (normal priority) for the whole window.
 *
 * Lab: 2 hosts per pair on one bridge, pair i on VRID 51+i with VIP
 * 198.51.100.(100+i); priorities 150 (started first, waited for until
 * MASTER) and 100. vigil: a two-node cluster with a key, down_timer_adverts
 * 3 (keepalived's fixed value). A role change is the backup entering MASTER
 * or the master leaving it. Also counted per vigil pair: "ran late" warnings
 * and adverts its backstop thread had to send (logged, rate-limited).
 *
 * The adverts themselves are captured (tcpdump) at each backup's switch
 * port: per pair, the longest silence of its master as the backup's link
 * saw it, and how many silences reached 50 ms and Master_Down_Interval
 * (a backup takes over after that long without an advert). A flap needs a
 * silence of Master_Down_Interval; the near misses show how close the rest
 * came, which a count of role changes over a few minutes cannot.
 *
 * Writes bench/results/NAME.{json,md} (default failover-side-by-side).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/config/duration.ts";
import { type LabHost, type LabProcess, withLab } from "../test/lab/lab.ts";
import { keepalivedConf, makeKey, VRID, VIP, vigilYaml } from "../test/lab/vrrp-lab.ts";
import { clearVip } from "./failover-routers.ts";
import { schedulingOf } from "./lib/proc-usage.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { startStress } from "./lib/stress.ts";
import { runBench, UsageError } from "./lib/args.ts";

const COMMAND = "node_modules/.bin/bun bench/failover-side-by-side.ts";

interface PairSpec {
  label: string;
  /** vigil binary, or null for keepalived. */
  bin: string | null;
}

interface PairResult {
  label: string;
  impl: "vigil" | "keepalived";
  bin: string | null;
  vrid: number;
  vip: string;
  roleChanges: number;
  /** vigil: "this node ran late" lines, master and backup. */
  ranLate: [number, number] | null;
  /** vigil: the highest count of backstop adverts the master logged. */
  backstopAdverts: number | null;
  scheduling: string | null;
  /** Adverts of the master seen at the backup's switch port, and the gaps between them. */
  wire: WireGaps | null;
}

interface WireGaps {
  adverts: number;
  maxGapMs: number;
  /** Gaps of at least 50 ms. */
  over50: number;
  /** Gaps of at least Master_Down_Interval. */
  overMdi: number;
  mdiMs: number;
}

const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, "g"))?.length ?? 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
};


function options() {
  const { values } = parseArgs({
    options: {
      pairs: { type: "string" },
      advert: { type: "string", default: "20ms" },
      seconds: { type: "string", default: "600" },
      stress: { type: "boolean", default: false },
      name: { type: "string", default: "failover-side-by-side" },
      "keep-logs": { type: "boolean", default: false },
    },
  });
  if (values.pairs === undefined) throw new UsageError("--pairs is required, e.g. --pairs old=/tmp/a/vigil,new=/tmp/b/vigil,keepalived");
  const pairs: PairSpec[] = values.pairs.split(",").map((item) => {
    if (item === "keepalived") return { label: "keepalived", bin: null };
    const m = /^([\w.-]+)=(\S+)$/.exec(item);
    if (m === null) throw new UsageError(`--pairs: "${item}" is neither LABEL=BINARY nor keepalived`);
    return { label: m[1] as string, bin: m[2] as string };
  });
  if (pairs.length === 0 || pairs.length > 6) throw new UsageError("--pairs: 1 to 6 pairs");
  const advertMs = parseDuration(values.advert ?? "20ms");
  if (advertMs === undefined || advertMs < 10 || advertMs % 10 !== 0) throw new UsageError(`--advert: "${values.advert}" is not an advert_int in steps of 10ms`);
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--seconds must be > 0, got "${values.seconds}"`);
  if (!/^[\w.-]+$/.test(values.name)) throw new UsageError(`--name must be a file name, got "${values.name}"`);
  return { pairs, advertMs, seconds, stress: values.stress === true, name: values.name, keepLogs: values["keep-logs"] === true };
}

interface Running {
  spec: PairSpec;
  vrid: number;
  vip: string;
  master: LabProcess;
  backup: LabProcess;
  masterAddress: string;
  capture?: LabProcess;
}

function vigilConfig(master: LabHost, backup: LabHost, vrid: number, vip: string, advertMs: number, key: string): string {
  return vigilYaml([master, backup], {
    priority: { [master.name]: 150, [backup.name]: 100 },
    advertInt: `${advertMs}ms`,
    extra: ["    down_timer_adverts: 3"],
  }, key)
    .replace(`vrid: ${VRID}`, `vrid: ${vrid}`)
    .replace(`vips: [${VIP}/24]`, `vips: [${vip}/24]`);
}

async function startVigilNode(bin: string, host: LabHost, dir: string, yaml: string, label: string): Promise<LabProcess> {
  const config = join(dir, `vigil-${host.name}.yaml`);
  writeFileSync(config, yaml);
  const stateDir = join(dir, `state-${host.name}`);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const proc = host.spawn([bin, "run", "--config", config, "--node", host.name, "--state-dir", stateDir], { logName: `vigil-${label}` });
  await proc.waitFor(/vigil started/, 15_000);
  return proc;
}

async function startKeepalivedNode(host: LabHost, dir: string, priority: number, vrid: number, vip: string, advertMs: number, label: string): Promise<LabProcess> {
  const conf = join(dir, `keepalived-${host.name}.conf`);
  writeFileSync(conf, keepalivedConf(host, { priority, advertInt: String(advertMs / 1000) })
    .replace(`virtual_router_id ${VRID}`, `virtual_router_id ${vrid}`)
    .replace(`${VIP}/32`, `${vip}/32`));
  const proc = host.spawn([
    "keepalived", "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp", "--dont-respawn",
    "--use-file", conf, "--pid", join(dir, `keepalived-${host.name}.pid`), "--vrrp_pid", join(dir, `vrrp-${host.name}.pid`),
  ], { logName: `keepalived-${label}` });
  await proc.waitFor(/\(VI_1\) Entering BACKUP STATE/, 15_000);
  return proc;
}

const MASTER_RE = { vigil: /vrrp VI_1 MASTER/, keepalived: /\(VI_1\) Entering MASTER STATE/ };
const EXIT_RE = {
  vigil: /vrrp VI_1 MASTER[\s\S]*?vrrp VI_1 (?:BACKUP|FAULT)/,
  keepalived: /\(VI_1\) Entering MASTER STATE[\s\S]*?\(VI_1\) (?:Entering BACKUP STATE|Entering FAULT STATE)/,
};

async function startPairAt(p: PairSpec, i: number, master: LabHost, backup: LabHost, dir: string, key: string, advertMs: number): Promise<Running> {
  const vrid = VRID + i;
  const vip = `198.51.100.${100 + i}`;
  const pdir = join(dir, `${i}-${p.label}`);
  mkdirSync(pdir, { recursive: true });
  const impl = p.bin === null ? "keepalived" : "vigil";
  const start = (host: LabHost, prio: number): Promise<LabProcess> =>
    p.bin === null
      ? startKeepalivedNode(host, pdir, prio, vrid, vip, advertMs, p.label)
      : startVigilNode(p.bin, host, pdir, vigilConfig(master, backup, vrid, vip, advertMs, key), p.label);
  const m = await start(master, 150);
  await m.waitFor(() => count(m.output(), MASTER_RE[impl]) > 0, 15_000);
  const b = await start(backup, 100);
  return { spec: p, vrid, vip, master: m, backup: b, masterAddress: master.addr() };
}

/** Master_Down_Interval of a backup of priority 100 with down_timer_adverts 3 (RFC 5798: 3 adverts plus the skew). */
const mdiMs = (advertMs: number): number => 3 * advertMs + ((256 - 100) * advertMs) / 256;

/** tcpdump -tt lines: "1796600000.123456 IP 198.51.100.11 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 150, ..." */
export function wireGaps(text: string, master: string, vrid: number, advertMs: number): WireGaps {
  const at: number[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+\.\d+) IP (\S+) > \S+: VRRPv\d, Advertisement, vrid (\d+), prio (\d+)/.exec(line);
    if (m === null || m[2] !== master || Number(m[3]) !== vrid || m[4] === "0") continue;
    at.push(Number(m[1]) * 1000);
  }
  const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
  const mdi = mdiMs(advertMs);
  return {
    adverts: at.length,
    maxGapMs: gaps.length === 0 ? 0 : Math.round(Math.max(...gaps) * 10) / 10,
    over50: gaps.filter((g) => g >= 50).length,
    overMdi: gaps.filter((g) => g >= mdi).length,
    mdiMs: Math.round(mdi * 10) / 10,
  };
}

function resultOf(r: Running, advertMs: number): PairResult {
  const impl = r.spec.bin === null ? "keepalived" : "vigil";
  const mo = r.master.output();
  const bo = r.backup.output();
  const roleChanges = count(bo, MASTER_RE[impl]) + count(mo, EXIT_RE[impl]);
  const backstop = [...mo.matchAll(/backstop thread[^\n]*adverts=(\d+)/g)].map((m) => Number(m[1]));
  return {
    label: r.spec.label,
    impl,
    bin: r.spec.bin,
    vrid: r.vrid,
    vip: r.vip,
    roleChanges,
    ranLate: impl === "vigil" ? [count(mo, /this node ran late/), count(bo, /this node ran late/)] : null,
    backstopAdverts: impl === "vigil" ? (backstop.length === 0 ? 0 : Math.max(...backstop)) : null,
    scheduling: schedulingOf(r.master.pid),
    wire: r.capture === undefined ? null : wireGaps(r.capture.output(), r.masterAddress, r.vrid, advertMs),
  };
}

async function main(): Promise<void> {
  const o = options();
  const started = { date: new Date().toISOString(), loadavg: loadavg() };
  const dir = mkdtempSync(join(tmpdir(), "vigil-side-"));
  let results: PairResult[] = [];
  try {
    await withLab({ hosts: 2 * o.pairs.length }, async (lab) => {
      say(`lab ${lab.run}: logs in ${lab.dir}`);
      const key = await makeKey(dir);
      const running: Running[] = [];
      try {
        for (const [i, p] of o.pairs.entries()) {
          running.push(await startPairAt(p, i, lab.host(2 * i + 1), lab.host(2 * i + 2), dir, key, o.advertMs));
          say(`pair ${p.label} up (VRID ${VRID + i})`);
        }
        for (const [i, r] of running.entries()) {
          r.capture = lab.switch.spawn(["tcpdump", "-n", "-tt", "-l", "-i", `${lab.host(2 * i + 2).name}l1`, "ip proto 112"], { logName: `tcpdump-${r.spec.label}` });
        }
        await sleep(3 * o.advertMs + 500);
        const stress = o.stress ? startStress(lab.switch, ["--cpu", "2", "--timeout", "0"]) : undefined;
        say(`${o.seconds} s${o.stress ? " under stress-ng --cpu 2" : ""}, load ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
        try {
          const end = Date.now() + o.seconds * 1000;
          let last = "";
          while (Date.now() < end) {
            await sleep(Math.min(10_000, end - Date.now()));
            const now = running.map((r) => `${r.spec.label} ${resultOf(r, o.advertMs).roleChanges}`).join(", ");
            if (now !== last) say(`role changes: ${now}`);
            last = now;
          }
        } finally {
          await stress?.stop(2_000);
        }
        // Let the captures print what they hold.
        await sleep(500);
        for (const r of running) await r.capture?.stop(2_000);
        results = running.map((r) => resultOf(r, o.advertMs));
      } finally {
        for (const r of running) {
          for (const proc of [r.capture, r.backup, r.master]) if (proc !== undefined && proc.exitStatus === null) await proc.stop(5_000);
          for (const h of [lab.host(2 * running.indexOf(r) + 1), lab.host(2 * running.indexOf(r) + 2)]) {
            await clearVip(h).catch(() => {});
          }
        }
      }
    });
  } finally {
    if (o.keepLogs) say(`configs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  const finished = { date: new Date().toISOString(), loadavg: loadavg() };
  const cmd = `${COMMAND} --pairs ${o.pairs.map((p) => (p.bin === null ? "keepalived" : `${p.label}=${p.bin}`)).join(",")} --advert ${o.advertMs}ms --seconds ${o.seconds}${o.stress ? " --stress" : ""}${o.name === "failover-side-by-side" ? "" : ` --name ${o.name}`}`;
  const md = [
    `Idle VRRP pairs at advert_int ${o.advertMs} ms, all at once for ${o.seconds} s${o.stress ? " under stress-ng --cpu 2" : ""} (${cpus().length} CPUs; load average ${started.loadavg.map((x) => x.toFixed(1)).join(" ")} at start, ${finished.loadavg.map((x) => x.toFixed(1)).join(" ")} at the end; ${started.date} to ${finished.date}).`,
    "",
    markdownTable(
      ["pair", "role changes", "master's adverts on the wire", "longest silence (ms)", "silences >= 50 ms", "silences >= Master_Down_Interval", "ran late (master / backup)", "backstop adverts (master)", "master's scheduling"],
      results.map((r) => [
        r.label,
        String(r.roleChanges),
        r.wire === null ? "-" : String(r.wire.adverts),
        r.wire === null ? "-" : r.wire.maxGapMs.toFixed(1),
        r.wire === null ? "-" : String(r.wire.over50),
        r.wire === null ? "-" : `${r.wire.overMdi} (${r.wire.mdiMs} ms)`,
        r.ranLate === null ? "-" : `${r.ranLate[0]} / ${r.ranLate[1]}`,
        r.backstopAdverts === null ? "-" : String(r.backstopAdverts),
        r.scheduling ?? "-",
      ]),
    ),
    "",
    `Command: \`${cmd}\``,
    "",
  ].join("\n");
  writeResults(o.name, { command: cmd, started, finished, cpus: cpus().length, advertMs: o.advertMs, seconds: o.seconds, stress: o.stress, pairs: results }, md);
  console.log(md);
}

runBench(main);
