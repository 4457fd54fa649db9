import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { customChecker } from "../../src/sys/checkers/custom.ts";
import { fileChecker } from "../../src/sys/checkers/file.ts";
import { httpChecker } from "../../src/sys/checkers/http.ts";
import { interfaceChecker } from "../../src/sys/checkers/interface.ts";
import { pingChecker, probeChecker } from "../../src/sys/checkers/ping.ts";
import { processChecker } from "../../src/sys/checkers/process.ts";
import { CheckSchedule, countCheck, initialRiseFall, type HealthTransition, type ScheduleClock } from "../../src/sys/checkers/schedule.ts";
import { parseHostPort, tcpChecker } from "../../src/sys/checkers/tcp.ts";
import type { CheckResult, Checker } from "../../src/sys/checkers/types.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-checkers-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const live = (): AbortSignal => new AbortController().signal;
const aborted = (): AbortSignal => AbortSignal.abort();

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await listen(s);
  await close(s);
  return port;
}

describe("tcp checker", () => {
  it("parses host:port, with IPv6 in brackets, and names what is wrong", () => {
    expect(parseHostPort("127.0.0.1:8080")).toEqual({ ok: true, host: "127.0.0.1", port: 8080 });
    expect(parseHostPort("[::1]:443")).toEqual({ ok: true, host: "::1", port: 443 });
    expect(parseHostPort("db.local:5432")).toEqual({ ok: true, host: "db.local", port: 5432 });
    expect(parseHostPort("127.0.0.1")).toEqual({ ok: false, message: '"127.0.0.1" is not host:port (IPv6 goes in brackets: [::1]:80)' });
    expect(parseHostPort("127.0.0.1:70000")).toEqual({ ok: false, message: '"127.0.0.1:70000": port 70000 is not within 1..65535' });
    expect(parseHostPort("[db]:80")).toEqual({ ok: false, message: '"[db]:80": db in brackets is not an IPv6 address' });
  });

  it("passes when the port accepts a connection", async () => {
    const server = createTcpServer((s) => s.destroy());
    const port = await listen(server);
    try {
      const r = await tcpChecker({ host: "127.0.0.1", port }).run(live());
      expect(r).toMatchObject({ ok: true, detail: `127.0.0.1:${port}: connection accepted` });
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
    } finally {
      await close(server);
    }
  });

  it("fails with the reason when nothing listens", async () => {
    const port = await closedPort();
    expect(await tcpChecker({ host: "127.0.0.1", port }).run(live())).toMatchObject({
      ok: false,
      detail: `127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    });
  });

  it("fails at once when aborted", async () => {
    const r = await tcpChecker({ host: "127.0.0.1", port: 9 }).run(aborted());
    expect(r.ok).toBe(false);
    expect(r.detail).toBe("127.0.0.1:9: aborted before connecting");
  });
});

describe("http checker", () => {
  let server: HttpServer;
  let base = "";
  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      if (req.url === "/ok") res.writeHead(200, { "content-type": "text/plain" }).end("status: all good\n");
      else if (req.url === "/fail") res.writeHead(503).end("maintenance");
      else if (req.url === "/moved") res.writeHead(302, { location: "/login" }).end();
      else if (req.url === "/slow") return; // Never answers.
      else res.writeHead(404).end();
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await close(server);
  });

  it("passes on 2xx and 3xx by default", async () => {
    expect(await httpChecker({ url: `${base}/ok` }).run(live())).toMatchObject({ ok: true, detail: `${base}/ok: HTTP 200` });
    expect(await httpChecker({ url: `${base}/moved` }).run(live())).toMatchObject({ ok: true, detail: `${base}/moved: HTTP 302` });
  });

  it("fails on another status, saying what was expected", async () => {
    expect(await httpChecker({ url: `${base}/fail` }).run(live())).toMatchObject({ ok: false, detail: `${base}/fail: HTTP 503, expected 2xx or 3xx` });
    expect(await httpChecker({ url: `${base}/moved`, status: 200 }).run(live())).toMatchObject({ ok: false, detail: `${base}/moved: HTTP 302, expected 200` });
    expect(await httpChecker({ url: `${base}/fail`, status: [503, 504] }).run(live())).toMatchObject({ ok: true });
  });

  it("matches the body against a substring or an expression", async () => {
    expect(await httpChecker({ url: `${base}/ok`, body: "all good" }).run(live())).toMatchObject({ ok: true, detail: `${base}/ok: HTTP 200, body does contain "all good"` });
    expect(await httpChecker({ url: `${base}/ok`, body: "degraded" }).run(live())).toMatchObject({ ok: false, detail: `${base}/ok: HTTP 200, but the body does not contain "degraded"` });
    expect(await httpChecker({ url: `${base}/ok`, body: /^status: (all )?good$/m }).run(live())).toMatchObject({ ok: true });
    expect(await httpChecker({ url: `${base}/ok`, body: /^good/ }).run(live())).toMatchObject({ ok: false });
  });

  it("gives up after its timeout", async () => {
    expect(await httpChecker({ url: `${base}/slow`, timeoutMs: 200 }).run(live())).toMatchObject({ ok: false, detail: `${base}/slow: no answer, timed out` });
  });

  it("fails on a refused connection and on something that is not an http URL", async () => {
    const port = await closedPort();
    expect(await httpChecker({ url: `http://127.0.0.1:${port}/` }).run(live())).toMatchObject({ ok: false, detail: `http://127.0.0.1:${port}/: connection refused (ECONNREFUSED)` });
    expect(await httpChecker({ url: "not a url" }).run(live())).toMatchObject({ ok: false, detail: '"not a url" is not a URL' });
    expect(await httpChecker({ url: "ftp://127.0.0.1/" }).run(live())).toMatchObject({ ok: false, detail: "ftp://127.0.0.1/: only http: and https: URLs can be checked, not ftp:" });
  });

  it("verifies HTTPS certificates unless rejectUnauthorized is false", async () => {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.writeHead(200).end("secure"));
    const url = `https://127.0.0.1:${await listen(tls)}/`;
    try {
      const strict = await httpChecker({ url }).run(live());
      expect(strict.ok).toBe(false);
      expect(strict.detail).toMatch(/self[- ]signed certificate/);
      expect(await httpChecker({ url, rejectUnauthorized: false, body: "secure" }).run(live())).toMatchObject({ ok: true });
    } finally {
      tls.closeAllConnections();
      await close(tls);
    }
  });
});

describe("file checker", () => {
  const present = join(dir, "status.txt");
  beforeAll(() => writeFileSync(present, "state=running\nclients=12\n"));

  it("checks that a file exists or is absent", async () => {
    const missing = join(dir, "missing.flag");
    expect(await fileChecker({ path: present, expect: "exists" }).run(live())).toEqual(expect.objectContaining({ ok: true, detail: `${present}: exists` }));
    expect(await fileChecker({ path: missing, expect: "exists" }).run(live())).toEqual(expect.objectContaining({ ok: false, detail: `${missing}: does not exist` }));
    expect(await fileChecker({ path: missing, expect: "absent" }).run(live())).toEqual(expect.objectContaining({ ok: true, detail: `${missing}: absent` }));
    expect(await fileChecker({ path: present, expect: "absent" }).run(live())).toEqual(expect.objectContaining({ ok: false, detail: `${present}: exists, expected absent` }));
  });

  it("checks what a file contains", async () => {
    expect(await fileChecker({ path: present, expect: "contains", match: "state=running" }).run(live())).toMatchObject({ ok: true, detail: `${present}: does contain "state=running"` });
    expect(await fileChecker({ path: present, expect: "contains", match: "state=stopped" }).run(live())).toMatchObject({ ok: false, detail: `${present}: does not contain "state=stopped"` });
    expect(await fileChecker({ path: present, expect: "contains", match: /^clients=[1-9]/m }).run(live())).toMatchObject({ ok: true });
    const missing = join(dir, "nothing.txt");
    expect(await fileChecker({ path: missing, expect: "contains", match: "x" }).run(live())).toMatchObject({ ok: false, detail: `${missing}: does not exist` });
  });

  it("reads only the first maxBytes", async () => {
    expect(await fileChecker({ path: present, expect: "contains", match: "clients", maxBytes: 8 }).run(live())).toMatchObject({ ok: false });
  });
});

describe("custom checker", () => {
  function script(name: string, body: string): string {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  }

  it("passes on exit 0 and fails otherwise, with the script's last words", async () => {
    const good = script("check-ok.sh", "exit 0");
    const bad = script("check-bad.sh", 'echo "queue length $1 too high" >&2; exit 2');
    expect(await customChecker({ command: good }).run(live())).toMatchObject({ ok: true, detail: `${good}: exited 0` });
    expect(await customChecker({ command: bad, args: ["900"] }).run(live())).toMatchObject({ ok: false, detail: `${bad} 900: exited 2: queue length 900 too high` });
  });

  it("passes the VIGIL_* context to the command", async () => {
    const s = script("check-env.sh", '[ "$VIGIL_MODULE" = vms ] && [ "$VIGIL_NODE" = vms1 ]');
    expect(await customChecker({ command: s, context: { module: "vms", node: "vms1" } }).run(live())).toMatchObject({ ok: true });
    expect(await customChecker({ command: s, context: { module: "other" } }).run(live())).toMatchObject({ ok: false });
  });

  it("fails on timeout and explains a missing command", async () => {
    const slow = script("check-slow.sh", "sleep 30");
    expect(await customChecker({ command: slow, timeoutMs: 200, graceMs: 200 }).run(live())).toMatchObject({ ok: false, detail: `${slow}: timed out after 200 ms, killed by SIGTERM` });
    const missing = join(dir, "check-missing.sh");
    expect(await customChecker({ command: missing }).run(live())).toMatchObject({ ok: false, detail: `${missing}: ${missing}: no such file (ENOENT)` });
  });
});

describe("process checker", () => {
  it("by pidfile: passes while the process runs and is that program, fails once it is gone", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    children.push(child);
    await new Promise((r) => child.once("spawn", r));
    const pid = child.pid as number;
    const pidfile = join(dir, "app.pid");
    writeFileSync(pidfile, `${pid}\n`);
    expect(await processChecker({ pidfile }).run(live())).toMatchObject({ ok: true, detail: `${pidfile}: process ${pid} is running` });
    expect(await processChecker({ pidfile, name: "sleep" }).run(live())).toMatchObject({ ok: true, detail: `${pidfile}: process ${pid} (sleep) is running` });
    expect(await processChecker({ pidfile, name: "nginx" }).run(live())).toMatchObject({ ok: false, detail: `${pidfile}: process ${pid} is sleep, not nginx` });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    for (let i = 0; i < 50; i++) {
      if (!(await processChecker({ pidfile }).run(live())).ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const after = await processChecker({ pidfile }).run(live());
    expect(after.ok).toBe(false);
    expect(after.detail).toMatch(new RegExp(`^${pidfile}: process ${pid} (is not running|has exited \\(zombie\\))$`));
  });

  it("by pidfile: names a missing or garbled pidfile", async () => {
    const missing = join(dir, "none.pid");
    expect(await processChecker({ pidfile: missing }).run(live())).toMatchObject({ ok: false, detail: `${missing}: no such pidfile` });
    const garbled = join(dir, "garbled.pid");
    writeFileSync(garbled, "-1; rm -rf /\n");
    expect(await processChecker({ pidfile: garbled }).run(live())).toMatchObject({ ok: false, detail: `${garbled}: holds "-1; rm -rf /", not a PID` });
  });

  it("by pidfile: reads /proc where told, and a zombie does not count", async () => {
    const proc = join(dir, "proc");
    mkdirSync(join(proc, "4242"), { recursive: true });
    writeFileSync(join(proc, "4242", "stat"), "4242 (vmsd) Z 1 4242 4242 0 -1\n");
    const pidfile = join(dir, "zombie.pid");
    writeFileSync(pidfile, "4242");
    expect(await processChecker({ pidfile, procDir: proc }).run(live())).toMatchObject({ ok: false, detail: `${pidfile}: process 4242 has exited (zombie)` });
    writeFileSync(join(proc, "4242", "stat"), "4242 (vmsd) S 1 4242 4242 0 -1\n");
    expect(await processChecker({ pidfile, procDir: proc, name: "vmsd" }).run(live())).toMatchObject({ ok: true });
  });

  it("by name: counts processes with track-process's rules", async () => {
    const counter = (name: string) => (name === "vmsd" ? { ok: true as const, count: 2, pids: [10, 11] } : { ok: true as const, count: 0, pids: [] });
    expect(await processChecker({ name: "vmsd", count: counter }).run(live())).toMatchObject({ ok: true, detail: "2 processes named vmsd (pid 10, 11)" });
    expect(await processChecker({ name: "vmsd", min: 3, count: counter }).run(live())).toMatchObject({ ok: false, detail: "2 processes named vmsd (pid 10, 11), expected at least 3" });
    expect(await processChecker({ name: "other", count: counter }).run(live())).toMatchObject({ ok: false, detail: "no process named other is running" });
  });

  it("by name: finds a real child in /proc", async () => {
    // A name of its own: other programs on the host may run `sleep` too, and the detail lists only a few pids.
    const name = `vchk${process.pid}`.slice(0, 15);
    const program = join(dir, name);
    execFileSync("cp", ["/bin/sleep", program]);
    const child = spawn(program, ["30"], { stdio: "ignore" });
    children.push(child);
    await new Promise((r) => child.once("spawn", r));
    const r = await processChecker({ name }).run(live());
    expect(r.ok).toBe(true);
    expect(r.detail).toContain(String(child.pid));
    child.kill("SIGKILL");
  });
});

describe("interface checker", () => {
  it("sees lo up", async () => {
    expect(await interfaceChecker({ name: "lo" }).run(live())).toMatchObject({ ok: true, detail: "lo up" });
  });

  it("fails for a missing interface and a link without carrier", async () => {
    expect(await interfaceChecker({ name: "vigil-none0" }).run(live())).toMatchObject({ ok: false, detail: "vigil-none0 does not exist" });
    const sys = join(dir, "sys-class-net");
    mkdirSync(join(sys, "eth9"), { recursive: true });
    writeFileSync(join(sys, "eth9", "operstate"), "down\n");
    writeFileSync(join(sys, "eth9", "carrier"), "0\n");
    expect(await interfaceChecker({ name: "eth9", sysClassNet: sys }).run(live())).toMatchObject({ ok: false, detail: "eth9 down (operstate down, no carrier)" });
  });
});

describe("ping and probe checkers", () => {
  it("pings 127.0.0.1", async () => {
    const r = await pingChecker({ address: "127.0.0.1" }).run(live());
    expect(r.ok).toBe(true);
    expect(r.detail).toMatch(/^127\.0\.0\.1: echo reply( in [0-9.]+ms)?$/);
  });

  it("refuses anything but an IP literal, and explains a missing ping binary", async () => {
    expect(await pingChecker({ address: "-f" }).run(live())).toMatchObject({ ok: false, detail: 'ping "-f": not an IP address' });
    expect(await pingChecker({ address: "gateway.example" }).run(live())).toMatchObject({ ok: false, detail: 'ping "gateway.example": not an IP address' });
    expect(await pingChecker({ address: "127.0.0.1", binary: "/nonexistent/ping" }).run(live())).toMatchObject({
      ok: false,
      detail: "127.0.0.1: cannot run ping: /nonexistent/ping: no such file (ENOENT)",
    });
  });

  it("probes over TCP: an open or a refused port both show the host is there", async () => {
    const server = createTcpServer((s) => s.destroy());
    const open = await listen(server);
    try {
      expect(await probeChecker({ address: "127.0.0.1", port: open, protocol: "tcp" }).run(live())).toMatchObject({ ok: true, detail: `tcp 127.0.0.1:${open}: host answered (port open)` });
    } finally {
      await close(server);
    }
    const shut = await closedPort();
    expect(await probeChecker({ address: "127.0.0.1", port: shut, protocol: "tcp" }).run(live())).toMatchObject({ ok: true, detail: `tcp 127.0.0.1:${shut}: host answered (port closed)` });
  });

  describe("over UDP", () => {
    let silent: UdpSocket;
    let silentPort = 0;
    beforeAll(async () => {
      silent = createSocket("udp4");
      await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
      silentPort = silent.address().port;
    });
    afterAll(() => silent.close());

    it("a reply shows the host is there", async () => {
      const echo = createSocket("udp4");
      echo.on("message", (msg, from) => echo.send(msg, from.port, from.address));
      await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()));
      try {
        const port = echo.address().port;
        expect(await probeChecker({ address: "127.0.0.1", port, protocol: "udp", timeoutMs: 2000, payload: new Uint8Array([1]) }).run(live())).toMatchObject({ ok: true, detail: `udp 127.0.0.1:${port}: host answered (reply)` });
      } finally {
        echo.close();
      }
    });

    it("a port unreachable shows the host is there", async () => {
      const s = createSocket("udp4");
      await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
      const port = s.address().port;
      await new Promise<void>((r) => s.close(() => r()));
      expect(await probeChecker({ address: "127.0.0.1", port, protocol: "udp", timeoutMs: 2000 }).run(live())).toMatchObject({ ok: true, detail: `udp 127.0.0.1:${port}: host answered (port unreachable)` });
    });

    it("silence is a failure", async () => {
      expect(await probeChecker({ address: "127.0.0.1", port: silentPort, protocol: "udp", timeoutMs: 200 }).run(live())).toMatchObject({ ok: false, detail: `udp 127.0.0.1:${silentPort}: no answer, timed out` });
    });
  });
});

