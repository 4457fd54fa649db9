import type { NetworkInterfaceInfo } from "node:os";
import { expect, test } from "vitest";
import type { ModuleResource } from "../../src/core/module/types.ts";
import { interfaceForAddress, startResource, stopResource } from "../../src/daemon/module/resources.ts";
import type { RunOptions } from "../../src/sys/run-script.ts";
import { FakeHost, ran } from "./module-engine-harness.ts";

const ctx = { module: "web", node: "a", role: "PRIM", reason: "elected" };

test("the VIP's interface is the one whose subnet holds it; a /32 left by an earlier run counts too", () => {
  const ifs = {
    lo: [{ address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", mac: "", internal: true, cidr: "127.0.0.1/8" }],
    eth0: [{ address: "198.51.100.11", netmask: "255.255.255.0", family: "IPv4", mac: "", internal: false, cidr: "198.51.100.11/24" }],
    eth1: [
      { address: "203.0.113.11", netmask: "255.255.255.0", family: "IPv4", mac: "", internal: false, cidr: "203.0.113.11/24" },
      { address: "192.0.2.50", netmask: "255.255.255.255", family: "IPv4", mac: "", internal: false, cidr: "192.0.2.50/32" },
    ],
  } as const;
  const dict = ifs as unknown as NodeJS.Dict<NetworkInterfaceInfo[]>;
  expect(interfaceForAddress("198.51.100.100/24", dict)).toBe("eth0");
  expect(interfaceForAddress("203.0.113.200", dict)).toBe("eth1");
  expect(interfaceForAddress("192.0.2.50/24", dict)).toBe("eth1");
  expect(interfaceForAddress("192.0.2.51/24", dict)).toBeNull();
});

test("a VIP whose subnet no interface holds fails to start with a message naming it; stopping it is a no-op", async () => {
  const host = new FakeHost();
  host.interfaceFor = () => null;
  const vip: ModuleResource = { kind: "vip", address: "192.0.2.77/24", interface: null };
  const started = await startResource(vip, ctx, { io: host });
  expect(started).toEqual({ ok: false, detail: "VIP 192.0.2.77/24: no interface of this node holds its subnet; set the module's interface" });
  expect((await stopResource(vip, ctx, { io: host })).ok).toBe(true);
  expect(host.effects).toEqual([]);
});

test("services go through systemctl start/stop UNIT with the resource's own timeouts, else the module's", async () => {
  const seen: { args: readonly string[]; timeoutMs: number; role: string | undefined }[] = [];
  const host = new FakeHost();
  host.run = async (command: string, o: RunOptions) => {
    seen.push({ args: [command, ...(o.args ?? [])], timeoutMs: o.timeoutMs, role: o.context?.role });
    return ran(o.args?.[0] === "start");
  };
  const own: ModuleResource = { kind: "service", unit: "vms.service", timeouts: { startMs: 1234, stopMs: 5678 } };
  const plain: ModuleResource = { kind: "service", unit: "db.service" };
  expect(await startResource(own, ctx, { io: host, startTimeoutMs: 99 })).toEqual({ ok: true, detail: "systemctl start vms.service: exited 0" });
  expect(await stopResource(plain, ctx, { io: host, stopTimeoutMs: 4321 })).toEqual({ ok: false, detail: "systemctl stop db.service: exited 1" });
  expect(seen).toEqual([
    { args: ["systemctl", "start", "vms.service"], timeoutMs: 1234, role: "PRIM" },
    { args: ["systemctl", "stop", "db.service"], timeoutMs: 4321, role: "PRIM" },
  ]);
});

test("a script resource without a start (or stop) script succeeds without running anything", async () => {
  const host = new FakeHost();
  const onlyStop: ModuleResource = { kind: "script", start: null, stop: "/srv/stop.sh" };
  expect(await startResource(onlyStop, ctx, { io: host })).toEqual({ ok: true, detail: "no start script" });
  expect(host.effects).toEqual([]);
});
