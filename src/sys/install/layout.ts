/**
 * Where `vigil install` puts things. `root` is an alternate filesystem root
 * (an image being prepared, or a test): every path below is written under it,
 * while the files' contents name the paths as the installed system sees them.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export type InitSystem = "systemd" | "sysv";

export interface InstallOptions {
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
export const UNIT_PATH = "/etc/systemd/system/vigil.service";
export const INIT_SCRIPT_PATH = "/etc/init.d/vigil";

export interface Layout {
  /** As the installed system sees them. */
  binary: string;
  stateDir: string;
  configDir: string;
  unit: string;
  initScript: string;
  /** The same, under root: where this process writes. */
  at(path: string): string;
}

export function layout(o: InstallOptions): Layout {
  return {
    binary: join(o.prefix, "vigil"),
    stateDir: o.stateDir,
    configDir: CONFIG_DIR,
    unit: UNIT_PATH,
    initScript: INIT_SCRIPT_PATH,
    at: (path) => (o.root === "/" ? path : join(o.root, path)),
  };
}

/** The state dir's default is the daemon's (api/state-dirs.ts), which the caller passes. */
export const defaultOptions = (stateDir: string): InstallOptions => ({ root: "/", prefix: DEFAULT_PREFIX, stateDir, init: undefined });

/**
 * systemd when it runs the system (sd_booted(3): /run/systemd/system exists),
 * else SysV when /etc/init.d exists, else undefined: the caller asks for --init.
 */
export function detectInit(l: Layout): InitSystem | undefined {
  if (existsSync(l.at("/run/systemd/system"))) return "systemd";
  if (existsSync(l.at("/etc/init.d"))) return "sysv";
  return undefined;
}
