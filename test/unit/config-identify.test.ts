import { describe, expect, it } from "vitest";
import { identifyNode, localIPv4Addresses } from "../../src/config/identify.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";

function config(): VigilConfig {
  const r = parseConfig([
    "cluster:",
    "  name: lab",
    "  nodes:",
    "    - { name: vms1, addresses: [198.51.100.11, 203.0.113.11] }",
    "    - { name: vms2, addresses: [198.51.100.12, 203.0.113.12] }",
    "",
  ].join("\n"), "vigil.yaml");
  if (!r.ok) throw new Error("fixture config is invalid");
  return r.config;
}

describe("which node am I", () => {
  it("is the node owning a local address, on any link", () => {
    expect(identifyNode(config(), ["127.0.0.1", "203.0.113.12"])).toEqual({
      ok: true, node: { name: "vms2", addresses: ["198.51.100.12", "203.0.113.12"] }, how: "address",
    });
  });

  it("is the node named by --node, whatever the addresses", () => {
    expect(identifyNode(config(), ["198.51.100.11"], "vms2")).toMatchObject({ ok: true, node: { name: "vms2" }, how: "flag" });
  });

  it("refuses an unknown --node name and lists the valid ones", () => {
    expect(identifyNode(config(), [], "vms3")).toEqual({
      ok: false, message: "--node vms3: no such node in the config; the nodes are vms1, vms2",
    });
  });

  it("refuses a machine matching no node, listing local addresses and nodes", () => {
    expect(identifyNode(config(), ["127.0.0.1", "192.0.2.7"])).toEqual({
      ok: false,
      message:
        "this machine is none of the configured nodes: its addresses are 127.0.0.1, 192.0.2.7; " +
        "the nodes are vms1 (198.51.100.11, 203.0.113.11), vms2 (198.51.100.12, 203.0.113.12). " +
        "Add this machine's address to its node, or name the node with --node NAME",
    });
  });

  it("refuses a machine matching two nodes", () => {
    expect(identifyNode(config(), ["198.51.100.11", "203.0.113.12"])).toEqual({
      ok: false,
      message:
        "this machine has addresses of 2 nodes: vms1 (198.51.100.11), vms2 (203.0.113.12); " +
        "its addresses are 198.51.100.11, 203.0.113.12. Name the node with --node NAME",
    });
  });

  it("lists this machine's IPv4 addresses, loopback included", () => {
    const local = localIPv4Addresses();
    expect(local).toContain("127.0.0.1");
    for (const a of local) expect(a).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });
});
