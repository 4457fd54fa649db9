/**
 * Dead-verdict detection on module nodes, two builds side by side: each
 * node of three runs a failover module (scripts only, no VIP), so a build
 * with heartbeat news paths (frame version 4) reads its peers' periodic
 * frames once per round and only their news as it comes, while a build
 * before them (--old, e.g. the version 3 release ae84582) reads every frame
 * as it comes. bench/heartbeat.ts measures heartbeat-only nodes, whose
 * frames both builds read once per round.
 *
 * One cluster per build on the same three lab hosts (the new build on
 * heartbeat port 7694, the old on 7704), both running all along. Per kill:
 * SIGKILL one node's daemon, time from the kill to each surviving peer's
 * dead verdict (when its line appears in the peer's log file), then restart
 * it and wait until everyone sees everyone up; the victim goes round
 * h1..h3 and the builds take turns going first, so a load burst on a shared
 * machine hits both alike. Reports medians and the new/old ratio, and for
 * each build in how many kills every surviving peer read the victim's
 * frames once per round (it logged so since the victim's last start, and no
 * warning that its port + 1 went silent after): the old build never does.
 *
 *   node_modules/.bin/bun bench/heartbeat-modules.ts --old OLD_BIN [--kills 12] [--preset lan] [--results heartbeat-modules]
 *
 * (VIGIL_BIN=/path/to/vigil picks the new build; default dist/vigil. Root only.)
 * Writes bench/results/<results>.json and .md and prints the table.
 */
import { existsSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HEARTBEAT_PRESETS } from "../src/config/defaults.ts";
import { type LabHost, withLab } from "../test/lab/lab.ts";
import { requireVigilBinary, VIGIL_BIN, type HeartbeatPreset, type LogPredicate, type VigilLogEvent } from "../test/lab/vigil-cluster.ts";
import { runBench, UsageError } from "./lib/args.ts";
import { writeResults } from "./lib/report.ts";
import { summarize, type Summary } from "./lib/stats.ts";
import { vigilUnderTest } from "./lib/vigil-under-test.ts";
import { withScratchDir } from "./lib/scratch-dir.ts";

const COMMAND = "node_modules/.bin/bun bench/heartbeat-modules.ts";
const RESTART_TIMEOUT_MS = 30_000;
const PORTS = { new: 7694, old: 7704 } as const;

interface Options {
  old: string;
  kills: number;
  preset: HeartbeatPreset;
  results: string;
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        old: { type: "string" },
        kills: { type: "string", default: "12" },
        preset: { type: "string", default: "lan" },
        results: { type: "string", default: "heartbeat-modules" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.old === undefined || !existsSync(values.old)) throw new UsageError(`--old: expected the path of the other build's binary, found ${values.old ?? "nothing"}`);
  const kills = Number(values.kills);
  if (!Number.isInteger(kills) || kills < 1) throw new UsageError(`--kills: found "${values.kills}", expected a whole number of at least 1`);
  if (values.preset !== "lan" && values.preset !== "wan") throw new UsageError(`--preset: found "${values.preset}", expected lan or wan (fast has no news paths)`);
  if (!/^[A-Za-z0-9._-]+$/.test(values.results)) throw new UsageError(`--results: found "${values.results}", expected a file name of letters, digits, '.', '_' or '-'`);
  return { old: values.old, kills, preset: values.preset, results: values.results };
}

const log = (s: string): void => console.error(`[heartbeat-modules bench] ${s}`);

