import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Checker as ConfigChecker } from "../../src/config/types.ts";
import { buildModuleChecker, checkerName } from "../../src/daemon/module/checker-factory.ts";
import { loadConfig } from "./config-text.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-factory-"));
const servers: Server[] = [];
const children: ChildProcess[] = [];
let tcpPort = 0;
let httpPort = 0;
let closedPort = 0;

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  tcpPort = await listen(createTcpServer((s) => s.destroy()));
  httpPort = await listen(createHttpServer((req, res) => {
    res.statusCode = req.url === "/missing" ? 404 : 200;
    res.end(req.url === "/ready" ? "state: ready" : "state: starting");
  }) as unknown as Server);
  const spare = createTcpServer();
  closedPort = await new Promise<number>((resolve) => spare.listen(0, "127.0.0.1", () => resolve((spare.address() as AddressInfo).port)));
  await new Promise<void>((resolve) => spare.close(() => resolve()));
  writeFileSync(join(dir, "status"), "db: ready\n");
  writeFileSync(join(dir, "check.sh"), '#!/bin/sh\n[ "$1" = go ] && [ "$VIGIL_MODULE" = web ]\n');
  chmodSync(join(dir, "check.sh"), 0o755);
  const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
  children.push(sleeper);
  writeFileSync(join(dir, "sleep.pid"), `${sleeper.pid}\n`);
});

