import { connect } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseListen, type RunningServer, serveFetch } from "../../src/daemon/http-server.ts";
import type { HttpLimits } from "../../src/daemon/http-limits.ts";
import { slowBodyAttack } from "../cli/slow-body-attack.ts";

// Timeouts far above a loaded host's delays (a first fetch took over 300 ms at load 22); the test of the
// timeouts themselves sets short ones.
const LIMITS: HttpLimits = { maxBodyBytes: 4096, headerTimeoutMs: 10_000, bodyTimeoutMs: 10_000, maxConnections: 40, maxConnectionsPerClient: 4 };

/** Like the console: only POST /cmd reads a body, and only with a token. */
const handler = async (req: Request): Promise<Response> => {
  const path = new URL(req.url).pathname;
  if (path !== "/cmd") return new Response("ok");
  if (req.headers.get("authorization") !== "Bearer t") return new Response('{"error":"token"}', { status: 401 });
  return new Response(JSON.stringify({ got: (await req.text()).length }));
};

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(limits: HttpLimits = LIMITS): Promise<number> {
  server = await serveFetch(handler, { host: "127.0.0.1", port: 0 }, limits);
  return parseListen(server.where).port;
}

/** Sends raw bytes (and optionally keeps the socket open), returns all the server said before closing. */
function raw(port: number, text: string, o: { from?: string } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1", ...(o.from === undefined ? {} : { localAddress: o.from }) });
    let got = "";
    s.on("connect", () => s.write(text));
    s.on("data", (d) => (got += d.toString()));
    s.on("error", () => {});
    s.on("close", () => resolve(got));
  });
}

const statusOf = (answer: string): string => /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? "none";
const bodyOf = (answer: string): string => answer.slice(answer.indexOf("\r\n\r\n") + 4);

describe("console HTTP limits", () => {
  it("reads a small body on the route that takes one", async () => {
    const port = await start();
    const r = await fetch(`http://127.0.0.1:${port}/cmd`, { method: "POST", headers: { authorization: "Bearer t" }, body: "x".repeat(100) });
    expect(await r.json()).toEqual({ got: 100 });
  });

  it("refuses a body over the bound with 413 and a one-line JSON error", async () => {
    const port = await start();
    const answer = await raw(port, `POST /cmd HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ncontent-length: 100000\r\n\r\n${"x".repeat(5000)}`);
    expect(statusOf(answer)).toBe("413");
    expect(bodyOf(answer)).toBe('{"error":"the request body is larger than 4096 bytes"}\n');
    expect(server?.refusals.tooLarge).toBe(1);
  });

  it("refuses a chunked body that grows over the bound", async () => {
    const port = await start();
    const chunk = `1000\r\n${"x".repeat(0x1000)}\r\n`;
    const answer = await raw(port, `POST /cmd HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ntransfer-encoding: chunked\r\n\r\n${chunk}${chunk}`);
    expect(statusOf(answer)).toBe("413");
  });

  it("answers before the body on a route that takes none, and closes instead of reading it", async () => {
    const port = await start();
    const noToken = await raw(port, `POST /cmd HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\nxxxx`);
    expect(statusOf(noToken)).toBe("401");
    expect(noToken.toLowerCase()).toContain("connection: close");
    const other = await raw(port, `POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\nxxxx`);
    expect(statusOf(other)).toBe("200");
  });

  it("answers 408 to headers that never end and to a body that never ends", async () => {
    const port = await start({ ...LIMITS, headerTimeoutMs: 300, bodyTimeoutMs: 300 });
    const headers = await raw(port, "GET /healthz HTTP/1.1\r\nhost: x\r\n");
    expect(statusOf(headers)).toBe("408");
    expect(bodyOf(headers)).toContain("request headers did not arrive within 300 ms");
    const body = await raw(port, "POST /cmd HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t\r\ncontent-length: 100\r\n\r\nxx");
    expect(statusOf(body)).toBe("408");
    expect(bodyOf(body)).toContain("request body did not arrive within 300 ms");
    expect(server?.refusals.timeouts).toBe(2);
  });

  it("bounds connections per client address and in total, and gives every slot back", async () => {
    // Slow requests are held long enough here that every connection overlaps: at 1.5 s, on a host at
    // load 30, the first of 60 slow senders had its 408 before the last had connected (14 refused, not 20).
    const port = await start({ ...LIMITS, headerTimeoutMs: 6000, bodyTimeoutMs: 6000 });
    // 12 connections from one address, each stalling in its headers: 4 held, 8 refused at once.
    const one = await Promise.all(Array.from({ length: 12 }, () => raw(port, "GET / HTTP/1.1\r\n", { from: "127.0.0.3" })));
    const codes = one.map(statusOf).sort();
    expect(codes.filter((c) => c === "503")).toHaveLength(8);
    expect(codes.filter((c) => c === "408")).toHaveLength(4);
    expect(one.find((a) => statusOf(a) === "503")).toContain("too many open connections from 127.0.0.3 (limit 4)");
    // 60 slow senders from 20 addresses: the total bound (40) refuses the rest.
    const out = await slowBodyAttack({
      port, connections: 60, clients: 20, head: "POST /cmd HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t",
      bodyBytes: 4000, burstBytes: 1000, trickleBytes: 10, trickleMs: 50, giveUpMs: 20_000,
    });
    expect(out.keptOpen).toBe(0);
    expect(server?.refusals.connections).toBe(28);
    expect(out.statuses["503"]).toBe(20);
    expect(out.statuses["408"]).toBe(40);
    await vi.waitFor(() => expect(server?.openConnections()).toBe(0), { timeout: 10_000 });

    // All 40 slots held by 10 addresses (4 each): a newcomer gets in, and one of the heaviest makes room.
    const held = Array.from({ length: 40 }, (_, i) => raw(port, "GET / HTTP/1.1\r\n", { from: `127.0.1.${1 + (i % 10)}` }));
    await vi.waitFor(() => expect(server?.openConnections()).toBe(40), { timeout: 10_000 });
    const newcomer = await raw(port, "GET / HTTP/1.1\r\n", { from: "127.0.2.1" });
    expect(statusOf(newcomer)).toBe("408");
    const heldCodes = (await Promise.all(held)).map(statusOf);
    expect(heldCodes.filter((c) => c === "503")).toHaveLength(1);
    expect(heldCodes.filter((c) => c === "408")).toHaveLength(39);
    // The server sees each close a moment after the client does.
    await vi.waitFor(() => expect(server?.openConnections()).toBe(0), { timeout: 10_000 });
  });
});
