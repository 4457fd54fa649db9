/**
 * Carries out one start-resource or stop-resource action of the module core:
 * a VIP (address, then gratuitous ARP), start/stop scripts, or a systemd
 * unit. Every operation ends in an outcome with a one-line detail; nothing
 * here throws, since an unanswered action would stall the module.
 *
 * Scripts and `systemctl` run through src/sys/run-script.ts: bounded by the
 * resource's timeout, after which their process group is killed and the
 * operation counts as failed.
 */
import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import { ipv4Value } from "../../config/formats.ts";
import type { ModuleResource } from "../../core/module/types.ts";
import { sendGratuitousArp } from "../../sys/garp.ts";
import { runScript, type RunOptions, type RunResult } from "../../sys/run-script.ts";
import { addVip, removeVip } from "../../sys/vip.ts";
import { fenceGuard } from "../fence/guard.ts";

export type IoResult = { ok: true } | { ok: false; message: string };

/** The host effects resources need; injectable so tests run without root. */
export interface ResourceIo {
  run(command: string, opts: RunOptions): Promise<RunResult>;
  addVip(address: string, iface: string): Promise<IoResult>;
  removeVip(address: string, iface: string): Promise<{ ok: true; removed: boolean } | { ok: false; message: string }>;
  sendGarp(iface: string, address: string): Promise<IoResult>;
  /** The local interface whose subnet holds `address`, or null. */
  interfaceFor(address: string): string | null;
}

export interface ResourceOutcome {
  readonly ok: boolean;
  readonly detail: string;
}

/** Who asks, for the scripts' VIGIL_* environment. */
export interface ResourceContext {
  readonly module: string;
  readonly node: string;
  readonly role: string;
  readonly reason: string;
}

/** Used when neither the resource nor the module gives a timeout. */
export const DEFAULT_RESOURCE_TIMEOUT_MS = 60_000;

/** The bare address of "198.51.100.100/24". */
export function vipHost(vip: string): string {
  return vip.split("/")[0] ?? vip;
}

/**
 * The interface holding an address of the VIP's subnet. A VIP already on an
 * interface as a /32 counts too, so a restart finds where the last run put it.
 */
