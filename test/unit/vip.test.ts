import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGarpFrame, formatMac, parseMac, readInterfaceMac, sendGratuitousArp } from "../../src/sys/garp.ts";
import { createIpRunner, type IpRunner, type IpRunResult } from "../../src/sys/ip-command.ts";
import { SIGNALLED_TRIES } from "../../src/sys/helper-child.ts";
import { addVip, listAddresses, parseAddressList, removeVip, resolveVip } from "../../src/sys/vip.ts";
import { hasVip } from "../lab/vip-check.ts";

/** A runner that records every call and answers from a script, like `ip` would. */
function fakeIp(answer: (args: readonly string[]) => Partial<IpRunResult> & { ok: boolean }): IpRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run = (args: readonly string[]): Promise<IpRunResult> => {
    calls.push([...args]);
    const a = answer(args);
    const command = ["ip", ...args].join(" ");
    if (a.ok) return Promise.resolve({ command, stdout: "", stderr: "", ...a } as IpRunResult);
    return Promise.resolve({ kind: "failed", command, exitCode: 2, stdout: "", stderr: "", message: `${command} exited with status 2`, ...a } as IpRunResult);
  };
  return Object.assign(run, { calls });
}

describe("VIP specs", () => {
  it("keeps the prefix the config gave, and takes a bare address as /32", () => {
    const r = resolveVip({ address: "198.51.100.100/24", interface: "eth0" });
    expect(r).toEqual({ ok: true, vip: { address: "198.51.100.100", prefixLength: 24, interface: "eth0", label: undefined } });
    expect(resolveVip({ address: "198.51.100.100", interface: "eth0" })).toMatchObject({ ok: true, vip: { prefixLength: 32 } });
  });

  it("prefixes a short label with the interface name and keeps a full one", () => {
    expect(resolveVip({ address: "198.51.100.100", interface: "eth0", label: "vip" })).toMatchObject({ ok: true, vip: { label: "eth0:vip" } });
    expect(resolveVip({ address: "198.51.100.100", interface: "eth0", label: "eth0:vms" })).toMatchObject({ ok: true, vip: { label: "eth0:vms" } });
  });

  it.each([
    [{ address: "198.51.100.300", interface: "eth0" }, "not an IPv4 address"],
    [{ address: "198.51.100.10/33", interface: "eth0" }, "/33 is more than 32"],
    [{ address: "224.0.0.18", interface: "eth0" }, "unicast address"],
    [{ address: "127.0.0.2", interface: "eth0" }, "unicast address"],
    [{ address: "198.51.100.100", interface: "" }, "interface name is empty"],
    [{ address: "198.51.100.100", interface: "-eth0" }, "characters"],
    [{ address: "198.51.100.100", interface: "eth0 label x" }, "characters"],
    [{ address: "198.51.100.100", interface: "averyveryverylongname" }, "longer than 15"],
    [{ address: "198.51.100.100", interface: "enp0s31f6", label: "vms-primary" }, "15 characters at most"],
  ])("rejects %o naming the VIP, the interface and the problem", async (spec, why) => {
    const r = resolveVip(spec);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.kind).toBe("invalid");
    expect(r.message).toContain(why);
    expect(r.message).toContain(`VIP ${spec.address} on ${spec.interface}`);
    // Nothing reaches `ip` for a spec that cannot be right.
    const run = fakeIp(() => ({ ok: true }));
    expect((await addVip(spec, run)).ok).toBe(false);
    expect((await removeVip(spec, run)).ok).toBe(false);
    expect(run.calls).toEqual([]);
  });
});

