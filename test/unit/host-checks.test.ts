/**
 * The checks a config needs from the node it runs on, against a made-up
 * host: scripts, interfaces (with a did-you-mean), VIP subnets, the key
 * file's mode; each problem at its file:line:col.
 */
import { describe, expect, it } from "vitest";
import { formatConfigError } from "../../src/config/errors.ts";
import { type FileFacts, type HostFacts, hostProblems, inSubnet } from "../../src/config/host-checks.ts";
import { readYaml } from "../../src/config/yaml-source.ts";

const FILE = "/etc/vigil/vigil.yaml";

function fakeHost(files: Record<string, FileFacts>, promote = true): HostFacts {
  const addresses: Record<string, { address: string; prefixLength: number }[]> = {
    lo: [{ address: "127.0.0.1", prefixLength: 8 }],
    eth0: [{ address: "198.51.100.11", prefixLength: 24 }],
    eth1: [{ address: "203.0.113.11", prefixLength: 24 }],
    bond0: [],
  };
  return {
    interfaceNames: () => Object.keys(addresses),
    addressesOf: (i) => addresses[i] ?? [],
    file: (p) => files[p] ?? { kind: "missing" },
    promoteSecondaries: (i) => (i === "lo" ? undefined : promote),
  };
}

const EXEC: FileFacts = { kind: "file", mode: 0o100755 };

function check(lines: string[], files: Record<string, FileFacts> = {}, promote = true): string[] {
  const source = readYaml(lines.join("\n"), FILE);
  expect(source.problems).toEqual([]);
  return hostProblems(source.data, source, FILE, fakeHost(files, promote)).map((p) => `${p.severity}: ${formatConfigError(p)}`);
}

const CLUSTER = ["cluster:", "  name: c", "  nodes: [{ name: a, addresses: [198.51.100.11] }, { name: b, addresses: [198.51.100.12] }]"];

