/**
 * The heartbeat transport with polled sockets (src/net/udp-socket-polled.ts),
 * the one a node whose frames feed only the membership uses in the vigil
 * binary: the checks run under Bun in a child
 * (fixtures/udp-polled-probe.ts, loopback only), this file asserts on what
 * it printed.
 */
import { describe, expect, it } from "vitest";
import { dgramBackend } from "../../src/net/udp-socket-dgram.ts";
import { polledUdpBackend } from "../../src/net/udp-socket-polled.ts";
import { runBunProbe } from "./bun-probe.ts";

describe("UDP transport with polled sockets", () => {
  const seen = runBunProbe("udp-polled-probe.ts");

  it("exists on Bun (FFI), not on Node", async () => {
    expect(seen.get("backend")?.["name"]).toBe("polled");
    expect(await polledUdpBackend(dgramBackend)).toBeUndefined();
    expect(seen.has("done")).toBe(true);
  });

  it("hands nothing over until read; then each peer's datagram once, with the kernel's arrival as its age; a stranger never", () => {
    const p = seen.get("polled");
    expect(p?.["beforeRead"]).toBe(0);
    expect(p?.["read"]).toBe(2);
    expect(p?.["again"]).toBe(0);
    const got = p?.["got"] as { bytes: number[]; from: string; ageMs: number; elapsed: number }[];
    expect(got.map((g) => [g.bytes, g.from])).toEqual([[[2], "127.0.0.3"], [[3], "127.0.0.4"]]);
    for (const g of got) {
      // Sent before the hold, read after it: the age covers the hold and no more than the whole time since.
      expect(g.ageMs).toBeGreaterThanOrEqual(Number(p?.["heldMs"]) - 1);
      expect(g.ageMs).toBeLessThanOrEqual(g.elapsed);
    }
    expect(p?.["aHeard"]).toEqual([7]);
    expect(p?.["bHeard"]).toEqual([7]);
  });

  it("several datagrams in one read, then fewer on either socket: each whole and in order, with its age", () => {
    const b = seen.get("batch");
    expect(b?.["reads"]).toEqual([3, 1, 1]);
    const got = b?.["got"] as { bytes: number[]; from: string; ageMs: number | undefined }[];
    expect(got.map((g) => [g.bytes, g.from])).toEqual([
      [[13, 13, 13], "127.0.0.3"],
      [[11], "127.0.0.3"],
      [[15, 15, 15, 15, 15], "127.0.0.3"],
      [[20, 20], "127.0.0.4"],
      [[30, 30, 30, 30], "127.0.0.3"],
    ]);
    for (const g of got) expect(g.ageMs).toBeGreaterThan(0);
  });

  it("a socket that is not connected stays on the runtime's socket, delivered as it comes, without an age", () => {
    expect(seen.get("unconnected")).toMatchObject({ got: [{ bytes: [4] }], read: 0 });
  });

  it("a peer's closed port is reported (ECONNREFUSED) and consumed; no frame to the live peer is lost", () => {
    const r = seen.get("refused");
    expect(r?.["liveHeard"]).toEqual([1, 2, 3, 4]);
    expect((r?.["errors"] as string[]).length).toBeGreaterThan(0);
    expect(new Set(r?.["errors"] as string[])).toEqual(new Set(["ECONNREFUSED"]));
  });

  it("a port in use is a bind error; closing frees it", () => {
    expect(seen.get("in-use")).toMatchObject({ second: "TransportBindError EADDRINUSE", reopened: "opened" });
  });
});
