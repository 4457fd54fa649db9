/**
 * The farm's OS side, without touching the OS: nft text, ARP frames, counters,
 * /proc/net/tcp, link setup against a fake `ip` and fake sysctls.
 */
import { describe, expect, it } from "vitest";
import { parseMac } from "../../src/sys/garp.ts";
import { ArpFrameError, buildArpReply, buildFarmGarp, parseArpRequest, wantsAnswer } from "../../src/sys/farm/arp-frame.ts";
import { countEstablished, procNetAddress } from "../../src/sys/farm/connections.ts";
import { parseFarmCounters } from "../../src/sys/farm/counters.ts";
import { exitGuardScript } from "../../src/sys/farm/exit-guard.ts";
import { macvlanName, removeFarmLink, setupFarmLink, type SysctlIo } from "../../src/sys/farm/link.ts";
import { farmFlowOps, farmUpdateOps, markKey, parseAcks, setBatch } from "../../src/sys/farm/nft-netlink.ts";
import {
  farmFlowsRuleset,
  farmRenewRuleset,
  farmSetupRuleset,
  farmTableName,
  farmTeardownRuleset,
  farmUpdateRuleset,
  isLapsedFailure,
  ownerPairs,
} from "../../src/sys/farm/ruleset.ts";
import type { IpRunner } from "../../src/sys/ip-command.ts";

const spec = { module: "web", vip: "198.51.100.200", ports: [80, 443], split: "client_ip_port" as const, seed: 0xdeadbeef, leaseMs: 300 };

