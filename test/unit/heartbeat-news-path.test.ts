/**
 * The heartbeat driver's news paths (news-path.ts, udp-transport.ts "News"):
 * which of its rounds go out as news, and what it tells the transport about
 * each peer as the peer's version and its news path change.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MembershipConfig } from "../../src/core/membership/membership.ts";
import { NEWS_PROBE_EVERY_ROUNDS, NEWS_SILENT_PROBES, newsPathFor } from "../../src/core/membership/news-path.ts";
import { HeartbeatEngine } from "../../src/daemon/heartbeat/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import type { Endpoint, PeerPaths, Transport } from "../../src/net/udp-transport.ts";
import { encodeHeartbeat, type ModuleAdvert } from "../../src/proto/heartbeat.ts";
import { KEY, pairMembership } from "./heartbeat-engine-pair.ts";

const START = 9_000_000;
const B: Endpoint = { address: "198.51.100.12", port: 7694 };
const membership: MembershipConfig = pairMembership("a");
const ADVERT: ModuleAdvert = { module: "web", role: "prim", generation: 1 };

function node() {
  const receivers: ((link: number, bytes: Uint8Array, from: Endpoint, ageMs?: number, news?: boolean) => void)[] = [];
  const paths: { address: string; p: PeerPaths }[] = [];
  const sent: boolean[] = [];
  const versions: number[] = [];
  const lines: string[] = [];
  let seq = 0;
  const transport: Transport = {
    send: (_l, b, news) => {
      sent.push(news === true);
      versions.push(b[4] ?? -1);
    },
    onReceive: (cb) => void receivers.push(cb),
    onError() {},
    readArrived: () => 0,
    readQueued: () => 0,
    peerPaths: (address, p) => {
      paths.push({ address, p: { ...p } });
      return Promise.resolve(true);
    },
    close: () => Promise.resolve(),
  };
  const e = new HeartbeatEngine({
    membership, key: KEY, links: [{ index: 0, localAddress: "198.51.100.11", port: 7694, mode: "unicast", peers: [B.address] }],
    openTransport: () => Promise.resolve(transport), log: new Logger("text", (l) => lines.push(l)), metrics: new Metrics(), clock: () => Date.now(),
    newsPaths: "split",
  });
  /** A frame of b's in `version`, from its port (routine) or its port + 1 (news). */
  const frame = (version: number, news: boolean, modules: ModuleAdvert[] = []) => {
    const bytes = encodeHeartbeat({ cluster: "lab", node: "b", epoch: 1n, seq: ++seq, sentAt: Date.now(), link: 0, echoes: [], modules }, KEY, version);
    for (const cb of receivers) cb(0, bytes, news ? { ...B, port: B.port + 1 } : B, undefined, news);
  };
  return { e, frame, paths, sent, versions, lines };
}

describe("news paths: the pure rule", () => {
  it("sends news to a peer of version 4; reads its frames late only while its news path was heard lately", () => {
    const silent = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * 100;
    expect(newsPathFor({ version: undefined, newsHeardAt: null }, 0, 100)).toEqual({ readLate: false, sendNews: false });
    expect(newsPathFor({ version: 3, newsHeardAt: 0 }, 0, 100)).toEqual({ readLate: false, sendNews: false });
    expect(newsPathFor({ version: 4, newsHeardAt: null }, 0, 100)).toEqual({ readLate: false, sendNews: true });
    expect(newsPathFor({ version: 4, newsHeardAt: 0 }, silent, 100)).toEqual({ readLate: true, sendNews: true });
    expect(newsPathFor({ version: 4, newsHeardAt: 0 }, silent + 1, 100)).toEqual({ readLate: false, sendNews: true });
  });
});

describe("heartbeat driver with news paths", () => {
  beforeEach(() => vi.useFakeTimers({ now: START }));
  afterEach(() => vi.useRealTimers());

  it("after every NEWS_PROBE_EVERY_ROUNDS periodic rounds, an extra round goes as news (a probe); no periodic round does", async () => {
    const n = node();
    await n.e.start();
    await vi.advanceTimersByTimeAsync(100 * 3 * NEWS_PROBE_EVERY_ROUNDS - 50);
    await n.e.stop();
    expect(n.sent).toHaveLength(3 * NEWS_PROBE_EVERY_ROUNDS + 3);
    expect(n.sent.filter((x) => !x)).toHaveLength(3 * NEWS_PROBE_EVERY_ROUNDS);
    // Each probe right after its periodic round.
    for (let k = 1; k <= 3; k++) expect(n.sent[k * (NEWS_PROBE_EVERY_ROUNDS + 1) - 1]).toBe(true);
    // Version 4, which says this node reads news from a peer's port + 1 (an engine without news paths writes 3).
    expect(new Set(n.versions)).toEqual(new Set([4]));
  });

  it("a version 3 peer gets no news path; a version 4 one gets our news, and its frames are read late once its news path is heard, as they come again when it falls silent", async () => {
    const n = node();
    await n.e.start();
    n.frame(3, false);
    await vi.advanceTimersByTimeAsync(200);
    expect(n.paths).toEqual([]);
    n.frame(4, false);
    await vi.advanceTimersByTimeAsync(100);
    expect(n.paths).toEqual([{ address: B.address, p: { readLate: false, sendNews: true } }]);
    n.frame(4, true);
    await vi.advanceTimersByTimeAsync(100);
    expect(n.paths.at(-1)).toEqual({ address: B.address, p: { readLate: true, sendNews: true } });
    expect(n.lines.some((l) => l.includes("peer b: its frames are read once per round"))).toBe(true);
    // Its routine frames keep coming, nothing from its port + 1 any more (a firewall).
    const silentMs = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * 100;
    for (let t = 0; t < silentMs + 300; t += 100) {
      n.frame(4, false);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(n.paths.at(-1)).toEqual({ address: B.address, p: { readLate: false, sendNews: true } });
    expect(n.lines.some((l) => /warn .*peer b: nothing came from its port \+ 1 for \d+ ms/.test(l))).toBe(true);
    await n.e.stop();
  });

  it("answers a peer's news that says something new with a round of news; not news that only acknowledges ours", async () => {
    const n = node();
    await n.e.start();
    n.frame(4, false);
    await vi.advanceTimersByTimeAsync(30);
    const before = n.sent.length;
    n.frame(4, true, [ADVERT]);
    await vi.advanceTimersByTimeAsync(1);
    expect(n.sent.slice(before)).toEqual([true]);
    // Its next news says the same (an acknowledgement of something of ours): no answer.
    await vi.advanceTimersByTimeAsync(40);
    const after = n.sent.length;
    n.frame(4, true, [ADVERT]);
    await vi.advanceTimersByTimeAsync(1);
    expect(n.sent.slice(after)).toEqual([]);
    await n.e.stop();
  });
});
