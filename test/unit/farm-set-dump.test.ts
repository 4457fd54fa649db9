/**
 * The farm's UDP flow records read over nf_tables netlink: the GETSETELEM
 * dump request and the decoder of the kernel's replies
 * (src/sys/farm/nft-set-dump.ts), the flow records made from the elements
 * and the set operations that write them (src/sys/farm/flow-records.ts).
 * The replies below were captured from the kernel (6.x, a scratch
 * namespace): map `flows` of table `inet t` holding
 * 198.51.100.7 . 40000 . 53 : 0x10000 and 198.51.100.8 . 1 . 8080 timeout 30s : 0x3.
 */
import { describe, expect, it } from "vitest";
import { flowKeyBytes, flowRecordsFromElements, recordFlowOps, unrecordFlowOps } from "../../src/sys/farm/flow-records.ts";
import { markKey } from "../../src/sys/farm/nft-netlink.ts";
import { decodeSetDumpChunk, SetDumpError, setDumpRequest } from "../../src/sys/farm/nft-set-dump.ts";
import { FLOW_SELF } from "../../src/sys/farm/ruleset.ts";
import { randomSource } from "./codec-test-helpers.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

/** First datagram: one NEWSETELEM (NLM_F_MULTI) with both elements; sequence number 7. */
const CHUNK1 = hex(
  "980000000c0a020007000000a22900000100000506000100740000000a000200666c6f777300000070000300300001001400010010000100c63364079c400000003500000c00020008000100000001000c000500000000000001d4ac3c0001001400010010000100c6336408000100001f9000000c00020008000100030000000c00040000000000000075300c000500000000000000751c",
);
/** Second: an empty element list, then NLMSG_DONE. */
const CHUNK2 = hex("2c0000000c0a020007000000a22900000100000506000100740000000a000200666c6f777300000004000300140000000300020007000000a229000000000000");
/** The answer when the set does not exist: NLMSG_ERROR -ENOENT, echoing the request. */
const NO_SET = hex("3c0000000200000007000000a6290000feffffff280000000d0a010307000000000000000100000006000100740000000b0002006e6f737563680000");

const KINDS = new Set(["truncated", "malformed", "kernel"]);

function chunk(bytes: Uint8Array, seq = 7) {
  const r = decodeSetDumpChunk(bytes, seq);
  if (!r.ok) throw new Error(r.error.message);
  return r.chunk;
}

function error(bytes: Uint8Array, seq = 7): SetDumpError {
  const r = decodeSetDumpChunk(bytes, seq);
  if (r.ok) throw new Error("decoded");
  expect(r.error).toBeInstanceOf(SetDumpError);
  return r.error;
}

/** A copy of CHUNK1 with u16s at offsets set (little-endian, as netlink lengths and types are). */
function patched16(...edits: [number, number][]): Uint8Array {
  const b = CHUNK1.slice();
  for (const [at, v] of edits) new DataView(b.buffer).setUint16(at, v, true);
  return b;
}

