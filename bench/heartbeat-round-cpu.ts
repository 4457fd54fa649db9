/**
 * CPU per heartbeat round of a heartbeat-only node (the `lan` preset, two
 * peers), the driver's own code in-process without the network: h1's
 * HeartbeatEngine on a transport whose sockets are stand-ins (sends are
 * dropped, each round two frames from the peers wait to be read, as a
 * polled socket hands them over), woken once per round by its own timer.
 *
 *   BUN_JSC_useDFGJIT=0 node_modules/.bin/bun bench/heartbeat-round-cpu.ts [--rounds 10000] [--paced-seconds 20]
 *
 * Hot: --rounds rounds back to back on a fake clock (the code's cost with
 * warm caches). Cold: each round after --cold-mib of other memory was
 * read, as the other processes of a busy host leave the caches between two
 * rounds of an idle node (wall time per round, quartiles). Paced: rounds on
 * a real 100 ms timer chain beside the bare chain for as long (CPU of this
 * process per wake-up; noisy on a loaded host). Counts per round: timers
 * armed and cleared, microtasks and immediates queued, sends.
 *
 * Not here: the sockets (the transport is a stand-in), the kernel, the
 * daemon's other engines; bench/footprint.ts measures the whole node.
 */
import { HeartbeatEngine } from "../src/daemon/heartbeat/engine.ts";
import { Logger } from "../src/daemon/log.ts";
import { Metrics } from "../src/daemon/metrics.ts";
import type { MembershipConfig } from "../src/core/membership/membership.ts";
import { decodeHeartbeat, encodeHeartbeat, type HeartbeatFrame } from "../src/proto/heartbeat.ts";
import { hmacSha256PrefixInto } from "../src/proto/hmac-sha256.ts";
import type { Endpoint, Transport } from "../src/net/udp-transport.ts";
import { benchArgs } from "./lib/args.ts";

const { values } = benchArgs({ options: { rounds: { type: "string", default: "10000" }, "paced-seconds": { type: "string", default: "20" }, "cold-mib": { type: "string", default: "48" } } });
const ROUNDS = Number(values.rounds);
const PACED_S = Number(values["paced-seconds"]);
const COLD_BYTES = Number(values["cold-mib"]) * 1024 * 1024;
const INTERVAL = 100;
const KEY = new Uint8Array(32).fill(7);
const nodes = [
  { name: "h1", links: ["198.51.100.11"] },
  { name: "h2", links: ["198.51.100.12"] },
  { name: "h3", links: ["198.51.100.13"] },
];
const membership: MembershipConfig = { self: "h1", cluster: "bench", nodes, intervalMs: INTERVAL, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 5_000 };
const FROM: Endpoint[] = [{ address: "198.51.100.12", port: 7694 }, { address: "198.51.100.13", port: 7694 }];

/** The peers' frames of round `r` (sent 40 ms before h1's round), as they come off the wire. */
function peerFrames(r: number, now: number, sentByUs: number): Uint8Array[] {
  return [1, 2].map((i) => {
    const f: HeartbeatFrame = {
      cluster: "bench", node: `h${i + 1}`, epoch: BigInt(i) << 20n, seq: r + 1, sentAt: now - 40, link: 0,
      echoes: [{ node: "h1", sentAt: sentByUs, heldMs: 40 }, { node: i === 1 ? "h3" : "h2", sentAt: now - 60, heldMs: 20 }], modules: [],
    };
    return encodeHeartbeat(f, KEY, 4);
  });
}

let clock = 1_000_000;
let inbox: Uint8Array[] = [];
let sent = 0;
let receive: ((link: number, bytes: Uint8Array, from: Endpoint, ageMs?: number, news?: boolean) => void) | undefined;
const transport: Transport = {
  send() { sent += 1; },
  onReceive(cb) { receive = cb; },
  onError() {},
  readQueued: () => 0,
  readArrived() {
    const n = inbox.length;
    for (let i = 0; i < n; i++) receive?.(0, inbox[i] as Uint8Array, FROM[i] as Endpoint, 10, false);
    inbox = [];
    return n;
  },
  close: async () => {},
};

const lines: string[] = [];
const engine = new HeartbeatEngine({
  membership, key: KEY, links: [{ index: 0, localAddress: "198.51.100.11", port: 7694, mode: "unicast", peers: ["198.51.100.12", "198.51.100.13"] }],
  openTransport: async () => transport, log: new Logger("json", (l) => lines.push(l)), metrics: new Metrics(), clock: () => clock,
  deferFrames: true, newsPaths: "read-late", afterRound: () => {},
  modules: () => [], vrrp: () => [], onFrame: () => {},
  configDigest: { digest: "1111111111111111", keys: [{ key: "cluster.heartbeat.deadtime", hash: "00000000000000aa" }] },
});
const wake = (engine as unknown as { wake(): void }).wake.bind(engine);
/** The engine's own timer stays unarmed: the rounds here are driven by oneRound() (the bare chain below arms one timer per wake, as the engine does). */
function unarmed(): void {
  const e = engine as unknown as { schedule(): void; disarm(): void };
  e.disarm();
  e.schedule = () => {};
}

