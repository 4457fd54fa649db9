/**
 * Start-up work after "heartbeats on" comes in pieces with a heartbeat round
 * before each (startup-pace.ts): the supervisor hands its pace to each
 * engine's start, and the engines whose start holds the main thread longest
 * (VRRP: libc's bindings, its socket; the console: certificate, control
 * socket, listener) await it between their pieces.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { supervisedConsole } from "../../src/daemon/console.ts";
import type { Engine } from "../../src/daemon/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Supervisor } from "../../src/daemon/supervisor.ts";
import { parseConfig } from "../../src/config/load.ts";
import { oneInstanceEngine, Socket } from "./vrrp-engine-fixture.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("start-up in pieces", () => {
  it("the supervisor hands each engine the pace it awaits before that engine", async () => {
    const got: unknown[] = [];
    const engine = (name: string): Engine => ({
      name, tier: "service",
      async start(between?: () => Promise<void>) { got.push(between); },
      async stop() {}, async reload() { return "kept" as const; }, status: () => ({}),
    });
    const pace = async (): Promise<void> => {};
    await new Supervisor([engine("a"), engine("b")]).start(() => undefined, pace);
    expect(got).toEqual([pace, pace]);
  });

  it("VRRP: a round before its socket opens and before the leftovers of an earlier run are removed", async () => {
    const order: string[] = [];
    class Marked extends Socket {
      override onPacket(cb: (p: Uint8Array) => void): void {
        order.push("socket");
        super.onPacket(cb);
      }
    }
    const { engine } = oneInstanceEngine({ socket: new Marked(), self: "198.51.100.11", priority: 100, advertMs: 1_000, onRemove: () => order.push("leftovers") });
    await engine.start(async () => void order.push("round"));
    await engine.stop();
    expect(order.slice(0, 4)).toEqual(["round", "socket", "round", "leftovers"]);
  });

  it("the console: a round after its certificate, and after its control socket, before its listener", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-startup-pieces-"));
    dirs.push(dir);
    const parsed = parseConfig([
      "cluster:",
      "  name: lab",
      "  nodes:",
      "    - { name: h1, addresses: [198.51.100.11] }",
      "web:",
      "  listen: 127.0.0.1:0",
      "",
    ].join("\n"), join(dir, "vigil.yaml"));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const handler = async () => new Response("ok");
    const c = supervisedConsole({
      config: parsed.config,
      listenFlag: undefined,
      stateDir: dir,
      log: new Logger("text", () => {}),
      self: { name: "h1", addresses: ["198.51.100.11"] },
      network: handler,
      socket: handler,
    });
    const seen: { cert: boolean; socket: boolean; listening: boolean }[] = [];
    await c.start(async () => {
      seen.push({ cert: existsSync(join(dir, "console-cert.pem")), socket: existsSync(join(dir, "vigil.sock")), listening: !c.where().endsWith(":0") });
    });
    try {
      expect(seen).toEqual([
        { cert: true, socket: false, listening: false },
        { cert: true, socket: true, listening: false },
      ]);
      expect(c.where().endsWith(":0")).toBe(false);
    } finally {
      await c.stop("shutdown");
    }
  });
});
