// `vigil witness` as a real process. Everything stays on 127.0.0.1.
import * as dgram from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type ArbiterAnswer, ArbiterClient } from "../../src/net/arbiter-client.ts";
import { type Daemon, startDaemon, vigil } from "./vigil-binary.ts";

const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await d.exited;
  }
});

const noStackTrace = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+/m);

function setup(opts: { key?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-witness-"));
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:",
    "  name: lab",
    ...(opts.key === false ? [] : ["  key_file: vigil.key"]),
    "  nodes:",
    "    - { name: a, addresses: [127.0.0.1] }",
    "    - { name: b, addresses: [127.0.0.2] }",
    "  witness: { arbiter: \"127.0.0.3:7693\", lease: 30s, grace: 1s }",
    "modules:",
    "  - { name: web, type: failover, vip: 198.51.100.80/24, interface: lo }",
    "",
  ].join("\n"));
  if (opts.key !== false) expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
  return { dir, config, state: join(dir, "state") };
}

function start(args: string[]): Daemon {
  const d = startDaemon(["witness", ...args]);
  running.push(d);
  return d;
}

function getStatus(socketPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/api/status" }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(JSON.parse(body) as Record<string, unknown>));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("vigil witness: usage errors", () => {
  it.each<[string[], string]>([
    [["--listen", "7695"], 'vigil: --listen must look like IPV4-ADDRESS:PORT (for example 0.0.0.0:7693), not "7695"'],
    [["--listen", "300.1.1.1:7695"], 'vigil: --listen must look like IPV4-ADDRESS:PORT (for example 0.0.0.0:7693), not "300.1.1.1:7695"'],
    [["--http", "127.0.0.1:99999"], 'vigil: --http must look like IPV4-ADDRESS:PORT (for example 0.0.0.0:7693), not "127.0.0.1:99999"'],
    [["--log-format", "xml"], 'vigil: --log-format must be text or json, not "xml"'],
    [["--listen"], "vigil: flag --listen needs a value"],
    [["--colour"], "vigil: unknown flag --colour"],
    [["extra"], 'vigil: unexpected argument "extra" for "witness"'],
  ])("%j: one line, the usage, exit 2", (args, first) => {
    const r = vigil(["witness", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(first);
    expect(r.stderr).toContain("Usage: vigil witness [--config FILE] [--listen ADDR:PORT]");
    noStackTrace(r.stderr);
  });

  it("is listed in help", () => {
    expect(vigil(["help"]).stdout).toMatch(/^ {2}witness +run the arbiter/m);
  });
});

describe("vigil witness: refuses to start, saying why", () => {
  it("without a config", () => {
    const r = vigil(["witness", "--config", "/nonexistent/vigil.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/vigil\.yaml/);
    noStackTrace(r.stderr);
  });

  it("without a cluster key", () => {
    const s = setup({ key: false });
    const r = vigil(["witness", "--config", s.config, "--state-dir", s.state, "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cluster.key_file is not set: the arbiter only answers requests signed with the cluster key");
    noStackTrace(r.stderr);
  });

  it("when its port is taken", async () => {
    const s = setup();
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
    const port = sock.address().port;
    try {
      const r = vigil(["witness", "--config", s.config, "--state-dir", s.state, "--listen", `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot listen for arbiter requests on 127.0.0.1:${port}: EADDRINUSE: the port is already in use (is another vigil witness running?)`);
      noStackTrace(r.stderr);
    } finally {
      sock.close();
    }
  });
});

describe("vigil witness: running", () => {
  it("its --http server runs in the runtime's production mode: /bun:info reaches the witness's routes", async () => {
    const s = setup();
    const d = start(["--config", s.config, "--state-dir", s.state, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    const [, where] = await d.waitForLog(/vigil witness started .*http=([\d.:]+)/);
    // In its development mode the runtime answers this path itself: 200, its version and the kernel's.
    const res = await fetch(`http://${where}/bun:info`);
    const text = await res.text();
    expect(text).not.toContain("bun_version");
    expect(res.status).toBe(404);
  });

  it("grants leases, shows them on its socket, and keeps the quiet period after a stop with a lease out", async () => {
    const s = setup();
    const args = ["--config", s.config, "--state-dir", s.state, "--listen", "127.0.0.1:0"];
    // First start: nothing says no lease of an earlier run is out, so it is quiet.
    const first = start(args);
    await first.waitForLog(/vigil witness started .*quiet_ms=31000/);
    first.proc.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(existsSync(join(s.state, "witness-clean-stop"))).toBe(true);

    // After a clean stop with nothing out, it grants at once.
    const second = start(args);
    const port = Number((await second.waitForLog(/vigil witness started .*listen=127\.0\.0\.1:(\d+) .*quiet_ms=0 /))[1]);
    expect(existsSync(join(s.state, "witness-clean-stop"))).toBe(false);
    const answers: ArbiterAnswer[] = [];
    const client = await ArbiterClient.open({
      cluster: "lab", self: "a", key: new Uint8Array(readFileSync(join(s.dir, "vigil.key"))),
      arbiter: { address: "127.0.0.1", port }, localAddress: "127.0.0.1",
      onAnswer: (_m, a) => answers.push(a),
    });
    try {
      client.request("web", 1);
      for (let i = 0; i < 500 && answers.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(answers).toEqual([{ request: 1, granted: true, durationMs: 30000, holder: "a", detail: "granted" }]);
      const status = await getStatus(join(s.state, "witness.sock"));
      expect(status).toMatchObject({ role: "witness", cluster: "lab", leaseMs: 30000, graceMs: 1000, leases: [{ module: "web", holder: "a", token: 1, state: "held" }] });
    } finally {
      await client.close();
    }
    await second.waitForLog(/lease granted module=web node=a/);
    second.proc.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.log()).toContain("leases were still running: the next start keeps the quiet period");
    expect(existsSync(join(s.state, "witness-clean-stop"))).toBe(false);

    const third = start(args);
    await third.waitForLog(/vigil witness started .*quiet_ms=31000/);
  });
});
