/**
 * Reading and writing the farm table's UDP flow records outside the packet
 * path (src/sys/farm/flow-records.ts): the JSON nft 1.0.6 prints for the
 * `flows` map, and the lines that record a peer's flows over what the packet
 * path recorded meanwhile.
 */
import { describe, expect, it } from "vitest";
import { flowKeyText, ownFlows, parseFlowRecords, recordFlowLines, unrecordFlowLines } from "../../src/sys/farm/flow-records.ts";

// As `nft -j list table` printed it on nft 1.0.6 (other objects of the table left out).
const JSON_TEXT = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } },
    { set: { family: "inet", name: "live", table: "vigil_farm_web", type: "mark", handle: 5, elem: [34] } },
    {
      map: {
        family: "inet", name: "flows", table: "vigil_farm_web", type: ["ipv4_addr", "inet_service", "inet_service"], handle: 7, map: "mark", size: 65536, flags: ["timeout"], timeout: 120,
        elem: [
          [{ elem: { val: { concat: ["198.51.100.100", 40000, 53] }, expires: 119 } }, 33],
          [{ elem: { val: { concat: ["198.51.100.102", 40001, 53] }, expires: 119 } }, 65536],
          [{ concat: ["198.51.100.103", 40002, 53] }, 65536],
          [{ elem: { val: { concat: ["not an address", 1, 53] } } }, 65536],
        ],
      },
    },
  ],
});

const ip = (last: number): number => 0xc6336400 + last;

describe("farm flow records", () => {
  it("reads the flows map's records and picks the node's own (FLOW_SELF)", () => {
    const r = parseFlowRecords(JSON_TEXT);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.records.size).toBe(3);
    expect(r.records.get("198.51.100.100 . 40000 . 53")?.value).toBe(33);
    expect(ownFlows(r.records)).toEqual([
      { client: ip(102), port: 40001, vipPort: 53 },
      { client: ip(103), port: 40002, vipPort: 53 },
    ]);
  });

  it("an empty map has no elem array; a table without the map or junk is an error that says so", () => {
    const empty = JSON.stringify({ nftables: [{ map: { name: "flows", table: "t" } }] });
    expect(parseFlowRecords(empty)).toEqual({ ok: true, records: new Map() });
    expect(parseFlowRecords(JSON.stringify({ nftables: [] }))).toEqual({ ok: false, message: "the farm table has no flows map" });
    expect(parseFlowRecords("{")).toMatchObject({ ok: false, message: expect.stringMatching(/not JSON/) });
  });

  it("adds what is absent, replaces another owner (delete, add), leaves what is already the peer's", () => {
    const r = parseFlowRecords(JSON_TEXT);
    if (!r.ok) throw new Error(r.message);
    const lines = recordFlowLines("web", [
      { client: ip(100), port: 40000, vipPort: 53 },
      { client: ip(102), port: 40001, vipPort: 53 },
      { client: ip(104), port: 40003, vipPort: 53 },
    ], 33, r.records);
    expect(lines).toEqual([
      "delete element inet vigil_farm_web flows { 198.51.100.102 . 40001 . 53 }",
      "add element inet vigil_farm_web flows { 198.51.100.102 . 40001 . 53 timeout 120s : 0x21 }",
      "add element inet vigil_farm_web flows { 198.51.100.104 . 40003 . 53 timeout 120s : 0x21 }",
    ]);
    expect(() => recordFlowLines("web", [], 0x10000, r.records)).toThrow(/not a peer value/);
    expect(flowKeyText({ client: 0xffffffff, port: 0, vipPort: 1 })).toBe("255.255.255.255 . 0 . 1");
  });

  it("removes only the records that still name the peer that disclaimed them", () => {
    const r = parseFlowRecords(JSON_TEXT);
    if (!r.ok) throw new Error(r.message);
    const lines = unrecordFlowLines("web", [
      { client: ip(100), port: 40000, vipPort: 53 },
      { client: ip(102), port: 40001, vipPort: 53 },
      { client: ip(109), port: 40009, vipPort: 53 },
    ], 33, r.records);
    expect(lines).toEqual(["delete element inet vigil_farm_web flows { 198.51.100.100 . 40000 . 53 }"]);
  });
});
