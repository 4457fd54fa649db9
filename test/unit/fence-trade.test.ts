import { describe, expect, it } from "vitest";
import { fenceTradeLines } from "../../src/cli/fence-trade.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";

function config(witness: string, module: string[]): VigilConfig {
  const text = [
    "cluster:",
    "  name: lab",
    "  nodes:",
    "    - { name: a, addresses: [198.51.100.11] }",
    "    - { name: b, addresses: [198.51.100.12] }",
    "  heartbeat: { preset: lan }",
    ...(witness === "" ? [] : [`  witness: ${witness}`]),
    "modules:",
    "  - name: web",
    "    type: failover",
    "    vip: 198.51.100.100/24",
    ...module,
    "",
  ].join("\n");
  const r = parseConfig(text, "/etc/vigil/vigil.yaml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe("check-config on the fence's stop budget", () => {
  it("with an arbiter: the takeover wait, its parts, and that a long stop_timeout makes it longer", () => {
    const lines = fenceTradeLines(config('{ arbiter: "192.0.2.10:7695", lease: 3s }', ["    start: /etc/vigil/start.sh", "    stop: /etc/vigil/stop.sh", "    stop_timeout: 10s"]));
    expect(lines).toEqual([
      "  module web: a takeover from a node that is not heard waits 13.2 s (deadtime 500 ms + interval 100 ms + delay 100 ms + fence 500 ms + stop budget 12 s); " +
        "the stop budget is every stop's stop_timeout plus 2 s to kill it, so the old node has stopped before the new one starts; a shorter stop_timeout takes over sooner",
    ]);
  });

  it("with an arbiter and nothing to stop but VIPs: no stop budget", () => {
    const lines = fenceTradeLines(config('{ arbiter: "192.0.2.10:7695" }', []));
    expect(lines).toEqual(["  module web: a takeover from a node that is not heard waits 1.2 s (deadtime 500 ms + interval 100 ms + delay 100 ms + fence 500 ms + stop budget 0 ms)"]);
  });

  it("a cluster of one node: nothing to say", () => {
    const one = config("", ["    stop: /etc/vigil/stop.sh"]);
    expect(fenceTradeLines({ ...one, cluster: { ...one.cluster, nodes: one.cluster.nodes.slice(0, 1) } })).toEqual([]);
  });

  it("without an arbiter: what a dead daemon's watchdog does, and what nothing rules out", () => {
    const lines = fenceTradeLines(config("", ["    stop: /etc/vigil/stop.sh", "    stop_timeout: 4s"]));
    expect(lines).toEqual([
      "  module web: no arbiter: a takeover from a node that is not heard starts after 600 ms without waiting for it to stop; " +
        "if its daemon died, its watchdog removes the VIPs at once and stops the rest within 6 s, a node cut off stops nothing (set cluster.witness.arbiter to rule out two nodes running it)",
    ]);
  });
});