describe("farm nft text", () => {
  it("removes a leftover and creates the table in one text, seed pinned", () => {
    const text = farmSetupRuleset(spec);
    expect(text.startsWith("table inet vigil_farm_web\ndelete table inet vigil_farm_web\ntable inet vigil_farm_web {")).toBe(true);
    expect(text).toContain("jhash ip saddr . tcp sport mod 256 seed 0xdeadbeef");
    expect(text).toContain("jhash ip saddr . udp sport mod 256 seed 0xdeadbeef");
    expect(text).toContain("ct state established,related counter accept");
    // The established rule comes before the mid-stream drop and the bucket test.
    expect(text.indexOf("established,related")).toBeLessThan(text.indexOf("!= syn"));
    expect(text.indexOf("!= syn")).toBeLessThan(text.indexOf("@mine"));
  });

  it("client_ip hashes the address alone", () => {
    const text = farmSetupRuleset({ ...spec, split: "client_ip", ports: [8080] });
    expect(text).toContain("ip daddr 198.51.100.200 tcp dport 8080 meta mark set jhash ip saddr mod 256 seed 0xdeadbeef");
    expect(text).not.toContain("sport mod");
  });

  it("new clients need the lease; established connections do not", () => {
    const text = farmSetupRuleset(spec);
    expect(text).toContain("set lease { type ipv4_addr; flags timeout; elements = { 198.51.100.200 timeout 300ms } }");
    expect(text).toContain('meta mark @mine ip daddr @lease counter accept comment "new-mine"');
    expect(text).toContain('meta mark @mine ip daddr @lease counter accept comment "udp-mine"');
    expect(text).toContain('ip daddr @arp_owner ip daddr @lease counter accept comment "unsplit-mine"');
    expect(text).not.toMatch(/established,related.*@lease/);
  });

  it("counts every bucket's new connections, after the hash and before the accept", () => {
    const text = farmSetupRuleset(spec);
    expect(text).toContain("  counter syn_0 { }\n");
    expect(text).toContain("  counter syn_255 { }\n");
    expect(text).toContain('map syns { type mark : counter; elements = { 0 : "syn_0", 1 : "syn_1",');
    const count = text.indexOf("counter name meta mark map @syns");
    expect(count).toBeGreaterThan(text.indexOf("meta mark set jhash ip saddr . tcp sport"));
    expect(count).toBeLessThan(text.indexOf('comment "new-mine"'));
  });

  it("an update replaces both sets and renews the lease only if it still runs, holding buckets or not; the write after a lapse re-arms it", () => {
    const renew = "delete element inet vigil_farm_web lease { 198.51.100.200 }\nadd element inet vigil_farm_web lease { 198.51.100.200 timeout 300ms }\n";
    expect(farmUpdateRuleset("web", spec.vip, [3, 4, 200], true, 300)).toBe(
      `${renew}flush set inet vigil_farm_web mine\nadd element inet vigil_farm_web mine { 3, 4, 200 }\nflush set inet vigil_farm_web arp_owner\nadd element inet vigil_farm_web arp_owner { 198.51.100.200 }\n`,
    );
    expect(farmUpdateRuleset("web", spec.vip, [], true, 300).startsWith(renew)).toBe(true);
    expect(farmUpdateRuleset("web", spec.vip, [], false, 300)).toBe(`${renew}flush set inet vigil_farm_web mine\nflush set inet vigil_farm_web arp_owner\n`);
    expect(farmUpdateRuleset("web", spec.vip, [], false, 300, true)).toBe(
      "flush set inet vigil_farm_web lease\nadd element inet vigil_farm_web lease { 198.51.100.200 timeout 300ms }\nflush set inet vigil_farm_web mine\nflush set inet vigil_farm_web arp_owner\n",
    );
    expect(() => farmUpdateRuleset("web", spec.vip, [1], false, 300, true)).toThrow(/only a write that holds nothing/);
    expect(farmRenewRuleset("web", spec.vip, 300)).toBe(renew);
    expect(isLapsedFailure("nft failed (exit 1): /dev/stdin:1:46-59: Error: Could not process rule: No such file or directory")).toBe(true);
    expect(isLapsedFailure("nft failed (exit 1): /dev/stdin:3:1-9: Error: Could not process rule: No such file or directory")).toBe(false);
    expect(() => farmUpdateRuleset("web", spec.vip, [256], false, 300)).toThrow(/bucket 256/);
    expect(() => farmUpdateRuleset("web", spec.vip, [1], false, 0)).toThrow(/lease/);
    expect(farmTeardownRuleset("web")).toBe("table inet vigil_farm_web\ndelete table inet vigil_farm_web\n");
  });

  it("UDP: a recorded flow goes to its node (ours while the lease runs, a live peer's dropped) before the bucket decides", () => {
    const text = farmSetupRuleset(spec);
    const udp = "ip daddr 198.51.100.200 udp dport { 80, 443 }";
    const flow = "ip saddr . udp sport . udp dport";
    expect(text).toContain("map flows { type ipv4_addr . inet_service . inet_service : mark; flags dynamic,timeout; timeout 120s; size 65536; }");
    const order = [
      `${udp} meta mark set 0x0`,
      `${udp} meta mark set ${flow} map @flows`,
      `${udp} meta mark 0x00010000 ip daddr @lease update @flows { ${flow} : meta mark } counter accept comment "udp-flow-mine"`,
      `${udp} meta mark @live update @flows { ${flow} : meta mark } counter drop comment "udp-flow-others"`,
      `${udp} meta mark set jhash ip saddr . udp sport mod 256 seed 0xdeadbeef`,
      `${udp} meta mark @mine ip daddr @lease delete @flows { ${flow} : meta mark } add @flows { ${flow} : 0x00010000 }`,
      `${udp} meta mark @mine ip daddr @lease counter accept comment "udp-mine"`,
      `${udp} meta mark set meta mark map @owner delete @flows { ${flow} : meta mark } add @flows { ${flow} : meta mark }`,
      `${udp} counter drop comment "udp-others"`,
    ].map((l) => text.indexOf(`    ${l}\n`));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("UDP flow owners: the owner map and live set replaced in one text, the memory emptied first when asked", () => {
    const owners = Array.from({ length: 256 }, (_, b) => (b === 3 ? 2 : b === 7 ? 32 : 0));
    expect(farmFlowsRuleset("web", owners, [2, 3])).toBe(
      "flush map inet vigil_farm_web owner\nadd element inet vigil_farm_web owner { 3 : 2, 7 : 32 }\nflush set inet vigil_farm_web live\nadd element inet vigil_farm_web live { 2, 3 }\n",
    );
    expect(farmFlowsRuleset("web", new Array<number>(256).fill(0), [], true)).toBe("flush map inet vigil_farm_web flows\nflush map inet vigil_farm_web owner\nflush set inet vigil_farm_web live\n");
    expect(() => ownerPairs("web", [1, 2])).toThrow("2 flow owners, want 256");
    expect(() => farmFlowsRuleset("web", owners, [65536])).toThrow("flow owner 65536 is not a peer value 1-65535");
    expect(() => ownerPairs("web", new Array<number>(256).fill(-1))).toThrow("flow owner -1");
  });

  it("names tables safely and distinctly", () => {
    expect(farmTableName("web_1")).toBe("vigil_farm_web_1");
    const a = farmTableName("web-1");
    const b = farmTableName("web.1");
    expect(a).toMatch(/^vigil_farm_web_1_[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(macvlanName("a-very-long-module-name-indeed").length).toBeLessThanOrEqual(15);
  });

  it("refuses a VIP or ports it cannot write", () => {
    expect(() => farmSetupRuleset({ ...spec, vip: "198.51.100.300" })).toThrow(/not an IPv4/);
    expect(() => farmSetupRuleset({ ...spec, ports: [0] })).toThrow(/1-65535/);
  });
});

describe("farm ARP frames", () => {
  const own = parseMac("02:00:00:00:00:0b")!;
  const vmac = parseMac("02:aa:bb:cc:dd:ee")!;
  const client = parseMac("02:00:00:00:00:64")!;
  const request = (() => {
    const f = new Uint8Array(60);
    f.fill(0xff, 0, 6);
    f.set(client, 6);
    f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
    f.set(client, 22);
    f.set([198, 51, 100, 100], 28);
    f.set([198, 51, 100, 200], 38);
    return f;
  })();

  it("answers a request for the VIP with sha = virtual MAC, from our own MAC, to the asker", () => {
    const p = parseArpRequest(request);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(wantsAnswer(p.request, "198.51.100.200", own)).toBe(true);
    expect(wantsAnswer(p.request, "198.51.100.201", own)).toBe(false);
    const r = buildArpReply(p.request, own, vmac, "198.51.100.200");
    expect([...r.slice(0, 6)]).toEqual([...client]);
    expect([...r.slice(6, 12)]).toEqual([...own]);
    expect([...r.slice(20, 22)]).toEqual([0, 2]);
    expect([...r.slice(22, 28)]).toEqual([...vmac]);
    expect([...r.slice(28, 32)]).toEqual([198, 51, 100, 200]);
    expect([...r.slice(32, 38)]).toEqual([...client]);
    expect([...r.slice(38, 42)]).toEqual([198, 51, 100, 100]);
  });

  it("does not answer its own frames or announcements", () => {
    const mine = Uint8Array.from(request);
    mine.set(own, 6);
    const p = parseArpRequest(mine);
    expect(p.ok && wantsAnswer(p.request, "198.51.100.200", own)).toBe(false);
    const garp = buildFarmGarp(own, vmac, "198.51.100.200");
    const g = parseArpRequest(garp);
    expect(g.ok && wantsAnswer(g.request, "198.51.100.200", own)).toBe(false);
    expect([...garp.slice(22, 28)]).toEqual([...vmac]);
  });

  it("rejects anything else with its typed error, never a throw", () => {
    let state = 12345;
    for (let i = 0; i < 2000; i++) {
      const len = i % 80;
      const f = new Uint8Array(len);
      for (let j = 0; j < len; j++) {
        state = (state * 1103515245 + 12345) >>> 0;
        f[j] = state >>> 24;
      }
      if (i % 3 === 0 && len >= 22) f.set(request.slice(12, 22), 12);
      const p = parseArpRequest(f);
      if (!p.ok) expect(p.error).toBeInstanceOf(ArpFrameError);
    }
    expect(parseArpRequest(new Uint8Array(10))).toMatchObject({ ok: false });
    const reply = Uint8Array.from(request);
    reply[21] = 2;
    const r = parseArpRequest(reply);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain("operation 2");
  });
});

describe("farm counters and connections", () => {
  it("reads counters by rule comment", () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { rule: { comment: "new-mine", expr: [{ match: {} }, { counter: { packets: 17, bytes: 1 } }, { accept: null }] } },
        { rule: { comment: "established", expr: [{ counter: { packets: 400, bytes: 1 } }] } },
        { rule: { expr: [{ counter: { packets: 9, bytes: 1 } }] } },
        { counter: { family: "inet", name: "syn_0", table: "vigil_farm_web", handle: 4, packets: 5, bytes: 300 } },
        { counter: { family: "inet", name: "syn_255", table: "vigil_farm_web", handle: 259, packets: 2, bytes: 120 } },
      ],
    });
    const r = parseFarmCounters(json);
    expect(r).toMatchObject({ ok: true, counters: { connections: 17, establishedPackets: 400, othersConnections: 0 } });
    if (r.ok) expect([r.counters.bucketSyns.length, r.counters.bucketSyns[0], r.counters.bucketSyns[1], r.counters.bucketSyns[255]]).toEqual([256, 5, 0, 2]);
    expect(parseFarmCounters("nope")).toMatchObject({ ok: false });
    expect(parseFarmCounters("{}")).toMatchObject({ ok: false });
  });

  it("counts established connections to vip:port in /proc/net/tcp", () => {
    expect(procNetAddress("198.51.100.200")).toBe("C86433C6");
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: C86433C6:0050 646433C6:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 1",
      "   1: C86433C6:0050 656433C6:A1B3 06 00000000:00000000 00:00000000 00000000     0        0 2",
      "   2: C86433C6:01BB 656433C6:A1B4 01 00000000:00000000 00:00000000 00000000     0        0 3",
      "   3: 0B6433C6:0050 656433C6:A1B5 01 00000000:00000000 00:00000000 00000000     0        0 4",
      "   4: C86433C6:1F90 656433C6:A1B6 01 00000000:00000000 00:00000000 00000000     0        0 5",
    ].join("\n");
    expect(countEstablished(table, "198.51.100.200", [80, 443])).toBe(2);
  });
});

