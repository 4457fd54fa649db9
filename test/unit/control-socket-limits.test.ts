import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CONTROL_SOCKET_LIMITS, DEFAULT_HTTP_LIMITS } from "../../src/daemon/http-limits.ts";
import { type RunningServer, serveFetch } from "../../src/daemon/http-server.ts";

let server: RunningServer | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function get(socketPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/api/status" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(-1));
    req.end();
  });
}

describe("control socket bounds", () => {
  it("answers more `vigil status` calls at once than the per-client bound of the network console", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-ctl-"));
    dirs.push(dir);
    const path = join(dir, "vigil.sock");
    // Every answer waits until all the callers are connected, as when they piled up behind a frozen daemon.
    const callers = DEFAULT_HTTP_LIMITS.maxConnectionsPerClient * 2;
    let arrived = 0;
    let release: () => void = () => {};
    const allIn = new Promise<void>((r) => (release = r));
    // Refused callers never reach the handler: then the others are let go after a while instead of hanging the test.
    const fallback = setTimeout(() => release(), 2_000);
    server = await serveFetch(async () => {
      if (++arrived === callers) release();
      await allIn;
      return new Response("{}");
    }, { path }, CONTROL_SOCKET_LIMITS);
    const codes = await Promise.all(Array.from({ length: callers }, () => get(path)));
    clearTimeout(fallback);
    expect(codes).toEqual(Array.from({ length: callers }, () => 200));
    expect(server.refusals.connections).toBe(0);
  });

  it("still bounds the connections of all clients together", () => {
    expect(CONTROL_SOCKET_LIMITS.maxConnections).toBe(DEFAULT_HTTP_LIMITS.maxConnections);
    expect(CONTROL_SOCKET_LIMITS.maxConnectionsPerClient).toBeLessThanOrEqual(CONTROL_SOCKET_LIMITS.maxConnections);
  });
});
