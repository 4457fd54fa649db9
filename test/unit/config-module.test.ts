import { describe, expect, it } from "vitest";
import { effectiveConfigYaml } from "../../src/config/load.ts";
import type { FailoverModule, VigilConfig } from "../../src/config/types.ts";
import { validateModuleConfig } from "../../src/core/module/config.ts";
import { failoverModuleCore, moduleVips } from "../../src/daemon/module/core-config.ts";
import { fileText, loadConfig, problems, TWO_NODES as HEAD } from "./config-text.ts";

const FILE = "/etc/vigil/vigil.yaml";

/** A failover module `m` with these lines after `type: failover` (module lines start at line 9). */
const moduleText = (...lines: string[]): string => fileText(...HEAD, "modules:", "  - name: m", "    type: failover", ...lines.map((l) => `    ${l}`));

const load = (text: string): VigilConfig => loadConfig(text, FILE);

function failover(text: string): FailoverModule {
  const m = load(text).modules[0];
  if (m?.type !== "failover") throw new Error("not a failover module");
  return m;
}

describe("module config: resources", () => {
  it("loads an ordered resources list, filling timeouts from the module", () => {
    const m = failover(moduleText(
      "start_timeout: 2m",
      "resources:",
      "  - { vip: 198.51.100.80/24 }",
      "  - { service: postgresql.service, stop_timeout: 90s }",
      "  - { start: ./app-start.sh, stop: ./app-stop.sh, start_timeout: 10s }",
      "  - { stop: /usr/local/bin/flush-cache }",
    ));
    expect(m.resources).toEqual([
      { vip: "198.51.100.80/24" },
      { service: "postgresql.service", start_timeout: 120_000, stop_timeout: 90_000 },
      { start: "/etc/vigil/app-start.sh", stop: "/etc/vigil/app-stop.sh", start_timeout: 10_000, stop_timeout: 60_000 },
      { stop: "/usr/local/bin/flush-cache", start_timeout: 120_000, stop_timeout: 60_000 },
    ]);
    expect(moduleVips(m)).toEqual(["198.51.100.80/24"]);
  });

  it("derives the core's resources in list order, with their timeouts", () => {
    const c = load(moduleText(
      "interface: eth0",
      "resources:",
      "  - { service: mnt-data.mount }",
      "  - { vip: 198.51.100.80/24 }",
      "  - { vip: 198.51.100.81/24, interface: eth1 }",
      "  - { start: ./app-start.sh }",
    ));
    const m = c.modules[0] as FailoverModule;
    expect(failoverModuleCore(m, c.cluster, "a").resources).toEqual([
      { kind: "service", unit: "mnt-data.mount", timeouts: { startMs: 60_000, stopMs: 60_000 } },
      { kind: "vip", address: "198.51.100.80/24", interface: "eth0" },
      { kind: "vip", address: "198.51.100.81/24", interface: "eth1" },
      { kind: "script", start: "/etc/vigil/app-start.sh", stop: null, timeouts: { startMs: 60_000, stopMs: 60_000 } },
    ]);
  });

  it("keeps the short form: VIPs first, then the scripts with the module's timeouts", () => {
    const c = load(moduleText("vips: [198.51.100.80/24, 198.51.100.81/24]", "start: ./s.sh", "stop: ./t.sh", "stop_timeout: 5s"));
    const m = c.modules[0] as FailoverModule;
    expect(m.resources).toBeUndefined();
    expect(failoverModuleCore(m, c.cluster, "a").resources).toEqual([
      { kind: "vip", address: "198.51.100.80/24", interface: null },
      { kind: "vip", address: "198.51.100.81/24", interface: null },
      { kind: "script", start: "/etc/vigil/s.sh", stop: "/etc/vigil/t.sh", timeouts: { startMs: 60_000, stopMs: 5_000 } },
    ]);
  });

  it("rejects the short form beside resources, mixed or empty entries, misplaced keys and bad unit names", () => {
    expect(problems(moduleText("vip: 198.51.100.50/24", "resources: [{ service: httpd }]"))).toEqual([
      "vigil.yaml:9:5: modules[0].vip: found vip beside resources, expected either resources (every VIP, service and script in start order) or vip/vips/start/stop, not both: move vip into resources",
    ]);
    expect(problems(moduleText("resources: [{ vip: 198.51.100.50/24, service: httpd }]"))).toEqual([
      "vigil.yaml:9:42: modules[0].resources[0].service: found both vip and service in one entry, expected exactly one of vip, service or start/stop scripts per entry (make one entry per condition)",
    ]);
    expect(problems(moduleText("resources: [{ start_timeout: 5s }]"))).toEqual([
      "vigil.yaml:9:17: modules[0].resources[0]: found an entry without vip, service or start/stop, expected exactly one of vip, service or start/stop scripts",
    ]);
    expect(problems(moduleText("resources: [{ vip: 198.51.100.50/24, start_timeout: 5s }, { service: 'bad unit' }, { stop: ./x.sh, interface: eth0 }]"))).toEqual([
      "vigil.yaml:9:42: modules[0].resources[0].start_timeout: found start_timeout on a vip entry, expected start_timeout only on service and script entries (adding an address does not hang)",
      'vigil.yaml:9:74: modules[0].resources[1].service: found "bad unit", expected a systemd unit name like httpd or postgresql.service',
      "vigil.yaml:9:104: modules[0].resources[2].interface: found interface on a script entry, expected interface only on vip entries",
    ]);
    expect(problems(moduleText("resources: [{ nfs: /export }]"))).toEqual([
      'vigil.yaml:9:19: modules[0].resources[0].nfs: found unknown resource kind "nfs", expected one of vip, service, start, stop',
    ]);
  });

  it("needs an interface for a VIP outside every node's subnet, and each VIP in one module or VRRP instance only", () => {
    expect(problems(moduleText("resources: [{ vip: 203.0.113.50/24 }]"))).toEqual([
      'vigil.yaml:9:24: modules[0].resources[0].vip: found "203.0.113.50/24" without an interface, and no node address is in 203.0.113.50/24, expected interface: NAME on the module (or on this vip entry), since the VIP\'s subnet does not show which interface holds it',
    ]);
    expect(problems(moduleText("interface: eth1", "resources: [{ vip: 203.0.113.50/24 }]"))).toEqual([]);
    expect(problems([
      ...HEAD,
      "vrrp: [{ name: VI_1, interface: eth0, vrid: 1, vips: [198.51.100.50/24] }]",
      "modules: [{ name: m, type: failover, resources: [{ vip: 198.51.100.50/24 }] }]",
      "",
    ].join("\n"))).toEqual([
      'vigil.yaml:7:57: modules[0].resources[0].vip: found "198.51.100.50/24", which vrrp[0] (VI_1) holds too, expected an address no VRRP instance holds (two owners would add and remove it against each other)',
    ]);
    expect(problems(fileText(...HEAD, "modules:", "  - { name: m, type: failover, vip: 198.51.100.50/24 }", "  - { name: n, type: failover, resources: [{ vip: 198.51.100.50/24 }] }"))).toEqual([
      'vigil.yaml:8:51: modules[1].resources[0].vip: found "198.51.100.50/24" again (also modules[0] (m)), expected each virtual address in one module only',
    ]);
  });
});

