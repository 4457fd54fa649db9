import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { ConnectionGuard } from "../../src/daemon/http-guard.ts";
import type { HttpLimits } from "../../src/daemon/http-limits.ts";

const LIMITS: HttpLimits = { maxBodyBytes: 4096, headerTimeoutMs: 60_000, bodyTimeoutMs: 60_000, maxConnections: 40, maxConnectionsPerClient: 4 };

/**
 * A socket as Bun hands them to node:http's "connection" listeners: once it
 * has closed, remoteAddress and remotePort read undefined (Node keeps them).
 */
class BunLikeSocket extends EventEmitter {
  destroyed = false;
  constructor(private readonly address: string, private readonly port: number) {
    super();
  }
  get remoteAddress(): string | undefined {
    return this.destroyed ? undefined : this.address;
  }
  get remotePort(): number | undefined {
    return this.destroyed ? undefined : this.port;
  }
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.emit("close");
    return this;
  }
  end(): this {
    return this.destroy();
  }
}

const socket = (address: string, port: number): Socket => new BunLikeSocket(address, port) as unknown as Socket;

describe("connection guard bookkeeping", () => {
  it("forgets a closed socket even when the runtime has cleared its address by then", () => {
    const guard = new ConnectionGuard(LIMITS);
    for (let i = 0; i < 100; i++) {
      const s = socket("198.51.100.7", 40_000 + i);
      guard.onConnection(s);
      expect(guard.requestStarted(s)).toBe(true);
      s.destroy();
    }
    expect(guard.open()).toBe(0);
    expect(guard.held()).toBe(0);
  });

  it("forgets a socket closed to make room for another client", () => {
    const guard = new ConnectionGuard({ ...LIMITS, maxConnections: 4, maxConnectionsPerClient: 4 });
    for (let i = 0; i < 4; i++) guard.onConnection(socket("198.51.100.7", 41_000 + i));
    const newcomer = socket("198.51.100.8", 42_000);
    guard.onConnection(newcomer);
    newcomer.destroy();
    expect(guard.open()).toBe(3);
    expect(guard.held()).toBe(3);
  });
});