describe("host checks", () => {
  it("a config that fits the host has no problem", () => {
    expect(check([
      ...CLUSTER,
      "vrrp:",
      "  - { name: VI_1, interface: eth0, vrid: 51, priority: 100, vips: [198.51.100.100/24], notify: ./notify.sh }",
      "modules:",
      "  - { name: m, type: failover, vip: 203.0.113.50/24, start: ./start.sh, stop: /usr/local/bin/stop.sh }",
    ], { "/etc/vigil/notify.sh": EXEC, "/etc/vigil/start.sh": EXEC, "/usr/local/bin/stop.sh": EXEC })).toEqual([]);
  });

  it("names a missing script, a folder and one that is not executable, each where it is written", () => {
    expect(check([
      ...CLUSTER,
      "modules:",
      "  - name: m",
      "    type: failover",
      "    start: ./start.sh",
      "    stop: ./stop.sh",
      "    checkers: [{ custom: /opt/check, on_fail: ignore }]",
      "    resources:",
      "      - { start: ./prep }",
    ], { "/etc/vigil/stop.sh": { kind: "file", mode: 0o100644 }, "/etc/vigil/prep": { kind: "other", what: "a folder" } })).toEqual([
      'error: /etc/vigil/vigil.yaml:7:12: modules[0].start: found "./start.sh" (/etc/vigil/start.sh), which does not exist on this host, expected an executable script',
      'error: /etc/vigil/vigil.yaml:8:11: modules[0].stop: found "./stop.sh" (/etc/vigil/stop.sh), which is not executable (mode 0644), expected an executable script (chmod +x /etc/vigil/stop.sh)',
      'error: /etc/vigil/vigil.yaml:11:18: modules[0].resources[0].start: found "./prep" (/etc/vigil/prep), which is a folder, expected an executable script',
      'error: /etc/vigil/vigil.yaml:9:26: modules[0].checkers[0].custom: found "/opt/check", which does not exist on this host, expected an executable script',
    ]);
  });

  it("a script this user may not look at is left to the daemon", () => {
    expect(check([...CLUSTER, "modules:", "  - { name: m, type: failover, vip: 198.51.100.50/24, start: /root/start.sh }"], { "/root/start.sh": { kind: "hidden", why: "EACCES" } })).toEqual([]);
  });

  it("an interface that does not exist, with a did-you-mean among the host's", () => {
    expect(check([
      ...CLUSTER,
      "vrrp:",
      "  - { name: VI_1, interface: eht0, vrid: 51, priority: 100, vips: [198.51.100.100/24], track: [{ interface: wlan9 }] }",
    ])).toEqual([
      'interface-missing: /etc/vigil/vigil.yaml:5:30: vrrp[0].interface: found interface "eht0", which does not exist on this host, expected an interface of this host (did you mean "eth0"?)',
      'interface-missing: /etc/vigil/vigil.yaml:5:109: vrrp[0].track[0].interface: found interface "wlan9", which does not exist on this host, expected one of this host\'s interfaces: lo, eth0, eth1, bond0',
    ]);
  });

  it("a VIP outside every subnet of its interface warns; a module VIP no interface holds cannot start", () => {
    expect(check([
      ...CLUSTER,
      "vrrp:",
      "  - { name: VI_1, interface: eth1, vrid: 51, priority: 100, vips: [198.51.100.100/24] }",
      "modules:",
      "  - { name: m, type: failover, vip: 192.0.2.50/24 }",
      "  - { name: n, type: failover, interface: bond0, vip: 198.51.100.60/24 }",
      "  - name: o",
      "    type: failover",
      "    resources: [{ vip: 203.0.113.70/24, interface: eth1 }, { vip: 198.51.100.71/24, interface: eth7 }]",
    ])).toEqual([
      "warning: /etc/vigil/vigil.yaml:5:68: vrrp[0].vips[0]: found 198.51.100.100/24, outside every subnet of eth1 (203.0.113.0/24), expected an address inside a subnet of eth1, or a route to it on the clients' side",
      "error: /etc/vigil/vigil.yaml:7:37: modules[0].vip: found 192.0.2.50/24, in no subnet of this host's interfaces, expected a VIP inside the subnet of an interface, or the module's `interface:` set",
      "warning: /etc/vigil/vigil.yaml:8:55: modules[1].vip: found 198.51.100.60/24, outside every subnet of bond0 (no IPv4 address), expected an address inside a subnet of bond0, or a route to it on the clients' side",
      'interface-missing: /etc/vigil/vigil.yaml:11:96: modules[2].resources[1].interface: found interface "eth7", which does not exist on this host, expected an interface of this host (did you mean "eth0"?)',
    ]);
  });

  it("a script saved with Windows line endings cannot start: named with the fix", () => {
    expect(check([
      ...CLUSTER,
      "modules:",
      "  - { name: m, type: failover, start: ./start.sh, stop: ./stop.sh }",
    ], { "/etc/vigil/start.sh": { kind: "file", mode: 0o100755, crlfShebang: true }, "/etc/vigil/stop.sh": EXEC })).toEqual([
      'error: /etc/vigil/vigil.yaml:5:39: modules[0].start: found "./start.sh" (/etc/vigil/start.sh), whose #! line ends with a carriage return (Windows line endings: the kernel looks for an interpreter whose name ends in \\r and the script cannot start), ' +
        "expected a script with Unix line endings (sed -i 's/\\r$//' /etc/vigil/start.sh)",
    ]);
  });

  it("a mirror folder that does not exist, is a file or is something else cannot work; one that exists is fine", () => {
    expect(check([
      ...CLUSTER,
      "modules:",
      "  - { name: m, type: mirror, replicate: [/var/lib/vms, /srv/nope, /srv/file, /srv/dev] }",
    ], { "/var/lib/vms": { kind: "folder" }, "/srv/file": { kind: "file", mode: 0o100644 }, "/srv/dev": { kind: "other", what: "not a regular file" } })).toEqual([
      'error: /etc/vigil/vigil.yaml:5:56: modules[0].replicate[1]: found "/srv/nope", which does not exist on this host, expected an existing folder (mkdir -p /srv/nope on every node, with the owner and mode the service needs)',
      'error: /etc/vigil/vigil.yaml:5:67: modules[0].replicate[2]: found "/srv/file", which is a file, expected a folder to mirror',
      'error: /etc/vigil/vigil.yaml:5:78: modules[0].replicate[3]: found "/srv/dev", which is not a regular file, expected a folder to mirror',
    ]);
  });

  it("a VIP that would be a secondary of the interface's address warns where promote_secondaries is off", () => {
    const config = [
      ...CLUSTER,
      "vrrp:",
      "  - { name: VI_1, interface: eth0, vrid: 51, priority: 100, vips: [198.51.100.100/24, 198.51.100.101/32, 198.51.100.102/25] }",
      "modules:",
      "  - { name: m, type: failover, vip: 203.0.113.50/24 }",
    ];
    expect(check(config, {}, true)).toEqual([]);
    expect(check(config, {}, false)).toEqual([
      "warning: /etc/vigil/vigil.yaml:5:68: vrrp[0].vips[0]: found 198.51.100.100/24, a secondary of eth0's 198.51.100.11/24 while net.ipv4.conf.eth0.promote_secondaries is 0: removing 198.51.100.11 (ip addr del, a DHCP renewal) removes the VIP with it, " +
        "expected promote_secondaries on (sysctl -w net.ipv4.conf.eth0.promote_secondaries=1, and in /etc/sysctl.d/), or the VIP written as /32",
      "warning: /etc/vigil/vigil.yaml:7:37: modules[0].vip: found 203.0.113.50/24, a secondary of eth1's 203.0.113.11/24 while net.ipv4.conf.eth1.promote_secondaries is 0: removing 203.0.113.11 (ip addr del, a DHCP renewal) removes the VIP with it, " +
        "expected promote_secondaries on (sysctl -w net.ipv4.conf.eth1.promote_secondaries=1, and in /etc/sysctl.d/), or the VIP written as /32",
    ]);
  });

  it("subnets: prefix 32 is the address itself, 0 is everything", () => {
    expect(inSubnet("198.51.100.100/24", { address: "198.51.100.1", prefixLength: 24 })).toBe(true);
    expect(inSubnet("198.51.101.100", { address: "198.51.100.1", prefixLength: 24 })).toBe(false);
    expect(inSubnet("198.51.100.1", { address: "198.51.100.1", prefixLength: 32 })).toBe(true);
    expect(inSubnet("198.51.100.2", { address: "198.51.100.1", prefixLength: 32 })).toBe(false);
    expect(inSubnet("192.0.2.1", { address: "10.0.0.1", prefixLength: 0 })).toBe(true);
  });
});

