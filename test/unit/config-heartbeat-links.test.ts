import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { problems } from "./config-text.ts";

const base = (links: string) => [
  "cluster:",
  "  name: lab",
  "  nodes:",
  "    - { name: a, addresses: [198.51.100.11, 203.0.113.11] }",
  "    - { name: b, addresses: [198.51.100.12, 203.0.113.12] }",
  "  heartbeat:",
  `    links: ${links}`,
  "",
].join("\n");

const errors = (text: string): string[] => problems(text, "/etc/vigil/vigil.yaml");

describe("cluster.heartbeat.links", () => {
  it("defaults every link to unicast", () => {
    const r = parseConfig(base("[]"), "/etc/vigil/vigil.yaml");
    expect(r.ok && r.config.cluster.heartbeat.links).toEqual([{ mode: "unicast" }, { mode: "unicast" }]);
  });

  it("takes multicast and broadcast per link", () => {
    const r = parseConfig(base("[{ mode: multicast, group: 224.0.0.94 }, { mode: broadcast, broadcast: 203.0.113.255 }]"), "/etc/vigil/vigil.yaml");
    expect(r.ok && r.config.cluster.heartbeat.links).toEqual([
      { mode: "multicast", group: "224.0.0.94" },
      { mode: "broadcast", broadcast: "203.0.113.255" },
    ]);
  });

  it("rejects a multicast link without a group, and a group that is not multicast", () => {
    expect(errors(base("[{ mode: multicast }, { mode: multicast, group: 198.51.100.7 }]"))).toEqual([
      "/etc/vigil/vigil.yaml:7:13: cluster.heartbeat.links[0]: found mode multicast without a group, expected a group: key, like group: 224.0.0.94",
      '/etc/vigil/vigil.yaml:7:60: cluster.heartbeat.links[1].group: found "198.51.100.7", expected a multicast group in 224.0.0.0/4, like 224.0.0.94',
    ]);
  });

  it("rejects more link entries than node addresses, and keys of another mode", () => {
    expect(errors(base("[{ mode: unicast, group: 224.0.0.94 }, { mode: unicast }, { mode: unicast }]"))).toEqual([
      "/etc/vigil/vigil.yaml:7:30: cluster.heartbeat.links[0].group: found group with mode unicast, expected group only with mode: multicast",
      "/etc/vigil/vigil.yaml:7:70: cluster.heartbeat.links[2]: found 3 link entries, expected at most 2, one per node address (each node has 2)",
    ]);
  });
});
