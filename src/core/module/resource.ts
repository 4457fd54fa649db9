/** What a module starts and stops; a leaf, so the module's config and types can both use it. */

/**
 * One thing the module starts, in list order, and stops in reverse order.
 * - vip: start = add the address to the interface, then gratuitous ARP;
 *   stop = remove it. Adding an address already there and removing one
 *   already gone both succeed.
 * - script: start runs `start`, stop runs `stop` (null = nothing to run).
 * - service: systemd unit, `systemctl start` / `systemctl stop`.
 */
export type ModuleResource =
  /**
   * A mirror module's replicated folders, always first: start = this node's
   * copy may be served (the mirror driver refuses otherwise), then each
   * folder is mounted over itself so every write is replicated; stop =
   * unmounted once everything after it (the app) has stopped.
   */
  | { readonly kind: "mirror"; readonly folders: readonly string[] }
  | { readonly kind: "vip"; readonly address: string; readonly interface: string | null }
  | { readonly kind: "script"; readonly start: string | null; readonly stop: string | null; readonly timeouts?: ResourceTimeouts }
  | { readonly kind: "service"; readonly unit: string; readonly timeouts?: ResourceTimeouts };

/** How long a start or stop may take before its process group is killed and it counts as failed; absent: the driver's default. */
export interface ResourceTimeouts {
  readonly startMs: number;
  readonly stopMs: number;
}
