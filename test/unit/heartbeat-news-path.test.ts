/**
 * The heartbeat driver's news paths (news-path.ts, udp-transport.ts "News"):
 * which of its rounds go out as news, and what it tells the transport about
 * each peer as the peer's version and its news path change.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { echoesNews, forgetSentAt, NEWS_PROBE_EVERY_ROUNDS, NEWS_SILENT_PROBES, newsPathFor, noteSentAt } from "../../src/core/membership/news-path.ts";
import type { Endpoint, PeerPaths, Transport } from "../../src/net/udp-transport.ts";
import { decodeHeartbeat, encodeHeartbeat, type ModuleAdvert } from "../../src/proto/heartbeat.ts";
import { KEY, pairEngine } from "./heartbeat-engine-pair.ts";

const START = 9_000_000;
const B: Endpoint = { address: "198.51.100.12", port: 7694 };
const ADVERT: ModuleAdvert = { module: "web", role: "prim", generation: 1 };

function node() {
  const receivers: ((link: number, bytes: Uint8Array, from: Endpoint, ageMs?: number, news?: boolean) => void)[] = [];
  const paths: { address: string; p: PeerPaths }[] = [];
  /** How each of our frames left: false from the port, true as news, "probe" as a probe; and its send time. */
  const sent: (boolean | "probe")[] = [];
  const sentAt: number[] = [];
  const versions: number[] = [];
  let seq = 0;
  let reads = 0;
  const transport: Transport = {
    send: (_l, b, news) => {
      sent.push(news ?? false);
      const d = decodeHeartbeat(b, KEY);
      sentAt.push(d.ok ? d.frame.sentAt : NaN);
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
  const { e, lines } = pairEngine("a", () => Promise.resolve(transport), {
    // A clock that moves between two readings, as performance.now() does: a probe right after its periodic round has a send time of its own.
    clock: () => Date.now() + ++reads * 1e-6,
    newsPaths: "split",
  });
  /** A frame of b's in `version`, from its port (routine) or its port + 1 (news); `echo`: the send time of ours it echoes. */
  const frame = (version: number, news: boolean, modules: ModuleAdvert[] = [], echo?: number) => {
    const echoes = echo === undefined ? [] : [{ node: "a", sentAt: echo, heldMs: 1 }];
    const bytes = encodeHeartbeat({ cluster: "lab", node: "b", epoch: 1n, seq: ++seq, sentAt: Date.now(), link: 0, echoes, modules }, KEY, version);
    for (const cb of receivers) cb(0, bytes, news ? { ...B, port: B.port + 1 } : B, undefined, news);
  };
  return { e, frame, paths, sent, sentAt, versions, lines };
}

describe("news paths: the pure rule", () => {
  it("probes a peer of version 4; reads its frames late only while its news path was heard lately, sends it news so only while it echoed ours lately", () => {
    const silent = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * 100;
    const none = { newsHeardAt: null, newsEchoedAt: null };
    expect(newsPathFor({ version: undefined, ...none }, 0, 100)).toEqual({ readLate: false, sendNews: false, probe: false });
    expect(newsPathFor({ version: 3, newsHeardAt: 0, newsEchoedAt: 0 }, 0, 100)).toEqual({ readLate: false, sendNews: false, probe: false });
    expect(newsPathFor({ version: 4, ...none }, 0, 100)).toEqual({ readLate: false, sendNews: false, probe: true });
    expect(newsPathFor({ version: 4, newsHeardAt: 0, newsEchoedAt: null }, silent, 100)).toEqual({ readLate: true, sendNews: false, probe: true });
    expect(newsPathFor({ version: 4, newsHeardAt: null, newsEchoedAt: 0 }, silent, 100)).toEqual({ readLate: false, sendNews: true, probe: true });
    expect(newsPathFor({ version: 4, newsHeardAt: 0, newsEchoedAt: 0 }, silent + 1, 100)).toEqual({ readLate: false, sendNews: false, probe: true });
  });

  it("an echo proves the peer read our port + 1 only when it names a round of ours that left from there, and no periodic round sent at the same time", () => {
    const sent: number[] = [];
    noteSentAt(sent, 5, 4);
    noteSentAt(sent, 8, 8); // sent in the step of a periodic round: not told apart by its echo
    noteSentAt(sent, 9, 8);
    forgetSentAt(sent, 9); // a periodic round followed in the same step
    noteSentAt(sent, 12, 11);
    expect(sent).toEqual([5, 12]);
    expect(echoesNews(sent, 12)).toBe(true);
    expect(echoesNews(sent, 9)).toBe(false);
    expect(echoesNews(sent, 11)).toBe(false);
    expect(echoesNews(sent, undefined)).toBe(false);
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
    expect(n.sent.filter((x) => x === false)).toHaveLength(3 * NEWS_PROBE_EVERY_ROUNDS);
    // Each probe right after its periodic round.
    for (let k = 1; k <= 3; k++) expect(n.sent[k * (NEWS_PROBE_EVERY_ROUNDS + 1) - 1]).toBe("probe");
    // Version 4, which says this node reads news from a peer's port + 1 (an engine without news paths writes 3).
    expect(new Set(n.versions)).toEqual(new Set([4]));
  });

  it("a version 3 peer gets no news path; a version 4 one gets our probes, and its frames are read late once its news path is heard, as they come again when it falls silent", async () => {
    const n = node();
    await n.e.start();
    n.frame(3, false);
    await vi.advanceTimersByTimeAsync(200);
    expect(n.paths).toEqual([]);
    n.frame(4, false);
    await vi.advanceTimersByTimeAsync(100);
    expect(n.paths).toEqual([{ address: B.address, p: { readLate: false, sendNews: false, probe: true } }]);
    n.frame(4, true);
    await vi.advanceTimersByTimeAsync(100);
    expect(n.paths.at(-1)).toEqual({ address: B.address, p: { readLate: true, sendNews: false, probe: true } });
    expect(n.lines.some((l) => l.includes("peer b: its frames are read once per round"))).toBe(true);
    // Its routine frames keep coming, nothing from its port + 1 any more (a firewall).
    const silentMs = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * 100;
    for (let t = 0; t < silentMs + 300; t += 100) {
      n.frame(4, false);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(n.paths.at(-1)).toEqual({ address: B.address, p: { readLate: false, sendNews: false, probe: true } });
    expect(n.lines.some((l) => /warn .*peer b: nothing came from its port \+ 1 for \d+ ms/.test(l))).toBe(true);
    await n.e.stop();
  });

  it("sends news from port + 1 only while the peer echoes a round of ours that left from there; after NEWS_SILENT_PROBES probes without, from the port again, probes still from port + 1", async () => {
    const n = node();
    await n.e.start();
    n.frame(4, false);
    await vi.advanceTimersByTimeAsync(100);
    // Not yet seen to read our port + 1: news from the port, probes from port + 1.
    expect(n.paths.at(-1)?.p).toEqual({ readLate: false, sendNews: false, probe: true });
    n.e.publish();
    await vi.advanceTimersByTimeAsync(1);
    expect(n.sent.at(-1)).toBe(true);
    await vi.advanceTimersByTimeAsync(100 * NEWS_PROBE_EVERY_ROUNDS);
    const probeAt = n.sentAt[n.sent.lastIndexOf("probe")];
    expect(probeAt).toBeDefined();
    // b echoes a periodic round: nothing proven.
    n.frame(4, false, [], n.sentAt[n.sent.lastIndexOf(false)]);
    await vi.advanceTimersByTimeAsync(100);
    expect(n.paths.at(-1)?.p.sendNews).toBe(false);
    // b echoes the probe: it reads our port + 1.
    n.frame(4, false, [], probeAt);
    await vi.advanceTimersByTimeAsync(100);
    expect(n.paths.at(-1)?.p).toEqual({ readLate: false, sendNews: true, probe: true });
    expect(n.lines.some((l) => l.includes("peer b: it reads our news from our port + 1; our news goes to it from there"))).toBe(true);
    // From now on b echoes only our periodic rounds (our port + 1 dropped on the way).
    const silentMs = NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * 100;
    let probes = 0;
    for (let t = 0; t < silentMs + 300; t += 100) {
      n.frame(4, false, [], n.sentAt[n.sent.lastIndexOf(false)]);
      const before = n.sent.length;
      await vi.advanceTimersByTimeAsync(100);
      probes += n.sent.slice(before).filter((x) => x === "probe").length;
    }
    expect(probes).toBeGreaterThanOrEqual(NEWS_SILENT_PROBES);
    expect(n.paths.at(-1)?.p).toEqual({ readLate: false, sendNews: false, probe: true });
    expect(n.lines.some((l) => /warn .*peer b: it has read nothing from our port \+ 1 for \d+ ms .*; our news goes to it from the port/.test(l))).toBe(true);
    await n.e.stop();
  });

  it("says nothing about the port + 1 of a peer that went quiet altogether (dead): only its news paths go", async () => {
    const n = node();
    await n.e.start();
    // b up and heard on both paths; it echoes our first probe.
    let probeAt: number | undefined;
    for (let t = 0; t < 100 * (NEWS_PROBE_EVERY_ROUNDS + 2); t += 100) {
      const at = n.sent.lastIndexOf("probe");
      if (at >= 0) probeAt = n.sentAt[at];
      n.frame(4, t === 0, [], probeAt);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(n.paths.at(-1)?.p).toEqual({ readLate: true, sendNews: true, probe: true });
    // Then nothing from b at all.
    await vi.advanceTimersByTimeAsync(NEWS_SILENT_PROBES * NEWS_PROBE_EVERY_ROUNDS * 100 + 1_000);
    expect(n.lines.some((l) => l.includes("peer b dead"))).toBe(true);
    expect(n.paths.at(-1)?.p).toEqual({ readLate: false, sendNews: false, probe: true });
    expect(n.lines.filter((l) => /warn .*port \+ 1/.test(l))).toEqual([]);
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
