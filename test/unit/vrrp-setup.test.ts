import type { NetworkInterfaceInfo } from "node:os";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatConfigError } from "../../src/config/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import { vrrpSetup } from "../../src/daemon/vrrp/setup.ts";
import type { ScriptRunner } from "../../src/sys/track-script.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-setup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(...vrrp: string[]): VigilConfig {
  const text = [
    "cluster:",
    "  name: lab",
    "  nodes:",
    "    - { name: a, addresses: [198.51.100.11] }",
    "    - { name: b, addresses: [198.51.100.12] }",
    ...(vrrp.length > 0 ? ["vrrp:", ...vrrp] : []),
    "",
  ].join("\n");
  const r = parseConfig(text, join(dir, "vigil.yaml"));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const addr = (address: string, cidr = 24): NetworkInterfaceInfo => ({
  address, netmask: "255.255.255.0", family: "IPv4", mac: "02:00:00:00:00:01", internal: false, cidr: `${address}/${cidr}`,
});

/** Node a's interfaces: eth0 holds its cluster address and a VIP left over, eth1 another subnet. */
const interfaces = () => ({
  lo: [{ ...addr("127.0.0.1", 8), internal: true }],
  eth0: [addr("198.51.100.11"), addr("198.51.100.100", 32)],
  eth1: [addr("203.0.113.11")],
});

const setup = (c: VigilConfig, self = "a", runScript?: ScriptRunner) =>
  vrrpSetup(c, self, new Logger("text", () => {}), new Metrics(), { interfaces, ...(runScript === undefined ? {} : { runScript }) });

const VI = "  - { name: VI_1, interface: eth0, vrid: 51, priority: { a: 150, b: 100 }, vips: [198.51.100.100/24]";