describe("host checks: a witness on this host", () => {
  const withArbiter = (arbiter: string, extra: string[] = []) => [...CLUSTER, `  witness: { arbiter: "${arbiter}" }`, ...extra];
  const EXPECTED = "expected a port no other socket of a node uses: heartbeat port P, P + 1 (its news) and P + 3 (with a farm) in UDP, " +
    "with a witness on the nodes' host its port too; the console and each mirror folder's replication port in TCP";

  it("refuses a witness at an address of this host on the node's news port; takes it on a port of its own, and anywhere on another machine", () => {
    // 203.0.113.11 is eth1's (fakeHost), and no node's address: the pure checks cannot tell it is here.
    expect(check(withArbiter("203.0.113.11:7695"))).toEqual([
      `error: ${FILE}:4:23: cluster.witness.arbiter: found UDP port 7695 for the witness on this host, which the heartbeat's news port (cluster.heartbeat.port 7694 + 1) holds too, ${EXPECTED}`,
    ]);
    expect(check(withArbiter("203.0.113.11:7693"))).toEqual([]);
    expect(check(withArbiter("203.0.113.99:7695"))).toEqual([]);
  });

  it("counts witness.listen's address as the witness's", () => {
    expect(check(withArbiter("192.0.2.10:7000", ["witness: { listen: 203.0.113.11:7694 }"]))).toEqual([
      `error: ${FILE}:5:20: witness.listen: found UDP port 7694 for the witness on this host, which the heartbeat port holds too, ${EXPECTED}`,
    ]);
  });
});
