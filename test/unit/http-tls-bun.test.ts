/**
 * The console's TLS listener under Bun, the runtime of the vigil binary: the
 * checks run under Bun in a child (fixtures/tls-bun-probe.ts, loopback
 * only), this file asserts on what it printed. The same listener under Node
 * is http-tls.test.ts.
 */
import { describe, expect, it } from "vitest";
import { runBunProbe } from "./bun-probe.ts";

describe("the console listener over TLS, under Bun", () => {
  const seen = runBunProbe("tls-bun-probe.ts");

  it("answers over https and tells the handler the client's address, that it is secure, and the port", () => {
    const r = seen.get("request");
    expect(r?.["answer"]).toBe(`https: 127.0.0.1 true ${String(r?.["port"])}`);
    expect(seen.has("done")).toBe(true);
  });

  it("bounds and times out connections that never finish their handshake, and serves again after", () => {
    const s = seen.get("stalled");
    // Four per client: the fifth and sixth are refused at once, the other four cut at the header timeout.
    expect(s?.["closed"]).toBe(6);
    expect(s?.["refusedConnections"]).toBe(2);
    expect(s?.["headerTimeouts"]).toBe(4);
    expect(s?.["openNow"]).toBe(0);
    expect(seen.get("after")?.["answer"]).toMatch(/^https: 127\.0\.0\.1 true /);
  });
});
