/**
 * The VRRP driver never lets a timer overtake adverts that arrived before it:
 * after a stall of the main thread (start-up work, a long collection) the
 * master's adverts wait in the queue behind the master-down timer, and a
 * BACKUP acting first would take over from a master that is there (a
 * "double master" at cold start). After a stall of the whole process
 * (SIGSTOP, CPU starvation) the receive Worker may not have read them yet
 * either: they are still in the kernel's queue when the timer runs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { masterDownIntervalMs } from "../../src/core/vrrp/vrrp.ts";
import type { VrrpEngine } from "../../src/daemon/vrrp/engine.ts";
import type { VrrpSocket } from "../../src/net/raw-vrrp.ts";
import { advertFrom, oneInstanceEngine } from "./vrrp-engine-fixture.ts";

const US = "198.51.100.12";
const MASTER = "198.51.100.11";
const ADVERT_MS = 100;
const MDI = masterDownIntervalMs(100, ADVERT_MS, 3);

/** A socket whose received packets wait until the test hands them over, and says how many wait. */
class QueuedSocket implements VrrpSocket {
  readonly waiting: Uint8Array[] = [];
  private sink: (p: Uint8Array) => void = () => {};
  /** false: pending() is not offered, as on a socket that hands packets over at once. */
  constructor(private readonly reportsPending: boolean) {
    if (!reportsPending) delete (this as Partial<QueuedSocket>).pending;
  }
  send(): void {}
  onPacket(cb: (p: Uint8Array) => void): void {
    this.sink = cb;
  }
  onError(): void {}
  pending(): number {
    return this.waiting.length;
  }
  deliver(): void {
    for (const p of this.waiting.splice(0)) this.sink(p);
  }
  async close(): Promise<void> {}
}

/** A socket whose packets stay in the "kernel" until read: the Worker never gets to them, only readNow does. */
class KernelQueuedSocket implements VrrpSocket {
  readonly kernel: Uint8Array[] = [];
  readonly reads: number[] = [];
  private sink: (p: Uint8Array) => void = () => {};
  send(): void {}
  onPacket(cb: (p: Uint8Array) => void): void {
    this.sink = cb;
  }
  onError(): void {}
  pending(): number {
    return 0;
  }
  readNow(max: number): number {
    const batch = this.kernel.splice(0, max);
    this.reads.push(batch.length);
    for (const p of batch) this.sink(p);
    return batch.length;
  }
  async close(): Promise<void> {}
}

function advertFromMaster(): Uint8Array {
  return advertFrom(MASTER, 150, ADVERT_MS);
}

function backup(socket: VrrpSocket): { engine: VrrpEngine; vips: Set<string> } {
  return oneInstanceEngine({ socket, self: US, priority: 100, advertMs: ADVERT_MS });
}

describe("VRRP timers and adverts already read", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("a master-down timer that runs out while the master's advert waits in the queue lets the advert in first: no takeover", async () => {
    const socket = new QueuedSocket(true);
    const { engine, vips } = backup(socket);
    await engine.start();
    // The main thread was busy: the master's advert was read but not handed over when the timer ran out.
    socket.waiting.push(advertFromMaster());
    await vi.advanceTimersByTimeAsync(MDI + 1);
    expect(engine.state("VI_1")?.role).toBe("backup");
    socket.deliver();
    await vi.advanceTimersByTimeAsync(MDI - 10);
    expect(engine.state("VI_1")?.role).toBe("backup");
    expect(engine.state("VI_1")?.master?.address).toBe(MASTER);
    expect(vips.size).toBe(0);
    await engine.stop();
  });

  it("the wait is bounded: a queue that never drains does not stop the timer for long", async () => {
    const socket = new QueuedSocket(true);
    const { engine } = backup(socket);
    await engine.start();
    socket.waiting.push(advertFromMaster());
    await vi.advanceTimersByTimeAsync(MDI + 30);
    expect(engine.state("VI_1")?.role).toBe("master");
    await engine.stop();
  });

  it("a master-down timer that runs out while the master's advert is still in the kernel (the Worker has not read it) reads it first: no takeover", async () => {
    const socket = new KernelQueuedSocket();
    const { engine, vips } = backup(socket);
    await engine.start();
    // The whole process was stopped: the advert came in while it was, and nothing has read it when the timer runs.
    await vi.advanceTimersByTimeAsync(MDI - 50);
    socket.kernel.push(advertFromMaster());
    await vi.advanceTimersByTimeAsync(51);
    expect(engine.state("VI_1")?.role).toBe("backup");
    expect(engine.state("VI_1")?.master?.address).toBe(MASTER);
    expect(socket.kernel).toEqual([]);
    expect(vips.size).toBe(0);
    // Nothing more from the master: the timer, restarted by that advert, still ends it.
    await vi.advanceTimersByTimeAsync(MDI + 1);
    expect(engine.state("VI_1")?.role).toBe("master");
    await engine.stop();
  });

  it("a flood in the kernel's queue is read only so far before the timer acts", async () => {
    const socket = new KernelQueuedSocket();
    const { engine } = backup(socket);
    await engine.start();
    for (let i = 0; i < 1000; i++) socket.kernel.push(advertFrom("198.51.100.13", 50, ADVERT_MS));
    await vi.advanceTimersByTimeAsync(MDI + 1);
    expect(socket.reads[0]).toBe(256);
    // Lower adverts are no master: the timer still ran out.
    expect(engine.state("VI_1")?.role).toBe("master");
    await engine.stop();
  });

  it("a socket that hands packets over at once (no pending count) keeps the plain timer", async () => {
    const socket = new QueuedSocket(false);
    const { engine } = backup(socket);
    await engine.start();
    await vi.advanceTimersByTimeAsync(MDI + 1);
    expect(engine.state("VI_1")?.role).toBe("master");
    await engine.stop();
  });
});
