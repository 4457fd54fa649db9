/**
 * keepalived's track_interface, and the link watch of a VRRP instance's own
 * interface: is the link usable?
 *
 * Read from sysfs (/sys/class/net/IF/operstate and carrier), which the kernel
 * keeps current. Usable means carrier present and an operational state of
 * "up", or "unknown" (drivers that do not report one, such as tun devices).
 * "dormant", "lowerlayerdown", "down" and "notpresent" are not usable.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface LinkReading {
  readonly up: boolean;
  /** What sysfs said, or why it could not be read. */
  readonly operstate: string;
  readonly carrier: boolean;
  /** One line for the log and status: "eth0 up", "eth0 down (operstate lowerlayerdown, no carrier)". */
  readonly detail: string;
}

export interface InterfaceTrackOptions {
  /** Where interfaces are listed; for tests. */
  readonly sysClassNet?: string;
}

function code(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
}

/** The link state of `iface`. Never throws: a missing interface is simply down. */
export function readLink(iface: string, opts: InterfaceTrackOptions = {}): LinkReading {
  const dir = join(opts.sysClassNet ?? "/sys/class/net", iface);
  if (iface === "" || iface.includes("/") || iface === "." || iface === "..") {
    return { up: false, operstate: "invalid", carrier: false, detail: `${JSON.stringify(iface)} is not an interface name` };
  }
  let operstate: string;
  try {
    operstate = readFileSync(join(dir, "operstate"), "utf8").trim();
  } catch (e) {
    const missing = code(e) === "ENOENT";
    return {
      up: false,
      operstate: missing ? "notpresent" : "unreadable",
      carrier: false,
      detail: missing ? `${iface} does not exist` : `${iface}: cannot read ${join(dir, "operstate")}: ${code(e) || String(e)}`,
    };
  }
  let carrier = false;
  try {
    carrier = readFileSync(join(dir, "carrier"), "utf8").trim() === "1";
  } catch {
    // EINVAL while the interface is administratively down: no carrier.
  }
  const up = carrier && (operstate === "up" || operstate === "unknown");
  const detail = up ? `${iface} up` : `${iface} down (operstate ${operstate}${carrier ? "" : ", no carrier"})`;
  return { up, operstate, carrier, detail };
}