export function interfaceForAddress(address: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string | null {
  const target = ipv4Value(vipHost(address));
  if (target === null) return null;
  let exact: string | null = null;
  for (const [name, addrs] of Object.entries(interfaces)) {
    for (const a of addrs ?? []) {
      if (a.family !== "IPv4" || a.internal) continue;
      const own = ipv4Value(a.address);
      const bits = Number((a.cidr ?? "").split("/")[1] ?? "32");
      if (own === null) continue;
      if (bits === 32) {
        if (own === target) exact = name;
        continue;
      }
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      if (((own & mask) >>> 0) === ((target & mask) >>> 0)) return name;
    }
  }
  return exact;
}

export function hostResourceIo(): ResourceIo {
  return {
    run: runScript,
    async addVip(address, iface) {
      // Told first (in the watchdog's pipe when this returns): a daemon killed during the add still has the address removed.
      fenceGuard()?.vipAdding(address, iface);
      const r = await addVip({ address, interface: iface });
      return r.ok ? { ok: true } : { ok: false, message: r.message };
    },
    async removeVip(address, iface) {
      const r = await removeVip({ address, interface: iface });
      if (r.ok) fenceGuard()?.vipRemoved(address, iface);
      return r.ok ? { ok: true, removed: !r.alreadyGone } : { ok: false, message: r.message };
    },
    async sendGarp(iface, address) {
      const r = await sendGratuitousArp({ interface: iface, address });
      return r.ok ? { ok: true } : { ok: false, message: r.message };
    },
    interfaceFor: (address) => interfaceForAddress(address),
  };
}

export interface ResourceRunnerOptions {
  readonly io: ResourceIo;
  /** The module's start/stop timeouts, for resources that give none. */
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL of a timed-out script's group. */
  readonly graceMs?: number;
  /** Problems that do not fail the operation (a gratuitous ARP that could not be sent). */
  readonly warn?: (msg: string, fields: Record<string, string>) => void;
  /** A mirror module's folders (src/daemon/mirror): mounted and replicated at start, unmounted at stop. */
  readonly mirror?: MirrorResource;
}

/** The mirror driver's side of the "mirror" resource. */
export interface MirrorResource {
  start(ctx: ResourceContext): Promise<ResourceOutcome>;
  stop(ctx: ResourceContext, cleanup: boolean): Promise<ResourceOutcome>;
}

function scriptDetail(what: string, r: RunResult): string {
  return `${what}: ${r.message}`;
}

function vipInterface(io: ResourceIo, r: Extract<ModuleResource, { kind: "vip" }>): string | null {
  return r.interface ?? io.interfaceFor(r.address);
}

export async function startResource(r: ModuleResource, ctx: ResourceContext, o: ResourceRunnerOptions): Promise<ResourceOutcome> {
  const timeoutMs = ("timeouts" in r ? r.timeouts?.startMs : undefined) ?? o.startTimeoutMs ?? DEFAULT_RESOURCE_TIMEOUT_MS;
  const common = { timeoutMs, context: ctx, ...(o.graceMs === undefined ? {} : { graceMs: o.graceMs }) };
  switch (r.kind) {
    case "mirror":
      if (o.mirror === undefined) return { ok: false, detail: "mirror: no mirror driver on this node" };
      return await o.mirror.start(ctx);
    case "vip": {
      const iface = vipInterface(o.io, r);
      if (iface === null) return { ok: false, detail: `VIP ${r.address}: no interface of this node holds its subnet; set the module's interface` };
      const added = await o.io.addVip(r.address, iface);
      if (!added.ok) return { ok: false, detail: added.message };
      // The address is on the interface once `ip` returned: now tell the segment.
      // The burst's first frame leaves at once; the next resource need not wait for the rest.
      void o.io.sendGarp(iface, vipHost(r.address)).then((g) => {
        if (!g.ok) o.warn?.("gratuitous ARP failed", { vip: r.address, interface: iface, detail: g.message });
      });
      return { ok: true, detail: `VIP ${r.address} on ${iface}, gratuitous ARP sent` };
    }
    case "script": {
      if (r.start === null) return { ok: true, detail: "no start script" };
      const res = await o.io.run(r.start, common);
      return { ok: res.ok, detail: scriptDetail(r.start, res) };
    }
    case "service": {
      const res = await o.io.run("systemctl", { ...common, args: ["start", r.unit] });
      return { ok: res.ok, detail: scriptDetail(`systemctl start ${r.unit}`, res) };
    }
  }
}

export async function stopResource(r: ModuleResource, ctx: ResourceContext, o: ResourceRunnerOptions, cleanup = false): Promise<ResourceOutcome> {
  const timeoutMs = ("timeouts" in r ? r.timeouts?.stopMs : undefined) ?? o.stopTimeoutMs ?? DEFAULT_RESOURCE_TIMEOUT_MS;
  const common = { timeoutMs, context: ctx, ...(o.graceMs === undefined ? {} : { graceMs: o.graceMs }) };
  switch (r.kind) {
    case "mirror":
      // Without a driver nothing was mounted by this process.
      if (o.mirror === undefined) return { ok: true, detail: "mirror: nothing mounted" };
      return await o.mirror.stop(ctx, cleanup);
    case "vip": {
      const iface = vipInterface(o.io, r);
      // No interface holds its subnet: then the address cannot be on one either.
      if (iface === null) return { ok: true, detail: `VIP ${r.address}: no interface holds its subnet, nothing to remove` };
      const removed = await o.io.removeVip(r.address, iface);
      if (!removed.ok) return { ok: false, detail: removed.message };
      return { ok: true, detail: removed.removed ? `VIP ${r.address} removed from ${iface}` : `VIP ${r.address} was not on ${iface}` };
    }
    case "script": {
      if (r.stop === null) return { ok: true, detail: "no stop script" };
      const res = await o.io.run(r.stop, common);
      return { ok: res.ok, detail: scriptDetail(r.stop, res) };
    }
    case "service": {
      const res = await o.io.run("systemctl", { ...common, args: ["stop", r.unit] });
      return { ok: res.ok, detail: scriptDetail(`systemctl stop ${r.unit}`, res) };
    }
  }
}
