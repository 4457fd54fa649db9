import { request } from "node:http";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseListen, serveFetch } from "../../src/daemon/http-server.ts";

function get(opts: { socketPath?: string; port?: number; path: string; method?: string; body?: string }) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", ...opts }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const echo = async (req: Request) =>
  new Response(JSON.stringify({ method: req.method, url: new URL(req.url).pathname, body: await req.text() }), {
    status: 201,
    headers: { "content-type": "application/json", "x-test": "yes" },
  });

describe("serveFetch", () => {
  it("serves a fetch handler on TCP, passing method, path, body and headers", async () => {
    const s = await serveFetch(echo, { host: "127.0.0.1", port: 0 });
    const port = parseListen(s.where).port;
    const r = await get({ port, path: "/api/x?y=1", method: "POST", body: "hello" });
    await s.close();
    expect(r.status).toBe(201);
    expect(r.headers["x-test"]).toBe("yes");
    expect(JSON.parse(r.body)).toEqual({ method: "POST", url: "/api/x", body: "hello" });
  });

  it("serves on a unix socket readable by its owner only", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "vigil-sock-")), "vigil.sock");
    const s = await serveFetch(echo, { path });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const r = await get({ socketPath: path, path: "/healthz" });
    await s.close();
    expect(JSON.parse(r.body).url).toBe("/healthz");
  });

  it("explains a port that is already taken", async () => {
    const a = await serveFetch(echo, { host: "127.0.0.1", port: 0 });
    const port = parseListen(a.where).port;
    await expect(serveFetch(echo, { host: "127.0.0.1", port })).rejects.toThrow(
      `cannot listen on 127.0.0.1:${port}: the address is already in use`,
    );
    await a.close();
  });

  it("answers 500 with JSON when the handler fails", async () => {
    const s = await serveFetch(() => {
      throw new Error("bug");
    }, { host: "127.0.0.1", port: 0 });
    const r = await get({ port: parseListen(s.where).port, path: "/" });
    await s.close();
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body).error).toBe("internal error");
  });
});

describe("parseListen", () => {
  it("splits host and port", () => {
    expect(parseListen("0.0.0.0:9010")).toEqual({ host: "0.0.0.0", port: 9010 });
  });
});
