import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readLink } from "../../src/sys/track-interface.ts";

const root = mkdtempSync(join(tmpdir(), "vigil-track-if-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function iface(name: string, operstate: string, carrier?: string): void {
  mkdirSync(join(root, name));
  writeFileSync(join(root, name, "operstate"), `${operstate}\n`);
  // An administratively down interface has a carrier file that cannot be read (EINVAL): no file stands in for it.
  if (carrier !== undefined) writeFileSync(join(root, name, "carrier"), `${carrier}\n`);
}

describe("readLink", () => {
  iface("eth0", "up", "1");
  iface("eth1", "lowerlayerdown", "0");
  iface("eth2", "down");
  iface("tun0", "unknown", "1");
  iface("eth3", "dormant", "1");

  it("is up with a carrier and operstate up or unknown", () => {
    expect(readLink("eth0", { sysClassNet: root })).toEqual({ up: true, operstate: "up", carrier: true, detail: "eth0 up" });
    expect(readLink("tun0", { sysClassNet: root })).toMatchObject({ up: true, operstate: "unknown" });
  });

  it("is down otherwise, and says what sysfs showed", () => {
    expect(readLink("eth1", { sysClassNet: root })).toEqual({
      up: false, operstate: "lowerlayerdown", carrier: false, detail: "eth1 down (operstate lowerlayerdown, no carrier)",
    });
    expect(readLink("eth2", { sysClassNet: root })).toMatchObject({ up: false, detail: "eth2 down (operstate down, no carrier)" });
    expect(readLink("eth3", { sysClassNet: root })).toMatchObject({ up: false, detail: "eth3 down (operstate dormant)" });
  });

  it("treats a missing or invalid interface as down, never throwing", () => {
    expect(readLink("eth9", { sysClassNet: root })).toEqual({ up: false, operstate: "notpresent", carrier: false, detail: "eth9 does not exist" });
    expect(readLink("../etc", { sysClassNet: root })).toMatchObject({ up: false, detail: '"../etc" is not an interface name' });
    expect(readLink("", { sysClassNet: root }).up).toBe(false);
  });

  it("reads the real loopback as up", () => {
    expect(readLink("lo")).toMatchObject({ up: true, carrier: true });
  });
});
