/**
 * The frame MAC (src/proto/hmac-sha256.ts) against node:crypto's HMAC, on
 * Node here and on Bun (the binary's runtime, where the digests are written
 * into reused buffers) in a child.
 */
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { hmacSha256Into, hmacSha256PrefixInto } from "../../src/proto/hmac-sha256.ts";
import { cases, macsHex, prefixCases, prefixMacsHex } from "./fixtures/hmac-cases.ts";

const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const FIXTURE = path.resolve(import.meta.dirname, "fixtures/hmac-cases.ts");

const reference = (): string[] => cases().map(({ key, message }) => createHmac("sha256", key).update(message).digest("hex"));
const prefixReference = (): string[] => prefixCases().map(({ key, buffer, length }) => createHmac("sha256", key).update(buffer.subarray(0, length)).digest("hex"));

describe("HMAC-SHA256 with per-key pads", () => {
  it("equals node:crypto's HMAC for short, block-sized and long keys and messages", () => {
    expect(macsHex()).toEqual(reference());
  });

  it("equals it under Bun too", () => {
    const r = spawnSync(BUN, [FIXTURE], { encoding: "utf8", timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as { bun: boolean; macs: string[]; prefixMacs: string[] };
    expect(seen.bun).toBe(true);
    expect(seen.macs).toEqual(reference());
    expect(seen.prefixMacs).toEqual(prefixReference());
  });

  it("signs a prefix of a buffer (a frame without its MAC), lengths again and after the key's buffers grew", () => {
    expect(prefixMacsHex()).toEqual(prefixReference());
  });

  it("refuses a prefix longer than the buffer", () => {
    expect(() => hmacSha256PrefixInto(new Uint8Array(32), new Uint8Array(10), 11, new Uint8Array(32))).toThrow(RangeError);
  });

  it("notices a key changed in place", () => {
    const key = new Uint8Array(32).fill(1);
    const message = new Uint8Array([1, 2, 3]);
    const out = new Uint8Array(32);
    hmacSha256Into(key, message, out);
    expect(Buffer.from(out).toString("hex")).toBe(createHmac("sha256", key).update(message).digest("hex"));
    key[31] = 2;
    hmacSha256Into(key, message, out);
    expect(Buffer.from(out).toString("hex")).toBe(createHmac("sha256", key).update(message).digest("hex"));
  });

  it("writes into a view at an offset and nowhere else", () => {
    const key = new Uint8Array([9, 9, 9]);
    const message = new Uint8Array(100).fill(5);
    const buf = new Uint8Array(40).fill(0xee);
    hmacSha256Into(key, message, buf.subarray(4, 36));
    expect(Buffer.from(buf.subarray(4, 36)).toString("hex")).toBe(createHmac("sha256", key).update(message).digest("hex"));
    expect([...buf.subarray(0, 4), ...buf.subarray(36)]).toEqual(new Array(8).fill(0xee));
  });
});
