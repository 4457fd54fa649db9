/**
 * The VRRP driver and the heartbeat: what peers' frames say about the
 * instances they are MASTER of reaches the core (a hold while the silent
 * master still says so, a takeover once it says it left MASTER), and what
 * this node is MASTER of is published only while its addresses are up.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { masterDownIntervalMs } from "../../src/core/vrrp/vrrp.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import type { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import type { VrrpMasterClaim } from "../../src/proto/heartbeat.ts";
import { advertFrom, oneInstanceEngine, Socket } from "./vrrp-engine-fixture.ts";

const US = "198.51.100.12";
const MASTER = "198.51.100.11";
const ADVERT_MS = 1000;
const MDI = masterDownIntervalMs(100, ADVERT_MS, 3);
const CLAIM: VrrpMasterClaim = { instance: "VI_1", vrid: 51, address: MASTER };

function advertFromMaster(): Uint8Array {
  return advertFrom(MASTER, 150, ADVERT_MS);
}

function node(priority: number, primary: string): { engine: VrrpEngine; socket: Socket; vips: Set<string>; lines: string[]; metrics: Metrics } {
  const socket = new Socket();
  const lines: string[] = [];
  const metrics = new Metrics();
  const { engine, vips } = oneInstanceEngine({ socket, self: primary, priority, advertMs: ADVERT_MS, lines, metrics, linkPollMs: 60_000 });
  return { engine, socket, vips, lines, metrics };
}

describe("VRRP driver: the heartbeat's word on who is MASTER", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("adverts stop but the master's node keeps saying MASTER in its heartbeat: the BACKUP holds, then takes over once the node says it left MASTER", async () => {
    const b = node(100, US);
    await b.engine.start();
    b.socket.receive(advertFromMaster());
    // Heartbeat frames every 100 ms, each saying h1 is MASTER of VI_1; no more adverts.
    const beat = setInterval(() => b.engine.heartbeatFrame("h1", [CLAIM]), 100);
    await vi.advanceTimersByTimeAsync(MDI + 500);
    expect(b.engine.state("VI_1")?.role).toBe("backup");
    expect(b.engine.state("VI_1")?.hold).toMatchObject({ node: "h1", address: MASTER });
    expect(b.lines.some((l) => /warn  vrrp VI_1 takeover held .*node=h1/.test(l))).toBe(true);
    expect(b.metrics.render()).toMatch(/vigil_vrrp_takeovers_held_total\{instance="VI_1"\} 1/);
    // Its rechecks, with fresh heartbeat news each time, keep it BACKUP well inside the bound.
    await vi.advanceTimersByTimeAsync(MDI - 1000);
    expect(b.engine.state("VI_1")?.role).toBe("backup");

    clearInterval(beat);
    b.engine.heartbeatFrame("h1", []);
    await b.engine.settled();
    expect(b.engine.state("VI_1")?.role).toBe("master");
    expect(b.engine.state("VI_1")?.counters.takeoversHeld).toBe(1);
    expect(b.vips).toEqual(new Set(["198.51.100.100"]));
    expect(b.lines.some((l) => /vrrp VI_1 MASTER .*node h1 says it is no longer MASTER/.test(l))).toBe(true);
    await b.engine.stop();
  });

  it("a peer of an older release (frames without VRRP instances) changes nothing: the RFC takeover at Master_Down_Interval", async () => {
    const b = node(100, US);
    await b.engine.start();
    b.socket.receive(advertFromMaster());
    const beat = setInterval(() => b.engine.heartbeatFrame("h1", undefined), 100);
    await vi.advanceTimersByTimeAsync(MDI + 50);
    clearInterval(beat);
    await b.engine.settled();
    expect(b.engine.state("VI_1")?.role).toBe("master");
    expect(b.engine.state("VI_1")?.counters.takeoversHeld).toBe(0);
    await b.engine.stop();
  });

  it("publishes an instance as MASTER once its addresses are up, and no more once they are gone", async () => {
    const m = node(255, MASTER);
    expect(m.engine.vrrpClaims()).toEqual([]);
    await m.engine.start();
    await m.engine.settled();
    expect(m.vips.size).toBe(1);
    expect(m.engine.vrrpClaims()).toEqual([CLAIM]);
    await m.engine.stop();
    expect(m.vips.size).toBe(0);
    expect(m.engine.vrrpClaims()).toEqual([]);
  });
});
