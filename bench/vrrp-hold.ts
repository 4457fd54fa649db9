/**
 * VRRP's heartbeat hold, an older build against a newer one, alternating in
 * one lab run: two vigil nodes (priorities 150 and 100), VRRP on link 1,
 * heartbeats on links 1 and 2 (preset lan: 100 ms, deadtime 500 ms).
 *
 *   node_modules/.bin/bun bench/vrrp-hold.ts --old OLD_BIN --new NEW_BIN [--trials 10] [--advert 100ms] [--drop 500ms] [--name vrrp-hold]
 *
 * Per build and trial:
 * - drop: the master's adverts are dropped at the backup's input (nftables,
 *   IP protocol 112) for --drop, longer than the backup's
 *   Master_Down_Interval (361 ms at 100 ms) and shorter than two; heartbeats
 *   pass. Counted: the backup's takeovers, and its holds.
 * - kill: SIGKILL of the master's daemon (its node dies) at a random point
 *   of its advert cycle; the time from the
 *   kill to the backup's MASTER line (its log's own timestamp), and why. At
 *   100 ms adverts Master_Down_Interval (361 ms) ends before the heartbeat's
 *   deadtime (500 ms), so this is the takeover the hold could delay if it
 *   held for a dead node.
 * The killed master is started again and preempts before the next trial.
 *
 * Writes bench/results/<name>.{json,md}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/config/duration.ts";
import { type LabHost, type LabProcess, withLab } from "../test/lab/lab.ts";
import { makeKey, VIP, VRID } from "../test/lab/vrrp-lab.ts";
import { markdownTable, writeResults } from "./lib/report.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const DROP_TABLE = "vigil_hold_bench";

interface Trial {
  build: "old" | "new";
  kind: "drop" | "kill";
  /** drop: the backup took over. */
  tookOver?: boolean;
  /** drop: the backup logged a hold. */
  held?: boolean;
  /** kill: ms from the kill to the backup's MASTER line. */
  takeoverMs?: number;
  /** kill: the silence its MASTER line reports (since the master's last advert): it does not depend on where in the advert cycle the kill fell. */
  silenceMs?: number;
  reason?: string;
  load: number;
  problem?: string;
}

function yaml(hosts: readonly LabHost[], key: string, advert: string): string {
  return [
    "cluster:",
    "  name: hold-bench",
    `  key_file: ${key}`,
    "  nodes:",
    ...hosts.map((h) => `    - { name: ${h.name}, addresses: [${h.addr(1)}, ${h.addr(2)}] }`),
    "  heartbeat: { preset: lan }",
    "vrrp:",
    "  - name: VI_1",
    "    interface: eth0",
    `    vrid: ${VRID}`,
    `    advert_int: ${advert}`,
    `    priority: { ${hosts[0]?.name}: 150, ${hosts[1]?.name}: 100 }`,
    `    vips: [${VIP}/24]`,
    "    garp_master_delay: 0s",
    "web:",
    "  listen: 127.0.0.1:9010",
    "",
  ].join("\n");
}

/** The text log line's own timestamp (ms since the epoch). */
function lineTime(line: string): number {
  return Date.parse(line.slice(0, 24));
}

