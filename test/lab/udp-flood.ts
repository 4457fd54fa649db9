/**
 * A UDP flood for lab tests and bench/: a small C sender (fixtures/udp-flood.c,
 * compiled with gcc on first use), valid heartbeat frames to replay, and the
 * kernel's UDP counters and a daemon's CPU and memory, read in a host's
 * namespace. One sender process uses one core at most; start several.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeHeartbeat } from "../../src/proto/heartbeat.ts";
import { readKeyFile } from "../../src/sys/keyfile.ts";
import type { LabHost } from "./lab.ts";
import { REPO_ROOT } from "./lab.ts";

/** Compiles the sender into `dir` (once) and returns its path. */
export function buildFlooder(dir: string): Promise<string> {
  const out = join(dir, "udp-flood");
  if (existsSync(out)) return Promise.resolve(out);
  mkdirSync(dir, { recursive: true });
  const source = join(REPO_ROOT, "test", "lab", "fixtures", "udp-flood.c");
  return new Promise((resolve, reject) => {
    execFile("gcc", ["-O2", "-o", out, source], (e, _stdout, stderr) => (e ? reject(new Error(`gcc ${source}: ${stderr || e.message}`)) : resolve(out)));
  });
}

/**
 * Heartbeat frames of cluster `cluster` signed with the cluster's real key,
 * as if captured from `node`: each one passes the MAC, and only the replay
 * window (old seq) would refuse it, after the full HMAC and parse. The file
 * holds them for the sender: 2-byte big-endian length, then the frame.
 */
export function writeReplayFrames(file: string, o: { keyFile: string; cluster: string; node: string; count?: number }): void {
  const key = readKeyFile(o.keyFile);
  if (!key.ok) throw new Error(key.message);
  const parts: Uint8Array[] = [];
  for (let i = 1; i <= (o.count ?? 20); i++) {
    const frame = encodeHeartbeat({
      cluster: o.cluster, node: o.node, epoch: 1n, seq: i, sentAt: i * 100, link: 0, echoes: [],
      modules: [{ module: "web", role: "PRIM", generation: 2 }],
    }, key.key);
    parts.push(new Uint8Array([frame.length >> 8, frame.length & 0xff]), frame);
  }
  writeFileSync(file, Buffer.concat(parts));
}

export interface FloodResult {
  /** Datagrams all senders sent together. */
  sent: number;
  /** The longest sender's run, seconds. */
  seconds: number;
  /** sent / seconds. */
  perSecond: number;
}

/** Runs `processes` senders at once on `from` against address:port for `seconds`. */
export async function flood(from: LabHost, o: { flooder: string; frames: string; address: string; port: number; seconds: number; processes: number }): Promise<FloodResult> {
  const runs = await Promise.all(Array.from({ length: o.processes }, () =>
    from.exec([o.flooder, o.address, String(o.port), String(o.seconds), o.frames], { timeoutMs: (o.seconds + 30) * 1000 })));
  let sent = 0;
  let seconds = 0;
  for (const r of runs) {
    const [n, s] = r.stdout.trim().split(/\s+/).map(Number);
    if (n === undefined || s === undefined || !Number.isFinite(n)) throw new Error(`udp-flood printed ${JSON.stringify(r.stdout)} (stderr ${r.stderr})`);
    sent += n;
    seconds = Math.max(seconds, s);
  }
  return { sent, seconds, perSecond: seconds > 0 ? sent / seconds : 0 };
}

export interface UdpCounters {
  InDatagrams: number;
  NoPorts: number;
  InErrors: number;
  RcvbufErrors: number;
}

/** The namespace's UDP counters from /proc/net/snmp. */
export async function udpCounters(host: LabHost): Promise<UdpCounters> {
  const r = await host.exec(["cat", "/proc/net/snmp"]);
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("Udp: "));
  const names = (lines[0] ?? "").split(/\s+/).slice(1);
  const values = (lines[1] ?? "").split(/\s+/).slice(1).map(Number);
  const get = (k: string): number => values[names.indexOf(k)] ?? NaN;
  return { InDatagrams: get("InDatagrams"), NoPorts: get("NoPorts"), InErrors: get("InErrors"), RcvbufErrors: get("RcvbufErrors") };
}

export function counterDelta(a: UdpCounters, b: UdpCounters): UdpCounters {
  return { InDatagrams: b.InDatagrams - a.InDatagrams, NoPorts: b.NoPorts - a.NoPorts, InErrors: b.InErrors - a.InErrors, RcvbufErrors: b.RcvbufErrors - a.RcvbufErrors };
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function processUsage(pid: number): { cpuSeconds: number; rssKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  // USER_HZ is 100 on every Linux build that matters here.
  return { cpuSeconds: ticks / 100, rssKiB: Number(rss ?? NaN) };
}
