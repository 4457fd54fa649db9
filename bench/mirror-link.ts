/** The link between the two lab hosts for bench/mirror.ts: HTB shaping, byte counters, one stream's goodput. */
import type { Lab, LabHost } from "../test/lab/lab.ts";
import { APP, BUN } from "./mirror-measure.ts";

export type LinkShape = "unshaped" | "1gbit";

/**
 * HTB on each host's egress (netem is not in this kernel): 1 Gbit/s each
 * way. The RTT stays the veth's (~0.05 ms).
 */
export async function shapeLink(lab: Lab, shape: LinkShape): Promise<void> {
  for (const h of lab.hosts) {
    const dev = h.ifname(1);
    await h.exec(["tc", "qdisc", "del", "dev", dev, "root"]);
    if (shape === "unshaped") continue;
    await h.exec(["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10"], { check: true });
    await h.exec(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "1gbit", "ceil", "1gbit"], { check: true });
  }
}

/** Bytes sent plus received on a host's link interface so far: between two hosts, everything on the wire. */
export async function wireBytes(h: LabHost): Promise<number> {
  const dev = h.ifname(1);
  const r = await h.exec(["cat", `/sys/class/net/${dev}/statistics/tx_bytes`, `/sys/class/net/${dev}/statistics/rx_bytes`], { check: true });
  return r.stdout.trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0);
}

/** MB/s of one TCP stream from `from` to `to` (application goodput, all of `mb` acknowledged). */
export async function streamRate(from: LabHost, to: LabHost, mb: number): Promise<number> {
  const port = "7799";
  const sink = to.spawn([BUN, APP, "sink", to.addr(1), port, String(mb)], { logName: "sink" });
  try {
    await sink.waitFor(/listening/, 10_000);
    const r = await from.exec([BUN, APP, "source", to.addr(1), port, String(mb)], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`stream ${from.name} -> ${to.name}: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { mbPerSec: number }).mbPerSec;
  } finally {
    await sink.stop(1_000);
  }
}
