/**
 * The console's listener over TLS: the handler learns the client's address
 * and that the connection is secure, several requests share one TLS
 * connection, and the connection bounds hold for sockets that never finish a
 * handshake (they are counted from the TCP connect and closed at the header
 * time).
 */
import { connect } from "node:net";
import { request } from "node:https";
import { afterEach, describe, expect, it } from "vitest";
import { type ConnInfo, parseListen, type RunningServer, serveFetch } from "../../src/daemon/http-server.ts";
import type { HttpLimits } from "../../src/daemon/http-limits.ts";
import { selfSignedCertificate } from "../../src/sys/tls/x509.ts";

const LIMITS: HttpLimits = { maxBodyBytes: 4096, headerTimeoutMs: 300, bodyTimeoutMs: 300, maxConnections: 40, maxConnectionsPerClient: 4 };
const now = Date.now();
const made = selfSignedCertificate({ commonName: "t", names: ["127.0.0.1"], notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 86_400_000) });

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const seen: ConnInfo[] = [];
async function start(): Promise<number> {
  server = await serveFetch((req, conn) => {
    seen.push(conn);
    return new Response(`${new URL(req.url).protocol} ${conn.remoteAddress} ${conn.secure}`);
  }, { host: "127.0.0.1", port: 0, tls: { cert: made.certPem, key: made.keyPem } }, LIMITS);
  return parseListen(server.where).port;
}

function get(port: number, agent: import("node:https").Agent | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", ca: made.certPem, ...(agent === undefined ? {} : { agent }) }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A TCP connection that never starts TLS; resolves when the server closes it. */
function silent(port: number): { closed: Promise<void>; socket: ReturnType<typeof connect> } {
  const socket = connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  return { socket, closed: new Promise((r) => socket.on("close", () => r())) };
}

describe("the console listener over TLS", () => {
  it("tells the handler it is https, from which address, and keeps one connection for several requests", async () => {
    const port = await start();
    const { Agent } = await import("node:https");
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: made.certPem });
    try {
      const answers = [await get(port, agent), await get(port, agent), await get(port, agent)];
      expect(answers).toEqual(["https: 127.0.0.1 true", "https: 127.0.0.1 true", "https: 127.0.0.1 true"]);
      expect(server?.openConnections()).toBe(1);
      expect(seen.at(-1)?.port).toBe(String(port));
    } finally {
      agent.destroy();
    }
  });

  it("counts sockets that never finish a handshake against the per-client bound, and closes them in time", async () => {
    const port = await start();
    const idle = [silent(port), silent(port), silent(port), silent(port)];
    const fifth = silent(port);
    await fifth.closed;
    expect(server?.refusals.connections).toBe(1);
    await Promise.all(idle.map((s) => s.closed));
    await expect.poll(() => server?.openConnections()).toBe(0);
    expect(await get(port, undefined)).toBe("https: 127.0.0.1 true");
  });
});
