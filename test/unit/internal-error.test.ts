/**
 * An exception while a request is answered is the daemon's fault: the client
 * (console over the network, the control socket, the arbiter's API) gets
 * "internal error" and an id, never the exception's message or stack; those
 * go to the daemon's log under the same id.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { INTERNAL_ERROR_LOG_MSG, internalError } from "../../src/api/internal-error.ts";
import { parseConfig } from "../../src/config/load.ts";
import { supervisedConsole } from "../../src/daemon/console.ts";
import { parseListen, serveFetch } from "../../src/daemon/http-server.ts";
import { Logger } from "../../src/daemon/log.ts";
import { createWitnessApp } from "../../src/daemon/witness/app.ts";
import { createConsoleApp } from "../../web/app.ts";

/** What an exception might carry that no client should read. */
const SECRET = "open /var/lib/vigil/state-h1/secret.bin failed: EACCES";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

type Fields = Record<string, string | number | boolean | null>;
function capture(): { lines: { msg: string; fields: Fields }[]; log: { error(msg: string, fields: Fields): void } } {
  const lines: { msg: string; fields: Fields }[] = [];
  return { lines, log: { error: (msg, fields) => void lines.push({ msg, fields }) } };
}

/** `ended`: "end" for a whole answer, "cut" for a connection ended before or during it. */
function get(opts: { socketPath?: string; port?: number; path: string }): Promise<{ status: number; body: string; ended: "end" | "cut" }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", ...opts }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ended: "end" }));
      res.on("aborted", () => resolve({ status: res.statusCode ?? 0, body, ended: "cut" }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, body, ended: "cut" }));
    });
    // A guard against an answer left open for ever (what a broken body did), not a timing assertion.
    req.setTimeout(10_000, () => reject(new Error(`${opts.path}: the answer neither ended nor was cut within 10 s`)));
    req.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve({ status: 0, body: "", ended: "cut" }) : reject(e)));
    req.end();
  });
}

function thrower(): never {
  throw new Error(SECRET);
}

/** The body says only "internal error" and an id, and the log has one line with that id, the message and the stack. */
function expectAnsweredAndLogged(body: unknown, lines: { msg: string; fields: Fields }[], where: { method: string; path: string }): void {
  expect(body).toEqual({ error: "internal error", id: expect.stringMatching(/^[0-9a-f]{8}$/) });
  const id = (body as { id: string }).id;
  expect(lines).toHaveLength(1);
  expect(lines[0]?.msg).toBe(INTERNAL_ERROR_LOG_MSG);
  expect(lines[0]?.fields).toMatchObject({ id, ...where, error: `Error: ${SECRET}` });
  expect(String(lines[0]?.fields["stack"])).toContain(SECRET);
  expect(String(lines[0]?.fields["stack"])).toMatch(/internal-error\.test\.ts/);
}

describe("internalError", () => {
  it("logs the exception under a new id each time and answers with the id alone", () => {
    const { lines, log } = capture();
    const a = internalError(log, new TypeError("x is undefined"), { method: "GET", path: "/a" });
    const b = internalError(log, "a thrown string", { method: "POST", path: "/b" });
    expect(a.id).not.toBe(b.id);
    expect(lines.map((l) => l.fields["id"])).toEqual([a.id, b.id]);
    expect(lines[0]?.fields["error"]).toBe("TypeError: x is undefined");
    expect(lines[1]?.fields).toEqual({ id: b.id, method: "POST", path: "/b", error: "a thrown string" });
  });

  it("still answers when the log itself throws", () => {
    const answer = internalError({ error: () => thrower() }, new Error("first"), { method: "GET", path: "/" });
    expect(answer).toEqual({ error: "internal error", id: expect.any(String) });
  });
});

