/**
 * The VRRP hold and a heartbeat that reads its frames late (once per round,
 * from sockets the event loop does not watch): a claim counts from its
 * frame's arrival, and the frames still waiting are read before a hold is
 * judged. Otherwise a late read makes a dead master's last claim look fresh
 * (a hold over a dead master), and an unread one makes a live master's
 * claim look stale (a takeover from a master that is there).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { masterDownIntervalMs } from "../../src/core/vrrp/vrrp.ts";
import type { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import type { VrrpMasterClaim } from "../../src/proto/heartbeat.ts";
import { advertFrom, oneInstanceEngine, Socket } from "./vrrp-engine-fixture.ts";

const US = "198.51.100.12";
const MASTER = "198.51.100.11";
const ADVERT_MS = 1000;
const MDI = masterDownIntervalMs(100, ADVERT_MS, 3);
const CLAIM: VrrpMasterClaim = { instance: "VI_1", vrid: 51, address: MASTER };

/** A BACKUP whose heartbeat frames from h1 wait unread (their arrival times kept) until `read` hands them over. */
function backup(readBeforeHold: boolean): { engine: VrrpEngine; socket: Socket; arrive: () => void; read: () => void } {
  const socket = new Socket();
  const waiting: number[] = [];
  let engine: VrrpEngine | undefined;
  const read = (): void => {
    for (const at of waiting.splice(0)) engine?.heartbeatFrame("h1", [CLAIM], at);
  };
  engine = oneInstanceEngine({ socket, self: US, priority: 100, advertMs: ADVERT_MS, linkPollMs: 60_000, ...(readBeforeHold ? { readHeartbeat: read } : {}) }).engine;
  return { engine, socket, arrive: () => void waiting.push(Date.now()), read };
}

describe("VRRP hold on heartbeat frames read late", () => {
  beforeEach(() => vi.useFakeTimers({ now: 2_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("reads the waiting frames before judging: a master whose node still says MASTER is held, not taken over from", async () => {
    for (const readBeforeHold of [true, false]) {
      const b = backup(readBeforeHold);
      await b.engine.start();
      b.socket.receive(advertFrom(MASTER, 150, ADVERT_MS));
      // h1's frames keep coming every 100 ms; the heartbeat has read none of them yet when the deadline comes.
      const beat = setInterval(b.arrive, 100);
      await vi.advanceTimersByTimeAsync(MDI + 50);
      clearInterval(beat);
      await b.engine.settled();
      const role = b.engine.state("VI_1")?.role;
      await b.engine.stop();
      expect(role, `read before the hold: ${readBeforeHold}`).toBe(readBeforeHold ? "backup" : "master");
    }
  });

  it("a dead master's last claims, read only at the deadline, count from their arrival: no hold", async () => {
    const b = backup(true);
    await b.engine.start();
    b.socket.receive(advertFrom(MASTER, 150, ADVERT_MS));
    // h1 dies 50 ms after its last advert; its last frames are read only at the deadline, MDI later.
    b.arrive();
    await vi.advanceTimersByTimeAsync(50);
    b.arrive();
    await vi.advanceTimersByTimeAsync(MDI);
    await b.engine.settled();
    const s = b.engine.state("VI_1");
    await b.engine.stop();
    expect(s?.role).toBe("master");
    expect(s?.counters.takeoversHeld).toBe(0);
  });
});
