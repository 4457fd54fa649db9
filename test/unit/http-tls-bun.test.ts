/**
 * The console's TLS listener under Bun, the runtime of the vigil binary: the
 * checks run under Bun in a child (fixtures/tls-bun-probe.ts, loopback
 * only), this file asserts on what it printed. The same listener under Node
 * is http-tls.test.ts.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const PROBE = path.resolve(import.meta.dirname, "fixtures/tls-bun-probe.ts");

type Line = Record<string, unknown> & { check: string };

function runProbe(): Map<string, Line> {
  const r = spawnSync(BUN, [PROBE], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`the Bun probe exited ${r.status}: ${r.stderr}`);
  return new Map(r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Line).map((l) => [l.check, l]));
}

describe("the console listener over TLS, under Bun", () => {
  const seen = runProbe();

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
