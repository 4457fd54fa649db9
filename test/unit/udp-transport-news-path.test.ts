/**
 * The heartbeat transport's news paths (udp-transport.ts, "News"): a frame
 * sent as news to a peer that takes it leaves from port + 1 and is read by
 * the peer at once, while the peer reads the other frames once per round
 * when it says so (peerPaths' readLate). The checks run under Bun in a child
 * (fixtures/udp-news-path-probe.ts, loopback only); this file asserts on
 * what it printed.
 */
import { describe, expect, it } from "vitest";
import { runBunProbe } from "./bun-probe.ts";

type Got = { byte: number; fromPort: number; aged: boolean; news: boolean };

describe("UDP transport news paths", () => {
  const seen = runBunProbe("udp-news-path-probe.ts");
  const port = Number(seen.get("unknown")?.["port"]);

  it("runs on Bun to its end", () => {
    expect(seen.get("backend")?.["name"]).toBe("polled");
    expect(seen.has("done")).toBe(true);
  });

  it("to a peer not known to take news, news leaves from the port like any frame, read as it comes", () => {
    expect(seen.get("unknown")?.["got"]).toEqual([
      { byte: 1, fromPort: port, aged: false, news: false },
      { byte: 2, fromPort: port, aged: false, news: false },
    ]);
  });

  it("to a peer that takes it, news leaves from port + 1 and arrives on the news socket; the rest from the port", () => {
    expect(seen.get("send-news")?.["found"]).toBe(true);
    expect(seen.get("news")?.["got"]).toEqual([
      { byte: 3, fromPort: port, aged: false, news: false },
      { byte: 4, fromPort: port + 1, aged: false, news: true },
    ]);
  });

  it("to a peer that does not read our news from port + 1, news leaves from the port; a probe still from port + 1", () => {
    expect(seen.get("probe")?.["got"]).toEqual([
      { byte: 30, fromPort: port, aged: false, news: false },
      { byte: 31, fromPort: port + 1, aged: false, news: true },
    ]);
  });

  it("read late, a peer's frames wait until readArrived and come with their age; its news comes at once", () => {
    const late = seen.get("late");
    expect(late?.["beforeRead"]).toEqual([{ byte: 6, fromPort: port + 1, aged: false, news: true }]);
    expect(late?.["read"]).toBe(1);
    expect(late?.["afterRead"]).toEqual([{ byte: 5, fromPort: port, aged: true, news: false }]);
  });

  it("back to reading as they come: the frame that waited is handed over, then the next as it comes", () => {
    const back = seen.get("back");
    expect((back?.["got"] as Got[]).map((g) => g.byte)).toEqual([7, 8]);
    expect(back?.["readArrived"]).toBe(0);
  });

  it("an address that is no peer of a link has no news path", () => {
    expect(seen.get("stranger")?.["found"]).toBe(false);
  });
});
