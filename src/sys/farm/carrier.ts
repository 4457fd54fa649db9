/**
 * Whether an interface has carrier, from sysfs: a farm node whose interface
 * lost it can reach neither clients nor peers (see the farm core's "link"
 * event). A file that cannot be read means no carrier: sysfs refuses to read
 * `carrier` of an interface that is administratively down, and an interface
 * that is gone carries nothing.
 */
import { readFileSync } from "node:fs";

export function hasCarrier(iface: string): boolean {
  if (!/^[^/\0]{1,15}$/.test(iface) || iface === "." || iface === "..") return false;
  try {
    return readFileSync(`/sys/class/net/${iface}/carrier`, "utf8").trim() === "1";
  } catch {
    return false;
  }
}
