import { describe, expect, it } from "vitest";
import { fileText, loadConfig, problems, TWO_NODES as HEAD } from "./config-text.ts";

/** A test: its name, then each config text with every problem check-config finds in it, in file order ([] for none). */
type Case = readonly [name: string, ...checks: (readonly [text: string, problems: readonly string[]])[]];

/** VI_1 on eth0 and VI_2, both vrid 51, on `secondIf`. */
const twoInstances = (secondIf: string): string => fileText(
  ...HEAD,
  "vrrp:",
  "  - { name: VI_1, interface: eth0, vrid: 51, vips: [198.51.100.100/24] }",
  `  - { name: VI_2, interface: ${secondIf}, vrid: 51, vips: [198.51.100.101/24] }`,
);

const CASES: readonly Case[] = [
  ["accepts the minimal cluster the cases build on", [fileText(...HEAD), []]],
  ["rejects an unknown top-level key", [fileText(...HEAD, "colour: blue"), [
    'vigil.yaml:6:1: colour: found unknown key "colour", expected one of cluster, vrrp, modules, web, console, log, witness',
  ]]],
  ["rejects an unknown nested key and suggests the close one", [fileText(...HEAD, "  heartbeat:", "    intervall: 200ms"), [
    'vigil.yaml:7:5: cluster.heartbeat.intervall: found unknown key "intervall", expected one of preset, interval, warntime, deadtime, initdead, port, links (did you mean "interval"?)',
  ]]],
  ["rejects a bad duration", [fileText(...HEAD, "  heartbeat:", "    interval: fast-ish"), [
    'vigil.yaml:7:15: cluster.heartbeat.interval: found "fast-ish", expected a duration like 100ms, 2s or 1m',
  ]]],
  ["rejects a duration without a unit", [fileText(...HEAD, "  heartbeat: { deadtime: 500 }"), [
    "vigil.yaml:6:26: cluster.heartbeat.deadtime: found 500, expected a duration with a unit, like 100ms, 2s or 1m",
  ]]],
  ["rejects a bad IPv4 address", [fileText("cluster:", "  name: lab", "  nodes:", "    - name: a", "      addresses: [198.51.100.256]"), [
    'vigil.yaml:5:19: cluster.nodes[0].addresses[0]: found "198.51.100.256", expected an IPv4 address like 198.51.100.11 (each of the four numbers 0 to 255, without leading zeros)',
  ]]],
  ["rejects a CIDR prefix longer than 32", [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/33]"), [
    'vigil.yaml:10:12: vrrp[0].vips[0]: found "198.51.100.100/33", expected an IPv4 address with a prefix length, like 198.51.100.100/24 (the prefix length after the / is a number from 0 to 32)',
  ]]],
  ["rejects a VIP without its prefix length", [fileText(...HEAD, "modules:", "  - { name: m, type: failover, vip: 198.51.100.100 }"), [
    'vigil.yaml:7:37: modules[0].vip: found "198.51.100.100", expected an IPv4 address with a prefix length, like 198.51.100.100/24 (the /prefix is missing)',
  ]]],
  ["rejects a vrid out of range", [fileText(...HEAD, "vrrp:", "  - { name: VI_1, interface: eth0, vrid: 256, vips: [198.51.100.100/24] }"), [
    "vigil.yaml:7:42: vrrp[0].vrid: found 256, expected a whole number from 1 to 255",
  ]]],
  ["rejects two nodes with one name", [fileText("cluster:", "  name: lab", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }", "    - { name: a, addresses: [198.51.100.2] }"), [
    'vigil.yaml:5:15: cluster.nodes[1].name: found "a" again (also nodes[0]), expected a name no other node has',
  ]]],
  ["rejects an address used by two nodes", [fileText("cluster:", "  name: lab", "  nodes:", "    - { name: a, addresses: [198.51.100.1, 203.0.113.1] }", "    - { name: b, addresses: [198.51.100.2, 203.0.113.1] }"), [
    'vigil.yaml:5:44: cluster.nodes[1].addresses[1]: found "203.0.113.1", which nodes[0] (a) already has, expected an address no other node or link uses',
  ]]],
  ["rejects nodes with unequal address counts (one address per heartbeat link)", [fileText("cluster:", "  name: lab", "  nodes:", "    - { name: a, addresses: [198.51.100.1, 203.0.113.1] }", "    - { name: b, addresses: [198.51.100.2] }"), [
    "vigil.yaml:5:29: cluster.nodes[1].addresses: found 1 address, expected 2, one per heartbeat link, as nodes[0] (a) has",
  ]]],
  ["rejects a deadtime shorter than two intervals", [fileText(...HEAD, "  heartbeat: { interval: 100ms, deadtime: 150ms }"), [
    'vigil.yaml:6:43: cluster.heartbeat.deadtime: found "150ms", expected at least 2 x interval = 200ms, so one lost frame is not a death; 5 x interval = 500ms is recommended',
  ]]],
  ["rejects a warntime outside (interval, deadtime)", [fileText(...HEAD, "  heartbeat:", "    warntime: 600ms"), [
    'vigil.yaml:7:15: cluster.heartbeat.warntime: found "600ms", expected more than interval (100ms) and less than deadtime (500ms)',
  ]]],
  ["judges preset timers overridden by an explicit interval", [fileText(...HEAD, "  heartbeat: { preset: fast, interval: 60ms }"), [
    'vigil.yaml:6:3: cluster.heartbeat.deadtime: found "100ms" (from preset fast), expected at least 2 x interval = 120ms, so one lost frame is not a death; 5 x interval = 300ms is recommended',
  ]]],
  ["rejects a priority map naming an unknown node, and one missing a node", [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    priority: { a: 150, c: 100 }", "    vips: [198.51.100.100/24]"), [
    "vigil.yaml:10:15: vrrp[0].priority: found no priority for b, expected a priority for every node (a, b), or one number for all",
    'vigil.yaml:10:25: vrrp[0].priority.c: found unknown node "c", expected a node name: a, b',
  ]]],
  ["reports a YAML syntax error with its position", [fileText(...HEAD, "web: { listen: 0.0.0.0:9010"), [
    "vigil.yaml:7:1: found a YAML syntax error (Flow map in block collection must be sufficiently indented and end with a }), expected valid YAML",
  ]]],
  ["reports tabs used for indentation", [fileText("cluster:", "\tname: lab"), [
    "vigil.yaml:2:1: found a tab used for indentation, expected spaces for indentation (YAML does not allow tabs there)",
  ]]],
  ["rejects a key given twice in one mapping", [fileText(...HEAD, "  heartbeat:", "    interval: 100ms", "    deadtime: 1s", "    interval: 200ms"), [
    'vigil.yaml:9:5: cluster.heartbeat.interval: found the key "interval" a second time (first at line 7), expected each key once in a mapping',
  ]]],
  ["rejects a value of the wrong type", [fileText("cluster:", "  name: lab", "  nodes: a, b"), [
    'vigil.yaml:3:10: cluster.nodes: found "a, b", expected a list of at least one node, like [{ name: vms1, addresses: [198.51.100.11] }]',
  ]], [fileText(...HEAD, "vrrp:", "  - { name: VI_1, interface: eth0, vrid: 51, vips: [198.51.100.100/24], preempt: yes }"), [
    'vigil.yaml:7:82: vrrp[0].preempt: found "yes", expected true or false',
  ]]],
  ["suggests the close value of a module type or of a word from a list", [fileText(...HEAD, "modules:", "  - { name: m, type: mirorr, replicate: [/srv/x] }"), [
    'vigil.yaml:7:22: modules[0].type: found "mirorr", expected one of failover, mirror, farm (did you mean "mirror"?)',
  ]], [fileText(...HEAD, "modules:", "  - { name: m, type: failover, failback: Manual }", "  - { name: n, type: failover, failback: sometimes }"), [
    'vigil.yaml:7:42: modules[0].failback: found "Manual", expected one of auto, manual (did you mean "manual"?)',
    'vigil.yaml:8:42: modules[1].failback: found "sometimes", expected one of auto, manual',
  ]]],
  ["rejects a missing required key, pointing at the mapping that lacks it", [fileText("cluster:", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }"), [
    "vigil.yaml:1:1: cluster.name: found nothing, expected a name of letters, digits, '.', '_' or '-' (up to 63, starting with a letter or digit); the key is required",
  ]], [fileText("web: { listen: 127.0.0.1:9010 }"), [
    "vigil.yaml:1:1: cluster: found nothing, expected a mapping (cluster); the key is required",
  ]]],
  ["rejects a bad listen address", [fileText(...HEAD, "web:", "  listen: 0.0.0.0"), [
    'vigil.yaml:7:11: web.listen: found "0.0.0.0", expected an address and port to listen on like 0.0.0.0:9010 (an IPv4 address, a colon, a port)',
  ]], [fileText(...HEAD, "web:", "  listen: 0.0.0.0:65536"), [
    'vigil.yaml:7:11: web.listen: found "0.0.0.0:65536", expected an address and port to listen on like 0.0.0.0:9010 (the port is a number from 0 to 65535)',
  ]]],
  ["rejects interface names Linux would refuse", [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: enp0s31f6-backbone", "    vrid: 51", "    vips: [198.51.100.100/24]"), [
    'vigil.yaml:8:16: vrrp[0].interface: found "enp0s31f6-backbone", expected a network interface name like eth0 (at most 15 characters; this one has 18)',
  ]], [fileText(...HEAD, "vrrp:", "  - name: VI_1", '    interface: "eth0:1"', "    vrid: 51", "    vips: [198.51.100.100/24]"), [
    'vigil.yaml:8:16: vrrp[0].interface: found "eth0:1", expected a network interface name like eth0 (letters, digits, \'_\', \'.\' and \'-\' only)',
  ]]],
  ["rejects interface names that a command would read as an option or as more than one word", [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: -batch", "    vrid: 51", "    vips: [198.51.100.100/24]"), [
    'vigil.yaml:8:16: vrrp[0].interface: found "-batch", expected a network interface name like eth0 (it must not start with \'-\', which commands read as an option)',
  ]], [fileText(...HEAD, "vrrp:", "  - name: VI_1", '    interface: "eth0;id"', "    vrid: 51", "    vips: [198.51.100.100/24]"), [
    'vigil.yaml:8:16: vrrp[0].interface: found "eth0;id", expected a network interface name like eth0 (letters, digits, \'_\', \'.\' and \'-\' only)',
  ]], [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: br-lan.100", "    vrid: 51", "    vips: [198.51.100.100/24]"), []]],
  ["reports every problem of a file at once, in file order", [fileText(
    "cluster:",
    "  name: lab",
    "  nodes:",
    "    - { name: a, addresses: [198.51.100.1] }",
    "    - { name: a, addresses: [198.51.100.2] }",
    "  heartbeat: { interval: 100ms, deadtime: 100ms }",
    "vrrp:",
    "  - { name: VI_1, interface: eth0, vrid: 0, vips: [198.51.100.100/24] }",
    "web: { listen: nowhere, colour: blue }",
  ), [
    'vigil.yaml:5:15: cluster.nodes[1].name: found "a" again (also nodes[0]), expected a name no other node has',
    'vigil.yaml:6:43: cluster.heartbeat.deadtime: found "100ms", expected at least 2 x interval = 200ms, so one lost frame is not a death; 5 x interval = 500ms is recommended',
    "vigil.yaml:8:42: vrrp[0].vrid: found 0, expected a whole number from 1 to 255",
    'vigil.yaml:9:16: web.listen: found "nowhere", expected an address and port to listen on like 0.0.0.0:9010 (an IPv4 address, a colon, a port)',
    'vigil.yaml:9:25: web.colour: found unknown key "colour", expected one of listen',
  ]]],
  ["rejects an empty file", ["", [
    "vigil.yaml:1:1: found an empty file, expected a mapping of sections: cluster, and optionally vrrp, modules, web, console",
  ]], ["# nothing but a comment\n", [
    "vigil.yaml:1:1: found an empty file, expected a mapping of sections: cluster, and optionally vrrp, modules, web, console",
  ]]],
  ["rejects a file that is not a mapping", [fileText("- cluster", "- web"), [
    "vigil.yaml:1:1: found a list, expected a mapping of sections: cluster, and optionally vrrp, modules, web, console",
  ]], ["just words\n", [
    'vigil.yaml:1:1: found the single value "just words", expected a mapping of sections: cluster, and optionally vrrp, modules, web, console',
  ]]],
  ["rejects an unknown module type", [fileText(...HEAD, "modules:", "  - name: m", "    type: cluster"), [
    'vigil.yaml:8:11: modules[0].type: found "cluster", expected one of failover, mirror, farm',
  ]]],
  ["says when a key belongs to another kind of module", [fileText(...HEAD, "modules:", "  - name: m", "    type: mirror", "    replicate: [/srv]", "    split: client_ip"), [
    'vigil.yaml:10:5: modules[0].split: found unknown key "split", expected one of type, name, vip, vips, interface, start, stop, start_timeout, stop_timeout, checkers, notify, webhook, failback, failback_delay, prefer, resources, replicate, port, resync_rate, mode, ack_timeout, disk_timeout, async_queue, read, exclude (a mirror module has no split)',
  ]]],
  ["rejects sub-second adverts on VRRPv2 and authentication on VRRPv3", [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    version: 2", "    advert_int: 100ms", "    vips: [198.51.100.100/24]"), [
    'vigil.yaml:11:17: vrrp[0].advert_int: found "100ms", expected whole seconds from 1s to 255s (VRRPv2), or version: 3 for sub-second adverts',
  ]], [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/24]", "    authentication: { auth_type: PASS, auth_pass: secret }"), [
    "vigil.yaml:11:5: vrrp[0].authentication: found authentication on a version 3 instance, expected no authentication (VRRPv3 has none), or version: 2",
  ]]],
  ["rejects a vrid used twice on one interface, but not on two", [twoInstances("eth0"), [
    "vigil.yaml:8:42: vrrp[1].vrid: found 51 on eth0 again (also vrrp[0] (VI_1)), expected a vrid no other instance uses on this interface",
  ]], [twoInstances("eth1"), []]],
  ["rejects a farm without a VIP and a module with both vip and vips", [fileText(...HEAD, "modules:", "  - name: web", "    type: farm", "    ports: [80]"), [
    "vigil.yaml:7:5: modules[0].vip: found nothing, expected a virtual address like 198.51.100.200/24 (every node of a farm holds the VIP; or use vips)",
  ]], [fileText(...HEAD, "modules:", "  - name: m", "    type: failover", "    vip: 198.51.100.100/24", "    vips: [198.51.100.101/24]"), [
    "vigil.yaml:10:5: modules[0].vips: found both vip and vips, expected either vip (one address) or vips (a list)",
  ]]],
  ["rejects replicated folders inside one another", [fileText(
    ...HEAD, "modules:",
    "  - { name: m, type: mirror, replicate: [/var/lib/vms/] }",
    "  - { name: n, type: mirror, replicate: [/var/lib/vms/db], port: 7697 }",
  ), [
    'vigil.yaml:8:42: modules[1].replicate[0]: found "/var/lib/vms/db", which overlaps "/var/lib/vms" of modules[0] (m), expected folders that are not inside one another (each file is mirrored by one folder of one module)',
  ]]],
  ["rejects /, a system folder as a whole and the kernel's folders as replicated folders", [fileText(
    ...HEAD, "modules:",
    "  - { name: m, type: mirror, replicate: [/, /var/lib/, /proc/sys, /etc/vms] }",
  ), [
    'vigil.yaml:7:42: modules[0].replicate[0]: found "/", the whole file system (vigil\'s state dir, its binary and the tools it runs would be mirrored and mounted over), expected the service\'s own folder, like /var/lib/vms or /srv/vms',
    'vigil.yaml:7:45: modules[0].replicate[1]: found "/var/lib/", a system folder as a whole (the host\'s own files would be mirrored and mounted over), expected the service\'s own folder, like /var/lib/vms or /srv/vms',
    'vigil.yaml:7:56: modules[0].replicate[2]: found "/proc/sys", a folder the kernel makes up, not files on a disk, expected the service\'s own folder, like /var/lib/vms or /srv/vms',
  ]]],
  ["takes several folders per mirror module, a replication port per folder", [fileText(...HEAD, "modules:", "  - name: m", "    type: mirror", "    replicate: [/srv/a, /srv/b]"), []], [fileText(
    ...HEAD, "modules:",
    "  - { name: m, type: mirror, replicate: [/srv/a] }",
    "  - { name: n, type: mirror, replicate: [/srv/b] }",
  ), [
    'vigil.yaml:8:22: modules[1].type: found 7696 again (also modules[0] (m)), expected a replication port no other mirror module uses (a module uses one per folder from its port on; set port: on one of them)',
  ]], [fileText(
    // The second folder of m takes 7697, which n asks for too.
    ...HEAD, "modules:",
    "  - { name: m, type: mirror, replicate: [/srv/a, /srv/c] }",
    "  - { name: n, type: mirror, replicate: [/srv/b], port: 7697 }",
  ), [
    'vigil.yaml:8:57: modules[1].port: found 7697 again (also modules[0] (m)), expected a replication port no other mirror module uses (a module uses one per folder from its port on; set port: on one of them)',
  ]], [fileText(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a, /srv/b], port: 65535 }"), [
    'vigil.yaml:7:65: modules[0].port: found port 65535 with 2 folders (one port each, 65535-65536), expected a port low enough for one port per folder (65535 at most)',
  ]], [fileText(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a, /srv/a/b] }"), [
    'vigil.yaml:7:50: modules[0].replicate[1]: found "/srv/a/b", which overlaps "/srv/a" of modules[0] (m), expected folders that are not inside one another (each file is mirrored by one folder of one module)',
  ]]],
  ["takes mode sync or async, and async_queue only with async", [fileText(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], mode: async, async_queue: 256 }"), []], [fileText(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], async_queue: 256 }"), [
    "vigil.yaml:7:64: modules[0].async_queue: found async_queue with mode: sync, expected mode: async as well (in mode sync nothing is acknowledged ahead of the other node, so there is no queue)",
  ]], [fileText(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], mode: asynch }"), [
    'vigil.yaml:7:57: modules[0].mode: found "asynch", expected one of sync, async (did you mean "async"?)',
  ]]],
  ["rejects a checker or track entry of two kinds, or of none", [fileText(...HEAD, "modules:", "  - name: m", "    type: failover", "    checkers: [{ tcp: 127.0.0.1:80, process: httpd }]"), [
    "vigil.yaml:9:37: modules[0].checkers[0].process: found both tcp and process in one entry, expected exactly one of tcp, http, process, pidfile, ping, interface, file, custom or script per entry (make one entry per condition)",
  ]], [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/24]", "    track: [{ weight: -10 }]"), [
    "vigil.yaml:11:13: vrrp[0].track[0]: found an entry without process, script, interface or file, expected exactly one of process, script, interface or file",
  ]]],
  ["rejects checkers and tracks polled faster than 10ms", [fileText(...HEAD, "modules:", "  - name: m", "    type: failover", "    checkers: [{ process: httpd, interval: 0s, timeout: 5ms }]"), [
    'vigil.yaml:9:44: modules[0].checkers[0].interval: found "0s", expected at least 10ms',
    'vigil.yaml:9:57: modules[0].checkers[0].timeout: found "5ms", expected at least 10ms',
  ]]],
  ["reports a misspelt kind once, not also as a missing kind", [fileText(...HEAD, "vrrp:", "  - name: VI_1", "    interface: eth0", "    vrid: 51", "    vips: [198.51.100.100/24]", "    track: [{ proces: node_exporter }]"), [
    'vigil.yaml:11:15: vrrp[0].track[0].proces: found unknown key "proces", expected one of process, script, interface, file, weight, interval, timeout, fall, rise (did you mean "process"?)',
  ]]],
  ["rejects auto failback without a preferred node, and an unknown preferred node", [fileText(...HEAD, "modules:", "  - { name: m, type: failover, failback: auto }"), [
    'vigil.yaml:7:42: modules[0].failback: found "auto" without prefer, expected prefer: NODE as well, naming the node to fail back to (or failback: manual)',
  ]], [fileText(...HEAD, "modules:", "  - { name: m, type: failover, prefer: c }"), [
    'vigil.yaml:7:40: modules[0].prefer: found "c", expected a node name: a, b',
  ]]],
  ["names both positions of a duplicate module name and a VIP in two modules", [fileText(
    ...HEAD,
    "modules:",
    "  - { name: m, type: failover, vip: 198.51.100.100/24 }",
    "  - { name: m, type: failover, vip: 198.51.100.100/32 }",
  ), [
    'vigil.yaml:8:13: modules[1].name: found "m" again (also modules[0] (m)), expected a name no other module has',
    'vigil.yaml:8:37: modules[1].vip: found "198.51.100.100/32" again (also modules[0] (m)), expected each virtual address in one module only',
  ]]],
];

