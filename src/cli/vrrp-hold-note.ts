/**
 * What `vigil check-config` says about each VRRP instance's heartbeat hold
 * (src/core/vrrp/hold.ts): how long a BACKUP waits for a silent MASTER with
 * and without the heartbeat's word, and what the hold costs, so an operator
 * can choose the RFC rule knowingly.
 */
import type { VigilConfig } from "../config/types.ts";
import { masterDownIntervalMs } from "../core/vrrp/config.ts";

function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** One line per VRRP instance, indented for check-config's output; none on a one-node cluster. */
export function vrrpHoldLines(config: VigilConfig): string[] {
  if (config.cluster.nodes.length < 2) return [];
  return config.vrrp.map((v) => {
    // The slowest backup: the lowest priority waits longest.
    const lowest = Math.min(...Object.values(v.priority));
    const mdi = masterDownIntervalMs(lowest, v.advert_int, v.down_timer_adverts);
    if (!v.heartbeat_hold) {
      return `  vrrp ${v.name}: heartbeat_hold off: a BACKUP takes over once no advert came for ${seconds(mdi)} (the down timer), as keepalived does, even while the heartbeat still hears the MASTER's node say it is MASTER`;
    }
    return `  vrrp ${v.name}: a BACKUP takes over once no advert came for ${seconds(mdi)} (the down timer); if the heartbeat still hears the MASTER's node say it is MASTER, the adverts were lost and it waits up to ${seconds(2 * mdi)} in all, taking over at once if that node leaves MASTER, goes silent or is declared dead; the price: a MASTER cut off from the VRRP network with its carrier up and its heartbeat running elsewhere keeps the VIPs for ${seconds(2 * mdi)} (heartbeat_hold: false takes over after ${seconds(mdi)}, as keepalived)`;
  });
}
