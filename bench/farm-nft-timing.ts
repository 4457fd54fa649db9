/**
 * Runs inside a lab namespace (bench/farm.ts starts it): the time of one farm
 * update for 2, 8 and 32 nodes, as the daemon does it on a membership change:
 * the core computing the new owners (memo cleared, so nothing is cached), and
 * the one `nft -f` transaction that replaces this node's bucket set, and
 * beside it the same transaction sent as nf_tables netlink messages
 * (src/sys/farm/nft-netlink.ts), alternating round by round; and the UDP
 * flow owners the daemon writes beside it (the owner of every bucket not
 * ours, and the live peers: src/core/farm/flows.ts), over netlink.
 * Prints one JSON line: { nodes: { "2": { coreMs: [...], nftMs: [...], netlinkMs: [...], flowsMs: [...], buckets }, ... } }.
 */
import { bucketsOf, owners, ownershipTable } from "../src/core/farm/ownership.ts";
import { farmFlowOps, farmUpdateOps, openNftNetlink } from "../src/sys/farm/nft-netlink.ts";
import { farmTableName, farmUpdateRuleset, ownerPairs } from "../src/sys/farm/ruleset.ts";
import { removeFarmTable, setupFarmTable } from "../src/sys/farm/table.ts";
import { applyRuleset } from "../src/sys/nft.ts";

const ROUNDS = Number(process.argv[2] ?? 60);
/** Long enough never to lapse between rounds: this measures writes, not the lease. */
const LEASE_MS = 3_600_000;
const out: Record<string, { coreMs: number[]; nftMs: number[]; netlinkMs: number[]; flowsMs: number[]; buckets: number[] }> = {};
const netlink = await openNftNetlink();
for (const n of [2, 8, 32]) {
  const module = `bench${n}`;
  const nodes = Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}`, weight: 1 }));
  const t = ownershipTable(nodes, 0xbe9c4);
  const all = n === 32 ? 0xffffffff : 2 ** n - 1;
  const lessOne = (all & ~(1 << (n - 1))) >>> 0;
  const setup = await setupFarmTable({ module, vip: "198.51.100.50", ports: [80, 443], split: "client_ip_port", seed: 1, leaseMs: LEASE_MS });
  if (!setup.ok) throw new Error(setup.message);
  const r = { coreMs: [] as number[], nftMs: [] as number[], netlinkMs: [] as number[], flowsMs: [] as number[], buckets: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    const view = i % 2 === 0 ? lessOne : all;
    const c0 = performance.now();
    t.memo.clear();
    const held = bucketsOf(t, 0, view);
    const c1 = performance.now();
    // nft itself (writeFarmTable would take netlink where it can).
    const w = await applyRuleset(farmUpdateRuleset(module, "198.51.100.50", held, i % 2 === 0, LEASE_MS));
    const c2 = performance.now();
    if (!w.ok) throw new Error(w.message);
    const n0 = performance.now();
    const { errno } = netlink.apply(farmTableName(module), farmUpdateOps("198.51.100.50", held, i % 2 === 0, LEASE_MS));
    r.netlinkMs.push(performance.now() - n0);
    if (errno !== 0) throw new Error(`netlink update failed: errno ${errno}`);
    const flowOwners = Array.from(owners(t, view), (o) => (o <= 0 ? 0 : o + 1));
    const live = Array.from({ length: n - 1 }, (_, k) => k + 2).filter((v) => ((view >>> (v - 1)) & 1) === 1);
    const f0 = performance.now();
    const flows = netlink.apply(farmTableName(module), farmFlowOps(ownerPairs(module, flowOwners), live, false));
    r.flowsMs.push(performance.now() - f0);
    if (flows.errno !== 0) throw new Error(`netlink flow owners update failed: errno ${flows.errno}`);
    r.coreMs.push(c1 - c0);
    r.nftMs.push(c2 - c1);
    r.buckets.push(held.length);
  }
  await removeFarmTable(module);
  out[String(n)] = r;
}
netlink.close();
process.stdout.write(`${JSON.stringify({ nodes: out })}\n`);
