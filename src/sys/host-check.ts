import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { farmHostChecks } from "./farm/host.ts";
import { preemptionHostCheck } from "./kernel-preemption.ts";
import { realtimeHostCheck } from "./realtime-host.ts";

/**
 * What `vigil doctor` checks on the host: each item names the feature that
 * needs it, so an operator knows what breaks if it is missing.
 */
export interface HostCheck {
  name: string;
  ok: boolean;
  /** Passes, with advice in `detail` (printed as "note", does not fail doctor). */
  note?: boolean;
  detail: string;
  /** The features that need it. */
  neededBy: string;
}

export function findOnPath(cmd: string, path = process.env["PATH"] ?? ""): string | undefined {
  const dirs = [...path.split(delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const full = join(dir, cmd);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // Not here; keep looking.
    }
  }
  return undefined;
}

export function hostChecks(env: { uid: number | undefined; runtime: string }): HostCheck[] {
  const tool = (cmd: string, pkg: string, neededBy: string): HostCheck => {
    const at = findOnPath(cmd);
    return { name: cmd, ok: at !== undefined, detail: at ?? `not found (Debian package ${pkg})`, neededBy };
  };
  return [
    {
      name: "root",
      ok: env.uid === 0,
      detail: env.uid === 0 ? "running as root" : `running as uid ${env.uid ?? "?"}`,
      neededBy: "VIPs, VRRP raw sockets, nftables, FUSE mounts",
    },
    tool("ip", "iproute2", "virtual IPs, VRRP"),
    tool("nft", "nftables", "farm modules, VRRP accept_mode: false"),
    {
      name: "/dev/fuse",
      ok: existsSync("/dev/fuse"),
      detail: existsSync("/dev/fuse") ? "present" : "missing (load the fuse module)",
      neededBy: "mirror modules",
    },
    {
      name: "raw sockets (FFI)",
      ok: env.runtime === "bun",
      detail: env.runtime === "bun" ? "available (vigil binary)" : `not available under ${env.runtime}; use the vigil binary`,
      neededBy: "VRRP, gratuitous ARP, the farm's ARP responder",
    },
    ...farmHostChecks((cmd) => findOnPath(cmd)),
    realtimeHostCheck(),
    preemptionHostCheck(),
  ];
}
