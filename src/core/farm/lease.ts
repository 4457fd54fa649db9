/**
 * The kernel lease on a node's buckets: the farm table accepts new clients for
 * our buckets only while one set element, renewed by the driver, has not timed
 * out. A frozen (SIGSTOP) or badly stalled daemon renews nothing, so its node
 * stops answering its buckets before its peers take them over; otherwise a
 * frozen node's kernel would keep answering them beside the new owners.
 *
 * The numbers, for heartbeat `interval` and `deadtime`:
 *
 * - Peers take our buckets no sooner than `deadtime` after our last heartbeat
 *   (they count from its arrival). Our last renewal can commit after that
 *   heartbeat: up to one interval later (the renewal and the heartbeat run on
 *   separate timers), plus the time the nft child takes to commit, which goes
 *   on while the daemon is frozen. So the lease must end within
 *   `deadtime - interval - NFT_COMMIT_MARGIN_MS` of a renewal. (Renewals sent
 *   as netlink messages commit inside the daemon's own send call, so for them
 *   the margin is slack; it is kept for nodes that fall back to nft.)
 * - A renewal is conditional: it fails, whole, when the lease already lapsed
 *   (nothing is revived behind the core's back; the core then starts over,
 *   holding nothing). So a live daemon loses its buckets only when its event
 *   loop stalls for longer than `lease - refresh` plus one renewal. Renewing
 *   every `lease / 3` lets a loaded machine be two renewals late. A renewal
 *   is one netlink transaction (well under a millisecond), or one nft run
 *   (about 6 ms of CPU) where netlink is not available: at 100/500 ms timers
 *   10 a second, about 6 % of one core with nft.
 * - Below MIN_LEASE_MS the nft runs would eat a core and their own start-up
 *   time would be most of the lease; the lease then stays at MIN_LEASE_MS
 *   and `guaranteed` is false: a frozen node can then answer its old buckets
 *   beside their new owner for up to `lease - (deadtime - interval)` ms.
 */

/** Time budget for an nft child to commit a renewal (about 15 ms idle; loaded machines are slower). */
export const NFT_COMMIT_MARGIN_MS = 100;
export const MIN_LEASE_MS = 150;

export interface LeaseTimes {
  /** The element's timeout: how long the kernel accepts our buckets after a renewal. */
  readonly leaseMs: number;
  /** How often the driver renews it. */
  readonly refreshMs: number;
  /** Whether the lease ends before peers can take over (see the header). */
  readonly guaranteed: boolean;
}

export function leaseTimes(intervalMs: number, deadtimeMs: number): LeaseTimes {
  const fits = deadtimeMs - intervalMs - NFT_COMMIT_MARGIN_MS;
  const leaseMs = Math.max(MIN_LEASE_MS, Math.floor(fits));
  return { leaseMs, refreshMs: Math.max(1, Math.floor(leaseMs / 3)), guaranteed: fits >= MIN_LEASE_MS };
}
