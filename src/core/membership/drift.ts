/**
 * Config drift: does a peer run with the same cluster-relevant config as
 * we do? Each node publishes, in its heartbeat frames, a digest of that
 * config and, page by page, the hash of every key of it (see
 * src/proto/heartbeat.ts). A peer whose digest equals ours agrees; for one
 * whose digest differs we collect its pages under that digest, and once we
 * hold all of them we can name the keys that differ.
 *
 * Why pages of key hashes rather than fetching the peer's config: the
 * heartbeat is the one channel every node already has with every peer,
 * authenticated and always on; nothing else (the console, the control
 * socket) is reachable from a peer. A frame holds a bounded page, so any
 * number of keys fits, at the cost of a few intervals to learn all of them.
 * Only hashes travel: a config's values (paths, addresses) stay on the node.
 *
 * Pure functions over plain values; the driver owns the hashing.
 */

export interface KeyHash {
  readonly key: string;
  readonly hash: string;
}

/** Our own config: its digest and every key's hash, sorted by key. */
export interface OwnDigest {
  readonly digest: string;
  readonly keys: readonly KeyHash[];
}

/** One page as a frame carries it. */
export interface DigestPage {
  readonly digest: string;
  readonly total: number;
  readonly first: number;
  readonly keys: readonly KeyHash[];
}

/** What we know of one peer's config. */
export interface PeerDrift {
  /** The digest the peer publishes. */
  readonly digest: string;
  /** Its keys collected so far under that digest, by index; undefined = not heard yet. */
  readonly collected: readonly (KeyHash | undefined)[];
  /** The keys that differ from ours (sorted), [] when the configs agree; null until all pages are in. */
  readonly differing: readonly string[] | null;
}

/** The page to publish in round `round`: pages cycle, each at most `perPage` keys and `budgetBytes` of key names. */
export function pageFor(own: OwnDigest, round: number, perPage: number, budgetBytes: number): DigestPage {
  const pages = paginate(own.keys, perPage, budgetBytes);
  const page = pages[((round % pages.length) + pages.length) % pages.length] ?? { first: 0, count: 0 };
  return { digest: own.digest, total: own.keys.length, first: page.first, keys: own.keys.slice(page.first, page.first + page.count) };
}

function paginate(keys: readonly KeyHash[], perPage: number, budgetBytes: number): { first: number; count: number }[] {
  const pages: { first: number; count: number }[] = [];
  let first = 0;
  let count = 0;
  let bytes = 0;
  keys.forEach((k, i) => {
    const size = k.key.length * 3 + 9;
    if (count > 0 && (count >= perPage || bytes + size > budgetBytes)) {
      pages.push({ first, count });
      first = i;
      count = 0;
      bytes = 0;
    }
    count += 1;
    bytes += size;
  });
  pages.push({ first, count });
  return pages;
}

/**
 * Folds a peer's page into what we know of it. `changed` is true when the
 * list of differing keys changed (known for the first time, or different):
 * the moment to warn, or to say the configs agree again.
 */
export function takePage(prev: PeerDrift | undefined, page: DigestPage, own: OwnDigest): { next: PeerDrift; changed: boolean } {
  if (page.digest === own.digest) {
    const next: PeerDrift = { digest: page.digest, collected: [], differing: [] };
    return { next, changed: prev?.differing == null || prev.differing.length > 0 };
  }
  const sameDigest = prev !== undefined && prev.digest === page.digest && prev.collected.length === page.total;
  const collected = sameDigest ? [...prev.collected] : new Array<KeyHash | undefined>(page.total).fill(undefined);
  page.keys.forEach((k, i) => {
    const at = page.first + i;
    if (at < collected.length) collected[at] = k;
  });
  if (collected.some((k) => k === undefined)) {
    // Keep the last verdict until the new one is complete: a warning stays up while we learn the details.
    return { next: { digest: page.digest, collected, differing: prev?.differing ?? null }, changed: false };
  }
  const differing = compare(own.keys, collected as KeyHash[]);
  const was = prev?.differing ?? null;
  const changed = was === null || was.length !== differing.length || was.some((k, i) => k !== differing[i]);
  return { next: { digest: page.digest, collected, differing }, changed };
}

/** Keys whose hash differs, or that only one side has, sorted. */
export function compare(ours: readonly KeyHash[], theirs: readonly KeyHash[]): string[] {
  const mine = new Map(ours.map((k) => [k.key, k.hash]));
  const other = new Map(theirs.map((k) => [k.key, k.hash]));
  const out = new Set<string>();
  for (const [key, hash] of mine) if (other.get(key) !== hash) out.add(key);
  for (const key of other.keys()) if (!mine.has(key)) out.add(key);
  return [...out].sort();
}