describe("nf_tables set dump", () => {
  it("asks for the set's elements as a dump of table and set", () => {
    const req = setDumpRequest("t", "nosuch", 7);
    // The kernel echoes the request in its error answer (after the header and the error code).
    expect(req).toEqual(NO_SET.subarray(20));
  });

  it("decodes the kernel's captured answer: the elements, their values and timeouts, and the end", () => {
    const a = chunk(CHUNK1);
    expect(a.done).toBe(false);
    expect(a.interrupted).toBe(false);
    expect(a.elements.map((e) => [Buffer.from(e.key).toString("hex"), Buffer.from(e.data ?? []).toString("hex"), e.timeoutMs])).toEqual([
      ["c63364079c40000000350000", "00000100", undefined],
      ["c6336408000100001f900000", "03000000", 30000],
    ]);
    expect(a.elements.every((e) => (e.expiresInMs ?? 0) > 0)).toBe(true);
    expect(chunk(CHUNK2)).toEqual({ elements: [], done: true, interrupted: false });
    const both = new Uint8Array([...CHUNK1, ...CHUNK2]);
    expect(chunk(both).elements.length).toBe(2);
    expect(chunk(both).done).toBe(true);
  });

  it("hands out elements that do not share the receive buffer, which is used again", () => {
    const buf = CHUNK1.slice();
    const a = chunk(buf);
    buf.fill(0);
    expect(a.elements.map((e) => Buffer.from(e.key).toString("hex"))).toEqual(["c63364079c40000000350000", "c6336408000100001f900000"]);
    expect(a.elements.map((e) => Buffer.from(e.data ?? []).toString("hex"))).toEqual(["00000100", "03000000"]);
  });

  it("turns them into flow records, the node's own under FLOW_SELF", () => {
    const r = flowRecordsFromElements(chunk(CHUNK1).elements);
    if (!r.ok) throw new Error(r.error.message);
    expect([...r.records.entries()]).toEqual([
      ["198.51.100.7 . 40000 . 53", { key: { client: 0xc6336407, port: 40000, vipPort: 53 }, value: FLOW_SELF }],
      ["198.51.100.8 . 1 . 8080", { key: { client: 0xc6336408, port: 1, vipPort: 8080 }, value: 3 }],
    ]);
    expect(flowKeyBytes({ client: 0xc6336407, port: 40000, vipPort: 53 })).toEqual(chunk(CHUNK1).elements[0]?.key);
    const short = flowRecordsFromElements([{ key: new Uint8Array(8), data: new Uint8Array(4) }]);
    expect(short.ok ? "" : short.error.message).toMatch(/flow record 0: key of 8 bytes, expected 12/);
    const noValue = flowRecordsFromElements([{ key: new Uint8Array(12) }]);
    expect(noValue.ok ? "" : noValue.error.message).toMatch(/flow record 0: value of 0 bytes/);
  });

  it("reports the kernel's refusal with its errno, and skips answers to other requests", () => {
    const e = error(NO_SET);
    expect(e.kind).toBe("kernel");
    expect(e.errno).toBe(2);
    expect(chunk(CHUNK1, 8)).toEqual({ elements: [], done: false, interrupted: false });
    expect(chunk(NO_SET, 8).done).toBe(false);
  });

  it("flags a dump the kernel says was interrupted", () => {
    const b = CHUNK1.slice();
    b[6] = (b[6] ?? 0) | 0x10;
    expect(chunk(b).interrupted).toBe(true);
  });

  it("names what is wrong and where in bytes that do not decode", () => {
    expect(error(CHUNK1.subarray(0, 10)).message).toMatch(/10 bytes at offset 0 are too few for a netlink header/);
    expect(error(CHUNK1.subarray(0, 100)).message).toMatch(/netlink message at offset 0 gives length 152, 100 bytes left/);
    expect(error(patched16([4, 0x0a0b])).message).toMatch(/type 0xa0b, expected a set element list/);
    // The element list (offset 40) claims more than the message holds.
    expect(error(patched16([40, 0x200])).message).toMatch(/attribute at offset 40 gives length 512/);
    // The first element's key nest (offset 48) renamed to an unknown attribute: no key.
    expect(error(patched16([50, 9])).message).toMatch(/element 0 at offset 44 has no key/);
    // Its value (offset 52) renamed: a key nest with no value.
    expect(error(patched16([54, 7])).message).toMatch(/element 0: key at offset 48 holds no value/);
    // The second element's timeout (offset 128) cut to 4 bytes, its other 4 an empty attribute.
    expect(error(patched16([128, 8], [136, 4], [138, 0])).message).toMatch(/element 1: timeout at offset 128 has 4 bytes, not 8/);
    expect(error(hex("100000000300020007000000a2290000")).message).toMatch(/done message at offset 0 has no error code/);
  });

  it("property: cut, flipped and grown answers only ever give elements or a typed error", () => {
    const rnd = randomSource(23);
    const seeds = [CHUNK1, CHUNK2, NO_SET, new Uint8Array([...CHUNK1, ...CHUNK2])];
    let decoded = 0;
    for (let n = 0; n < 3000; n++) {
      const src = seeds[n % seeds.length]!;
      let b = src.slice();
      const what = Math.floor(rnd() * 3);
      if (what === 0) b = b.subarray(0, Math.floor(rnd() * b.length));
      else if (what === 1) for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      else b = new Uint8Array([...b, ...Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))]);
      const r = decodeSetDumpChunk(b, 7);
      if (r.ok) {
        decoded++;
        flowRecordsFromElements(r.chunk.elements);
      } else {
        expect(r.error).toBeInstanceOf(SetDumpError);
        expect(KINDS.has(r.error.kind)).toBe(true);
      }
    }
    expect(decoded).toBeGreaterThan(100);
  });
});

describe("flow records written over netlink", () => {
  const a = { client: 0xc6336407, port: 40000, vipPort: 53 };
  const b = { client: 0xc6336408, port: 1, vipPort: 8080 };
  const c = { client: 0xc6336409, port: 2, vipPort: 8080 };
  const current = new Map([
    ["198.51.100.7 . 40000 . 53", { key: a, value: FLOW_SELF }],
    ["198.51.100.8 . 1 . 8080", { key: b, value: 3 }],
  ]);

  it("adds an absent record, replaces one naming another owner, leaves one already right", () => {
    expect(recordFlowOps("web", [a, b, c, c], 3, current)).toEqual([
      { op: "delete", set: "flows", keys: [flowKeyBytes(a)] },
      { op: "add", set: "flows", keys: [flowKeyBytes(a), flowKeyBytes(c)], timeoutMs: 120_000, data: [markKey(3), markKey(3)] },
    ]);
    expect(recordFlowOps("web", [b], 3, current)).toEqual([]);
    expect(() => recordFlowOps("web", [a], FLOW_SELF, current)).toThrow(/not a peer value/);
  });

  it("removes only the records that still name the peer that disclaimed them", () => {
    expect(unrecordFlowOps([a, b, b, c], 3, current)).toEqual([{ op: "delete", set: "flows", keys: [flowKeyBytes(b)] }]);
    expect(unrecordFlowOps([a, c], 3, current)).toEqual([]);
  });
});