describe("rise and fall", () => {
  it("needs `fall` failures in a row to fail and `rise` successes in a row to recover", () => {
    const rf = { rise: 2, fall: 3 };
    let s = initialRiseFall();
    const seen: string[] = [];
    for (const ok of [true, true, false, false, true, false, false, false, true, false, true, true]) {
      s = countCheck(s, ok, rf);
      seen.push(s.health);
    }
    expect(seen).toEqual(["unknown", "healthy", "healthy", "healthy", "healthy", "healthy", "healthy", "failed", "failed", "failed", "failed", "healthy"]);
  });
});

describe("check schedule", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const clock = (): ScheduleClock => ({
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  });

  /** A checker answering from a script of results, each after `takesMs`; "hang" never answers on its own. */
  function scripted(answers: ("ok" | "fail" | "hang")[], takesMs = 10) {
    const signals: AbortSignal[] = [];
    const startedAt: number[] = [];
    const checker: Checker = {
      kind: "custom",
      target: "probe",
      run(signal) {
        signals.push(signal);
        startedAt.push(Date.now());
        const answer = answers.shift() ?? "ok";
        return new Promise<CheckResult>((resolve) => {
          if (answer === "hang") {
            signal.addEventListener("abort", () => setTimeout(() => resolve({ ok: true, detail: "late", durationMs: 0 }), 5));
            return;
          }
          setTimeout(() => resolve({ ok: answer === "ok", detail: answer, durationMs: takesMs }), takesMs);
        });
      },
    };
    return { checker, signals, startedAt };
  }

  it("runs at its interval and reports debounced transitions", async () => {
    vi.useFakeTimers();
    const c = scripted(["ok", "fail", "fail", "fail", "ok", "ok", "ok"]);
    const transitions: HealthTransition[] = [];
    const results: boolean[] = [];
    const s = new CheckSchedule({
      checker: c.checker, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3, clock: clock(),
      onResult: (r) => results.push(r.ok),
      onTransition: (t) => transitions.push(t),
    });
    const t0 = Date.now();
    s.start();
    await vi.advanceTimersByTimeAsync(20);
    expect(s.health).toBe("unknown");
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.health).toBe("unknown"); // ok, then fail: neither streak is long enough.
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.health).toBe("failed");
    expect(transitions.map((t) => [t.from, t.to])).toEqual([["unknown", "failed"]]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.health).toBe("healthy");
    expect(transitions.map((t) => [t.from, t.to])).toEqual([["unknown", "failed"], ["failed", "healthy"]]);
    expect(transitions[1]?.result).toMatchObject({ ok: true, detail: "ok" });
    expect(results).toEqual([true, false, false, false, true, true]);
    expect(c.startedAt.map((t) => t - t0)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    s.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(c.startedAt).toHaveLength(6);
  });

  it("counts a run past its timeout as a failure, aborts it, and ignores its late answer", async () => {
    vi.useFakeTimers();
    const c = scripted(["hang", "ok"]);
    const results: CheckResult[] = [];
    const transitions: HealthTransition[] = [];
    const s = new CheckSchedule({
      checker: c.checker, intervalMs: 1000, timeoutMs: 300, rise: 1, fall: 1, initial: "healthy", clock: clock(),
      onResult: (r) => results.push(r),
      onTransition: (t) => transitions.push(t),
    });
    s.start();
    await vi.advanceTimersByTimeAsync(299);
    expect(results).toHaveLength(0);
    expect(c.signals[0]?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.signals[0]?.aborted).toBe(true);
    expect(results).toEqual([{ ok: false, detail: "probe: no result within 300 ms, aborted", durationMs: 300 }]);
    expect(transitions.map((t) => t.to)).toEqual(["failed"]);
    await vi.advanceTimersByTimeAsync(100); // The late "ok" from the aborted run.
    expect(results).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(700);
    expect(results.map((r) => r.ok)).toEqual([false, true]);
    expect(s.health).toBe("healthy");
    s.stop();
  });

  it("never overlaps runs: a slow run delays the next one", async () => {
    vi.useFakeTimers();
    const c = scripted(["ok", "ok", "ok"], 1500);
    const s = new CheckSchedule({ checker: c.checker, intervalMs: 1000, timeoutMs: 2000, rise: 1, fall: 1, clock: clock(), onTransition: () => {} });
    const t0 = Date.now();
    s.start();
    await vi.advanceTimersByTimeAsync(4600);
    const starts = c.startedAt.map((t) => t - t0);
    expect(starts).toHaveLength(4);
    // Each run starts only once the one before it (1500 ms) has finished, and right after.
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] as number) - (starts[i - 1] as number);
      expect(gap).toBeGreaterThanOrEqual(1500);
      expect(gap).toBeLessThan(1000 + 1500);
    }
    s.stop();
  });

  it("keeps running when a checker throws or a listener throws", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const broken: Checker = {
      kind: "custom",
      target: "broken",
      run() {
        calls += 1;
        throw new Error("boom");
      },
    };
    const results: CheckResult[] = [];
    const s = new CheckSchedule({
      checker: broken, intervalMs: 100, timeoutMs: 50, rise: 1, fall: 2, clock: clock(),
      onResult: (r) => {
        results.push(r);
        throw new Error("listener bug");
      },
      onTransition: () => {
        throw new Error("listener bug");
      },
    });
    s.start();
    await vi.advanceTimersByTimeAsync(250);
    expect(calls).toBe(3);
    expect(results[0]).toMatchObject({ ok: false, detail: "broken: the custom checker failed: boom" });
    expect(s.health).toBe("failed");
    s.stop();
  });
});