async function waitLine(proc: LabProcess, from: number, re: RegExp, timeoutMs: number): Promise<string | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const line = proc.output().slice(from).split("\n").find((l) => re.test(l));
    if (line !== undefined) return line;
    await sleep(20);
  }
  return undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      old: { type: "string" },
      new: { type: "string" },
      trials: { type: "string", default: "10" },
      advert: { type: "string", default: "100ms" },
      drop: { type: "string", default: "500ms" },
      name: { type: "string", default: "vrrp-hold" },
    },
  });
  if (values.old === undefined || values.new === undefined) throw new Error("--old and --new name the two binaries");
  const bins = { old: values.old, new: values.new };
  const trials = Number(values.trials);
  const dropMs = parseDuration(values.drop) ?? Number.NaN;
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a whole number >= 1, got "${values.trials}"`);
  if (!Number.isFinite(dropMs)) throw new Error(`--drop must be a duration, got "${values.drop}"`);
  const advertMs = parseDuration(values.advert) ?? Number.NaN;
  if (!Number.isFinite(advertMs)) throw new Error(`--advert must be a duration, got "${values.advert}"`);
  const started = { date: new Date().toISOString(), loadavg: loadavg() };
  const dir = mkdtempSync(join(tmpdir(), "vigil-hold-bench-"));
  const results: Trial[] = [];
  try {
    await withLab({ hosts: 2, links: 2 }, async (lab) => {
      const [h1, h2] = [lab.host(1), lab.host(2)];
      const key = await makeKey(dir);
      const config = join(dir, "vigil.yaml");
      writeFileSync(config, yaml([h1, h2], key, values.advert));
      const spawn = (h: LabHost, bin: string): LabProcess => {
        const state = join(dir, `state-${h.name}`);
        mkdirSync(state, { recursive: true });
        return h.spawn([bin, "run", "--config", config, "--node", h.name, "--state-dir", state], { logName: "vigil" });
      };
      for (let i = 0; i < trials; i++) {
        for (const build of ["old", "new"] as const) {
          const bin = bins[build];
          let m = spawn(h1, bin);
          await m.waitFor(/vrrp VI_1 MASTER/, 20_000);
          const b = spawn(h2, bin);
          try {
            await b.waitFor(/vrrp VI_1 BACKUP/, 20_000);
            await sleep(1_000);

            // drop
            let from = b.output().length;
            await h2.exec(["nft", "-f", "-"], { check: true, input: `table ip ${DROP_TABLE} {\n  chain in { type filter hook input priority 0; ip protocol 112 drop; }\n}\n` });
            await sleep(dropMs);
            await h2.exec(["nft", "delete", "table", "ip", DROP_TABLE], { check: true });
            await sleep(1_500);
            const after = b.output().slice(from);
            const tookOver = /vrrp VI_1 MASTER/.test(after);
            results.push({ build, kind: "drop", tookOver, held: /takeover held/.test(after), load: loadavg()[0] ?? 0 });
            // A backup that took over yields to the master's next advert.
            if (tookOver) await waitLine(b, from, /vrrp VI_1 BACKUP/, 10_000);
            await sleep(500);

            // kill, at a random point of the advert cycle: the takeover time depends on it
            await sleep(Math.random() * advertMs);
            from = b.output().length;
            const killedAt = Date.now();
            m.killGroup("SIGKILL");
            await m.exited;
            const line = await waitLine(b, from, /vrrp VI_1 MASTER/, 15_000);
            if (line === undefined) results.push({ build, kind: "kill", load: loadavg()[0] ?? 0, problem: "no takeover within 15 s" });
            else {
              const silence = /no advert (?:from \S+ )?for (\d+) ms/.exec(line)?.[1];
              results.push({
                build,
                kind: "kill",
                takeoverMs: lineTime(line) - killedAt,
                ...(silence === undefined ? {} : { silenceMs: Number(silence) }),
                reason: /reason=(\S+)/.exec(line)?.[1] ?? "?",
                held: /takeover held/.test(b.output().slice(from)),
                load: loadavg()[0] ?? 0,
              });
            }
            const last = results.at(-1);
            say(`${build} trial ${i + 1}: drop ${results.at(-2)?.tookOver === true ? "TAKEOVER" : "no takeover"}; kill -> MASTER after ${last?.takeoverMs ?? "-"} ms (${last?.reason ?? last?.problem})`);
            m = spawn(h1, bin);
            await m.waitFor(/vrrp VI_1 MASTER/, 20_000);
          } finally {
            await h2.exec(["nft", "delete", "table", "ip", DROP_TABLE]).catch(() => undefined);
            for (const p of [b, m]) {
              if (p.exitStatus !== null) continue;
              p.kill("SIGTERM");
              await Promise.race([p.exited, sleep(5_000)]);
              if (p.exitStatus === null) p.killGroup("SIGKILL");
              await p.exited;
            }
          }
        }
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]): number | null => {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? null;
  };
  const rows = (["old", "new"] as const).map((build) => {
    const drops = results.filter((r) => r.build === build && r.kind === "drop");
    const kills = results.filter((r) => r.build === build && r.kind === "kill" && r.takeoverMs !== undefined);
    const ms = kills.map((k) => k.takeoverMs ?? 0);
    return [
      build,
      `${drops.filter((d) => d.tookOver).length} / ${drops.length}`,
      String(drops.filter((d) => d.held).length),
      median(ms),
      ms.length === 0 ? null : Math.min(...ms),
      ms.length === 0 ? null : Math.max(...ms),
      median(kills.flatMap((k) => (k.silenceMs === undefined ? [] : [k.silenceMs]))),
      [...new Set(kills.map((k) => k.reason))].join(", "),
      String(kills.filter((k) => k.held).length),
    ];
  });
  const cmd = `node_modules/.bin/bun bench/vrrp-hold.ts --old ${bins.old} --new ${bins.new} --trials ${trials} --advert ${values.advert} --drop ${values.drop}`;
  const md = [
    `# VRRP heartbeat hold: adverts dropped for ${values.drop}, and the master's node killed (advert_int ${values.advert})`,
    "",
    `\`${cmd}\``,
    "",
    `Load (1 min) at start ${started.loadavg[0]?.toFixed(1)}, at the end ${loadavg()[0]?.toFixed(1)}; builds alternate trial by trial.`,
    "",
    markdownTable(["build", "drop: takeovers", "drop: holds", "kill: takeover ms (median)", "min", "max", "kill: silent ms at takeover (median)", "kill: reason", "kill: holds"], rows),
    "",
  ].join("\n");
  writeResults(values.name, { command: cmd, bins, started, finished: { date: new Date().toISOString(), loadavg: loadavg() }, results }, md);
  process.stdout.write(`${md}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