describe("serveFetch: an exception the handler lets out", () => {
  it("answers 500 with an id and no message; the log has the message, the stack and the path without its query", async () => {
    const { lines, log } = capture();
    const s = await serveFetch(() => thrower(), { host: "127.0.0.1", port: 0 }, undefined, log);
    cleanup.push(() => s.close());
    const r = await get({ port: parseListen(s.where).port, path: "/api/status?q=typed" });
    expect(r.status).toBe(500);
    expect(r.body).not.toContain("secret");
    expect(r.body).not.toContain("EACCES");
    expectAnsweredAndLogged(JSON.parse(r.body), lines, { method: "GET", path: "/api/status" });
  });

  it("a body that breaks off after the answer began: the connection ends and the log has it", async () => {
    const { lines, log } = capture();
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error(SECRET));
      },
    });
    const s = await serveFetch(() => new Response(broken, { status: 200 }), { host: "127.0.0.1", port: 0 }, undefined, log);
    cleanup.push(() => s.close());
    const r = await get({ port: parseListen(s.where).port, path: "/big" });
    expect(r.ended).toBe("cut");
    expect(r.body).not.toContain("secret");
    expect(lines.map((l) => l.fields["path"])).toEqual(["/big"]);
    expect(lines[0]?.fields["error"]).toContain(SECRET);
  });
});

describe("the console's listeners pass the daemon's log", () => {
  it("the control socket and the network listener answer an id and log the exception in the daemon's log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-internal-error-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const parsed = parseConfig(
      ["cluster:", "  name: lab", "  nodes:", "    - { name: h1, addresses: [198.51.100.11] }", "web:", "  listen: 127.0.0.1:0", "console:", "  tls: false", ""].join("\n"),
      join(dir, "vigil.yaml"),
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const written: string[] = [];
    const c = supervisedConsole({
      config: parsed.config,
      listenFlag: undefined,
      stateDir: dir,
      log: new Logger("json", (l) => void written.push(l)),
      self: { name: "h1", addresses: ["198.51.100.11"] },
      network: () => thrower(),
      socket: () => thrower(),
    });
    await c.start();
    cleanup.push(() => c.stop("shutdown"));
    const viaSocket = await get({ socketPath: join(dir, "vigil.sock"), path: "/api/status" });
    const viaNetwork = await get({ port: parseListen(c.where()).port, path: "/api/modules" });
    const logged = written.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === INTERNAL_ERROR_LOG_MSG);
    for (const [r, path, line] of [[viaSocket, "/api/status", logged[0]], [viaNetwork, "/api/modules", logged[1]]] as const) {
      expect(r.status).toBe(500);
      expect(r.body).not.toContain("secret");
      const body = JSON.parse(r.body) as { error: string; id: string };
      expect(body).toEqual({ error: "internal error", id: expect.any(String) });
      expect(line).toMatchObject({ level: "error", id: body.id, path, error: `Error: ${SECRET}` });
    }
    expect(logged).toHaveLength(2);
  });
});

describe("the Hono apps' onError", () => {
  it("console API: JSON with an id; console page route: text with the id; both logged", async () => {
    const { lines, log } = capture();
    const app = createConsoleApp({ status: () => thrower(), metrics: () => thrower(), log });
    const api = await app.request("/api/status");
    expect(api.status).toBe(500);
    expectAnsweredAndLogged(await api.json(), lines, { method: "GET", path: "/api/status" });
    lines.length = 0;
    const page = await app.request("/metrics");
    expect(page.status).toBe(500);
    const text = await page.text();
    expect(text).not.toContain("secret");
    expect(lines).toHaveLength(1);
    expect(text).toBe(`internal error (id ${String(lines[0]?.fields["id"])}): the daemon's log has the details under this id`);
    expect(lines[0]?.fields).toMatchObject({ path: "/metrics", error: `Error: ${SECRET}` });
  });

  it("the arbiter's API: JSON with an id, the exception in the arbiter's log", async () => {
    const { lines, log } = capture();
    const app = createWitnessApp({ status: () => thrower(), metrics: () => "", log });
    const res = await app.request("/api/status");
    expect(res.status).toBe(500);
    expectAnsweredAndLogged(await res.json(), lines, { method: "GET", path: "/api/status" });
  });
});