describe("module config: checkers", () => {
  it("loads every kind, script: as custom, with each kind's own defaults", () => {
    const m = failover(moduleText(
      "checkers:",
      "  - { http: https://127.0.0.1:8443/health, status: [200, 204], body: ok, tls_verify: false }",
      "  - { pidfile: /run/httpd.pid, process: httpd }",
      "  - { ping: 198.51.100.254 }",
      "  - { ping: 198.51.100.254, protocol: udp, port: 53, on_fail: failover }",
      "  - { interface: eth0 }",
      "  - { file: /etc/vigil/maintenance, exists: false, on_fail: stop }",
      "  - { script: ./check.sh, args: [--quiet], on_fail: ignore }",
    ));
    const timing = { interval: 1_000, timeout: 1_000, fall: 3, rise: 1 };
    const restart = { on_fail: "restart", then: "failover", restarts: 1, restart_window: 600_000 };
    expect(m.checkers).toEqual([
      { http: "https://127.0.0.1:8443/health", status: [200, 204], body: "ok", tls_verify: false, ...timing, ...restart },
      { process: "httpd", pidfile: "/run/httpd.pid", ...timing, ...restart },
      { ping: "198.51.100.254", protocol: "icmp", ...timing, on_fail: "wait" },
      { ping: "198.51.100.254", protocol: "udp", port: 53, ...timing, on_fail: "failover" },
      { interface: "eth0", ...timing, on_fail: "wait" },
      { file: "/etc/vigil/maintenance", exists: false, ...timing, on_fail: "stop" },
      { custom: "/etc/vigil/check.sh", args: ["--quiet"], ...timing, on_fail: "ignore" },
    ]);
  });

  it("derives the core's checkers: wait for ping and interface, the restart window", () => {
    const c = load(moduleText(
      "checkers:",
      "  - { process: node_exporter, restarts: 2, restart_window: 5m, then: failover, fall: 2 }",
      "  - { interface: eth0, rise: 3 }",
    ));
    const core = failoverModuleCore(c.modules[0] as FailoverModule, c.cluster, "a");
    expect(core.checkers).toEqual([
      { name: "1: process node_exporter", onFail: "restart", then: "failover", restarts: 2, windowMs: 300_000, fall: 2, rise: 1 },
      { name: "2: interface eth0", onFail: "wait", fall: 3, rise: 3 },
    ]);
    expect(validateModuleConfig(core)).toEqual([]);
  });

  it("names an unknown checker kind, and keys that belong to another kind", () => {
    expect(problems(moduleText("checkers: [{ smtp: 127.0.0.1:25 }]"))).toEqual([
      'vigil.yaml:9:18: modules[0].checkers[0].smtp: found unknown checker kind "smtp", expected one of tcp, http, process, pidfile, ping, interface, file, custom, script',
    ]);
    expect(problems(moduleText("checkers: [{ tcp: 127.0.0.1:80, body: ok }]"))).toEqual([
      "vigil.yaml:9:37: modules[0].checkers[0].body: found body on a tcp checker, expected body only on http checkers",
    ]);
    expect(problems(moduleText("checkers: [{ pidfile: /x, min: 2 }]"))).toEqual([
      "vigil.yaml:9:31: modules[0].checkers[0].min: found min with a pidfile, expected min only with process by name (a pidfile holds one PID)",
    ]);
    expect(problems(moduleText("checkers: [{ http: http://x/, status: 700 }]"))).toEqual([
      "vigil.yaml:9:43: modules[0].checkers[0].status: found 700, expected an HTTP status like 200, or a list like [200, 204]",
    ]);
    expect(problems(moduleText("checkers: [{ file: /x, exists: false, contains: y }]"))).toEqual([
      "vigil.yaml:9:43: modules[0].checkers[0].contains: found contains with exists: false, expected either exists: false (healthy while absent) or contains, not both",
    ]);
  });

  it("wants a port for a TCP or UDP ping, and none for ICMP", () => {
    expect(problems(moduleText("checkers: [{ ping: 198.51.100.9, protocol: tcp }]"))).toEqual([
      "vigil.yaml:9:48: modules[0].checkers[0].protocol: found protocol tcp without a port, expected port: N as well, the tcp port to probe",
    ]);
    expect(problems(moduleText("checkers: [{ ping: 198.51.100.9, port: 22 }]"))).toEqual([
      "vigil.yaml:9:38: modules[0].checkers[0].port: found port with ICMP ping, expected port only with protocol: tcp or udp",
    ]);
  });

  it("allows restart settings only with on_fail: restart, naming the kind's default", () => {
    expect(problems(moduleText("checkers: [{ ping: 198.51.100.9, restarts: 2 }]"))).toEqual([
      "vigil.yaml:9:38: modules[0].checkers[0].restarts: found restarts with on_fail: wait (the default for ping), expected restarts only with on_fail: restart",
    ]);
    expect(problems(moduleText("checkers: [{ tcp: 127.0.0.1:80, on_fail: stop, restart_window: 1m }]"))).toEqual([
      "vigil.yaml:9:52: modules[0].checkers[0].restart_window: found restart_window with on_fail: stop, expected restart_window only with on_fail: restart",
    ]);
  });

  it("refuses a restart window too short for the restarts to add up", () => {
    expect(problems(moduleText("checkers: [{ tcp: 127.0.0.1:80, restarts: 3, restart_window: 5s }]"))).toEqual([
      "vigil.yaml:9:66: modules[0].checkers[0].restart_window: found 5s, expected at least (restarts + 1) x fall x interval = 4 x 3 x 1s = 12s, or the restarts never add up to the limit and the module is restarted forever",
    ]);
    expect(problems(moduleText("checkers: [{ tcp: 127.0.0.1:80, restarts: 3, restart_window: 12s }]"))).toEqual([]);
  });
});

