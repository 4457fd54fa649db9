/**
 * Network faults on one host's cables: link down/up at either end, and packet
 * impairment with `tc netem`. Where the kernel has no sch_netem, pure loss
 * ("loss N%") is emulated with nftables netdev chains on the switch ports,
 * which no test's own ruleset in a host can disturb.
 */
import { runCommand, type ExecResult } from "./exec.ts";
import { LabCommandError, LabUnsupportedError } from "./errors.ts";
import { hostIf, hostNs, portIf, switchNs, type LinkNo } from "./names.ts";

/** Which end of the cable: the host's interface, the switch port, or both. */
export type Side = "host" | "bridge" | "both";

export interface FaultTarget {
  run: string;
  host: number;
  links: readonly LinkNo[];
}

const NFT_TABLE = "vigil_lab";

const must = async (argv: string[], where: string, input?: string): Promise<ExecResult> =>
  runCommand(argv, { check: true, timeoutMs: 15_000, ...(input === undefined ? {} : { input }) }, where);

export async function setLink(t: FaultTarget, state: "up" | "down", side: Side): Promise<void> {
  const sw = switchNs(t.run);
  const ns = hostNs(t.run, t.host);
  for (const link of t.links) {
    if (side !== "bridge") await must(["ip", "-n", ns, "link", "set", "dev", hostIf(link), state], ns);
    if (side !== "host") await must(["ip", "-n", sw, "link", "set", "dev", portIf(t.host, link), state], sw);
  }
}

/** "loss 30%" or "loss random 30%": the one impairment nftables can stand in for. */
export function parseLossOnly(spec: string): number | null {
  const m = /^loss\s+(?:random\s+)?(\d+(?:\.\d+)?)%$/.exec(spec.trim());
  if (!m) return null;
  const pct = Number(m[1]);
  return pct >= 0 && pct <= 100 ? pct : null;
}

/**
 * Applies a netem spec (tc syntax, e.g. "loss 100%", "delay 50ms 10ms") to the
 * traffic leaving the host ("host"), the traffic sent to it ("bridge"), or both.
 */
export async function applyNetem(t: FaultTarget, spec: string, side: Side): Promise<void> {
  const words = spec.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new LabUnsupportedError("netem: empty spec; expected tc netem syntax such as \"loss 100%\" or \"delay 50ms\"");
  const sw = switchNs(t.run);
  const ns = hostNs(t.run, t.host);
  for (const link of t.links) {
    const ends: [string, string, "in" | "out"][] = [];
    // Egress of the host's interface is ingress of its switch port, and vice versa.
    if (side !== "bridge") ends.push([ns, hostIf(link), "in"]);
    if (side !== "host") ends.push([sw, portIf(t.host, link), "out"]);
    for (const [where, dev, dir] of ends) {
      const r = await runCommand(["tc", "-n", where, "qdisc", "replace", "dev", dev, "root", "netem", ...words], { timeoutMs: 15_000 }, where);
      if (r.code === 0) continue;
      if (!/qdisc kind is unknown/i.test(r.stderr)) {
        throw new LabCommandError(`tc netem "${spec}" on ${dev} in ${where} failed: ${r.stderr.trim() || `exit ${r.code}`}`, r);
      }
      const pct = parseLossOnly(spec);
      if (pct === null) {
        throw new LabUnsupportedError(
          `tc netem is not available in this kernel (CONFIG_NET_SCH_NETEM is off), so "${spec}" cannot be applied; ` +
            `without it the lab can only emulate "loss N%" (with nftables)`,
        );
      }
      await nftLoss(sw, portIf(t.host, link), dir, pct);
    }
  }
}

/** Removes every impairment from the host's links, at both ends. */
export async function clearNetem(t: FaultTarget): Promise<void> {
  const sw = switchNs(t.run);
  const ns = hostNs(t.run, t.host);
  for (const link of t.links) {
    for (const [where, dev] of [[ns, hostIf(link)], [sw, portIf(t.host, link)]] as const) {
      const shown = await must(["tc", "-n", where, "qdisc", "show", "dev", dev], where);
      if (/\bnetem\b/.test(shown.stdout)) await must(["tc", "-n", where, "qdisc", "del", "dev", dev, "root"], where);
    }
  }
  const table = await runCommand(["ip", "netns", "exec", sw, "nft", "list", "table", "netdev", NFT_TABLE], { timeoutMs: 15_000 }, sw);
  if (table.code !== 0) return; // never needed the fallback
  for (const link of t.links) {
    for (const dir of ["in", "out"] as const) {
      const chain = `${portIf(t.host, link)}_${dir}`;
      if (table.stdout.includes(`chain ${chain} `)) await must(["ip", "netns", "exec", sw, "nft", "flush", "chain", "netdev", NFT_TABLE, chain], sw);
    }
  }
}

async function nftLoss(sw: string, port: string, dir: "in" | "out", pct: number): Promise<void> {
  const chain = `${port}_${dir}`;
  const hook = dir === "in" ? "ingress" : "egress";
  // numgen draws per packet; four digits keep fractional percentages such as 0.5%.
  const verdict = pct >= 100 ? "drop" : pct <= 0 ? null : `numgen random mod 10000 < ${Math.round(pct * 100)} drop`;
  const script = [
    `add table netdev ${NFT_TABLE}`,
    `add chain netdev ${NFT_TABLE} ${chain} { type filter hook ${hook} device "${port}" priority 0; policy accept; }`,
    `flush chain netdev ${NFT_TABLE} ${chain}`,
    ...(verdict ? [`add rule netdev ${NFT_TABLE} ${chain} ${verdict}`] : []),
  ];
  await must(["ip", "netns", "exec", sw, "nft", "-f", "-"], sw, `${script.join("\n")}\n`);
}