/** A failover module whose start and stop scripts do nothing: the node runs the module engine, nothing else is added. */
function moduleYaml(dir: string): string[] {
  const script = join(dir, "noop.sh");
  writeFileSync(script, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  return ["modules:", "  - name: web", "    type: failover", "    prefer: h1", `    start: ${script}`, `    stop: ${script}`];
}

interface Detection {
  samples: number[];
  missed: number;
  /** Kills at which every surviving peer read the victim's frames once per round (news paths). */
  readLate: number;
  /** Dead verdicts about a node that had not been killed, from a kill until the victim was back. */
  aboutLiveNodes: number;
}

type Side = ReturnType<typeof vigilUnderTest>;

const readsLate = (victim: string) => (e: VigilLogEvent): boolean => e.msg === `peer ${victim}: its frames are read once per round, its news as it comes (from its port + 1)`;
const silentNews = (victim: string) => (e: VigilLogEvent): boolean => e.msg.startsWith(`peer ${victim}: nothing came from its port + 1`);

/** Whether `observer` reads `victim`'s frames once per round now: it said so since `since`, and no silence after. */
function readingLate(c: Side, observer: string, victim: string, since: number, now: number): boolean {
  const last = (pred: LogPredicate): number => Math.max(-Infinity, ...c.lines(pred, since, now).filter((l) => l.observer === observer).map((l) => l.seenAt));
  const proven = last(readsLate(victim));
  return proven > -Infinity && proven >= last(silentNews(victim));
}

async function killOnce(c: Side, victim: LabHost, deadtimeMs: number, since: number, into: Detection): Promise<string> {
  const observers = c.hosts.filter((h) => h !== victim);
  const late = observers.every((o) => readingLate(c, o.name, victim.name, since, Date.now()));
  if (late) into.readLate += 1;
  const at = c.crash(victim);
  const verdicts = await Promise.all(observers.map((o) => c.waitDead(o, victim, at, deadtimeMs + 10_000).catch(() => null)));
  const parts: string[] = [];
  for (const [i, v] of verdicts.entries()) {
    if (v === null) {
      into.missed += 1;
      parts.push(`${observers[i]?.name}: none`);
    } else {
      into.samples.push(v.seenAt - at);
      parts.push(`${v.observer}: ${v.seenAt - at} ms`);
    }
  }
  await c.restart(victim, RESTART_TIMEOUT_MS);
  const spurious = c.verdicts(at, Date.now()).dead.filter((v) => v.peer !== victim.name);
  into.aboutLiveNodes += spurious.length;
  for (const v of spurious) parts.push(`and ${v.observer} declared live ${v.peer} dead`);
  return `${parts.join(", ")}${late ? " (read once per round)" : ""}`;
}

const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)}` : "-");

async function main(): Promise<void> {
  const opts = options();
  requireVigilBinary();
  await withScratchDir("vigil-bench-hb-modules-", log, async (tmp) => {
    const startedAt = new Date().toISOString();
    const loadStart = loadavg();
    const deadtimeMs = HEARTBEAT_PRESETS[opts.preset].deadtime;
    const result = await withLab({ hosts: 3, links: 2 }, async (lab) => {
      log(`lab ${lab.run}, logs in ${lab.dir} and ${tmp}`);
      const sides = (["new", "old"] as const).map((which) => vigilUnderTest({
        hosts: lab.hosts, dir: join(tmp, which), preset: opts.preset, bin: which === "new" ? VIGIL_BIN : opts.old,
        label: which, port: PORTS[which], extraYaml: moduleYaml(tmp),
      }));
      const detection = sides.map((): Detection => ({ samples: [], missed: 0, readLate: 0, aboutLiveNodes: 0 }));
      // When each node of each side last started: a peer proves its news path anew after a restart.
      const started = sides.map(() => new Map<string, number>());
      try {
        for (const [i, c] of sides.entries()) {
          const at = Date.now();
          await c.start();
          for (const h of lab.hosts) started[i]?.set(h.name, at);
        }
        // Past initdead and the first probes of the news paths (after 50 rounds).
        await new Promise((r) => setTimeout(r, 8_000));
        for (let k = 0; k < opts.kills; k++) {
          const victim = lab.hosts[k % lab.hosts.length] as LabHost;
          for (const i of k % 2 === 0 ? [0, 1] : [1, 0]) {
            const c = sides[i] as Side;
            const since = started[i]?.get(victim.name) ?? 0;
            const line = await killOnce(c, victim, deadtimeMs, since, detection[i] as Detection);
            started[i]?.set(victim.name, Date.now());
            log(`kill ${k + 1}/${opts.kills}, ${c.label} ${victim.name}: ${line} (load ${loadavg()[0]?.toFixed(1)})`);
          }
        }
      } finally {
        for (const c of sides) await c.stop().catch((e: unknown) => log(`stopping ${c.label}: ${(e as Error).message}`));
      }
      return detection;
    });
    const loadEnd = loadavg();
    const [fresh, old] = result.map((d) => ({ ...d, summary: summarize(d.samples) })) as [Detection & { summary: Summary }, Detection & { summary: Summary }];
    const row = (label: string, bin: string, d: Detection & { summary: Summary }): string =>
      `| ${label} | ${d.summary.n} | ${ms(d.summary.median)} | ${ms(d.summary.p90)} | ${ms(d.summary.min)}-${ms(d.summary.max)} | ${d.missed} | ${d.aboutLiveNodes} | ${d.readLate} of ${opts.kills} | \`${bin}\` |`;
    const command = `${COMMAND} --old ${opts.old} --kills ${opts.kills} --preset ${opts.preset}${opts.results === "heartbeat-modules" ? "" : ` --results ${opts.results}`}`;
    const md = [
      `Dead-verdict detection on module nodes (a failover module on each of 3 nodes), preset ${opts.preset} (deadtime ${deadtimeMs} ms), the two builds side by side, taking turns:`,
      "",
      "| build | verdicts | median ms | p90 ms | min-max ms | missed | dead about live nodes | kills with the victim read once per round | binary |",
      "|---|---|---|---|---|---|---|---|---|",
      row("new", VIGIL_BIN, fresh),
      row("old (--old)", opts.old, old),
      "",
      `new/old median: ${(fresh.summary.median / old.summary.median).toFixed(3)}`,
      "",
      `Command: \`${command}\` (${cpus().length} CPUs, load ${loadStart.map((l) => l.toFixed(2)).join(" ")} at start, ${loadEnd.map((l) => l.toFixed(2)).join(" ")} at the end)`,
    ].join("\n");
    writeResults(opts.results, {
      command, startedAt, preset: opts.preset, deadtimeMs, cpus: cpus().length, loadAtStart: loadStart, loadAtEnd: loadEnd,
      new: { bin: VIGIL_BIN, port: PORTS.new, ...fresh }, old: { bin: opts.old, port: PORTS.old, ...old },
    }, md);
    console.log(md);
  });
}

runBench(main);