describe("module config: failback, hooks", () => {
  it("derives failback: auto with its delay and the preferred node", () => {
    const c = load(moduleText("prefer: b", "failback: auto", "failback_delay: 30s", "notify: ./notify.sh", "webhook: https://198.51.100.9/hooks/vigil"));
    const m = c.modules[0] as FailoverModule;
    expect(m).toMatchObject({ notify: "/etc/vigil/notify.sh", webhook: "https://198.51.100.9/hooks/vigil", failback_delay: 30_000 });
    expect(failoverModuleCore(m, c.cluster, "a")).toMatchObject({ prefer: "b", failback: "auto", failbackDelayMs: 30_000 });
  });

  it("rejects a failback delay with failback: manual, an unknown preferred node and a bad webhook", () => {
    expect(problems(moduleText("failback_delay: 10s"))).toEqual([
      "vigil.yaml:9:21: modules[0].failback_delay: found 10s with failback: manual, expected failback_delay only with failback: auto (with manual the module moves back only on `vigil swap`)",
    ]);
    expect(problems(moduleText("prefer: c"))).toEqual(['vigil.yaml:9:13: modules[0].prefer: found "c", expected a node name: a, b']);
    expect(problems(moduleText("webhook: ftp://x"))).toEqual([
      'vigil.yaml:9:14: modules[0].webhook: found "ftp://x", expected an http:// or https:// URL like http://127.0.0.1:8080/health',
    ]);
  });
});

