/**
 * Cold starts of a VRRP pair: is the backup ever MASTER, even briefly, when
 * it starts beside a master that is already MASTER? vigil beside keepalived
 * 2.2.7 in the same run, starts alternating between them.
 *
 *   node_modules/.bin/bun bench/vrrp-cold-start.ts [--starts 30] [--adverts 20ms,100ms] [--stress] [--name NAME] [--keep-logs]
 *
 * --stress keeps both CPUs busy with `stress-ng --cpu 2` (normal priority)
 * through all the starts: a start-up then competes for the CPU with the load
 * and with the running master.
 *
 * (VIGIL_BIN=/path/to/vigil picks the binary; default dist/vigil.)
 *
 * Lab: two namespaces on one bridge (test/lab/lab.ts), VRRPv3 multicast,
 * priorities 150/100, vigil as a two-node cluster with a key (heartbeats on).
 * Each start: the master is started and waited for until it logs MASTER,
 * then the backup is started; after ten advert intervals (at least 1.5 s)
 * the backup's log is read: any MASTER there is a double master (the RFC
 * has a backup that hears the master from its first Master_Down_Interval
 * stay BACKUP). Both are stopped and the VIP cleared before the next start.
 *
 * --keep-logs leaves the daemons' logs of every start in the temp directory
 * (its path is printed), to read what a double master saw.
 *
 * Writes bench/results/vrrp-cold-start.{json,md} (vrrp-cold-start-stress with
 * --stress; --name picks another name) and prints the table.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/config/duration.ts";
import { withLab } from "../test/lab/lab.ts";
import { makeKey, requireVigilBinary, VIGIL } from "../test/lab/vrrp-lab.ts";
import { clearVip, type Impl, type Pair, startPair } from "./failover-routers.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { startStress } from "./lib/stress.ts";

const COMMAND = "node_modules/.bin/bun bench/vrrp-cold-start.ts";
const IMPLS: readonly Impl[] = ["vigil", "keepalived"];

interface StartResult {
  impl: Impl;
  advertMs: number;
  n: number;
  /** Times the backup logged MASTER after its start. */
  backupMasters: number;
  /** The master left MASTER (it heard the backup's higher... or equal advert): also a disturbance. */
  masterExits: number;
  problem?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { starts: { type: "string", default: "30" }, adverts: { type: "string", default: "20ms,100ms" }, stress: { type: "boolean", default: false }, name: { type: "string" }, "keep-logs": { type: "boolean", default: false } } });
  const stressed = values.stress === true;
  const name = values.name ?? (stressed ? "vrrp-cold-start-stress" : "vrrp-cold-start");
  if (!/^[\w.-]+$/.test(name)) throw new Error(`--name must be a file name (letters, digits, ".", "-", "_"), got "${name}"`);
  const starts = Number(values.starts);
  if (!Number.isInteger(starts) || starts < 1) throw new Error(`--starts must be a whole number >= 1, got "${values.starts}"`);
  const adverts = values.adverts.split(",").map((s) => {
    const ms = parseDuration(s.trim());
    if (ms === undefined || ms < 10 || ms % 10 !== 0) throw new Error(`--adverts: "${s}" is not an advert_int in steps of 10ms`);
    return ms;
  });
  requireVigilBinary();
  if (!existsSync("/usr/sbin/keepalived")) throw new Error("keepalived is not installed (/usr/sbin/keepalived)");
  const started = { date: new Date().toISOString(), loadavg: loadavg() };
  const dir = mkdtempSync(join(tmpdir(), "vigil-cold-start-"));
  const results: StartResult[] = [];
  try {
    await withLab({ hosts: 2 }, async (lab) => {
      const key = await makeKey(dir);
      const [master, backup] = [lab.host(1), lab.host(2)];
      const stress = stressed ? startStress(lab.switch, ["--cpu", "2", "--timeout", "0"]) : undefined;
      try {
      for (const advertMs of adverts) {
        for (let n = 1; n <= starts; n++) {
          for (const impl of IMPLS) {
            const sub = mkdtempSync(join(dir, `${impl}-${advertMs}-${n}-`));
            let pair: Pair | undefined;
            let r: StartResult;
            try {
              pair = await startPair({ impl, advertMs, master, backup, dir: sub, key });
              await sleep(Math.max(1_500, 10 * advertMs));
              r = { impl, advertMs, n, backupMasters: pair.backup.masterEntries(), masterExits: pair.master.masterExits() };
            } catch (e) {
              r = { impl, advertMs, n, backupMasters: 0, masterExits: 0, problem: (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "" };
            } finally {
              if (pair !== undefined) await Promise.all([pair.master.stop(), pair.backup.stop()]);
              for (const h of [master, backup]) await clearVip(h);
            }
            results.push(r);
            say(`${impl} ${advertMs} ms #${n}: ${r.problem ?? `backup MASTER ${r.backupMasters}x, master left MASTER ${r.masterExits}x`}`);
          }
        }
      }
      } finally {
        await stress?.stop(2_000);
      }
    });
  } finally {
    if (values["keep-logs"] === true) say(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  const rows = adverts.flatMap((advertMs) =>
    IMPLS.map((impl) => {
      const mine = results.filter((r) => r.impl === impl && r.advertMs === advertMs && r.problem === undefined);
      const doubled = mine.filter((r) => r.backupMasters > 0 || r.masterExits > 0).length;
      return [impl, `${advertMs} ms`, String(mine.length), String(doubled), String(results.filter((r) => r.impl === impl && r.advertMs === advertMs && r.problem !== undefined).length)];
    }),
  );
  const cmd = `${COMMAND} --starts ${starts} --adverts ${adverts.map((a) => `${a}ms`).join(",")}${stressed ? " --stress" : ""}${values.name === undefined ? "" : ` --name ${name}`}`;
  const md = [
    `Cold starts of a VRRP pair, the backup started beside a running master${stressed ? ", both CPUs kept busy by stress-ng --cpu 2" : ""} (${cpus().length} CPUs, load average ${started.loadavg.map((x) => x.toFixed(1)).join(" ")} at start, ${loadavg().map((x) => x.toFixed(1)).join(" ")} at the end).`,
    "",
    markdownTable(["implementation", "advert_int", "starts", "starts with two masters", "starts that failed"], rows),
    "",
    `Command: \`${cmd}\` (vigil: ${VIGIL})`,
    "",
  ].join("\n");
  writeResults(name, { command: cmd, stress: stressed, vigil: VIGIL, started, finished: { date: new Date().toISOString(), loadavg: loadavg() }, results }, md);
  console.log(md);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/vrrp-cold-start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
