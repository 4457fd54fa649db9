/** The farm branch of vigil.yaml: what loads, and every bad input with file:line:col. */
import { describe, expect, it } from "vitest";
import { farmWitnessNotes } from "../../src/config/farm-checks.ts";
import type { FarmModule } from "../../src/config/types.ts";
import { fileText, loadConfig as load, problems } from "./config-text.ts";

/** Lines 1-6: a valid three-node cluster; the farm module starts at line 8. */
const HEAD = [
  "cluster:",
  "  name: lab",
  "  nodes:",
  "    - { name: web1, addresses: [198.51.100.11] }",
  "    - { name: web2, addresses: [198.51.100.12] }",
  "    - { name: web3, addresses: [198.51.100.13] }",
];
const farmText = (...lines: string[]): string =>
  fileText(...HEAD, "modules:", "  - name: web", "    type: farm", ...lines.map((l) => `    ${l}`));

function farm(text: string): FarmModule {
  const m = load(text, "/etc/vigil/vigil.yaml").modules[0];
  if (m?.type !== "farm") throw new Error("not a farm module");
  return m;
}

describe("farm config", () => {
  it("check-config notes a farm without a ping witness: a cut-off node keeps serving, new connections answered twice as it comes back", () => {
    const notes = farmWitnessNotes(load(farmText("vip: 198.51.100.200/24", "ports: [80]")));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/module web: no witness: a farm node cut off with its carrier up keeps serving every bucket, .*answered twice for up to one heartbeat interval \(\d+ ms\); a cluster.witness.ping address closes that/);
    const witnessed = load(farmText("vip: 198.51.100.200/24", "ports: [80]").replace("  nodes:", "  witness: { ping: [198.51.100.1] }\n  nodes:"));
    expect(farmWitnessNotes(witnessed)).toEqual([]);
  });

  it("loads weights and drain_timeout, with defaults", () => {
    const m = farm(farmText("vip: 198.51.100.200/24", "ports: [80, 443]", "split: client_ip_port", "weights: { web2: 2 }", "drain_timeout: 5s"));
    expect(m).toMatchObject({ ports: [80, 443], split: "client_ip_port", weights: { web2: 2 }, drain_timeout: 5000 });
    const d = farm(farmText("vip: 198.51.100.200/24", "ports: [80]"));
    expect(d).toMatchObject({ split: "client_ip", weights: {}, drain_timeout: 30_000 });
  });

  it("a checker's on_fail: restart (nothing to restart on a farm) and restart escalation without it", () => {
    const restart = problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "checkers:", "  - { tcp: 127.0.0.1:80, on_fail: restart }")).join("\n");
    expect(restart).toMatch(/vigil\.yaml:13:\d+: modules\[0\]\.checkers\[0\]\.on_fail: found "restart" on a farm module/);
    expect(restart).toContain("stop (the node drains)");
    const then = problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "checkers:", "  - { tcp: 127.0.0.1:80, then: stop }")).join("\n");
    expect(then).toMatch(/vigil\.yaml:13:\d+: modules\[0\]\.checkers\[0\]\.then/);
    for (const policy of ["failover", "wait", "stop", "ignore"]) {
      expect(problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "checkers:", `  - { tcp: 127.0.0.1:80, on_fail: ${policy} }`))).toEqual([]);
    }
    expect(problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "checkers:", "  - { tcp: 127.0.0.1:80 }"))).toEqual([]);
    // A farm checker without on_fail leaves the split while it fails; no restart escalation.
    const c = farm(farmText("vip: 198.51.100.200/24", "ports: [80]", "checkers:", "  - { tcp: 127.0.0.1:80 }")).checkers[0];
    expect(c).toMatchObject({ on_fail: "failover" });
    expect(c).not.toHaveProperty("restarts");
  });

  it("an unknown split", () => {
    const p = problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "split: round_robin"));
    expect(p.join("\n")).toMatch(/vigil\.yaml:12:12.*split/);
    expect(p.join("\n")).toContain("client_ip");
  });

  it("a port out of range", () => {
    const p = problems(farmText("vip: 198.51.100.200/24", "ports: [80, 70000]"));
    expect(p.join("\n")).toMatch(/vigil\.yaml:11:\d+/);
    expect(p.join("\n")).toContain("70000");
  });

  it("a weight of 0 or below, or for a node that does not exist", () => {
    const zero = problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "weights: { web1: 0 }")).join("\n");
    expect(zero).toMatch(/vigil\.yaml:12:\d+/);
    expect(zero).toContain("weight");
    const neg = problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "weights: { web1: -2 }")).join("\n");
    expect(neg).toMatch(/vigil\.yaml:12:\d+/);
    const stranger = problems(farmText("vip: 198.51.100.200/24", "ports: [80]", "weights: { web9: 2 }")).join("\n");
    expect(stranger).toMatch(/vigil\.yaml:12:\d+/);
    expect(stranger).toContain("web1, web2, web3");
  });

  it("a VIP that is a node's own address", () => {
    const p = problems(farmText("vip: 198.51.100.12/24", "ports: [80]")).join("\n");
    expect(p).toMatch(/vigil\.yaml:10:\d+/);
    expect(p).toContain("the address of node web2");
  });

  it("more than one VIP", () => {
    const p = problems(farmText("vips: [198.51.100.200/24, 198.51.100.201/24]", "ports: [80]")).join("\n");
    expect(p).toContain("one VIP for a farm module");
  });

  it("more nodes than a farm can split for", () => {
    const nodes = Array.from({ length: 33 }, (_, i) => `    - { name: n${i + 1}, addresses: [198.51.100.${i + 1}] }`);
    const text = ["cluster:", "  name: lab", "  nodes:", ...nodes, "modules:", "  - name: web", "    type: farm", "    vip: 198.51.100.200/24", "    ports: [80]", ""].join("\n");
    const p = problems(text).join("\n");
    expect(p).toContain("at most 32 nodes");
    expect(p).toMatch(/vigil\.yaml:\d+:\d+/);
  });
});