describe("config errors: each names file:line:col, key path, found and expected", () => {
  for (const [name, ...checks] of CASES) {
    it(name, () => {
      for (const [text, expected] of checks) expect(problems(text)).toEqual(expected);
    });
  }

  it("takes read: cache (the default) or direct, and says why passthrough is not offered", () => {
    const mirror = (read: string) => fileText(...HEAD, "modules:", `  - { name: m, type: mirror, replicate: [/srv/a]${read} }`);
    const readOf = (text: string) => {
      const m = loadConfig(text).modules[0];
      return m?.type === "mirror" ? m.read : null;
    };
    expect(readOf(mirror(""))).toBe("cache");
    expect(readOf(mirror(", read: direct"))).toBe("direct");
    expect(readOf(mirror(", read: cache"))).toBe("cache");
    const why = "expected cache or direct (passthrough is not offered: a file opened for writing while a reader has it open would fail with EIO, and writes through its shared mappings would not be replicated)";
    expect(problems(mirror(", read: passthrough"))).toEqual([`vigil.yaml:7:57: modules[0].read: found "passthrough", ${why}`]);
    expect(problems(mirror(", read: 1"))).toEqual([`vigil.yaml:7:57: modules[0].read: found 1, ${why}`]);
    expect(problems(fileText(...HEAD, "modules:", "  - { name: m, type: failover, read: direct }"))).toEqual([
      'vigil.yaml:7:32: modules[0].read: found unknown key "read", expected one of type, name, vip, vips, interface, start, stop, start_timeout, stop_timeout, checkers, notify, webhook, failback, failback_delay, prefer, resources (a failover module has no read)',
    ]);
  });

  it("takes ack_timeout of 0s (no bound) or at least 1s, 30s by default", () => {
    const mirror = (ackTimeout: string) => fileText(...HEAD, "modules:", `  - { name: m, type: mirror, replicate: [/srv/a]${ackTimeout} }`);
    expect(problems(mirror(", ack_timeout: 10s"))).toEqual([]);
    expect(problems(mirror(", ack_timeout: 0s"))).toEqual([]);
    expect(problems(mirror(", ack_timeout: 500ms"))).toEqual([
      "vigil.yaml:7:64: modules[0].ack_timeout: found 500ms, expected 0s (no bound) or at least 1s (a fsync on a busy disk takes that long; a shorter bound drops a healthy standby)",
    ]);
    expect(problems(mirror(", ack_timeout: 30"))).toEqual([
      "vigil.yaml:7:64: modules[0].ack_timeout: found 30, expected a duration with a unit, like 100ms, 2s or 1m",
    ]);
    const m = loadConfig(mirror("")).modules[0];
    expect(m?.type === "mirror" ? m.ack_timeout : null).toBe(30_000);
  });

  it("takes disk_timeout of 0s (never) or at least 1s and below ack_timeout, 10s by default", () => {
    const mirror = (extra: string) => fileText(...HEAD, "modules:", `  - { name: m, type: mirror, replicate: [/srv/a]${extra} }`);
    expect(problems(mirror(", disk_timeout: 5s"))).toEqual([]);
    expect(problems(mirror(", disk_timeout: 0s"))).toEqual([]);
    expect(problems(mirror(", ack_timeout: 0s, disk_timeout: 1m"))).toEqual([]);
    expect(problems(mirror(", disk_timeout: 500ms"))).toEqual([
      "vigil.yaml:7:65: modules[0].disk_timeout: found 500ms, expected 0s (never) or at least 1s (a fsync on a busy disk takes that long; a shorter bound detaches a healthy copy)",
    ]);
    const below = "expected a disk_timeout below ack_timeout (the standby must detach its hung disk, and say so, before the primary drops the link to it for the acknowledgements it owes)";
    expect(problems(mirror(", disk_timeout: 30s"))).toEqual([`vigil.yaml:7:65: modules[0].disk_timeout: found 30s with ack_timeout 30s, ${below}`]);
    expect(problems(mirror(", ack_timeout: 2s, disk_timeout: 3s"))).toEqual([`vigil.yaml:7:82: modules[0].disk_timeout: found 3s with ack_timeout 2s, ${below}`]);
    const m = loadConfig(mirror("")).modules[0];
    expect(m?.type === "mirror" ? m.disk_timeout : null).toBe(10_000);
    const set = loadConfig(mirror(", disk_timeout: 4s")).modules[0];
    expect(set?.type === "mirror" ? set.disk_timeout : null).toBe(4_000);
  });
});
