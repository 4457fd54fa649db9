import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { validateHeartbeatTimers } from "../../src/core/membership/config.ts";
import { formatConfigError } from "../../src/config/errors.ts";
import { effectiveConfigYaml, loadConfigFile, parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { failoverModuleCore, moduleVips } from "../../src/daemon/module/core-config.ts";

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples");
const exampleDirs = readdirSync(EXAMPLES).filter((d) => statSync(join(EXAMPLES, d)).isDirectory()).sort();

function load(name: string): VigilConfig {
  const r = loadConfigFile(join(EXAMPLES, name, "vigil.yaml"));
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join("\n"));
  return r.config;
}

describe("examples", () => {
  it("has one folder per seed use", () => {
    expect(exampleDirs).toEqual(["demo", "farm", "mirror", "service-failover", "vip-failover"]);
  });

  for (const name of exampleDirs) {
    it(`examples/${name}/vigil.yaml is valid, key file included`, () => {
      const r = loadConfigFile(join(EXAMPLES, name, "vigil.yaml"));
      expect(r.ok ? [] : r.errors.map(formatConfigError)).toEqual([]);
    });

    it(`examples/${name}: the printed effective config loads back to the same config`, () => {
      const config = load(name);
      const again = parseConfig(effectiveConfigYaml(config), join(EXAMPLES, name, "vigil.yaml"));
      expect(again.ok ? again.config : again.errors).toEqual(config);
    });

    it(`examples/${name}: heartbeat timers satisfy the membership core`, () => {
      const hb = load(name).cluster.heartbeat;
      expect(validateHeartbeatTimers({
        intervalMs: hb.interval, warntimeMs: hb.warntime, deadtimeMs: hb.deadtime, initdeadMs: hb.initdead,
      })).toEqual([]);
    });
  }

  it("uses documentation addresses only, and loopback only in the demo", () => {
    for (const name of exampleDirs) {
      const c = load(name);
      const addresses = [
        ...c.cluster.nodes.flatMap((n) => n.addresses),
        ...c.cluster.witness.ping,
        ...c.vrrp.flatMap((v) => [...v.vips, ...v.unicast_peer]),
        ...c.modules.flatMap((m) => moduleVips(m)),
        ...(c.cluster.witness.arbiter === undefined ? [] : [c.cluster.witness.arbiter.replace(/:\d+$/, "")]),
      ].map((a) => a.replace(/\/\d+$/, ""));
      const allowed = name === "demo" ? /^127\.0\.0\.1$/ : /^(198\.51\.100|203\.0\.113|192\.0\.2)\.\d+$/;
      for (const a of addresses) expect(a, `${name}: ${a}`).toMatch(allowed);
    }
  });

  it("the demo is one node on 127.0.0.1 with the console on 127.0.0.1:9010", () => {
    const c = load("demo");
    expect(c.cluster.nodes).toEqual([{ name: "demo", addresses: ["127.0.0.1"] }]);
    expect(c.web.listen).toBe("127.0.0.1:9010");
  });

  it("the service-failover example maps Heartbeat's auto_failback and haresources line, in order", () => {
    const c = load("service-failover");
    const httpd = c.modules[0];
    expect(httpd).toMatchObject({ name: "httpd", type: "failover", failback: "auto", failback_delay: 30_000, prefer: "web1" });
    if (httpd?.type !== "failover") throw new Error("httpd is not a failover module");
    const dir = join(EXAMPLES, "service-failover");
    expect(failoverModuleCore(httpd, c.cluster, "web2").resources).toEqual([
      { kind: "vip", address: "198.51.100.80/24", interface: "eth0" },
      { kind: "script", start: join(dir, "httpd-start.sh"), stop: join(dir, "httpd-stop.sh"), timeouts: { startMs: 30_000, stopMs: 60_000 } },
    ]);
  });

  it("the service-failover example restarts node_exporter twice in 5 minutes, then fails over", () => {
    const metrics = load("service-failover").modules[1];
    expect(metrics?.checkers).toMatchObject([{ process: "node_exporter", on_fail: "restart", restarts: 2, restart_window: 300_000, then: "failover" }]);
    expect(metrics).toMatchObject({ resources: [{ vip: "198.51.100.81/24" }, { service: "prometheus-node-exporter" }] });
  });

  it("shows defaults in the effective config", () => {
    const c = load("vip-failover");
    expect(c.cluster.heartbeat).toEqual({ interval: 100, warntime: 250, deadtime: 500, initdead: 5_000, port: 7694, links: [{ mode: "unicast" }] });
    expect(c.vrrp[0]).toMatchObject({ version: 3, preempt: true, preempt_delay: 0, unicast_peer: [], priority: { gw1: 150, gw2: 100 } });
    const yaml = effectiveConfigYaml(c);
    expect(yaml).toContain("    initdead: 5s\n");
    expect(yaml).toContain("    advert_int: 1s\n");
    expect(yaml).toContain("  listen: 0.0.0.0:9010\n");
  });
});
