/**
 * Where `vigil install` puts things. `root` is an alternate filesystem root
 * (an image being prepared, or a test): every path below is written under it,
 * while the files' contents name the paths as the installed system sees them.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export type InitSystem = "systemd" | "sysv";

/** What the service runs: the node daemon (`vigil run`) or the arbiter of a third machine (`vigil witness`). */
export type Role = "node" | "witness";

export interface InstallOptions {
  role: Role;
  /** "/" for the running system. */
  root: string;
  /** The folder the binary goes to (default /usr/local/sbin). */
  prefix: string;
  stateDir: string;
  /** undefined: detect (see detectInit). */
  init: InitSystem | undefined;
}

export const DEFAULT_PREFIX = "/usr/local/sbin";
export const CONFIG_DIR = "/etc/vigil";
/** The service's name: also the unit's and the init script's. */
export const SERVICE_NAME: Record<Role, string> = { node: "vigil", witness: "vigil-witness" };

export interface Layout {
  /** As the installed system sees them. */
  binary: string;
  stateDir: string;
  configDir: string;
  role: Role;
  /** vigil or vigil-witness. */
  service: string;
  unit: string;
  initScript: string;
  /** The other role's unit and init script: their binary is this one too. */
  otherUnit: string;
  otherInitScript: string;
  /** The same, under root: where this process writes. */
  at(path: string): string;
}

export function layout(o: InstallOptions): Layout {
  const service = SERVICE_NAME[o.role];
  const other = SERVICE_NAME[o.role === "node" ? "witness" : "node"];
  return {
    binary: join(o.prefix, "vigil"),
    stateDir: o.stateDir,
    configDir: CONFIG_DIR,
    role: o.role,
    service,
    unit: `/etc/systemd/system/${service}.service`,
    initScript: `/etc/init.d/${service}`,
    otherUnit: `/etc/systemd/system/${other}.service`,
    otherInitScript: `/etc/init.d/${other}`,
    at: (path) => (o.root === "/" ? path : join(o.root, path)),
  };
}

/** The state dir's default is the daemon's (api/state-dirs.ts), which the caller passes. */
export const defaultOptions = (role: Role, stateDir: string): InstallOptions => ({ role, root: "/", prefix: DEFAULT_PREFIX, stateDir, init: undefined });

/**
 * systemd when it runs the system (sd_booted(3): /run/systemd/system exists),
 * else SysV when /etc/init.d exists, else undefined: the caller asks for --init.
 */
export function detectInit(l: Layout): InitSystem | undefined {
  if (existsSync(l.at("/run/systemd/system"))) return "systemd";
  if (existsSync(l.at("/etc/init.d"))) return "sysv";
  return undefined;
}