describe("addVip", () => {
  it("runs ip addr replace ADDR/PREFIX dev IF label IF:LABEL, with the configured prefix", async () => {
    const run = fakeIp(() => ({ ok: true }));
    const r = await addVip({ address: "198.51.100.100/24", interface: "eth0", label: "vip" }, run);
    expect(r).toEqual({ ok: true, vip: "198.51.100.100/24", interface: "eth0" });
    expect(run.calls).toEqual([["addr", "replace", "198.51.100.100/24", "dev", "eth0", "label", "eth0:vip"]]);
  });

  it("leaves the label out when none is given", async () => {
    const run = fakeIp(() => ({ ok: true }));
    await addVip({ address: "203.0.113.7", interface: "bond0" }, run);
    expect(run.calls).toEqual([["addr", "replace", "203.0.113.7/32", "dev", "bond0"]]);
  });

  it("reports ip's stderr with the VIP and interface when it fails", async () => {
    const stderr = 'Cannot find device "eth9"\n';
    const run = fakeIp(() => ({ ok: false, stderr, exitCode: 1, message: "ip addr replace 198.51.100.100/32 dev eth9 exited with status 1: Cannot find device \"eth9\"" }));
    const r = await addVip({ address: "198.51.100.100", interface: "eth9" }, run);
    expect(r).toMatchObject({ ok: false, kind: "add-failed", vip: "198.51.100.100", interface: "eth9", stderr: 'Cannot find device "eth9"' });
    if (!r.ok) expect(r.message).toBe('cannot add VIP 198.51.100.100 on eth9: ip addr replace 198.51.100.100/32 dev eth9 exited with status 1: Cannot find device "eth9"');
  });

  it("reports a missing ip binary as such", async () => {
    const run = fakeIp(() => ({ ok: false, kind: "not-found", exitCode: null, message: "ip (iproute2) is not installed or not on PATH; managing VIPs needs it" }));
    const r = await addVip({ address: "198.51.100.100", interface: "eth0" }, run);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain("iproute2");
  });
});

describe("removeVip", () => {
  it("runs ip addr del ADDR/PREFIX dev IF, with the prefix it was added with", async () => {
    const run = fakeIp(() => ({ ok: true }));
    const r = await removeVip({ address: "198.51.100.100/24", interface: "eth0", label: "vip" }, run);
    expect(r).toEqual({ ok: true, vip: "198.51.100.100/24", interface: "eth0", alreadyGone: false });
    expect(run.calls).toEqual([["addr", "del", "198.51.100.100/24", "dev", "eth0"]]);
  });

  it.each(["RTNETLINK answers: Cannot assign requested address\n", "Error: ipv4: Address not found.\n"])(
    "treats %j as already done",
    async (stderr) => {
      const run = fakeIp(() => ({ ok: false, stderr }));
      expect(await removeVip({ address: "198.51.100.100", interface: "eth0" }, run)).toEqual({
        ok: true,
        vip: "198.51.100.100",
        interface: "eth0",
        alreadyGone: true,
      });
    },
  );

  it("fails on anything else, naming the VIP, the interface and ip's words", async () => {
    const run = fakeIp(() => ({ ok: false, stderr: 'Cannot find device "eth9"', message: 'ip addr del 198.51.100.100/32 dev eth9 exited with status 1: Cannot find device "eth9"' }));
    const r = await removeVip({ address: "198.51.100.100", interface: "eth9" }, run);
    expect(r).toMatchObject({ ok: false, kind: "remove-failed", interface: "eth9", stderr: 'Cannot find device "eth9"' });
    if (!r.ok) expect(r.message).toMatch(/^cannot remove VIP 198\.51\.100\.100 from eth9: .*Cannot find device "eth9"/);
  });

  it("runs ip again when a signal ended it before it finished (a stop signal sent to the whole cgroup)", async () => {
    let n = 0;
    const run = fakeIp(() => (n++ === 0 ? { ok: false, kind: "signalled", exitCode: null, message: "ended by SIGTERM before it finished" } : { ok: true }));
    expect(await removeVip({ address: "198.51.100.100", interface: "eth0" }, run)).toEqual({ ok: true, vip: "198.51.100.100", interface: "eth0", alreadyGone: false });
    expect(run.calls).toHaveLength(2);
    const always = fakeIp(() => ({ ok: false, kind: "signalled", exitCode: null, message: "ended by SIGTERM before it finished" }));
    expect(await removeVip({ address: "198.51.100.100", interface: "eth0" }, always)).toMatchObject({ ok: false, kind: "remove-failed" });
    expect(always.calls).toHaveLength(SIGNALLED_TRIES);
  });

  it("does not take a timeout for success even if ip's partial stderr looks like one", async () => {
    const run = fakeIp(() => ({ ok: false, kind: "timeout", exitCode: null, stderr: "Address not found", message: "no answer after 5000 ms, killed" }));
    const r = await removeVip({ address: "198.51.100.100", interface: "eth0" }, run);
    expect(r).toMatchObject({ ok: false, kind: "remove-failed" });
  });
});

const IP_JSON = JSON.stringify([
  {
    ifindex: 2,
    ifname: "eth0",
    flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    addr_info: [
      { family: "inet", local: "198.51.100.11", prefixlen: 24, broadcast: "198.51.100.255", scope: "global", label: "eth0" },
      { family: "inet", local: "198.51.100.100", prefixlen: 32, scope: "global", label: "eth0:vip" },
    ],
  },
]);

