/**
 * The farm flow message codec (src/proto/farm-flows.ts): round trips, the
 * MAC checked before anything variable is read, typed errors naming the
 * field, and a property run of mutated and re-signed frames that never makes
 * the decoder throw or accept what does not encode back to the same bytes.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { expectDecodeError, randomSource } from "./codec-test-helpers.ts";
import {
  decodeFarmFlows,
  encodeFarmFlows,
  FARM_FLOWS_MAC_BYTES,
  FARM_FLOWS_MAX_FRAME,
  FARM_FLOWS_MIN_FRAME,
  FARM_FLOWS_PER_PART,
  type FarmFlowsMessage,
  flowParts,
} from "../../src/proto/farm-flows.ts";

const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);
const OTHER_KEY = new Uint8Array(32).map((_, i) => i * 7 + 2);
const base = { cluster: "shop", module: "dns", from: "n2", to: "n1", askedAt: 123_456.789 };
const ask: FarmFlowsMessage = { ...base, type: "ask" };
const flows = Array.from({ length: FARM_FLOWS_PER_PART }, (_, i) => ({ client: 0xc6336400 + i, port: 1024 + i, vipPort: 53 }));
const tell: FarmFlowsMessage = { ...base, type: "tell", part: 1, parts: 3, flows };
const KINDS = new Set(["truncated", "oversized", "bad-magic", "bad-version", "bad-mac", "malformed"]);
const empty: FarmFlowsMessage = { ...base, type: "tell", part: 0, parts: 1, flows: [] };
const check: FarmFlowsMessage = { ...base, type: "check", part: 0, parts: 1, flows: flows.slice(0, 3) };
const disclaim: FarmFlowsMessage = { ...base, type: "disclaim", part: 0, parts: 2, flows: flows.slice(3, 5) };

function resign(bytes: Uint8Array, key = KEY): Uint8Array {
  const at = bytes.length - FARM_FLOWS_MAC_BYTES;
  const out = bytes.slice();
  out.set(createHmac("sha256", key).update(out.subarray(0, at)).digest(), at);
  return out;
}

describe("farm flow messages", () => {
  it("round-trips an ask, a full tell, an empty one, a check and a disclaim", () => {
    for (const m of [ask, tell, empty, check, disclaim]) {
      const r = decodeFarmFlows(encodeFarmFlows(m, KEY), KEY);
      expect(r).toEqual({ ok: true, message: m });
    }
  });

  it("a full tell with the longest names fits the frame limit", () => {
    const long = "x".repeat(64);
    const bytes = encodeFarmFlows({ ...tell, cluster: long, module: long, from: long, to: long }, KEY);
    expect(bytes.length).toBeLessThanOrEqual(FARM_FLOWS_MAX_FRAME);
    expect(encodeFarmFlows({ ...ask, cluster: "a", module: "b", from: "c", to: "d" }, KEY).length).toBe(FARM_FLOWS_MIN_FRAME);
  });

  it("refuses a wrong key, an altered byte, another magic or version, a short or long frame", () => {
    const bytes = encodeFarmFlows(tell, KEY);
    expectDecodeError(decodeFarmFlows(bytes, OTHER_KEY), "bad-mac", /HMAC-SHA256 at offset \d+/);
    const altered = bytes.slice();
    altered[40] = (altered[40] ?? 0) ^ 1;
    expectDecodeError(decodeFarmFlows(altered, KEY), "bad-mac");
    const magic = bytes.slice();
    magic[0] = 0x41;
    expectDecodeError(decodeFarmFlows(magic, KEY), "bad-magic", /starts with "VGFF"/);
    const version = bytes.slice();
    version[4] = 2;
    expectDecodeError(decodeFarmFlows(version, KEY), "bad-version", /version is 2/);
    expectDecodeError(decodeFarmFlows(bytes.subarray(0, 20), KEY), "truncated");
    expectDecodeError(decodeFarmFlows(new Uint8Array(FARM_FLOWS_MAX_FRAME + 1), KEY), "oversized");
  });

  it("names the field of a well-signed but malformed message", () => {
    const bytes = encodeFarmFlows(empty, KEY);
    // part 0 of 1 sits right after askedAt: make it part 1 of 1.
    const partAt = bytes.length - FARM_FLOWS_MAC_BYTES - 6;
    const badPart = bytes.slice();
    badPart[partAt + 1] = 1;
    expectDecodeError(decodeFarmFlows(resign(badPart), KEY), "malformed", /part at offset \d+ is 1 of 1/);
    const badCount = bytes.slice();
    badCount[partAt + 5] = 1;
    expectDecodeError(decodeFarmFlows(resign(badCount), KEY), "malformed", /client address of flow 0/);
    const badType = bytes.slice();
    badType[5] = 9;
    expectDecodeError(decodeFarmFlows(resign(badType), KEY), "malformed", /type at offset 5 is 9; expected 1 \(ask\), 2 \(tell\), 3 \(check\) or 4 \(disclaim\)/);
    const askBytes = encodeFarmFlows(ask, KEY);
    const nan = askBytes.slice();
    nan.set([0x7f, 0xf8, 0, 0, 0, 0, 0, 0], askBytes.length - FARM_FLOWS_MAC_BYTES - 8);
    expectDecodeError(decodeFarmFlows(resign(nan), KEY), "malformed", /askedAt at offset \d+ is NaN/);
  });

  it("the encoder refuses what it must not send", () => {
    expect(() => encodeFarmFlows({ ...ask, from: "" }, KEY)).toThrow(/sender name must not be empty/);
    expect(() => encodeFarmFlows({ ...tell, part: 3 }, KEY)).toThrow(/part must be a whole number 0-2/);
    expect(() => encodeFarmFlows({ ...tell, flows: [...flows, flows[0]!] }, KEY)).toThrow(/number of flows/);
    expect(() => encodeFarmFlows({ ...empty, flows: [{ client: 1, port: 1, vipPort: 0 }] }, KEY)).toThrow(/VIP port/);
    expect(() => encodeFarmFlows({ ...ask, askedAt: Number.NaN }, KEY)).toThrow(/askedAt/);
  });

  it("splits flows into parts of at most FARM_FLOWS_PER_PART, one empty part for none", () => {
    expect(flowParts([])).toEqual([[]]);
    const many = Array.from({ length: 2 * FARM_FLOWS_PER_PART + 1 }, (_, i) => ({ client: i, port: i, vipPort: 53 }));
    expect(flowParts(many).map((p) => p.length)).toEqual([FARM_FLOWS_PER_PART, FARM_FLOWS_PER_PART, 1]);
    expect(flowParts(many).flat()).toEqual(many);
  });

  it("property: mutated, cut, grown and re-signed frames only ever give a typed error or a message that encodes back to the same bytes", () => {
    const rnd = randomSource(11);
    const seeds = [ask, tell, empty, check, disclaim].map((m) => encodeFarmFlows(m, KEY));
    let accepted = 0;
    for (let n = 0; n < 1500; n++) {
      const src = seeds[n % seeds.length]!;
      let body = src.slice(0, src.length - FARM_FLOWS_MAC_BYTES);
      const how = Math.floor(rnd() * 4);
      if (how === 0) {
        for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) body[Math.floor(rnd() * body.length)] = Math.floor(rnd() * 256);
      } else if (how === 1) {
        body = body.slice(0, Math.floor(rnd() * body.length));
      } else if (how === 2) {
        const extra = new Uint8Array(1 + Math.floor(rnd() * 16)).map(() => Math.floor(rnd() * 256));
        const grown = new Uint8Array(body.length + extra.length);
        grown.set(body);
        grown.set(extra, body.length);
        body = grown;
      } else {
        // Names and lengths are where a parser goes wrong: hit the first 60 bytes.
        body[6 + Math.floor(rnd() * 54)] = Math.floor(rnd() * 256);
      }
      const framed = new Uint8Array(body.length + FARM_FLOWS_MAC_BYTES);
      framed.set(body);
      const signed = resign(framed);
      const r = decodeFarmFlows(signed, KEY);
      if (r.ok) {
        accepted++;
        const again = encodeFarmFlows(r.message, KEY);
        if (again.length !== signed.length || again.some((b, i) => b !== signed[i])) expect.fail(`accepted frame ${n} does not encode back to the same bytes`);
      } else {
        if (!KINDS.has(r.error.kind) || r.error.detail.length === 0) expect.fail(`frame ${n}: ${JSON.stringify(r.error)}`);
      }
    }
    // The run reaches the parser, not only the outer checks.
    expect(accepted).toBeGreaterThan(25);
  });
});
