/**
 * The address side of a VRRP action: VIPs on and off the interface (with one
 * retry), the accept_mode filter, and gratuitous ARP bursts. Failures are
 * logged and counted, never thrown: the instance carries on.
 */
import { vipAddress } from "../../core/vrrp/config.ts";
import type { Logger } from "../log.ts";
import type { Instance, VrrpMetrics } from "./instance.ts";
import type { VrrpIo } from "./spec.ts";

const VIP_RETRY_MS = 50;

export interface AddressEffects {
  readonly io: VrrpIo;
  readonly log: Logger;
  readonly m: VrrpMetrics;
  warnEvery(key: string, msg: string, fields: Record<string, string | number>): void;
}

/** One retry after a short pause: `ip` can fail for a passing reason (killed with our process group at shutdown, a busy netlink). */
async function twice<R extends { ok: boolean }>(op: () => Promise<R>): Promise<R> {
  const first = await op();
  if (first.ok) return first;
  await new Promise((r) => setTimeout(r, VIP_RETRY_MS));
  return op();
}

export async function addVips(fx: AddressEffects, inst: Instance, vips: readonly string[]): Promise<void> {
  const results = await Promise.all(vips.map((v) => twice(() => fx.io.addVip(v, inst.spec.interface))));
  results.forEach((r, i) => {
    if (r.ok) {
      // With the prefix it was added with, as `ip addr` shows it.
      fx.log.info("VIP added", { instance: inst.name, vip: vips[i] ?? "", interface: inst.spec.interface });
      return;
    }
    fx.m.vipFailures({ instance: inst.name, op: "add" });
    fx.log.error("cannot add VIP", { instance: inst.name, vip: vips[i] ?? "", interface: inst.spec.interface, error: r.message });
  });
}

export async function removeVips(fx: AddressEffects, inst: Instance, vips: readonly string[]): Promise<number> {
  const results = await Promise.all(vips.map((v) => twice(() => fx.io.removeVip(v, inst.spec.interface))));
  let removed = 0;
  results.forEach((r, i) => {
    if (r.ok) {
      if (r.removed) {
        removed += 1;
        fx.log.info("VIP removed", { instance: inst.name, vip: vips[i] ?? "", interface: inst.spec.interface });
      }
      return;
    }
    fx.m.vipFailures({ instance: inst.name, op: "remove" });
    fx.log.error("cannot remove VIP", { instance: inst.name, vip: vips[i] ?? "", interface: inst.spec.interface, error: r.message });
  });
  return removed;
}

export async function removeLeftovers(fx: AddressEffects, inst: Instance): Promise<void> {
  // A filter can be left whatever accept_mode says now: the config may have changed since.
  await acceptTraffic(fx, inst, inst.spec.core.acceptMode === false);
  if (fx.io.linkState(inst.spec.interface).present === false) return;
  const vips = inst.spec.core.vips;
  const removed = await removeVips(fx, inst, vips);
  if (removed > 0) {
    fx.log.warn("removed VIPs left on the interface by an earlier run", { instance: inst.name, interface: inst.spec.interface, vips: vips.join(" ") });
  }
}

export async function dropTraffic(fx: AddressEffects, inst: Instance, vips: readonly string[]): Promise<void> {
  inst.dropping = true;
  const r = await fx.io.dropVipTraffic(inst.spec.interface, inst.spec.core.vrid, vips.map(vipAddress));
  // The VIPs go on anyway: clients reaching a master that also accepts beat clients reaching nobody.
  if (!r.ok) fx.log.error("cannot stop accepting traffic to the VIPs", { instance: inst.name, interface: inst.spec.interface, error: r.message });
}

/** `loud`: a failure matters (a filter we installed may stay); otherwise it is only worth a debug line. */
export async function acceptTraffic(fx: AddressEffects, inst: Instance, loud: boolean): Promise<void> {
  const r = await fx.io.acceptVipTraffic(inst.spec.interface, inst.spec.core.vrid);
  if (r.ok) {
    inst.dropping = false;
    return;
  }
  const fields = { instance: inst.name, interface: inst.spec.interface, error: r.message };
  if (loud) fx.log.error("cannot remove the accept_mode filter of the VIPs", fields);
  else fx.log.debug("no accept_mode filter removed", fields);
}

export async function garpBurst(fx: AddressEffects, inst: Instance, addresses: readonly string[]): Promise<void> {
  const g = inst.spec.garp;
  const results = await Promise.all(addresses.map((a) => fx.io.sendGarp(inst.spec.interface, a, g.repeat, g.intervalMs)));
  results.forEach((r, i) => {
    fx.m.garps({ instance: inst.name, result: r.ok ? "ok" : "failed" });
    if (!r.ok) fx.warnEvery(`garp-${inst.name}`, "gratuitous ARP failed", { instance: inst.name, address: addresses[i] ?? "", error: r.message });
  });
}