/** Runtime calls per round, counted by wrapping them. */
const calls = { setTimeout: 0, clearTimeout: 0, queueMicrotask: 0, setImmediate: 0 };
function countCalls(): () => void {
  const g = globalThis as unknown as Record<keyof typeof calls, (...a: unknown[]) => unknown>;
  const saved = { ...g } as Record<string, unknown>;
  for (const k of Object.keys(calls) as (keyof typeof calls)[]) {
    const f = g[k];
    g[k] = (...a: unknown[]) => { calls[k] += 1; return f(...a); };
  }
  return () => { for (const k of Object.keys(calls)) (g as Record<string, unknown>)[k] = saved[k]; };
}

let round = 0;
let lastSent = clock;
/** One round as the daemon runs it: the peers' frames wait, the timer wakes the engine. */
function oneRound(frames: Uint8Array[]): void {
  clock += INTERVAL;
  inbox = frames;
  wake();
  lastSent = clock;
  round += 1;
}

await engine.start();
unarmed();
// Up to steady state: both peers up, past initdead's start grace.
for (let i = 0; i < 200; i++) oneRound(peerFrames(round, clock + INTERVAL, lastSent));
if (!engine.view().peers.every((p) => p.state === "up")) throw new Error(`peers not up: ${JSON.stringify(engine.view().peers.map((p) => p.state))}`);

// Frames made beforehand (their echoes match our send times: the rounds keep the same rhythm).
const pre = (n: number): Uint8Array[][] => {
  const out: Uint8Array[][] = [];
  let t = clock;
  for (let i = 0; i < n; i++) {
    out.push(peerFrames(round + i, t + INTERVAL, t));
    t += INTERVAL;
  }
  return out;
};

// Runtime calls per round (timers, microtasks): counted over 500 rounds.
{
  const frames = pre(500);
  const restore = countCalls();
  const sentBefore = sent;
  for (const f of frames) oneRound(f);
  restore();
  const per = (n: number): string => (n / 500).toFixed(2);
  console.log(`per round: setTimeout ${per(calls.setTimeout)}, clearTimeout ${per(calls.clearTimeout)}, queueMicrotask ${per(calls.queueMicrotask)}, setImmediate ${per(calls.setImmediate)}, transport sends ${per(sent - sentBefore)} (the engine's own timer is left out here: one per round in the daemon)`);
}

// Hot: back to back.
{
  const frames = pre(ROUNDS);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of frames) oneRound(f);
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  console.log(`hot: ${ROUNDS} rounds, ${(((c.user + c.system) / ROUNDS)).toFixed(1)} us CPU per round (wall ${((wall * 1000) / ROUNDS).toFixed(1)} us)`);
}

// Cold: each round after the caches were filled with other data (as other processes do between two rounds of an idle node);
// beside it, the same for only the decoding of the two frames, and only their HMACs.
{
  const N = 400;
  const junk = new Uint8Array(COLD_BYTES);
  let sink = 0;
  const thrash = (): void => {
    for (let i = 0; i < junk.length; i += 64) sink += junk[i] as number;
    for (let i = 32; i < junk.length; i += 4096) junk[i] = sink & 1;
  };
  const mac = new Uint8Array(32);
  // Only the part is timed (undefined: the whole round); the round runs after it, so the frames keep their rhythm.
  const parts: [string, ((f: Uint8Array[]) => void) | undefined][] = [
    ["the round", undefined],
    ["decoding its 2 frames", (f) => { for (const b of f) decodeHeartbeat(b, KEY); }],
    ["their 2 HMACs", (f) => { for (const b of f) hmacSha256PrefixInto(KEY, b, b.length - 32, mac); }],
  ];
  for (const [what, part] of parts) {
    const frames = pre(N);
    const times: number[] = [];
    for (const f of frames) {
      thrash();
      const t0 = performance.now();
      (part ?? oneRound)(f);
      times.push(performance.now() - t0);
      if (part !== undefined) oneRound(f);
    }
    times.sort((x, y) => x - y);
    const q = (x: number): string => ((times[Math.floor(x * (times.length - 1))] ?? 0) * 1000).toFixed(0);
    // `sink` is read so that the reads of `junk` stay.
    console.log(`cold (${COLD_BYTES >> 20} MiB read between rounds), ${what}: ${N} rounds, wall p25 ${q(0.25)} us, median ${q(0.5)} us, p75 ${q(0.75)} us${sink === -1 ? "" : ""}`);
  }
}

// Paced: a round every 100 ms on a real timer chain, and the bare chain alone for as long.
async function paced(work: boolean): Promise<number> {
  const n = PACED_S * 10;
  const frames = work ? pre(n) : [];
  const c0 = process.cpuUsage();
  await new Promise<void>((done) => {
    let i = 0;
    let next = performance.now() + INTERVAL;
    const tick = (): void => {
      if (work) oneRound(frames[i] as Uint8Array[]);
      if (++i >= n) return done();
      next += INTERVAL;
      setTimeout(tick, Math.max(0, Math.ceil(next - performance.now())));
    };
    setTimeout(tick, INTERVAL);
  });
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}
if (PACED_S > 0) {
  const bare = await paced(false);
  const withRound = await paced(true);
  const bare2 = await paced(false);
  console.log(`paced (${PACED_S} s each): bare timer ${bare.toFixed(0)} / ${bare2.toFixed(0)} us per wake, with the round ${withRound.toFixed(0)} us: the round ${(withRound - (bare + bare2) / 2).toFixed(0)} us`);
}
await engine.stop();
