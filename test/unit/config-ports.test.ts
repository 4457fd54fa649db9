/**
 * The port plan (config/defaults.ts, port-checks.ts): the defaults collide
 * nowhere, and a config whose ports collide on one node is refused with
 * file:line:col.
 */
import { describe, expect, it } from "vitest";
import { DEFAULTS, FARM_FLOWS_PORT_OFFSET, NEWS_PORT_OFFSET } from "../../src/config/defaults.ts";
import { WITNESS_DEFAULT_PORT } from "../../src/proto/witness.ts";
import { REPLICATION_DEFAULT_PORT } from "../../src/proto/replication.ts";
import { DEFAULT_HEARTBEAT_PORT } from "../../src/net/udp-transport.ts";
import { fileText as lines, problems } from "./config-text.ts";

/** Lines 1-5: two nodes on one host's loopback, as a lab or a demo runs them. */
const HEAD = [
  "cluster:",
  "  name: lab",
  "  nodes:",
  "    - { name: a, addresses: [127.0.0.1] }",
  "    - { name: b, addresses: [127.0.0.2] }",
];
const EXPECTED = "expected a port no other socket of a node uses: heartbeat port P, P + 1 (its news) and P + 3 (with a farm) in UDP, " +
  "with a witness on the nodes' host its port too; the console and each mirror folder's replication port in TCP";

describe("the port plan", () => {
  it("gives every default its own number: heartbeat, its news, mirror, farm flows, witness, console", () => {
    const hb = DEFAULTS.heartbeat.port;
    const plan = [hb, hb + NEWS_PORT_OFFSET, DEFAULTS.module.mirror_port, hb + FARM_FLOWS_PORT_OFFSET, DEFAULTS.witness.port, Number(DEFAULTS.web.listen.split(":")[1])];
    expect(new Set(plan).size).toBe(plan.length);
    // The codecs' and transport's own defaults are the config's.
    expect([DEFAULT_HEARTBEAT_PORT, REPLICATION_DEFAULT_PORT, WITNESS_DEFAULT_PORT]).toEqual([hb, DEFAULTS.module.mirror_port, DEFAULTS.witness.port]);
  });

  it("takes a witness on the nodes' host at the default port, and one on a third machine at any port (7695 of an earlier config too)", () => {
    expect(problems(lines(...HEAD, `  witness: { arbiter: "127.0.0.3:${DEFAULTS.witness.port}" }`, "modules:", "  - { name: web, type: failover, vip: 198.51.100.80/24, interface: lo }"))).toEqual([]);
    expect(problems(lines(...HEAD, "  witness: { arbiter: \"192.0.2.10:7695\" }", "modules:", "  - { name: web, type: failover, vip: 198.51.100.80/24, interface: lo }"))).toEqual([]);
  });

  it("refuses a witness on the nodes' host on the heartbeat's news port, or on the heartbeat port", () => {
    expect(problems(lines(...HEAD, "  witness: { arbiter: \"127.0.0.3:7695\" }"))).toEqual([
      `vigil.yaml:6:23: cluster.witness.arbiter: found UDP port 7695 for the witness on this host, which the heartbeat's news port (cluster.heartbeat.port 7694 + 1) holds too, ${EXPECTED}`,
    ]);
    expect(problems(lines(...HEAD, "  witness: { arbiter: \"127.0.0.3:7000\" }", "witness: { listen: 127.0.0.3:7694 }"))).toEqual([
      `vigil.yaml:7:20: witness.listen: found UDP port 7694 for the witness on this host, which the heartbeat port holds too, ${EXPECTED}`,
    ]);
  });

  it("leaves port + 1 free at the fast preset, which has no news paths", () => {
    expect(problems(lines(...HEAD, "  heartbeat: { preset: fast }", "  witness: { arbiter: \"127.0.0.3:7695\" }"))).toEqual([]);
  });

  it("refuses a heartbeat port whose news or farm flow port is the witness's; shown at the key written, the witness's when both are", () => {
    expect(problems(lines(...HEAD, "  heartbeat: { port: 7692 }", "  witness: { arbiter: \"127.0.0.3:7693\" }"))).toEqual([
      `vigil.yaml:7:23: cluster.witness.arbiter: found UDP port 7693 for the witness on this host, which the heartbeat's news port (cluster.heartbeat.port 7692 + 1) holds too, ${EXPECTED}`,
    ]);
    expect(problems(lines(...HEAD, "  heartbeat: { port: 7690 }", "witness: { listen: 127.0.0.3:7693 }", "modules:", "  - { name: shop, type: farm, vip: 198.51.100.90/24, interface: lo, ports: [80] }"))).toEqual([
      `vigil.yaml:7:20: witness.listen: found UDP port 7693 for the witness on this host, which the farm's flow port (cluster.heartbeat.port 7690 + 3) holds too, ${EXPECTED}`,
    ]);
  });

  it("refuses a mirror folder's replication port that is the console's", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a, /srv/b], port: 9009 }"))).toEqual([
      `vigil.yaml:7:65: modules[0].port: found TCP port 9010 for the replication port of modules[0] (m) folder 2, which the console holds too, ${EXPECTED}`,
    ]);
    // The console moved onto the default replication port: shown at web.listen, the key written.
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a] }", "web: { listen: 0.0.0.0:7696 }"))).toEqual([
      `vigil.yaml:8:16: web.listen: found TCP port 7696 for the console, which the replication port of modules[0] (m) holds too, ${EXPECTED}`,
    ]);
  });

  it("refuses a replication port that is the heartbeat's UDP port, the default one too", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], port: 7694 }"))).toEqual([
      'vigil.yaml:7:57: modules[0].port: found replication port 7694, the heartbeat\'s UDP port too, expected another port: the link is TCP, but a firewall rule for one would open the other',
    ]);
    expect(problems(lines(...HEAD, "  heartbeat: { port: 7000 }", "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], port: 7000 }"))).toEqual([
      'vigil.yaml:8:57: modules[0].port: found replication port 7000, the heartbeat\'s UDP port too, expected another port: the link is TCP, but a firewall rule for one would open the other',
    ]);
  });

  it("lets different protocols share a number, and port 0 collide with nothing", () => {
    expect(problems(lines(...HEAD, "modules:", "  - { name: m, type: mirror, replicate: [/srv/a], port: 7695 }", "web: { listen: 127.0.0.1:0 }"))).toEqual([]);
  });
});