describe("cluster.witness: the arbiter", () => {
  const withWitness = (...lines: string[]): string => [...HEAD, "  witness:", ...lines.map((l) => `    ${l}`), "modules: [{ name: m, type: failover }]", ""].join("\n");

  it("gives the module core the arbiter's lease terms; without an arbiter, none", () => {
    const c = load(withWitness("ping: [198.51.100.254]", "arbiter: 192.0.2.10:7695", "lease: 6s"));
    expect(c.cluster.witness).toEqual({ ping: ["198.51.100.254"], arbiter: "192.0.2.10:7695", lease: 6_000, grace: 1_000 });
    expect(failoverModuleCore(c.modules[0] as FailoverModule, c.cluster, "a").arbiter).toMatchObject({ leaseMs: 6_000, renewMs: 2_000 });
    const plain = load(withWitness("ping: [198.51.100.254]"));
    expect(failoverModuleCore(plain.modules[0] as FailoverModule, plain.cluster, "a").arbiter).toBeUndefined();
  });

  it("refuses an arbiter on a node, and a lease the heartbeat cannot renew", () => {
    expect(problems(withWitness("arbiter: 198.51.100.1:7695"))).toEqual([
      'vigil.yaml:7:14: cluster.witness.arbiter: found "198.51.100.1:7695", an address of node a, expected the address of a third machine (an arbiter on a node goes down with it and cannot break a tie)',
    ]);
    expect(problems(withWitness("arbiter: 192.0.2.10:7695", "lease: 100ms"))).toEqual([
      "vigil.yaml:8:12: cluster.witness.lease: found 100ms, expected at least 3 x the heartbeat interval = 300ms (it is renewed every third)",
    ]);
  });

  it("has a witness: section for the arbiter process, its listen address defaulting to the arbiter's port", () => {
    expect(load(fileText(...HEAD, "  witness: { arbiter: 192.0.2.10:7000 }", "witness: {}")).witness).toEqual({ listen: "0.0.0.0:7000" });
    expect(load(fileText(...HEAD, "witness: { listen: 192.0.2.10:7695 }")).witness).toEqual({ listen: "192.0.2.10:7695" });
    expect(load(fileText(...HEAD)).witness).toBeUndefined();
    expect(problems(fileText(...HEAD, "witness: { listen: nowhere }"))).toEqual([
      'vigil.yaml:6:20: witness.listen: found "nowhere", expected an address and port to listen on like 0.0.0.0:9010 (an IPv4 address, a colon, a port)',
    ]);
  });
});

describe("module config: the printed effective config", () => {
  it("shows the defaults and loads back to the same config", () => {
    const c = load([
      ...HEAD,
      "  witness: { arbiter: 192.0.2.10:7695 }",
      "modules:",
      "  - name: m",
      "    type: failover",
      "    resources: [{ vip: 198.51.100.80/24 }, { service: httpd }]",
      "    checkers: [{ http: http://127.0.0.1/ }, { ping: 198.51.100.254 }]",
      "",
    ].join("\n"));
    const yaml = effectiveConfigYaml(c);
    for (const line of ["    lease: 3s\n", "    grace: 1s\n", "    start_timeout: 1m\n", "    failback_delay: 0s\n", "        restart_window: 10m\n", "        tls_verify: true\n", "        on_fail: wait\n", "        protocol: icmp\n"]) {
      expect(yaml).toContain(line);
    }
    expect(load(yaml)).toEqual(c);
  });
});
