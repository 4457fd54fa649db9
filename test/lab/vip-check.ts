import type { IpRunner } from "../../src/sys/ip-command.ts";
import { listAddresses, resolveVip, type VipFailure, type VipSpec } from "../../src/sys/vip.ts";

/** Whether the VIP is on its interface now (the daemon never asks; tests do). */
export async function hasVip(spec: VipSpec, run: IpRunner): Promise<{ ok: true; present: boolean } | VipFailure> {
  const r = resolveVip(spec);
  if (!r.ok) return r;
  const list = await listAddresses(r.vip.interface, run);
  if (!list.ok) return { ...list, vip: spec.address };
  return { ok: true, present: list.addresses.some((a) => a.address === r.vip.address) };
}
