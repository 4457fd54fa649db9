import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatConfigError } from "../../src/config/errors.ts";
import { effectiveConfigYaml, loadConfigFile, parseConfig } from "../../src/config/load.ts";
import { loadConfig, TWO_NODES as CLUSTER } from "./config-text.ts";

const tmp = mkdtempSync(join(tmpdir(), "vigil-config-load-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ok = (text: string, file = "/stick/vigil.yaml") => loadConfig(text, file);

describe("parseConfig", () => {
  it("resolves relative paths against the config file's folder", () => {
    const c = ok([
      ...CLUSTER,
      "  key_file: vigil.key",
      "vrrp:",
      "  - { name: VI_1, interface: eth0, vrid: 1, vips: [198.51.100.100/24], track: [{ script: checks/up.sh }, { file: /run/prio }] }",
      "modules:",
      "  - name: m",
      "    type: failover",
      "    start: ./start.sh",
      "    stop: ../shared/stop.sh",
      "    checkers: [{ script: check.sh, on_fail: failover }]",
      "",
    ].join("\n"), "/media/usb0/vigil.yaml");
    expect(c.cluster.key_file).toBe("/media/usb0/vigil.key");
    expect(c.vrrp[0]?.track).toEqual([
      { script: "/media/usb0/checks/up.sh", weight: 0, interval: 1_000, timeout: 1_000, fall: 1, rise: 1 },
      { file: "/run/prio", weight: 0 },
    ]);
    expect(c.modules[0]).toMatchObject({ start: "/media/usb0/start.sh", stop: "/media/shared/stop.sh" });
    // script: is the older spelling of custom.
    expect(c.modules[0]?.checkers[0]).toEqual({ custom: "/media/usb0/check.sh", interval: 1_000, timeout: 1_000, fall: 3, rise: 1, on_fail: "failover" });
  });

  it("applies defaults: timers from the interval, one priority for all nodes, vip as vips", () => {
    const c = ok([
      ...CLUSTER,
      "  heartbeat: { interval: 40ms }",
      "vrrp: [{ name: VI_1, interface: eth0, vrid: 1, priority: 120, vips: [198.51.100.100/24] }]",
      "modules: [{ name: web, type: farm, vip: 198.51.100.200/24, ports: [80] }]",
      "",
    ].join("\n"));
    expect(c.cluster.heartbeat).toEqual({ interval: 40, warntime: 100, deadtime: 200, initdead: 5_000, port: 7694, links: [{ mode: "unicast" }] });
    expect(c.cluster.witness).toEqual({ ping: [], lease: 3_000, grace: 1_000 });
    expect(c.vrrp[0]).toEqual({
      name: "VI_1", interface: "eth0", vrid: 1, version: 3, advert_int: 1_000, priority: { a: 120, b: 120 },
      vips: ["198.51.100.100/24"], track: [], preempt: true, preempt_delay: 0, unicast_peer: [],
      down_timer_adverts: 3, garp_master_repeat: 5, garp_interval: 0, garp_master_delay: 5_000, garp_master_refresh: 0, accept_mode: true,
      heartbeat_takeover: true, heartbeat_hold: true,
    });
    expect(c.modules[0]).toEqual({
      name: "web", type: "farm", vips: ["198.51.100.200/24"], start_timeout: 60_000, stop_timeout: 60_000, checkers: [], ports: [80], split: "client_ip", weights: {}, drain_timeout: 30_000,
    });
    expect(c.web).toEqual({ listen: "0.0.0.0:9010" });
  });

  it("takes a preset's timers and lets explicit keys override them", () => {
    const c = ok([...CLUSTER, "  heartbeat: { preset: wan, initdead: 30s }", ""].join("\n"));
    expect(c.cluster.heartbeat).toEqual({ preset: "wan", interval: 1_000, warntime: 5_000, deadtime: 10_000, initdead: 30_000, port: 7694, links: [{ mode: "unicast" }] });
  });

  it("keeps a default warntime strictly between interval and deadtime at the 2 x interval limit", () => {
    const c = ok([...CLUSTER, "  heartbeat: { interval: 100ms, deadtime: 200ms }", ""].join("\n"));
    expect(c.cluster.heartbeat.warntime).toBe(150);
  });

  it("prints the effective config with readable durations", () => {
    const yaml = effectiveConfigYaml(ok([...CLUSTER, "  heartbeat: { interval: 1500ms }", ""].join("\n")));
    expect(yaml).toContain("interval: 1.5s\n");
    expect(yaml).toContain("deadtime: 7.5s\n");
    expect(yaml).toContain("initdead: 15s\n");
  });

  it("accepts a file saved with a byte order mark (Windows editors on a USB stick)", () => {
    expect(ok(`\uFEFF${CLUSTER.join("\n")}\n`).cluster.name).toBe("lab");
  });

  it("never throws on mangled input: every result is a config or located errors", () => {
    const base = [
      ...CLUSTER,
      "  heartbeat: { interval: 100ms, deadtime: 500ms }",
      "vrrp: [{ name: VI_1, interface: eth0, vrid: 51, priority: { a: 150, b: 100 }, vips: [198.51.100.100/24], track: [{ process: x }] }]",
      "modules:",
      "  - { name: m, type: mirror, vip: 198.51.100.100/24, replicate: [/srv], checkers: [{ tcp: 127.0.0.1:80 }] }",
      "  - { name: f, type: farm, vips: [198.51.100.200/24], ports: [80, 443] }",
      "web: { listen: 0.0.0.0:9010 }",
      "",
    ].join("\n");
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = "{}[]:,-#&*!|>'\"%@` \n\t0123456789abcxyz./";
    for (let round = 0; round < 600; round++) {
      const chars = [...base];
      for (let edits = 1 + rand(4); edits > 0; edits--) {
        const at = rand(chars.length);
        const op = rand(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rand(alphabet.length)] as string);
        else chars[at] = alphabet[rand(alphabet.length)] as string;
      }
      const r = parseConfig(chars.join(""), "vigil.yaml");
      if (!r.ok) {
        expect(r.errors.length).toBeGreaterThan(0);
        for (const e of r.errors) {
          expect(e.line).toBeGreaterThan(0);
          expect(e.col).toBeGreaterThan(0);
          expect(formatConfigError(e)).not.toMatch(/\n\s+at |undefined|\[object Object\]/);
        }
      }
    }
  });
});

describe("loadConfigFile", () => {
  it("reports a missing file as one error without a position", () => {
    const file = join(tmp, "nope", "vigil.yaml");
    const r = loadConfigFile(file);
    expect(r).toEqual({
      ok: false, file,
      errors: [{ file, line: 0, col: 0, path: "", found: "no such file (ENOENT)", expected: "a readable vigil.yaml" }],
    });
    expect(r.ok ? [] : r.errors.map(formatConfigError)).toEqual([`${file}: found no such file (ENOENT), expected a readable vigil.yaml`]);
  });

  it("reports a directory given as the config", () => {
    const r = loadConfigFile(tmp);
    expect(r.ok ? [] : r.errors.map((e) => e.found)).toEqual(["a directory (EISDIR)"]);
  });

  it("refuses a huge file instead of parsing it", () => {
    const file = join(tmp, "huge.yaml");
    writeFileSync(file, "#".repeat(2 << 20));
    const r = loadConfigFile(file);
    expect(r.ok ? [] : r.errors.map((e) => `${e.found} / ${e.expected}`)).toEqual([`a file of ${2 << 20} bytes / a config of at most 1048576 bytes`]);
  });

  it("reports a missing key file at its key, with the command that makes one", () => {
    const dir = join(tmp, "nokey");
    mkdirSync(dir);
    const file = join(dir, "vigil.yaml");
    writeFileSync(file, [...CLUSTER, "  key_file: vigil.key", ""].join("\n"));
    const r = loadConfigFile(file);
    expect(r.ok ? [] : r.errors.map(formatConfigError)).toEqual([
      `${file}:6:13: cluster.key_file: found key file ${dir}/vigil.key: does not exist ` +
        `(create one with \`vigil keygen ${dir}/vigil.key\`, then copy it to every node), ` +
        "expected the cluster key file",
    ]);
    writeFileSync(join(dir, "vigil.key"), "0123456789abcdefghijklmnopqrstuv");
    expect(loadConfigFile(file).ok).toBe(true);
    writeFileSync(join(dir, "vigil.key"), "short");
    const short = loadConfigFile(file);
    expect(short.ok ? [] : short.errors.map((e) => e.found)).toEqual([`key file ${dir}/vigil.key: holds 5 bytes; a cluster key needs at least 32 random bytes`]);
  });
});