describe("listing addresses", () => {
  it("parses ip -j -4 addr show", async () => {
    const run = fakeIp(() => ({ ok: true, stdout: IP_JSON }));
    const r = await listAddresses("eth0", run);
    expect(run.calls).toEqual([["-j", "-4", "addr", "show", "dev", "eth0"]]);
    expect(r).toEqual({
      ok: true,
      interface: "eth0",
      addresses: [
        { address: "198.51.100.11", prefixLength: 24, label: "eth0" },
        { address: "198.51.100.100", prefixLength: 32, label: "eth0:vip" },
      ],
    });
  });

  it("tells whether a VIP is present", async () => {
    const run = fakeIp(() => ({ ok: true, stdout: IP_JSON }));
    expect(await hasVip({ address: "198.51.100.100/24", interface: "eth0" }, run)).toEqual({ ok: true, present: true });
    expect(await hasVip({ address: "198.51.100.101", interface: "eth0" }, run)).toEqual({ ok: true, present: false });
  });

  it("an interface without addresses has none", () => {
    expect(parseAddressList('[{"ifindex":3,"ifname":"eth1","addr_info":[]}]', "eth1")).toEqual({ ok: true, addresses: [] });
    expect(parseAddressList("", "eth1")).toEqual({ ok: true, addresses: [] });
  });

  it.each([
    ["Usage: ip address", "not JSON"],
    ['{"ifname":"eth0"}', "not a list"],
    ['[{"ifname":"eth0","addr_info":{}}]', "addr_info of entry 0 is not a list"],
    ['[{"ifname":"eth0","addr_info":[{"family":"inet","prefixlen":24}]}]', 'address 0 of entry 0 has no IPv4 "local"'],
    ["[1]", "entry 0 is not an object"],
  ])("rejects output it does not understand (%j) without throwing", async (stdout, why) => {
    const r = await listAddresses("eth0", fakeIp(() => ({ ok: true, stdout })));
    expect(r).toMatchObject({ ok: false, kind: "list-failed", interface: "eth0" });
    if (!r.ok) expect(r.message).toContain(why);
  });

  it("passes on ip's complaint about a missing device", async () => {
    const r = await listAddresses("eth9", fakeIp(() => ({ ok: false, stderr: 'Device "eth9" does not exist.\n', message: 'ip -j -4 addr show dev eth9 exited with status 1: Device "eth9" does not exist.' })));
    expect(r).toMatchObject({ ok: false, kind: "list-failed", stderr: 'Device "eth9" does not exist.' });
    if (!r.ok) expect(r.message).toContain("cannot list the addresses of eth9");
  });

  it("checks the interface name before running ip", async () => {
    const run = fakeIp(() => ({ ok: true }));
    expect((await listAddresses("eth0; reboot", run)).ok).toBe(false);
    expect(run.calls).toEqual([]);
  });
});

describe("the ip runner", () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-ip-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  };

  it("returns stdout and passes arguments, with -n for a namespace and LC_ALL=C", async () => {
    const bin = script("echo-ip", 'echo "$LC_ALL|$*"');
    const r = await createIpRunner({ binary: bin, netns: "lab1" })(["addr", "show", "dev", "eth0"]);
    expect(r).toMatchObject({ ok: true, stdout: "C|-n lab1 addr show dev eth0\n" });
  });

  it("reports the exit status and stderr of a failed command", async () => {
    const bin = script("fail-ip", 'echo "RTNETLINK answers: File exists" >&2; exit 2');
    const r = await createIpRunner({ binary: bin })(["addr", "add", "198.51.100.1/32", "dev", "eth0"]);
    expect(r).toMatchObject({ ok: false, kind: "failed", exitCode: 2, stderr: "RTNETLINK answers: File exists\n" });
    if (!r.ok) expect(r.message).toBe(`${bin} addr add 198.51.100.1/32 dev eth0 exited with status 2: RTNETLINK answers: File exists`);
  });

  it("names the signal that ended a command before it finished", async () => {
    const bin = script("killed-ip", "kill -TERM $$; sleep 5");
    const r = await createIpRunner({ binary: bin })(["link", "del", "vf0"]);
    expect(r).toMatchObject({ ok: false, kind: "signalled", exitCode: null });
    if (!r.ok) expect(r.message).toBe(`${bin} link del vf0: ended by SIGTERM before it finished`);
  });

  it("kills a command that hangs and says so", async () => {
    const bin = script("hang-ip", "exec sleep 30");
    const r = await createIpRunner({ binary: bin })(["monitor"], { timeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, kind: "timeout", exitCode: null });
    if (!r.ok) expect(r.message).toContain("no answer after 200 ms");
  });

  it("names iproute2 when the binary is missing", async () => {
    const r = await createIpRunner({ binary: join(dir, "no-such-ip") })(["addr"]);
    expect(r).toMatchObject({ ok: false, kind: "not-found" });
    if (!r.ok) expect(r.message).toContain("(iproute2) is not installed");
  });

  it("stops when cancelled", async () => {
    const bin = script("slow-ip", "exec sleep 30");
    const ac = new AbortController();
    const pending = createIpRunner({ binary: bin })(["monitor"], { signal: ac.signal });
    ac.abort();
    expect(await pending).toMatchObject({ ok: false, kind: "aborted" });
  });
});

