/**
 * The VRRP driver hands a MASTER's adverts to its socket's backstop thread
 * (src/net/raw-vrrp-backstop.ts), exactly the bytes it sent, and takes them
 * back at once, before any queued action runs, when the instance stops being
 * MASTER: the backstop must never advertise for a node that resigned.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { masterDownIntervalMs } from "../../src/core/vrrp/vrrp.ts";
import type { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import type { VrrpSocket } from "../../src/net/raw-vrrp.ts";
import { VRRP_MULTICAST_V4 } from "../../src/proto/vrrp.ts";
import { advertFrom, oneInstanceEngine } from "./vrrp-engine-fixture.ts";

const US = "198.51.100.11";
const OTHER = "198.51.100.12";
const ADVERT_MS = 20;
const MDI = masterDownIntervalMs(150, ADVERT_MS, 3);

interface Kept {
  slot: number;
  adverts: { bytes: Uint8Array; dst: string }[];
  intervalMs: number;
  leaseMs: number;
}

/** A socket with a backstop: records what it was asked to keep sending, and when it was told to stop. */
class BackstopSocket implements VrrpSocket {
  readonly sent: { bytes: Uint8Array; dst: string }[] = [];
  readonly log: string[] = [];
  kept: Kept | undefined;
  armed = false;
  byBackstop = 0;
  private sink: (p: Uint8Array) => void = () => {};
  send(bytes: Uint8Array, dst: string): void {
    this.sent.push({ bytes, dst });
  }
  onPacket(cb: (p: Uint8Array) => void): void {
    this.sink = cb;
  }
  onError(): void {}
  deliver(p: Uint8Array): void {
    this.sink(p);
  }
  keepAdvertising(slot: number, adverts: readonly { bytes: Uint8Array; dst: string }[], intervalMs: number, leaseMs: number): boolean {
    this.kept = { slot, adverts: [...adverts], intervalMs, leaseMs };
    this.armed = true;
    return true;
  }
  stopAdvertising(slot: number): void {
    if (this.armed) this.log.push(`disarmed ${slot}`);
    this.armed = false;
  }
  advertsByBackstop(): number {
    return this.byBackstop;
  }
  async close(): Promise<void> {}
}

function node(socket: BackstopSocket, lines: string[]): { engine: VrrpEngine; vips: Set<string>; removes: string[] } {
  const removes: string[] = [];
  const onRemove = () => void removes.push(`remove while armed=${String(socket.armed)}`);
  return { ...oneInstanceEngine({ socket, self: US, priority: 150, advertMs: ADVERT_MS, lines, onRemove }), removes };
}

/** Our instance started and MASTER for five adverts, its backstop armed; `removes` counts from after start-up's removal of leftovers. */
async function master(lines: string[] = []): Promise<{ socket: BackstopSocket; engine: VrrpEngine; removes: string[] }> {
  const socket = new BackstopSocket();
  const { engine, removes } = node(socket, lines);
  await engine.start();
  removes.splice(0);
  await vi.advanceTimersByTimeAsync(MDI + 5 * ADVERT_MS);
  return { socket, engine, removes };
}

describe("VRRP advert backstop hand-off", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("a MASTER hands the backstop the adverts it sent, with its interval and a lease of ten adverts", async () => {
    const { socket, engine } = await master();
    expect(engine.state("VI_1")?.role).toBe("master");
    const last = socket.sent.at(-1);
    expect(socket.armed).toBe(true);
    expect(socket.kept?.slot).toBe(0);
    expect(socket.kept?.intervalMs).toBe(ADVERT_MS);
    expect(socket.kept?.leaseMs).toBe(10 * ADVERT_MS);
    expect(socket.kept?.adverts).toEqual([{ bytes: last?.bytes, dst: VRRP_MULTICAST_V4 }]);
    await engine.stop();
  });

  it("a BACKUP never arms it", async () => {
    const socket = new BackstopSocket();
    const { engine } = node(socket, []);
    await engine.start();
    for (let t = 0; t < 10; t++) {
      socket.deliver(advertFrom(OTHER, 200, ADVERT_MS));
      await vi.advanceTimersByTimeAsync(ADVERT_MS);
    }
    expect(engine.state("VI_1")?.role).toBe("backup");
    expect(socket.kept).toBeUndefined();
    await engine.stop();
  });

  it("a MASTER that hears a higher priority disarms it at once, before its VIPs are removed", async () => {
    const { socket, engine, removes } = await master();
    expect(socket.armed).toBe(true);
    socket.deliver(advertFrom(OTHER, 200, ADVERT_MS));
    // Synchronously, in the same turn as the advert: no queued action has run yet.
    expect(socket.armed).toBe(false);
    await vi.advanceTimersByTimeAsync(ADVERT_MS);
    expect(engine.state("VI_1")?.role).toBe("backup");
    expect(removes).toEqual(["remove while armed=false"]);
    expect(socket.armed).toBe(false);
    await engine.stop();
  });

  it("stopping disarms it before the VIPs go and the priority-0 advert is sent, and it is not armed again", async () => {
    const { socket, engine, removes } = await master();
    expect(socket.armed).toBe(true);
    await engine.stop();
    expect(removes).toEqual(["remove while armed=false"]);
    expect(socket.armed).toBe(false);
    expect(socket.log).toEqual(["disarmed 0"]);
  });

  it("says (rate-limited) when the backstop had to send", async () => {
    const lines: string[] = [];
    const { socket, engine } = await master(lines);
    expect(lines.filter((l) => l.includes("backstop"))).toEqual([]);
    socket.byBackstop = 2;
    await vi.advanceTimersByTimeAsync(3 * ADVERT_MS);
    socket.byBackstop = 3;
    await vi.advanceTimersByTimeAsync(3 * ADVERT_MS);
    const said = lines.filter((l) => l.includes("backstop"));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain("adverts=2");
    await engine.stop();
  });
});
