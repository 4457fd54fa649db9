import { describe, expect, it } from "vitest";
import { decodeReplication, encodeReplication } from "../../src/proto/replication.ts";

const copy = { gen: "12:vms2", history: ["11:vms1", "3:vms1"], data: "outdated" as const, running: false, unclean: true };

describe("mirror control messages", () => {
  it("round-trip a control request and its answer inside replication messages", () => {
    const q = { type: "request" as const, id: 7, request: { kind: "control" as const, action: "resync-end" as const, copy } };
    expect(decodeReplication(encodeReplication(q))).toEqual({ ok: true, message: q });
    const a = { type: "response" as const, id: 7, response: { kind: "control" as const, copy: { ...copy, data: "uptodate" as const } } };
    expect(decodeReplication(encodeReplication(a))).toEqual({ ok: true, message: a });
  });

  it("rejects a bad gen, a bad flag and a truncated copy with the typed error", () => {
    const q = { type: "request" as const, id: 1, request: { kind: "control" as const, action: "state" as const, copy } };
    const bytes = encodeReplication(q);
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = decodeReplication(bytes.subarray(0, cut));
      expect(r.ok).toBe(false);
    }
    const flagged = bytes.slice();
    flagged[flagged.length - 1] = 2;
    expect(decodeReplication(flagged)).toMatchObject({ ok: false, error: { kind: "malformed" } });
    expect(() => encodeReplication({ ...q, request: { ...q.request, copy: { ...copy, gen: "no colon" } } })).toThrow(/not "<counter>:<node>"/);
  });
});
