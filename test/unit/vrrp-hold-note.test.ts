import { describe, expect, it } from "vitest";
import { vrrpHoldLines } from "../../src/cli/vrrp-hold-note.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";

function config(nodes: number, extra: string[]): VigilConfig {
  const text = [
    "cluster:",
    "  name: lab",
    "  nodes:",
    ...Array.from({ length: nodes }, (_, i) => `    - { name: n${i + 1}, addresses: [198.51.100.${11 + i}] }`),
    "vrrp:",
    "  - name: VI_1",
    "    interface: eth0",
    "    vrid: 51",
    "    advert_int: 1s",
    nodes > 1 ? "    priority: { n1: 150, n2: 100 }" : "    priority: 100",
    "    vips: [198.51.100.100/24]",
    ...extra,
    "",
  ].join("\n");
  const r = parseConfig(text, "/etc/vigil/vigil.yaml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe("check-config on VRRP's heartbeat hold", () => {
  it("by default: the down timer of the slowest backup, the longest wait with the hold, and its price", () => {
    expect(vrrpHoldLines(config(2, []))).toEqual([
      "  vrrp VI_1: a BACKUP takes over once no advert came for 3.6 s (the down timer); if the heartbeat still hears the MASTER's node say it is MASTER, the adverts were lost and it waits up to 7.2 s in all, " +
        "taking over at once if that node leaves MASTER, goes silent or is declared dead; the price: a MASTER cut off from the VRRP network with its carrier up and its heartbeat running elsewhere keeps the VIPs for 7.2 s " +
        "(heartbeat_hold: false takes over after 3.6 s, as keepalived)",
    ]);
  });

  it("heartbeat_hold: false: the RFC rule, said so", () => {
    expect(vrrpHoldLines(config(2, ["    heartbeat_hold: false"]))).toEqual([
      "  vrrp VI_1: heartbeat_hold off: a BACKUP takes over once no advert came for 3.6 s (the down timer), as keepalived does, even while the heartbeat still hears the MASTER's node say it is MASTER",
    ]);
  });

  it("one node: nothing to say", () => {
    expect(vrrpHoldLines(config(1, []))).toEqual([]);
  });
});
