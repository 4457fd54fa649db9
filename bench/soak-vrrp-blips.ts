/**
 * Why each VRRP takeover of h2 in a soak happened, from the captures that
 * `bench/soak.ts --pcap DIR` writes at the switch ports of h1 and h2 on
 * link 1: h1l1.pcap holds what h1 sent (captured before the loss fault's
 * drop) and h2l1.pcap what reached h2 (captured after it), plus what h2
 * sent. A takeover is h2's first advert after 3 s without one. For each:
 *
 *   master-silent     h1 sent nothing for Master_Down_Interval (h1 stalled);
 *   lost-on-the-way   h1 kept sending, but nothing reached h2 for
 *                     Master_Down_Interval (the loss fault dropped them);
 *   queued-at-backup  an advert of h1 had reached h2 within the interval:
 *                     h2 acted on its timer before reading it.
 *
 *   node_modules/.bin/bun bench/soak-vrrp-blips.ts DIR [--master-down-ms 3609]
 *
 * Needs tcpdump. Prints one line per takeover and the counts.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";

const { values, positionals } = benchArgs({ allowPositionals: true, options: { "master-down-ms": { type: "string", default: "3609" } } });
const dir = positionals[0];
const masterDownS = Number(values["master-down-ms"]) / 1000;
if (dir === undefined || !Number.isFinite(masterDownS) || masterDownS <= 0) {
  console.error("usage: bun bench/soak-vrrp-blips.ts DIR [--master-down-ms 3609]  (DIR: what soak.ts --pcap wrote)");
  process.exit(2);
}
const H1 = "198.51.100.11";
const H2 = "198.51.100.12";
/** Slack for the capture's and the timers' own jitter. */
const SLACK_S = 0.05;

interface Advert {
  at: number;
  src: string;
  priority: number;
}

function read(file: string): Advert[] {
  const text = execFileSync("tcpdump", ["-n", "-tt", "-r", file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 256 * 1024 * 1024 });
  const out: Advert[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+\.\d+) IP (\S+) > \S+ VRRPv\d, Advertisement, vrid \d+, prio (\d+),/.exec(line);
    if (m !== null) out.push({ at: Number(m[1]), src: m[2] ?? "", priority: Number(m[3]) });
  }
  return out;
}

const lastBefore = (times: readonly number[], t: number): number | undefined => times.filter((x) => x < t).at(-1);
const clock = (t: number): string => new Date(t * 1000).toISOString().slice(11, 23);

const sent = read(join(dir, "h1l1.pcap")).filter((a) => a.src === H1 && a.priority > 0).map((a) => a.at);
const atH2 = read(join(dir, "h2l1.pcap"));
const reached = atH2.filter((a) => a.src === H1 && a.priority > 0).map((a) => a.at);
const own = atH2.filter((a) => a.src === H2 && a.priority > 0).map((a) => a.at);
const takeovers = own.filter((t, i) => i === 0 || t - (own[i - 1] ?? 0) > 3);
const counts: Record<string, number> = { "master-silent": 0, "lost-on-the-way": 0, "queued-at-backup": 0 };
for (const t of takeovers) {
  const s = lastBefore(sent, t);
  if (s === undefined) continue; // before h1 ever advertised: start-up
  const r = lastBefore(reached, t);
  const kind = t - s > masterDownS - SLACK_S ? "master-silent" : r === undefined || t - r > masterDownS - SLACK_S ? "lost-on-the-way" : "queued-at-backup";
  counts[kind] = (counts[kind] ?? 0) + 1;
  console.log(`${clock(t)} ${kind}: h1 last sent ${(t - s).toFixed(3)} s before, last reached h2 ${r === undefined ? "never" : `${(t - r).toFixed(3)} s before`}`);
}
console.log(`${dir}: ${takeovers.length} takeovers by h2; ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}`);