describe("gratuitous ARP frame", () => {
  it("is an RFC 5227 announcement: broadcast, ARP request, sender = target = VIP", () => {
    const mac = parseMac("02:00:00:00:00:0b");
    expect(mac).toBeDefined();
    if (mac === undefined) return;
    const f = buildGarpFrame(mac, "198.51.100.50");
    const hex = Buffer.from(f).toString("hex");
    expect(f.length).toBe(60);
    expect(hex.slice(0, 28)).toBe("ffffffffffff" + "02000000000b" + "0806");
    expect(hex.slice(28, 84)).toBe("0001" + "0800" + "06" + "04" + "0001" + "02000000000b" + "c6336432" + "000000000000" + "c6336432");
    expect(hex.slice(84)).toBe("00".repeat(18));
  });

  it("parses and formats MAC addresses", () => {
    expect(parseMac("02:00:5E:00:01:33\n")).toEqual(Uint8Array.from([2, 0, 0x5e, 0, 1, 0x33]));
    expect(formatMac(Uint8Array.from([2, 0, 0x5e, 0, 1, 0x33]))).toBe("02:00:5e:00:01:33");
    for (const bad of ["", "02:00:5e:00:01", "02:00:5e:00:01:3g", "0200.5e00.0133"]) expect(parseMac(bad)).toBeUndefined();
  });

  it("reads the MAC from sysfs and names a missing interface or a MAC-less one", () => {
    const sys = mkdtempSync(join(tmpdir(), "vigil-sysnet-"));
    try {
      mkdirSync(join(sys, "eth0"));
      writeFileSync(join(sys, "eth0", "address"), "02:00:00:00:00:0b\n");
      mkdirSync(join(sys, "tun0"));
      writeFileSync(join(sys, "tun0", "address"), "\n");
      expect(readInterfaceMac("eth0", sys)).toEqual({ ok: true, mac: Uint8Array.from([2, 0, 0, 0, 0, 0x0b]) });
      expect(readInterfaceMac("eth9", sys)).toMatchObject({ ok: false, message: expect.stringContaining("interface eth9 does not exist") });
      expect(readInterfaceMac("tun0", sys)).toMatchObject({ ok: false, message: expect.stringContaining("tun0 has no Ethernet address") });
    } finally {
      rmSync(sys, { recursive: true, force: true });
    }
  });

  it("without FFI (this runtime) says what is missing and how to do it with arping", async () => {
    const r = await sendGratuitousArp({ interface: "eth0", address: "198.51.100.50", mac: "02:00:00:00:00:0b" });
    expect(r).toMatchObject({ ok: false, kind: "no-ffi", sent: 0 });
    if (!r.ok) {
      expect(r.message).toContain("gratuitous ARP for 198.51.100.50 on eth0");
      expect(r.message).toMatch(/needs the vigil binary \(bun:ffi\); Node [\d.]+ cannot provide it/);
      expect(r.message).toContain("arping -q -U -c 1 -I eth0 -s 198.51.100.50 198.51.100.50");
    }
  });

  it.each([
    [{ interface: "eth0", address: "198.51.100", mac: "02:00:00:00:00:0b" }, "not IPv4"],
    [{ interface: "eth0", address: "198.51.100.50", mac: "02:00" }, "not a MAC address"],
    [{ interface: "eth0", address: "198.51.100.50", count: 0, mac: "02:00:00:00:00:0b" }, "count must be"],
    [{ interface: "eth0", address: "198.51.100.50", intervalMs: -1, mac: "02:00:00:00:00:0b" }, "intervalMs must be"],
    [{ interface: "eth 0", address: "198.51.100.50" }, "interface name"],
  ])("rejects %o", async (opts, why) => {
    const r = await sendGratuitousArp(opts);
    expect(r).toMatchObject({ ok: false, kind: "invalid", sent: 0 });
    if (!r.ok) expect(r.message).toContain(why);
  });
});
