/**
 * What a mirror PRIM's first write acknowledged alone waits for since its
 * ALONE must leave first (src/core/mirror/alone-announce.ts): h1's
 * HeartbeatEngine asked to announce (Membership.announce), from the ask to
 * its `sent` callback, on real UDP sockets (the runtime's, as the daemon
 * opens them) to h2's engine on loopback. Side by side, in alternating
 * trials: when the same advert change leaves with the module core's own
 * publish (the previous rule, under which the write was acknowledged without
 * waiting for it): at once when the spacing of extra rounds is free, up to
 * interval/4 later when an extra round just went out. Each trial also
 * times the frame's arrival at h2.
 *
 *   node_modules/.bin/bun bench/alone-announce.ts [--trials 200] [--out bench/results/alone-announce]
 *
 * Not here: the module and mirror cores' steps around it (pure, microseconds),
 * the journal's mark that follows it for the write itself.
 */
import { writeFileSync } from "node:fs";
import { HeartbeatEngine } from "../src/daemon/heartbeat/engine.ts";
import { Logger } from "../src/daemon/log.ts";
import { Metrics } from "../src/daemon/metrics.ts";
import type { MembershipConfig } from "../src/core/membership/membership.ts";
import { openUdpTransport } from "../src/net/udp-transport.ts";
import type { ModuleAdvert } from "../src/proto/heartbeat.ts";
import { benchArgs } from "./lib/args.ts";

const { values } = benchArgs({ options: { trials: { type: "string", default: "200" }, out: { type: "string", default: "" } } });
const TRIALS = Number(values.trials);
const KEY = new Uint8Array(32).fill(7);
const PORT = 47_694;
const nodes = [{ name: "h1", links: ["127.0.0.1"] }, { name: "h2", links: ["127.0.0.2"] }];
const timers = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 5_000 };

let role = "PRIM|u";
let gen = 1;
const adverts = (): ModuleAdvert[] => [{ module: "vms", role, generation: gen }];
const heard: { at: number; role: string }[] = [];

function engine(self: "h1" | "h2"): HeartbeatEngine {
  const membership: MembershipConfig = { self, cluster: "bench", nodes, ...timers };
  const local = self === "h1" ? "127.0.0.1" : "127.0.0.2";
  const peer = self === "h1" ? "127.0.0.2" : "127.0.0.1";
  return new HeartbeatEngine({
    membership, key: KEY, log: new Logger("text", () => {}), metrics: new Metrics(),
    links: [{ index: 0, localAddress: local, port: PORT, mode: "unicast", peers: [peer] }],
    openTransport: (links) => openUdpTransport(links),
    ...(self === "h1" ? { modules: adverts } : { onFrame: (_n: string, m: readonly ModuleAdvert[]) => void heard.push({ at: performance.now(), role: m[0]?.role ?? "" }) }),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the arrival at h2 of h1's first frame saying `r`. */
function arrival(r: string): Promise<number> {
  return new Promise((resolve) => {
    const from = heard.length;
    const look = (): void => {
      const h = heard.slice(from).find((x) => x.role === r);
      if (h !== undefined) resolve(h.at);
      else setTimeout(look, 0);
    };
    look();
  });
}

type Kind = "announce" | "publish, spacing free" | "publish, just after an extra round";
const rows: Record<Kind, { left: number[]; arrived: number[] }> = {
  "announce": { left: [], arrived: [] },
  "publish, spacing free": { left: [], arrived: [] },
  "publish, just after an extra round": { left: [], arrived: [] },
};

const h1 = engine("h1");
const h2 = engine("h2");
await h2.start();
await h1.start();
await sleep(500);

for (let i = 0; i < TRIALS; i++) {
  for (const kind of Object.keys(rows) as Kind[]) {
    // Apart from the periodic rounds' moments: 30-60 ms after a trial's start, spacing free again.
    await sleep(40 + (i % 3) * 7);
    if (kind === "publish, just after an extra round") {
      gen += 1;
      h1.publish();
      await sleep(2);
    }
    role = role === "ALONE|u" ? "PRIM|u" : "ALONE|u";
    gen += 1;
    const arrived = arrival(role);
    const t0 = performance.now();
    if (kind === "announce") {
      const left = await new Promise<number>((resolve) => h1.announce(() => resolve(performance.now())));
      rows[kind].left.push(left - t0);
    } else {
      h1.publish();
    }
    const at = await arrived;
    rows[kind].arrived.push(at - t0);
    // The previous rule: the round left somewhere before its arrival; its arrival is the upper bound.
    if (kind !== "announce") rows[kind].left.push(NaN);
  }
}
await h1.stop();
await h2.stop();

const q = (xs: number[], p: number): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))] as number);
};
const ms = (x: number): string => (Number.isNaN(x) ? "-" : x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);
const { loadavg } = await import("node:os");
const lines = [
  `# ALONE announced before the first write acknowledged alone`,
  ``,
  `${TRIALS} trials each, alternating; runtime ${typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`}; load ${loadavg().map((x) => x.toFixed(1)).join(" ")}; interval ${timers.intervalMs} ms.`,
  ``,
  `| how the ALONE advert leaves | write waits (ask -> sent), median / p90 / max | frame at the peer, median / p90 / max |`,
  `|---|---|---|`,
  ...(Object.keys(rows) as Kind[]).map((k) => {
    const r = rows[k];
    const wait = k === "announce" ? `${ms(q(r.left, 0.5))} / ${ms(q(r.left, 0.9))} / ${ms(q(r.left, 1))}` : "0 (not waited for)";
    return `| ${k} | ${wait} | ${ms(q(r.arrived, 0.5))} / ${ms(q(r.arrived, 0.9))} / ${ms(q(r.arrived, 1))} |`;
  }),
];
console.log(lines.join("\n"));
if (values.out !== "") {
  writeFileSync(`${values.out}.md`, lines.join("\n") + "\n");
  writeFileSync(`${values.out}.json`, JSON.stringify({ trials: TRIALS, load: loadavg(), rows }, null, 1) + "\n");
}