afterAll(async () => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGKILL");
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** The checkers of one module, loaded from vigil.yaml text placed in the test folder. */
function checkers(...entries: string[]): ConfigChecker[] {
  const text = [
    "cluster:",
    "  name: lab",
    "  nodes: [{ name: a, addresses: [198.51.100.1] }]",
    "modules:",
    "  - name: web",
    "    type: failover",
    "    checkers:",
    ...entries.map((e) => `      - ${e}`),
    "",
  ].join("\n");
  return loadConfig(text, join(dir, "vigil.yaml")).modules[0]?.checkers ?? [];
}

async function run(entry: string): Promise<{ ok: boolean; detail: string; kind: string }> {
  const [c] = checkers(entry);
  if (c === undefined) throw new Error("no checker");
  const k = buildModuleChecker(c, dir, { module: "web", node: "a" });
  const r = await k.run(new AbortController().signal);
  return { ok: r.ok, detail: r.detail, kind: k.kind };
}

describe("module checker factory: each kind of vigil.yaml becomes a working checker", () => {
  it("tcp", async () => {
    expect(await run(`{ tcp: "127.0.0.1:${tcpPort}" }`)).toEqual({ ok: true, kind: "tcp", detail: `127.0.0.1:${tcpPort}: connection accepted` });
    expect(await run(`{ tcp: "127.0.0.1:${closedPort}" }`)).toMatchObject({ ok: false, detail: `127.0.0.1:${closedPort}: connection refused (ECONNREFUSED)` });
  });

  it("http with expected status and body", async () => {
    const base = `http://127.0.0.1:${httpPort}`;
    expect(await run(`{ http: "${base}/ready", status: 200, body: ready }`)).toMatchObject({ ok: true, kind: "http" });
    expect(await run(`{ http: "${base}/other", body: ready }`)).toMatchObject({ ok: false, detail: `${base}/other: HTTP 200, but the body does not contain "ready"` });
    expect(await run(`{ http: "${base}/missing", status: [200, 204] }`)).toMatchObject({ ok: false, detail: `${base}/missing: HTTP 404, expected 200 or 204` });
    expect(await run(`{ http: "${base}/missing", status: 404 }`)).toMatchObject({ ok: true });
  });

  it("process by pidfile (relative to the config), and by pidfile naming the program", async () => {
    expect(await run("{ pidfile: sleep.pid }")).toMatchObject({ ok: true, kind: "process" });
    expect(await run("{ pidfile: sleep.pid, process: sleep }")).toMatchObject({ ok: true });
    expect(await run("{ pidfile: sleep.pid, process: httpd }")).toMatchObject({ ok: false, detail: expect.stringContaining("is sleep, not httpd") });
  });

  it("process by name, with a minimum count", async () => {
    expect(await run("{ process: sleep }")).toMatchObject({ ok: true, kind: "process" });
    expect(await run("{ process: sleep, min: 1000 }")).toMatchObject({ ok: false, detail: expect.stringContaining("expected at least 1000") });
    expect(await run("{ process: no-such-program-here }")).toMatchObject({ ok: false, detail: "no process named no-such-program-here is running" });
  });

  it("ping by TCP probe: a refused port still shows the host is there", async () => {
    expect(await run(`{ ping: 127.0.0.1, protocol: tcp, port: ${closedPort} }`)).toEqual({
      ok: true, kind: "probe", detail: `tcp 127.0.0.1:${closedPort}: host answered (port closed)`,
    });
  });

  it("ping by ICMP goes through the ping program", () => {
    const [c] = checkers("{ ping: 192.0.2.1 }");
    if (c === undefined) throw new Error("no checker");
    expect(buildModuleChecker(c, dir)).toMatchObject({ kind: "ping", target: "192.0.2.1" });
  });

  it("interface", async () => {
    expect(await run("{ interface: lo }")).toMatchObject({ ok: true, kind: "interface" });
    expect(await run("{ interface: nosuchif0 }")).toMatchObject({ ok: false });
  });

  it("file: exists, absent, contains", async () => {
    expect(await run("{ file: status }")).toMatchObject({ ok: true, kind: "file", detail: `${join(dir, "status")}: exists` });
    expect(await run("{ file: maintenance, exists: false }")).toMatchObject({ ok: true, detail: `${join(dir, "maintenance")}: absent` });
    expect(await run("{ file: status, contains: ready }")).toMatchObject({ ok: true });
    expect(await run("{ file: status, contains: degraded }")).toMatchObject({ ok: false, detail: `${join(dir, "status")}: does not contain "degraded"` });
  });

  it("custom with arguments and the module's context; script: is the same", async () => {
    expect(await run("{ custom: ./check.sh, args: [go] }")).toMatchObject({ ok: true, kind: "custom" });
    expect(await run("{ custom: ./check.sh, args: [stop] }")).toMatchObject({ ok: false });
    expect(await run("{ script: ./check.sh }")).toMatchObject({ ok: false, kind: "custom", detail: `${join(dir, "check.sh")}: exited 1` });
  });
});

describe("module checker factory: names and timing", () => {
  it("names each checker by position and target, the name the module core knows it by", () => {
    const cs = checkers(
      "{ tcp: 127.0.0.1:8080 }",
      "{ http: http://127.0.0.1/ }",
      "{ process: httpd }",
      "{ pidfile: /run/httpd.pid, process: httpd }",
      "{ ping: 192.0.2.1 }",
      "{ ping: 192.0.2.1, protocol: udp, port: 53 }",
      "{ interface: eth0 }",
      "{ file: /run/ok }",
      "{ script: /bin/true }",
    );
    expect(cs.map((c, i) => checkerName(c, i))).toEqual([
      "1: tcp 127.0.0.1:8080",
      "2: http http://127.0.0.1/",
      "3: process httpd",
      "4: process /run/httpd.pid (httpd)",
      "5: ping 192.0.2.1",
      "6: ping udp 192.0.2.1:53",
      "7: interface eth0",
      "8: file /run/ok",
      "9: custom /bin/true",
    ]);
  });

  it("carries interval, timeout, rise and fall from the file, with the defaults", () => {
    const [a, b] = checkers("{ tcp: 127.0.0.1:8080, interval: 250ms, timeout: 100ms, rise: 2, fall: 5 }", "{ tcp: 127.0.0.1:8081 }");
    expect(a === undefined ? null : { interval: a.interval, timeout: a.timeout, rise: a.rise, fall: a.fall }).toEqual({ interval: 250, timeout: 100, rise: 2, fall: 5 });
    expect(b === undefined ? null : { interval: b.interval, timeout: b.timeout, rise: b.rise, fall: b.fall }).toEqual({ interval: 1000, timeout: 1000, rise: 1, fall: 3 });
  });
});
