/**
 * A farm node's link setup (RECIPES.md, nftables farm, step 1):
 *
 * - a macvlan on the physical interface that carries the virtual MAC, so the
 *   node receives frames sent to it. `arp off` and no IPv6 on it: it must never
 *   send a frame (DAD, router solicitations and MLD would leave with the
 *   virtual MAC as source, and a learning switch would then pin the virtual MAC
 *   to this node's port);
 * - the VIP as a /32 on lo, so the stack accepts packets for it whichever
 *   interface they came in on;
 * - sysctls: the kernel never answers or announces ARP for the VIP itself
 *   (arp_ignore=1, arp_announce=2: the ARP owner's responder does, with the
 *   virtual MAC), and no reverse-path filter, since packets arrive on the
 *   macvlan while routes point at the physical interface.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { repeatWhileSignalled } from "../helper-child.ts";
import type { IpRunner } from "../ip-command.ts";
import { addVip, removeVip } from "../vip.ts";

export interface FarmLinkSpec {
  readonly module: string;
  /** The physical interface the clients are on. */
  readonly interface: string;
  /** IPv4, no prefix. */
  readonly vip: string;
  /** "02:.." */
  readonly vmac: string;
}

/** A sysctl and the value it had before we set it. */
export interface SysctlChange {
  readonly key: string;
  readonly previous: string;
}

export type LinkResult = { readonly ok: true; readonly changed: readonly SysctlChange[] } | { readonly ok: false; readonly message: string };

/** The macvlan's name: "vf" + a hash of the module, at most 15 characters and the same on every start. */
export function macvlanName(module: string): string {
  return `vf${createHash("sha256").update(module).digest("hex").slice(0, 10)}`;
}

/** The sysctls a farm needs, with their values (interface names filled in). */
export function farmSysctls(iface: string, macvlan: string): readonly { readonly key: string; readonly value: string }[] {
  return [
    { key: "net.ipv4.conf.all.arp_ignore", value: "1" },
    { key: "net.ipv4.conf.all.arp_announce", value: "2" },
    { key: "net.ipv4.conf.all.rp_filter", value: "0" },
    { key: "net.ipv4.conf.default.rp_filter", value: "0" },
    { key: `net.ipv4.conf.${iface}.rp_filter`, value: "0" },
    { key: `net.ipv4.conf.${macvlan}.rp_filter`, value: "0" },
  ];
}

export function sysctlPath(key: string, procSys = "/proc/sys"): string {
  return `${procSys}/${key.replaceAll(".", "/")}`;
}

/** Reads and writes sysctls; a fake in tests. */
export interface SysctlIo {
  read(key: string): Promise<string>;
  write(key: string, value: string): Promise<void>;
}

export const procSysctl: SysctlIo = {
  read: async (key) => (await readFile(sysctlPath(key), "utf8")).trim(),
  write: (key, value) => writeFile(sysctlPath(key), `${value}\n`),
};

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function ipOk(run: IpRunner, args: readonly string[]): Promise<string | undefined> {
  const r = await run(args);
  return r.ok ? undefined : r.message;
}

/** Removes the macvlan and the VIP on lo, there or not. */
export async function removeFarmLink(spec: FarmLinkSpec, run: IpRunner): Promise<string[]> {
  const problems: string[] = [];
  const name = macvlanName(spec.module);
  // Ended by a signal meant for the daemon as it stops (helper-child.ts): the
  // link may still be there, and a removal is safe to repeat.
  const del = await repeatWhileSignalled(() => run(["link", "del", name]), (x) => !x.ok && x.kind === "signalled");
  if (!del.ok && !/Cannot find device|does not exist/i.test(del.stderr)) problems.push(del.message);
  const vip = await removeVip({ address: spec.vip, interface: "lo" }, run);
  if (!vip.ok) problems.push(vip.message);
  return problems;
}

/**
 * Sets the link up, after removing what a crashed run may have left. On
 * failure, what was done is undone and the message names the step. Create
 * the farm's table first: from the moment the VIP is up this node receives
 * every client's packets, and without the table its stack would answer the
 * other nodes' connections with resets.
 */
export async function setupFarmLink(spec: FarmLinkSpec, run: IpRunner, sysctl: SysctlIo = procSysctl): Promise<LinkResult> {
  const name = macvlanName(spec.module);
  // A macvlan left by a crashed run on the same interface is kept (with its
  // VIP), so the connections that node still serves do not stall; one on
  // another interface goes.
  const existing = await run(["-o", "link", "show", name]);
  const reuse = existing.ok && existing.stdout.includes(`${name}@${spec.interface}:`);
  if (!reuse) await removeFarmLink(spec, run);
  const changed: SysctlChange[] = [];
  const fail = async (message: string): Promise<LinkResult> => {
    await removeFarmLink(spec, run);
    await restoreSysctls(changed, sysctl);
    return { ok: false, message: `farm ${spec.module}: ${message}` };
  };
  let problem = reuse ? undefined : await ipOk(run, ["link", "add", name, "link", spec.interface, "type", "macvlan", "mode", "private"]);
  if (problem !== undefined) return fail(`cannot create the macvlan ${name} on ${spec.interface}: ${problem}`);
  try {
    await sysctl.write(`net.ipv6.conf.${name}.disable_ipv6`, "1");
  } catch {
    // No IPv6 in this kernel: nothing would be sent anyway.
  }
  problem = await ipOk(run, ["link", "set", name, "address", spec.vmac, "arp", "off"]);
  if (problem !== undefined) return fail(`cannot give ${name} the virtual MAC ${spec.vmac}: ${problem}`);
  problem = await ipOk(run, ["link", "set", name, "up"]);
  if (problem !== undefined) return fail(`cannot bring ${name} up: ${problem}`);
  for (const s of farmSysctls(spec.interface, name)) {
    try {
      const previous = await sysctl.read(s.key);
      if (previous !== s.value) {
        await sysctl.write(s.key, s.value);
        changed.push({ key: s.key, previous });
      }
    } catch (e) {
      return fail(`cannot set ${s.key}=${s.value}: ${why(e)}`);
    }
  }
  const vip = await addVip({ address: spec.vip, interface: "lo" }, run);
  if (!vip.ok) return fail(vip.message);
  return { ok: true, changed };
}

/** Puts back sysctls we changed (newest first). Returns the ones that failed. */
export async function restoreSysctls(changed: readonly SysctlChange[], sysctl: SysctlIo = procSysctl): Promise<string[]> {
  const problems: string[] = [];
  for (const c of [...changed].reverse()) {
    try {
      await sysctl.write(c.key, c.previous);
    } catch (e) {
      // The macvlan's own keys vanish with it.
      if (!c.key.includes(".vf")) problems.push(`cannot restore ${c.key}=${c.previous}: ${why(e)}`);
    }
  }
  return problems;
}