describe("farm link setup", () => {
  function fakeIp(failOn?: string): { run: IpRunner; calls: string[] } {
    const calls: string[] = [];
    const run: IpRunner = async (args) => {
      const command = `ip ${args.join(" ")}`;
      calls.push(command);
      if (failOn !== undefined && command.includes(failOn)) {
        return { ok: false, kind: "failed", command, exitCode: 2, stdout: "", stderr: "RTNETLINK answers: Operation not permitted", message: `${command}: Operation not permitted` };
      }
      if ((args[0] === "link" && args[1] === "del") || args[1] === "link") {
        return { ok: false, kind: "failed", command, exitCode: 1, stdout: "", stderr: "Cannot find device", message: "Cannot find device" };
      }
      return { ok: true, command, stdout: "", stderr: "" };
    };
    return { run, calls };
  }
  function fakeSysctl(): SysctlIo & { values: Map<string, string> } {
    const values = new Map<string, string>([
      ["net.ipv4.conf.all.arp_ignore", "0"],
      ["net.ipv4.conf.all.arp_announce", "0"],
      ["net.ipv4.conf.all.rp_filter", "2"],
      ["net.ipv4.conf.default.rp_filter", "2"],
      ["net.ipv4.conf.eth0.rp_filter", "2"],
    ]);
    return {
      values,
      read: async (k) => values.get(k) ?? "0",
      write: async (k, v) => {
        values.set(k, v);
      },
    };
  }
  const linkSpec = { module: "web", interface: "eth0", vip: "198.51.100.200", vmac: "02:aa:bb:cc:dd:ee" };

  it("creates the macvlan quiet (arp off, no IPv6), sets the sysctls and the VIP on lo", async () => {
    const ip = fakeIp();
    const sys = fakeSysctl();
    const r = await setupFarmLink(linkSpec, ip.run, sys);
    expect(r.ok).toBe(true);
    const name = macvlanName("web");
    expect(ip.calls).toContain(`ip link add ${name} link eth0 type macvlan mode private`);
    expect(ip.calls).toContain(`ip link set ${name} address 02:aa:bb:cc:dd:ee arp off`);
    expect(ip.calls.some((c) => c.startsWith("ip addr replace 198.51.100.200/32 dev lo"))).toBe(true);
    expect(sys.values.get(`net.ipv6.conf.${name}.disable_ipv6`)).toBe("1");
    expect(sys.values.get("net.ipv4.conf.all.arp_ignore")).toBe("1");
    expect(sys.values.get("net.ipv4.conf.all.arp_announce")).toBe("2");
    expect(sys.values.get("net.ipv4.conf.eth0.rp_filter")).toBe("0");
    if (r.ok) expect(r.changed.find((c) => c.key === "net.ipv4.conf.all.arp_ignore")?.previous).toBe("0");
  });

  it("keeps a macvlan a crashed run left on the same interface (its connections keep flowing)", async () => {
    const name = macvlanName("web");
    const calls: string[] = [];
    const run: IpRunner = async (args) => {
      const command = `ip ${args.join(" ")}`;
      calls.push(command);
      const stdout = args[1] === "link" && args[2] === "show" ? `7: ${name}@eth0: <BROADCAST,MULTICAST,NOARP,UP> mtu 1500\n` : "";
      return { ok: true, command, stdout, stderr: "" };
    };
    const r = await setupFarmLink(linkSpec, run, fakeSysctl());
    expect(r.ok).toBe(true);
    expect(calls.some((c) => c.startsWith("ip link del") || c.startsWith("ip link add"))).toBe(false);
    expect(calls).toContain(`ip link set ${name} address 02:aa:bb:cc:dd:ee arp off`);
  });

  it("removes the macvlan again when a signal ended `ip link del` before it finished, and reports nothing once it went", async () => {
    const name = macvlanName("web");
    const calls: string[] = [];
    let deletes = 0;
    const run: IpRunner = async (args) => {
      const command = `ip ${args.join(" ")}`;
      calls.push(command);
      if (args[0] === "link" && args[1] === "del" && deletes++ === 0) {
        return { ok: false, kind: "signalled", command, exitCode: null, stdout: "", stderr: "", message: `${command}: ended by SIGTERM before it finished` };
      }
      return { ok: true, command, stdout: "", stderr: "" };
    };
    expect(await removeFarmLink(linkSpec, run)).toEqual([]);
    expect(calls.filter((c) => c === `ip link del ${name}`)).toHaveLength(2);
  });

  it("undoes what it did and names the step that failed", async () => {
    const ip = fakeIp("address 02:");
    const sys = fakeSysctl();
    const r = await setupFarmLink(linkSpec, ip.run, sys);
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.message).toContain("cannot give");
    expect(ip.calls.filter((c) => c.startsWith("ip link del")).length).toBe(2);
  });

  it("the exit guard empties the table's sets once its pipe closes, and leaves the rules", () => {
    const s = exitGuardScript("web");
    expect(s.split("\n")[0]).toBe("read _ignored");
    expect(s).toContain("flush set inet vigil_farm_web mine");
    expect(s).toContain("flush set inet vigil_farm_web arp_owner");
    expect(s).not.toContain("delete table");
  });
});

