/**
 * Which member owns which bucket: weighted rendezvous hashing (highest random
 * weight) with exact quotas. For bucket b and node n with weight w the score is
 * w / -ln(u), u a hash of (seed, node name, b) mapped into (0, 1).
 *
 * Plain rendezvous (each bucket to its top scorer) moves only the buckets of a
 * node that leaves or joins, but with 256 buckets its shares stray from the
 * weights by a binomial error: for weights 1:2:1 the worst node is off by 3
 * points in the median seed and 6 in one seed out of ten. So each member gets a
 * quota, its weight's share of 256 (largest remainder), and (bucket, member)
 * pairs are taken in falling score order, skipping a bucket already taken or a
 * member at its quota. Shares are then exact to one bucket; the price is that a
 * change of members also moves a few buckets between the others (about 1% of
 * them at 3 nodes, 3% at 8, 4.5% at 32; test/unit/farm-ownership.test.ts), which the ruleset's
 * connection tracking makes harmless to established connections.
 *
 * The scores depend only on the config and the seed, so every node computes
 * the same table; it is built once, and owners per member set are memoized.
 */
import { jhash } from "./jhash.ts";
import { hasMember } from "./members.ts";
import { BUCKETS, type FarmNode, type Members } from "./types.ts";

export interface OwnershipTable {
  readonly nodes: readonly FarmNode[];
  /** scores[bucket * nodes.length + node] */
  readonly scores: Float64Array;
  /** Memo of owners per member set; member sets in a run are few. */
  readonly memo: Map<Members, Int8Array>;
}

/** The pseudo-bucket whose owner is the ARP owner. */
const ARP_KEY = BUCKETS;

function unitHash(name: string, key: number, seed: number): number {
  const nameBytes = new TextEncoder().encode(name);
  const bytes = new Uint8Array(nameBytes.length + 4);
  bytes.set(nameBytes, 0);
  new DataView(bytes.buffer).setUint32(nameBytes.length, key, true);
  // Two rounds: a 32-bit hash of short keys is uniform enough, a second
  // round decorrelates neighbouring bucket numbers.
  const h = jhash(bytes, jhash(bytes, seed));
  return (h + 0.5) / 4294967296;
}

export function ownershipTable(nodes: readonly FarmNode[], seed: number): OwnershipTable {
  const n = nodes.length;
  const scores = new Float64Array((BUCKETS + 1) * n);
  for (let b = 0; b <= BUCKETS; b++) {
    for (let i = 0; i < n; i++) {
      const node = nodes[i];
      if (node === undefined) continue;
      scores[b * n + i] = node.weight / -Math.log(unitHash(node.name, b, seed));
    }
  }
  return { nodes, scores, memo: new Map() };
}

function ownerByScore(t: OwnershipTable, key: number, members: Members): number {
  const n = t.nodes.length;
  let best = -1;
  let bestScore = -1;
  for (let i = 0; i < n; i++) {
    if (!hasMember(members, i)) continue;
    const s = t.scores[key * n + i] ?? 0;
    // Ties (never seen in practice) go to the lower index, the same everywhere.
    if (s > bestScore) {
      best = i;
      bestScore = s;
    }
  }
  return best;
}

/** Buckets per member: its weight's share of BUCKETS, remainders to the largest fractions (then lower index). */
export function quotas(nodes: readonly FarmNode[], members: Members): number[] {
  const q = new Array<number>(nodes.length).fill(0);
  let total = 0;
  for (let i = 0; i < nodes.length; i++) if (hasMember(members, i)) total += nodes[i]?.weight ?? 0;
  if (total <= 0) return q;
  const fractions: { i: number; f: number }[] = [];
  let given = 0;
  for (let i = 0; i < nodes.length; i++) {
    if (!hasMember(members, i)) continue;
    const exact = (BUCKETS * (nodes[i]?.weight ?? 0)) / total;
    q[i] = Math.floor(exact);
    given += q[i] ?? 0;
    fractions.push({ i, f: exact - Math.floor(exact) });
  }
  fractions.sort((a, b) => b.f - a.f || a.i - b.i);
  for (let k = 0; k < BUCKETS - given; k++) {
    const at = fractions[k % fractions.length]?.i ?? 0;
    q[at] = (q[at] ?? 0) + 1;
  }
  return q;
}

function assign(t: OwnershipTable, members: Members): Int8Array {
  const n = t.nodes.length;
  const out = new Int8Array(BUCKETS).fill(-1);
  const quota = quotas(t.nodes, members);
  const pairs: number[] = [];
  for (let b = 0; b < BUCKETS; b++) for (let i = 0; i < n; i++) if (hasMember(members, i)) pairs.push(b * n + i);
  // Falling score; equal scores (never seen) by pair index, the same everywhere.
  pairs.sort((x, y) => (t.scores[y] ?? 0) - (t.scores[x] ?? 0) || x - y);
  const taken = new Array<number>(n).fill(0);
  let left = BUCKETS;
  for (const p of pairs) {
    if (left === 0) break;
    const b = Math.floor(p / n);
    const i = p % n;
    if ((out[b] ?? 0) >= 0 || (taken[i] ?? 0) >= (quota[i] ?? 0)) continue;
    out[b] = i;
    taken[i] = (taken[i] ?? 0) + 1;
    left--;
  }
  return out;
}

/** Owner index of every bucket under `members`; -1 where the set is empty. */
export function owners(t: OwnershipTable, members: Members): Int8Array {
  const known = t.memo.get(members);
  if (known !== undefined) return known;
  const out = assign(t, members);
  if (t.memo.size > 256) t.memo.clear();
  t.memo.set(members, out);
  return out;
}

export function ownerOf(t: OwnershipTable, bucket: number, members: Members): number {
  return owners(t, members)[bucket] ?? -1;
}

/** Buckets `node` owns under `members`, ascending. */
export function bucketsOf(t: OwnershipTable, node: number, members: Members): number[] {
  const o = owners(t, members);
  const out: number[] = [];
  for (let b = 0; b < BUCKETS; b++) if (o[b] === node) out.push(b);
  return out;
}

/** The member that answers ARP and takes non-split traffic; -1 for an empty set. */
export function arpOwnerOf(t: OwnershipTable, members: Members): number {
  return ownerByScore(t, ARP_KEY, members);
}

/** Buckets per node index under `members`. */
export function bucketCounts(t: OwnershipTable, members: Members): number[] {
  const counts = new Array<number>(t.nodes.length).fill(0);
  for (const o of owners(t, members)) if (o >= 0) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}