describe("vrrpSetup", () => {
  it("runs nothing without vrrp instances", () => {
    expect(setup(config())).toEqual({ ok: true, options: undefined, why: "no vrrp instances in the config" });
  });

  it("gives the core this node's priority, its cluster address on the interface, and the keepalived defaults", () => {
    const r = setup(config(`${VI}, unicast_peer: [198.51.100.11, 198.51.100.12], advert_int: 200ms }`));
    if (!r.ok || r.options === undefined) throw new Error(JSON.stringify(r));
    const [spec] = r.options.instances;
    expect(spec).toMatchObject({
      interface: "eth0",
      // The same list works on every node: a node never sends to itself.
      unicastPeers: ["198.51.100.12"],
      garp: { repeat: 5, intervalMs: 0, delayMs: 5_000 },
      notify: {},
      probes: [],
      core: {
        name: "VI_1", vrid: 51, priority: 150, version: 3, advertIntCs: 20, preempt: true, preemptDelayMs: 0, acceptMode: true,
        downTimerAdverts: 3, primaryAddress: "198.51.100.11", vips: ["198.51.100.100/24"], auth: { type: "none" }, track: [],
      },
    });
  });

  it("uses the first address of the interface that is not a VIP when the node's address is elsewhere", () => {
    const c = config("  - { name: VI_2, interface: eth1, vrid: 52, priority: 100, vips: [203.0.113.100/24] }");
    const r = setup(c);
    expect(r.ok && r.options?.instances[0]?.core.primaryAddress).toBe("203.0.113.11");
  });

  it("honours unicast_src_ip, and refuses one the interface does not have", () => {
    const good = setup(config(`${VI}, unicast_src_ip: { a: 198.51.100.11 } }`));
    expect(good.ok && good.options?.instances[0]?.core.primaryAddress).toBe("198.51.100.11");
    expect(setup(config(`${VI}, unicast_src_ip: 198.51.100.99 }`))).toEqual({
      ok: false,
      message: "vrrp[0] (VI_1): unicast_src_ip 198.51.100.99 is not an address of eth0 on this node (it has 198.51.100.11, 198.51.100.100)",
    });
  });

  it("leaves an interface that is missing or down to the engine, with a stand-in address and the rule to pick the real one", () => {
    const r = setup(config(`  - { name: VI_9, interface: eth7, vrid: 9, priority: 100, vips: [198.51.100.109/24], unicast_peer: [198.51.100.11, 198.51.100.12] }`));
    if (!r.ok || r.options === undefined) throw new Error(JSON.stringify(r));
    const [spec] = r.options.instances;
    // Nothing is sent from the stand-in: the instance is in FAULT until eth7 is up.
    expect(spec?.core.primaryAddress).toBe("198.51.100.11");
    expect(spec?.unicastPeers).toEqual(["198.51.100.11", "198.51.100.12"]);
    expect(spec?.sourceAddress?.(["198.51.100.109", "192.0.2.7", "198.51.100.11"])).toEqual({ ok: true, address: "198.51.100.11" });
    expect(spec?.sourceAddress?.(["198.51.100.109", "192.0.2.7"])).toEqual({ ok: true, address: "192.0.2.7" });
    expect(spec?.sourceAddress?.(["198.51.100.109"])).toEqual({
      ok: false,
      why: "interface eth7 has no IPv4 address of its own to send adverts from; add one, or set unicast_src_ip",
    });
  });

  it("takes accept_mode (default true, as keepalived without vrrp_strict) and garp_master_refresh from the config", () => {
    const d = setup(config(`${VI} }`));
    expect(d.ok && d.options?.instances[0]).toMatchObject({ core: { acceptMode: true }, garp: { refreshMs: 0 } });
    const r = setup(config(`${VI}, accept_mode: false, garp_master_refresh: 30s }`));
    expect(r.ok && r.options?.instances[0]).toMatchObject({ core: { acceptMode: false }, garp: { refreshMs: 30_000 } });
  });

  it("takes heartbeat_takeover (default true) from the config, and names the key when it is not a boolean", () => {
    const d = setup(config(`${VI} }`));
    expect(d.ok && d.options?.instances[0]).toMatchObject({ core: { heartbeatTakeover: true } });
    const off = setup(config(`${VI}, heartbeat_takeover: false }`));
    expect(off.ok && off.options?.instances[0]).toMatchObject({ core: { heartbeatTakeover: false } });
    const text = [
      "cluster:",
      "  name: lab",
      "  nodes: [{ name: a, addresses: [198.51.100.11] }, { name: b, addresses: [198.51.100.12] }]",
      "vrrp:",
      `${VI}, heartbeat_takeover: sometimes }`,
      "",
    ].join("\n");
    const bad = parseConfig(text, join(dir, "vigil.yaml"));
    expect(!bad.ok && bad.errors.map(formatConfigError)).toEqual([expect.stringMatching(/vigil\.yaml:5:.*vrrp\[0\]\.heartbeat_takeover.*true or false/)]);
  });

  it("on a runtime without bun:ffi, starting VRRP fails with one line saying what is needed, before touching anything", async () => {
    const r = setup(config(`${VI} }`));
    if (!r.ok || r.options === undefined) throw new Error(JSON.stringify(r));
    const engine = new VrrpEngine(r.options);
    await expect(engine.start()).rejects.toThrow(new RegExp(`^VRRP needs the vigil binary \\(bun:ffi\\); Node ${process.versions.node.replaceAll(".", "\\.")} cannot provide it$`));
    await engine.stop();
  });

  it("refuses a unicast_peer list that holds only ourselves", () => {
    expect(setup(config(`${VI}, unicast_peer: [198.51.100.11] }`))).toEqual({
      ok: false,
      message: "vrrp[0] (VI_1): unicast_peer lists only this node's own address 198.51.100.11; list the other routers",
    });
  });

  it("turns VRRPv2 authentication, notify scripts and the sync group into engine options", () => {
    const c = config(
      `${VI}, version: 2, authentication: { auth_type: PASS, auth_pass: s3cret }, notify: n.sh, notify_fault: /f.sh, sync_group: g, garp_interval: 5ms }`,
      "  - { name: VI_2, interface: eth1, vrid: 52, priority: 100, vips: [203.0.113.100/24], sync_group: g }",
    );
    const r = setup(c);
    if (!r.ok || r.options === undefined) throw new Error(JSON.stringify(r));
    expect(r.options.instances[0]).toMatchObject({
      syncGroup: "g",
      notify: { notify: join(dir, "n.sh"), fault: "/f.sh" },
      garp: { intervalMs: 5 },
      core: { version: 2, advertIntCs: 100, auth: { type: "pass", password: "s3cret" } },
    });
    expect(r.options.instances[1]?.syncGroup).toBe("g");
  });

  it("makes one probe per tracked object, feeding the core objects it stands for", async () => {
    const file = join(dir, "prio");
    writeFileSync(file, "3\n");
    const runs: string[] = [];
    const run: ScriptRunner = async (path) => {
      runs.push(path);
      return { ok: false, code: 1, signal: null, timedOut: false, output: "", message: "exited 1: nope" };
    };
    const c = config(
      `${VI}, track: [`,
      "      { process: no-such-process-here, weight: -60 },",
      "      { script: check.sh, weight: -10, fall: 2, interval: 2s },",
      "      { interface: lo, weight: 0 },",
      `      { file: ${file}, weight: 5 },`,
      "      { process: no-such-process-here, weight: -1 } ] }",
    );
    const r = setup(c, "a", run);
    if (!r.ok || r.options === undefined) throw new Error(JSON.stringify(r));
    const [spec] = r.options.instances;
    const probes = spec?.probes ?? [];
    expect(probes.map((p) => [p.name, p.weight, p.intervalMs])).toEqual([
      ["process no-such-process-here", -60, 1_000],
      [`script ${join(dir, "check.sh")}`, -10, 2_000],
      ["interface lo", 0, 1_000],
      [`file ${file}`, 5, 1_000],
      ["process no-such-process-here #2", -1, 1_000],
    ]);
    // The file's amount goes to the core as 17 objects (see track-file.ts); the others as one each.
    expect(spec?.core.track).toHaveLength(4 + 17);
    const signal = new AbortController().signal;
    expect(await probes[0]?.check(signal)).toEqual({ up: false, detail: "not running", health: { "process no-such-process-here": false } });
    // fall 2: one failure is not enough.
    expect(await probes[1]?.check(signal)).toMatchObject({ up: true, detail: "last run exited 1: nope (1 of 2 in a row to change)" });
    expect(await probes[1]?.check(signal)).toMatchObject({ up: false, detail: "last run exited 1: nope" });
    expect(runs).toEqual([join(dir, "check.sh"), join(dir, "check.sh")]);
    expect(await probes[2]?.check(signal)).toMatchObject({ up: true, health: { "interface lo": true } });
    const f = await probes[3]?.check(signal);
    expect(f).toMatchObject({ up: true, detail: "value 3 x weight 5 = 15" });
    expect(f?.health[`file ${file}#+1`]).toBe(true);
    expect(f?.health[`file ${file}#+2`]).toBe(true);
    expect(f?.health[`file ${file}#+4`]).toBe(true);
    expect(f?.health[`file ${file}#+8`]).toBe(true);
    expect(f?.health[`file ${file}#+16`]).toBe(false);
    expect(f?.health[`file ${file}#-1`]).toBe(true);
  });
});
