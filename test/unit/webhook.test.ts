import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { postWebhook, type WebhookLogger } from "../../src/sys/webhook.ts";

type Seen = { method: string; url: string; contentType: string; body: string };

/** Answers each request with the next planned reply; "hang" never answers. */
let plan: (readonly [number, string] | "hang")[] = [];
let seen: Seen[] = [];
let server: Server;
let base = "";

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", contentType: String(req.headers["content-type"]), body: Buffer.concat(chunks).toString("utf8") });
      const next = plan.shift() ?? [204, ""];
      if (next === "hang") return;
      res.writeHead(next[0]).end(next[1]);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  plan = [];
  seen = [];
});

function recorder(): { logger: WebhookLogger; lines: { msg: string; fields: Record<string, unknown> }[] } {
  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  return { lines, logger: { warn: (msg, fields = {}) => lines.push({ msg, fields }) } };
}

const event = { type: "transition", module: "vms", from: "SECOND", to: "PRIM", reason: "peer-dead", node: "vms2" };

describe("postWebhook", () => {
  it("POSTs the event as JSON and succeeds on 2xx", async () => {
    const log = recorder();
    const r = await postWebhook(`${base}/hooks/vigil`, event, { logger: log.logger });
    expect(r).toEqual({ ok: true, attempts: 1, status: 204, detail: "HTTP 204" });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "POST", url: "/hooks/vigil", contentType: "application/json" });
    expect(JSON.parse(seen[0]?.body ?? "")).toEqual(event);
    expect(log.lines).toEqual([]);
  });

  it("retries once after a 5xx and succeeds, logging the failed attempt", async () => {
    plan = [[503, "busy"], [200, "ok"]];
    const log = recorder();
    const r = await postWebhook(`${base}/h`, event, { retryDelayMs: 10, logger: log.logger });
    expect(r).toEqual({ ok: true, attempts: 2, status: 200, detail: "HTTP 200" });
    expect(seen.map((s) => s.body)).toEqual([JSON.stringify(event), JSON.stringify(event)]);
    expect(log.lines).toEqual([{ msg: "webhook failed, retrying", fields: { url: `${base}/h`, attempt: 1, detail: "HTTP 503: busy" } }]);
  });

  it("gives up after the one retry, never throwing", async () => {
    plan = [[500, "oops"], [500, "oops"], [200, "too late"]];
    const log = recorder();
    const r = await postWebhook(`${base}/h`, event, { retryDelayMs: 10, logger: log.logger });
    expect(r).toEqual({ ok: false, attempts: 2, status: 500, detail: "HTTP 500: oops (twice)" });
    expect(seen).toHaveLength(2);
    expect(log.lines.map((l) => l.msg)).toEqual(["webhook failed, retrying", "webhook failed"]);
  });

  it("does not retry a 4xx other than 429", async () => {
    plan = [[404, "no such hook"]];
    const r = await postWebhook(`${base}/wrong`, event, { retryDelayMs: 10 });
    expect(r).toEqual({ ok: false, attempts: 1, status: 404, detail: "HTTP 404: no such hook" });
    expect(seen).toHaveLength(1);
    plan = [[429, "slow down"], [202, ""]];
    expect(await postWebhook(`${base}/h`, event, { retryDelayMs: 10 })).toMatchObject({ ok: true, attempts: 2, status: 202 });
  });

  it("retries when the server does not answer in time", async () => {
    plan = ["hang", [200, ""]];
    const log = recorder();
    const r = await postWebhook(`${base}/h`, event, { timeoutMs: 200, retryDelayMs: 10, logger: log.logger });
    expect(r).toEqual({ ok: true, attempts: 2, status: 200, detail: "HTTP 200" });
    expect(log.lines[0]?.fields).toMatchObject({ detail: "no answer within 200 ms" });
  });

  it("reports a refused connection", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = await postWebhook(`http://127.0.0.1:${port}/h`, event, { retryDelayMs: 10 });
    expect(r).toEqual({ ok: false, attempts: 2, status: null, detail: "connection refused (ECONNREFUSED) (twice)" });
  });

  it("keeps credentials and query strings out of the log", async () => {
    plan = [[500, ""], [500, ""]];
    const log = recorder();
    const port = base.split(":")[2];
    await postWebhook(`http://user:secret@127.0.0.1:${port}/h?token=abc123`, event, { retryDelayMs: 10, logger: log.logger });
    expect(seen[0]?.url).toBe("/h?token=abc123");
    const logged = JSON.stringify(log.lines);
    expect(logged).not.toContain("secret");
    expect(logged).not.toContain("abc123");
    expect(log.lines[0]?.fields["url"]).toBe(`http://127.0.0.1:${port}/h?...`);
  });

  it("refuses what cannot be sent, with the reason", async () => {
    const log = recorder();
    expect(await postWebhook("not a url", event, { logger: log.logger })).toEqual({ ok: false, attempts: 0, status: null, detail: '"not a url" is not a URL' });
    expect(await postWebhook("ftp://127.0.0.1/x", event)).toMatchObject({ ok: false, attempts: 0, detail: "ftp://127.0.0.1/x: only http: and https: URLs can be posted to, not ftp:" });
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    const r = await postWebhook(`${base}/h`, cyclic);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^the event cannot be written as JSON: /);
    expect(seen).toHaveLength(0);
    expect(log.lines).toHaveLength(1);
  });

  it("survives a logger that throws", async () => {
    plan = [[500, ""], [500, ""]];
    const logger: WebhookLogger = { warn: () => { throw new Error("disk full"); } };
    expect(await postWebhook(`${base}/h`, event, { retryDelayMs: 10, logger })).toMatchObject({ ok: false, attempts: 2 });
  });

  it("stops without retrying when aborted", async () => {
    plan = ["hang"];
    const ac = new AbortController();
    const pending = postWebhook(`${base}/h`, event, { retryDelayMs: 10, signal: ac.signal });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    expect(await pending).toEqual({ ok: false, attempts: 1, status: null, detail: "aborted" });
    expect(seen).toHaveLength(1);
  });
});