describe("farm set updates as nf_tables netlink messages", () => {
  it("frames a batch: begin, one message per operation asking for an ack, end; keys and timeouts where nft puts them", () => {
    const b = setBatch("vigil_farm_web", farmUpdateOps("198.51.100.200", [3, 200], false, 300), 7);
    const v = new DataView(b.buffer);
    const msgs: { type: number; flags: number; seq: number; at: number; len: number }[] = [];
    for (let at = 0; at < b.length; ) {
      const len = v.getUint32(at, true);
      msgs.push({ type: v.getUint16(at + 4, true), flags: v.getUint16(at + 6, true), seq: v.getUint32(at + 8, true), at, len });
      at += (len + 3) & ~3;
    }
    // begin, delete lease, add lease, flush mine, add mine, flush arp_owner, end
    expect(msgs.map((m) => m.type)).toEqual([0x10, 0x0a0e, 0x0a0c, 0x0a0e, 0x0a0c, 0x0a0e, 0x11]);
    expect(msgs.map((m) => m.seq)).toEqual([7, 8, 9, 10, 11, 12, 13]);
    expect(msgs.slice(1, -1).every((m) => (m.flags & 0x5) === 0x5)).toBe(true);
    expect(msgs[2]!.flags & 0x400).toBe(0x400);
    // The batch speaks to nf_tables (res_id 10, big-endian); the messages to family inet.
    expect([b[16], v.getUint16(18)]).toEqual([0, 10]);
    expect(b[msgs[1]!.at + 16]).toBe(1);
    const text = new TextDecoder().decode(b);
    expect(text).toContain("vigil_farm_web\0");
    expect(text).toContain("lease\0");
    const addLease = b.subarray(msgs[2]!.at, msgs[2]!.at + msgs[2]!.len);
    expect(Buffer.from(addLease).includes(Buffer.from([198, 51, 100, 200]))).toBe(true);
    expect(Buffer.from(addLease).includes(Buffer.from([0, 0, 0, 0, 0, 0, 0x01, 0x2c]))).toBe(true);
    const addMine = b.subarray(msgs[4]!.at, msgs[4]!.at + msgs[4]!.len);
    expect(Buffer.from(addMine).includes(Buffer.from(markKey(200)))).toBe(true);
    // Holding nothing, the lease is still renewed only if it runs; the write after a lapse flushes and re-arms it.
    expect(farmUpdateOps("198.51.100.200", [], false, 300)[0]).toMatchObject({ op: "delete", set: "lease" });
    const rearm = setBatch("t", farmUpdateOps("198.51.100.200", [], false, 300, true), 1);
    expect(new DataView(rearm.buffer).getUint16(20 + 4, true)).toBe(0x0a0e);
    expect(farmUpdateOps("198.51.100.200", [], false, 300, true)[0]).toEqual({ op: "flush", set: "lease" });
  });

  it("map elements carry their value after the key (NFTA_SET_ELEM_DATA), one per key", () => {
    const ops = farmFlowOps([[5, 2], [9, 3]], [2], true);
    expect(ops.map((o) => `${o.op} ${o.set}`)).toEqual(["flush flows", "flush owner", "add owner", "flush live", "add live"]);
    const b = setBatch("vigil_farm_web", ops, 1);
    // key 5 then its value 2, each as a nested NFTA_DATA_VALUE: len 8, type 1, 4 bytes.
    const key = [12, 0, 0x01, 0x80, 8, 0, 1, 0, 5, 0, 0, 0];
    const data = [12, 0, 0x02, 0x80, 8, 0, 1, 0, 2, 0, 0, 0];
    expect(Buffer.from(b).includes(Buffer.from([...key, ...data]))).toBe(true);
    expect(() => setBatch("t", [{ op: "add", set: "owner", keys: [markKey(1)], data: [] }], 1)).toThrow("1 keys but 0 values");
  });

  it("reads the kernel's answers: acknowledgements and errors by sequence number, junk ignored", () => {
    const answer = (seq: number, err: number): Uint8Array => {
      const m = new Uint8Array(36);
      const v = new DataView(m.buffer);
      v.setUint32(0, 36, true);
      v.setUint16(4, 2, true);
      v.setUint32(8, seq, true);
      v.setInt32(16, err, true);
      return m;
    };
    const both = new Uint8Array(72);
    both.set(answer(8, 0), 0);
    both.set(answer(9, -2), 36);
    expect([...parseAcks(both)]).toEqual([[9, -2]]);
    expect(parseAcks(new Uint8Array(5)).size).toBe(0);
    const broken = answer(8, -1);
    new DataView(broken.buffer).setUint32(0, 4000, true);
    expect(parseAcks(broken).size).toBe(0);
  });
});
