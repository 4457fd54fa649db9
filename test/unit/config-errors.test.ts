import { describe, expect, it } from "vitest";
import { formatConfigError } from "../../src/config/errors.ts";
import { parseConfig } from "../../src/config/load.ts";

/** Every problem of `text`, formatted as the CLI prints them. */
function problems(text: string): string[] {
  const r = parseConfig(text, "vigil.yaml");
  if (r.ok) return [];
  return r.errors.map(formatConfigError);
}

const lines = (...l: string[]): string => `${l.join("\n")}\n`;

/** Lines 1-5 of most cases: a valid two-node cluster. */
const HEAD = [
  "cluster:",
  "  name: lab",
  "  nodes:",
  "    - { name: a, addresses: [198.51.100.1] }",
  "    - { name: b, addresses: [198.51.100.2] }",
];

describe("config errors: each names file:line:col, key path, found and expected", () => {
  it("accepts the minimal cluster the cases build on", () => {
    expect(problems(lines(...HEAD))).toEqual([]);
  });

  it("rejects an unknown top-level key", () => {
    expect(problems(lines(...HEAD, "colour: blue"))).toEqual([
      'vigil.yaml:6:1: colour: found unknown key "colour", expected one of cluster, vrrp, modules, web, console, log, witness',
    ]);
  });

  it("rejects an unknown nested key and suggests the close one", () => {
    expect(problems(lines(...HEAD, "  heartbeat:", "    intervall: 200ms"))).toEqual([
      'vigil.yaml:7:5: cluster.heartbeat.intervall: found unknown key "intervall", expected one of preset, interval, warntime, deadtime, initdead, port, links (did you mean "interval"?)',
    ]);
  });

  it("rejects a bad duration", () => {
    expect(problems(lines(...HEAD, "  heartbeat:", "    interval: fast-ish"))).toEqual([
      'vigil.yaml:7:15: cluster.heartbeat.interval: found "fast-ish", expected a duration like 100ms, 2s or 1m',
    ]);
  });

  it("rejects a duration without a unit", () => {
    expect(problems(lines(...HEAD, "  heartbeat: { deadtime: 500 }"))).toEqual([
      "vigil.yaml:6:26: cluster.heartbeat.deadtime: found 500, expected a duration with a unit, like 100ms, 2s or 1m",
    ]);
  });

  it("rejects a bad IPv4 address", () => {
    expect(problems(lines(
      "cluster:",
      "  name: lab",
      "  nodes:",
      "    - name: a",
      "      addresses: [198.51.100.256]",
    ))).toEqual([
      'vigil.yaml:5:19: cluster.nodes[0].addresses[0]: found "198.51.100.256", expected an IPv4 address like 198.51.100.11 (each of the four numbers 0 to 255, without leading zeros)',
    ]);
  });

  it("rejects a CIDR prefix longer than 32", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/33]"))).toEqual([
      'vigil.yaml:10:12: vrrp[0].vips[0]: found "198.51.100.100/33", expected an IPv4 address with a prefix length, like 198.51.100.100/24 (the prefix length after the / is a number from 0 to 32)',
    ]);
  });

  it("rejects a VIP without its prefix length", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: failover, vip: 198.51.100.100 }"))).toEqual([
      'vigil.yaml:7:37: modules[0].vip: found "198.51.100.100", expected an IPv4 address with a prefix length, like 198.51.100.100/24 (the /prefix is missing)',
    ]);
  });

  it("rejects a vrid out of range", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - { name: VI_1, interface: eth0, vrid: 256, vips: [198.51.100.100/24] }"))).toEqual([
      "vigil.yaml:7:42: vrrp[0].vrid: found 256, expected a whole number from 1 to 255",
    ]);
  });

  it("rejects two nodes with one name", () => {
    expect(problems(lines(
      "cluster:",
      "  name: lab",
      "  nodes:",
      "    - { name: a, addresses: [198.51.100.1] }",
      "    - { name: a, addresses: [198.51.100.2] }",
    ))).toEqual([
      'vigil.yaml:5:15: cluster.nodes[1].name: found "a" again (also nodes[0]), expected a name no other node has',
    ]);
  });

  it("rejects an address used by two nodes", () => {
    expect(problems(lines(
      "cluster:",
      "  name: lab",
      "  nodes:",
      "    - { name: a, addresses: [198.51.100.1, 203.0.113.1] }",
      "    - { name: b, addresses: [198.51.100.2, 203.0.113.1] }",
    ))).toEqual([
      'vigil.yaml:5:44: cluster.nodes[1].addresses[1]: found "203.0.113.1", which nodes[0] (a) already has, expected an address no other node or link uses',
    ]);
  });

  it("rejects nodes with unequal address counts (one address per heartbeat link)", () => {
    expect(problems(lines(
      "cluster:",
      "  name: lab",
      "  nodes:",
      "    - { name: a, addresses: [198.51.100.1, 203.0.113.1] }",
      "    - { name: b, addresses: [198.51.100.2] }",
    ))).toEqual([
      "vigil.yaml:5:29: cluster.nodes[1].addresses: found 1 address, expected 2, one per heartbeat link, as nodes[0] (a) has",
    ]);
  });

  it("rejects a deadtime shorter than two intervals", () => {
    expect(problems(lines(...HEAD, "  heartbeat: { interval: 100ms, deadtime: 150ms }"))).toEqual([
      'vigil.yaml:6:43: cluster.heartbeat.deadtime: found "150ms", expected at least 2 x interval = 200ms, so one lost frame is not a death; 5 x interval = 500ms is recommended',
    ]);
  });

  it("rejects a warntime outside (interval, deadtime)", () => {
    expect(problems(lines(...HEAD, "  heartbeat:", "    warntime: 600ms"))).toEqual([
      'vigil.yaml:7:15: cluster.heartbeat.warntime: found "600ms", expected more than interval (100ms) and less than deadtime (500ms)',
    ]);
  });

  it("judges preset timers overridden by an explicit interval", () => {
    expect(problems(lines(...HEAD, "  heartbeat: { preset: fast, interval: 60ms }"))).toEqual([
      'vigil.yaml:6:3: cluster.heartbeat.deadtime: found "100ms" (from preset fast), expected at least 2 x interval = 120ms, so one lost frame is not a death; 5 x interval = 300ms is recommended',
    ]);
  });

  it("rejects a priority map naming an unknown node, and one missing a node", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    priority: { a: 150, c: 100 }", "    vips: [198.51.100.100/24]"))).toEqual([
      "vigil.yaml:10:15: vrrp[0].priority: found no priority for b, expected a priority for every node (a, b), or one number for all",
      'vigil.yaml:10:25: vrrp[0].priority.c: found unknown node "c", expected a node name: a, b',
    ]);
  });

  it("reports a YAML syntax error with its position", () => {
    expect(problems(lines(...HEAD, "web: { listen: 0.0.0.0:9010"))).toEqual([
      "vigil.yaml:7:1: found a YAML syntax error (Flow map in block collection must be sufficiently indented and end with a }), expected valid YAML",
    ]);
  });

  it("reports tabs used for indentation", () => {
    expect(problems(lines("cluster:", "\tname: lab"))).toEqual([
      "vigil.yaml:2:1: found a tab used for indentation, expected spaces for indentation (YAML does not allow tabs there)",
    ]);
  });

  it("rejects a key given twice in one mapping", () => {
    expect(problems(lines(...HEAD, "  heartbeat:", "    interval: 100ms", "    deadtime: 1s", "    interval: 200ms"))).toEqual([
      'vigil.yaml:9:5: cluster.heartbeat.interval: found the key "interval" a second time (first at line 7), expected each key once in a mapping',
    ]);
  });

  it("rejects a value of the wrong type", () => {
    expect(problems(lines("cluster:", "  name: lab", "  nodes: a, b"))).toEqual([
      'vigil.yaml:3:10: cluster.nodes: found "a, b", expected a list of at least one node, like [{ name: vms1, addresses: [198.51.100.11] }]',
    ]);
    expect(problems(lines(...HEAD, "vrrp:", "  - { name: VI_1, interface: eth0, vrid: 51, vips: [198.51.100.100/24], preempt: yes }"))).toEqual([
      'vigil.yaml:7:82: vrrp[0].preempt: found "yes", expected true or false',
    ]);
  });

  it("rejects a missing required key, pointing at the mapping that lacks it", () => {
    expect(problems(lines("cluster:", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }"))).toEqual([
      "vigil.yaml:1:1: cluster.name: found nothing, expected a name of letters, digits, '.', '_' or '-' (up to 63, starting with a letter or digit); the key is required",
    ]);
    expect(problems(lines("web: { listen: 127.0.0.1:9010 }"))).toEqual([
      "vigil.yaml:1:1: cluster: found nothing, expected a mapping (cluster); the key is required",
    ]);
  });

  it("rejects a bad listen address", () => {
    expect(problems(lines(...HEAD, "web:", "  listen: 0.0.0.0"))).toEqual([
      'vigil.yaml:7:11: web.listen: found "0.0.0.0", expected an address and port to listen on like 0.0.0.0:9010 (an IPv4 address, a colon, a port)',
    ]);
    expect(problems(lines(...HEAD, "web:", "  listen: 0.0.0.0:65536"))).toEqual([
      'vigil.yaml:7:11: web.listen: found "0.0.0.0:65536", expected an address and port to listen on like 0.0.0.0:9010 (the port is a number from 0 to 65535)',
    ]);
  });

  it("rejects interface names Linux would refuse", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: enp0s31f6-backbone", "    vrid: 51", "    vips: [198.51.100.100/24]"))).toEqual([
      'vigil.yaml:8:16: vrrp[0].interface: found "enp0s31f6-backbone", expected a network interface name like eth0 (at most 15 characters; this one has 18)',
    ]);
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", '    interface: "eth0:1"', "    vrid: 51", "    vips: [198.51.100.100/24]"))).toEqual([
      'vigil.yaml:8:16: vrrp[0].interface: found "eth0:1", expected a network interface name like eth0 (letters, digits, \'_\', \'.\' and \'-\' only)',
    ]);
  });

  it("rejects interface names that a command would read as an option or as more than one word", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: -batch", "    vrid: 51", "    vips: [198.51.100.100/24]"))).toEqual([
      'vigil.yaml:8:16: vrrp[0].interface: found "-batch", expected a network interface name like eth0 (it must not start with \'-\', which commands read as an option)',
    ]);
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", '    interface: "eth0;id"', "    vrid: 51", "    vips: [198.51.100.100/24]"))).toEqual([
      'vigil.yaml:8:16: vrrp[0].interface: found "eth0;id", expected a network interface name like eth0 (letters, digits, \'_\', \'.\' and \'-\' only)',
    ]);
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: br-lan.100", "    vrid: 51", "    vips: [198.51.100.100/24]"))).toEqual([]);
  });

  it("reports every problem of a file at once, in file order", () => {
    expect(problems(lines(
      "cluster:",
      "  name: lab",
      "  nodes:",
      "    - { name: a, addresses: [198.51.100.1] }",
      "    - { name: a, addresses: [198.51.100.2] }",
      "  heartbeat: { interval: 100ms, deadtime: 100ms }",
      "vrrp:",
      "  - { name: VI_1, interface: eth0, vrid: 0, vips: [198.51.100.100/24] }",
      "web: { listen: nowhere, colour: blue }",
    ))).toEqual([
      'vigil.yaml:5:15: cluster.nodes[1].name: found "a" again (also nodes[0]), expected a name no other node has',
      'vigil.yaml:6:43: cluster.heartbeat.deadtime: found "100ms", expected at least 2 x interval = 200ms, so one lost frame is not a death; 5 x interval = 500ms is recommended',
      "vigil.yaml:8:42: vrrp[0].vrid: found 0, expected a whole number from 1 to 255",
      'vigil.yaml:9:16: web.listen: found "nowhere", expected an address and port to listen on like 0.0.0.0:9010 (an IPv4 address, a colon, a port)',
      'vigil.yaml:9:25: web.colour: found unknown key "colour", expected one of listen',
    ]);
  });

  it("rejects an empty file", () => {
    expect(problems("")).toEqual([
      "vigil.yaml:1:1: found an empty file, expected a mapping of sections: cluster, and optionally vrrp, modules, web, console",
    ]);
    expect(problems("# nothing but a comment\n")).toHaveLength(1);
  });

  it("rejects a file that is not a mapping", () => {
    expect(problems(lines("- cluster", "- web"))).toEqual([
      "vigil.yaml:1:1: found a list, expected a mapping of sections: cluster, and optionally vrrp, modules, web, console",
    ]);
    expect(problems("just words\n")).toEqual([
      'vigil.yaml:1:1: found the single value "just words", expected a mapping of sections: cluster, and optionally vrrp, modules, web, console',
    ]);
  });

  it("rejects an unknown module type", () => {
    expect(problems(lines(...HEAD, "modules:", "  - name: m", "    type: cluster"))).toEqual([
      'vigil.yaml:8:11: modules[0].type: found "cluster", expected one of failover, mirror, farm',
    ]);
  });

  it("says when a key belongs to another kind of module", () => {
    expect(problems(lines(...HEAD, "modules:", "  - name: m", "    type: mirror", "    replicate: [/srv]", "    split: client_ip"))).toEqual([
      'vigil.yaml:10:5: modules[0].split: found unknown key "split", expected one of type, name, vip, vips, interface, start, stop, start_timeout, stop_timeout, checkers, notify, webhook, failback, failback_delay, prefer, resources, replicate, port, resync_rate, mode, ack_timeout, async_queue, exclude (a mirror module has no split)',
    ]);
  });

  it("rejects sub-second adverts on VRRPv2 and authentication on VRRPv3", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    version: 2", "    advert_int: 100ms", "    vips: [198.51.100.100/24]"))).toEqual([
      'vigil.yaml:11:17: vrrp[0].advert_int: found "100ms", expected whole seconds from 1s to 255s (VRRPv2), or version: 3 for sub-second adverts',
    ]);
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/24]", "    authentication: { auth_type: PASS, auth_pass: secret }"))).toEqual([
      "vigil.yaml:11:5: vrrp[0].authentication: found authentication on a version 3 instance, expected no authentication (VRRPv3 has none), or version: 2",
    ]);
  });

  it("rejects a vrid used twice on one interface, but not on two", () => {
    const vrrp = (secondIf: string) => lines(
      ...HEAD,
      "vrrp:",
      "  - { name: VI_1, interface: eth0, vrid: 51, vips: [198.51.100.100/24] }",
      `  - { name: VI_2, interface: ${secondIf}, vrid: 51, vips: [198.51.100.101/24] }`,
    );
    expect(problems(vrrp("eth0"))).toEqual([
      "vigil.yaml:8:42: vrrp[1].vrid: found 51 on eth0 again (also vrrp[0] (VI_1)), expected a vrid no other instance uses on this interface",
    ]);
    expect(problems(vrrp("eth1"))).toEqual([]);
  });

  it("rejects a farm without a VIP and a module with both vip and vips", () => {
    expect(problems(lines(...HEAD, "modules:", "  - name: web", "    type: farm", "    ports: [80]"))).toEqual([
      "vigil.yaml:7:5: modules[0].vip: found nothing, expected a virtual address like 198.51.100.200/24 (every node of a farm holds the VIP; or use vips)",
    ]);
    expect(problems(lines(...HEAD, "modules:", "  - name: m", "    type: failover", "    vip: 198.51.100.100/24", "    vips: [198.51.100.101/24]"))).toEqual([
      "vigil.yaml:10:5: modules[0].vips: found both vip and vips, expected either vip (one address) or vips (a list)",
    ]);
  });

  it("rejects replicated folders inside one another", () => {
    expect(problems(lines(
      ...HEAD, "modules:",
      "  - { name: m, type: mirror, replicate: [/var/lib/vms/] }",
      "  - { name: n, type: mirror, replicate: [/var/lib/vms/db], port: 7697 }",
    ))).toEqual([
      'vigil.yaml:8:42: modules[1].replicate[0]: found "/var/lib/vms/db", which overlaps "/var/lib/vms" of modules[0] (m), expected folders that are not inside one another (each file is mirrored by one folder of one module)',
    ]);
  });

  it("takes several folders per mirror module, a replication port per folder", () => {
    expect(problems(lines(...HEAD, "modules:", "  - name: m", "    type: mirror", "    replicate: [/srv/a, /srv/b]"))).toEqual([]);
    expect(problems(lines(
      ...HEAD, "modules:",
      "  - { name: m, type: mirror, replicate: [/srv/a] }",
      "  - { name: n, type: mirror, replicate: [/srv/b] }",
    ))).toEqual([
      'vigil.yaml:8:22: modules[1].type: found 7696 again (also modules[0] (m)), expected a replication port no other mirror module uses (a module uses one per folder from its port on; set port: on one of them)',
    ]);
    // The second folder of m takes 7697, which n asks for too.
    expect(problems(lines(
      ...HEAD, "modules:",
      "  - { name: m, type: mirror, replicate: [/srv/a, /srv/c] }",
      "  - { name: n, type: mirror, replicate: [/srv/b], port: 7697 }",
    ))).toEqual([
      'vigil.yaml:8:57: modules[1].port: found 7697 again (also modules[0] (m)), expected a replication port no other mirror module uses (a module uses one per folder from its port on; set port: on one of them)',
    ]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a, /srv/b], port: 65535 }"))).toEqual([
      'vigil.yaml:7:65: modules[0].port: found port 65535 with 2 folders (one port each, 65535-65536), expected a port low enough for one port per folder (65535 at most)',
    ]);
    expect(problems(lines(
      ...HEAD, "modules:",
      "  - { name: m, type: mirror, replicate: [/srv/a, /srv/a/b] }",
    ))).toEqual([
      'vigil.yaml:7:50: modules[0].replicate[1]: found "/srv/a/b", which overlaps "/srv/a" of modules[0] (m), expected folders that are not inside one another (each file is mirrored by one folder of one module)',
    ]);
  });

  it("takes mode sync or async, and async_queue only with async", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], mode: async, async_queue: 256 }"))).toEqual([]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], async_queue: 256 }"))).toEqual([
      "vigil.yaml:7:64: modules[0].async_queue: found async_queue with mode: sync, expected mode: async as well (in mode sync nothing is acknowledged ahead of the other node, so there is no queue)",
    ]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], mode: asynch }"))).toEqual([
      'vigil.yaml:7:57: modules[0].mode: found "asynch", expected one of sync, async',
    ]);
  });

  it("takes ack_timeout of 0s (no bound) or at least 1s, 30s by default", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], ack_timeout: 10s }"))).toEqual([]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], ack_timeout: 0s }"))).toEqual([]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], ack_timeout: 500ms }"))).toEqual([
      "vigil.yaml:7:64: modules[0].ack_timeout: found 500ms, expected 0s (no bound) or at least 1s (a fsync on a busy disk takes that long; a shorter bound drops a healthy standby)",
    ]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], ack_timeout: 30 }"))).toHaveLength(1);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], ack_timeout: 30 }"))[0]).toMatch(/^vigil\.yaml:7:64: modules\[0\]\.ack_timeout: /);
    const r = parseConfig(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a] }"), "vigil.yaml");
    expect(r.ok && r.config.modules[0]?.type === "mirror" ? r.config.modules[0].ack_timeout : null).toBe(30_000);
  });

  it("rejects a checker or track entry of two kinds, or of none", () => {
    expect(problems(lines(...HEAD, "modules:", "  - name: m", "    type: failover", "    checkers: [{ tcp: 127.0.0.1:80, process: httpd }]"))).toEqual([
      "vigil.yaml:9:37: modules[0].checkers[0].process: found both tcp and process in one entry, expected exactly one of tcp, http, process, pidfile, ping, interface, file, custom or script per entry (make one entry per condition)",
    ]);
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/24]", "    track: [{ weight: -10 }]"))).toEqual([
      "vigil.yaml:11:13: vrrp[0].track[0]: found an entry without process, script, interface or file, expected exactly one of process, script, interface or file",
    ]);
  });

  it("rejects checkers and tracks polled faster than 10ms", () => {
    expect(problems(lines(...HEAD, "modules:", "  - name: m", "    type: failover", "    checkers: [{ process: httpd, interval: 0s, timeout: 5ms }]"))).toEqual([
      'vigil.yaml:9:44: modules[0].checkers[0].interval: found "0s", expected at least 10ms',
      'vigil.yaml:9:57: modules[0].checkers[0].timeout: found "5ms", expected at least 10ms',
    ]);
  });

  it("reports a misspelt kind once, not also as a missing kind", () => {
    expect(problems(lines(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/24]", "    track: [{ proces: node_exporter }]"))).toEqual([
      'vigil.yaml:11:15: vrrp[0].track[0].proces: found unknown key "proces", expected one of process, script, interface, file, weight, interval, timeout, fall, rise (did you mean "process"?)',
    ]);
  });

  it("rejects auto failback without a preferred node, and an unknown preferred node", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: failover, failback: auto }"))).toEqual([
      'vigil.yaml:7:42: modules[0].failback: found "auto" without prefer, expected prefer: NODE as well, naming the node to fail back to (or failback: manual)',
    ]);
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: failover, prefer: c }"))).toEqual([
      'vigil.yaml:7:40: modules[0].prefer: found "c", expected a node name: a, b',
    ]);
  });

  it("names both positions of a duplicate module name and a VIP in two modules", () => {
    expect(problems(lines(
      ...HEAD,
      "modules:",
      "  - { name: m, type: failover, vip: 198.51.100.100/24 }",
      "  - { name: m, type: failover, vip: 198.51.100.100/32 }",
    ))).toEqual([
      'vigil.yaml:8:13: modules[1].name: found "m" again (also modules[0] (m)), expected a name no other module has',
      'vigil.yaml:8:37: modules[1].vip: found "198.51.100.100/32" again (also modules[0] (m)), expected each virtual address in one module only',
    ]);
  });
});
