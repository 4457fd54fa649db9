import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Daemon, startDaemon, vigil } from "./vigil-binary.ts";

const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await d.exited;
  }
});

function setup(listen = "127.0.0.1:0", heartbeatPort = 7694) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-daemon-"));
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, configText("lab", listen, heartbeatPort));
  expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
  return { dir, config, state: join(dir, "state") };
}

function configText(cluster: string, listen: string, heartbeatPort = 7694): string {
  return [
    "cluster:",
    `  name: ${cluster}`,
    "  key_file: vigil.key",
    `  heartbeat: { initdead: 1m, port: ${heartbeatPort} }`,
    "  nodes:",
    "    - { name: solo, addresses: [127.0.0.1] }",
    // The peer never runs: its address stays on loopback so nothing leaves the machine.
    "    - { name: other, addresses: [127.0.0.2] }",
    `web: { listen: "${listen}" }`,
    // Plain HTTP on loopback, so fetch() needs no certificate; the login is HTTP Basic as the first-start admin.
    "console: { tls: false }",
    "",
  ].join("\n");
}

function start(args: string[]): Daemon {
  const d = startDaemon(["run", ...args]);
  running.push(d);
  return d;
}

/** The first-start admin's password, which the daemon keeps in its state dir. */
function basicAuth(state: string): Record<string, string> {
  const password = readFileSync(join(state, "console-password"), "utf8").trim();
  return { authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` };
}

async function get(url: string, state: string) {
  const r = await fetch(url, { headers: basicAuth(state) });
  return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
}

describe("vigil run", () => {
  it("serves the console, status, health and metrics, and stops cleanly on SIGTERM", async () => {
    const { config, state } = setup();
    const d = start(["--config", config, "--state-dir", state, "--node", "solo"]);
    const [, where] = await d.waitForLog(/vigil started .*console=http:\/\/([\d.:]+)\//);
    const base = `http://${where}`;

    const health = await get(`${base}/healthz`, state);
    expect(health).toMatchObject({ status: 200, text: "ok" });

    const status = JSON.parse((await get(`${base}/api/status`, state)).text);
    expect(status.node.name).toBe("solo");
    expect(status.cluster.name).toBe("lab");
    expect(status.configFile).toBe(config);
    expect(status.peers.map((p: { name: string }) => p.name)).toEqual(["other"]);
    expect(status.events.some((e: { msg: string }) => e.msg === "vigil started")).toBe(true);

    const metrics = await get(`${base}/metrics`, state);
    expect(metrics.type).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/^vigil_info\{cluster="lab",node="solo",version="0\.1\.0"\} 1$/m);

    const page = await get(`${base}/`, state);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);

    // The CLI asks the same daemon through the unix socket in the state dir.
    const cli = vigil(["status", "--state-dir", state]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^node +solo \(127\.0\.0\.1\)$/m);
    expect(cli.stdout).toMatch(/^other +unknown /m);
    const json = JSON.parse(vigil(["status", "--json", "--state-dir", state]).stdout);
    expect(json.node.name).toBe("solo");

    d.proc.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    expect(d.log()).toMatch(/info +vigil stopped node=solo/);
    expect(existsSync(join(state, "vigil.lock"))).toBe(false);
    expect(existsSync(join(state, "vigil.sock"))).toBe(false);
  });

  it("refuses a second daemon on the same state dir, naming the first one's PID", async () => {
    const { config, state } = setup();
    const first = start(["--config", config, "--state-dir", state, "--node", "solo"]);
    await first.waitForLog(/vigil started/);
    const second = start(["--config", config, "--state-dir", state, "--node", "solo", "--listen", "127.0.0.1:0"]);
    expect(await second.exited).toBe(1);
    expect(second.log()).toContain(`another vigil daemon (PID ${first.proc.pid}) is running on state dir ${state}`);
    expect(readFileSync(join(state, "vigil.lock"), "utf8").trim()).toBe(String(first.proc.pid));
  });

  it("starts after a crash left its lock behind", async () => {
    const { config, state } = setup();
    const first = start(["--config", config, "--state-dir", state, "--node", "solo"]);
    await first.waitForLog(/vigil started/);
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(existsSync(join(state, "vigil.lock"))).toBe(true);
    const again = start(["--config", config, "--state-dir", state, "--node", "solo"]);
    await again.waitForLog(/vigil started/);
  });

  it("on SIGHUP keeps the running config when the new one is bad, and applies a good one", async () => {
    const { config, state } = setup();
    const d = start(["--config", config, "--state-dir", state, "--node", "solo"]);
    const [, where] = await d.waitForLog(/vigil started .*console=http:\/\/([\d.:]+)\//);

    writeFileSync(config, configText("lab", "127.0.0.1:0").replace("name: lab", "name: lab\n  bogus_key: 1"));
    d.proc.kill("SIGHUP");
    await d.waitForLog(/reload rejected: keeping the running config/);
    expect(d.log()).toMatch(/config error detail=".*vigil\.yaml:3:3: cluster\.bogus_key/);
    expect(JSON.parse((await get(`http://${where}/api/status`, state)).text).cluster.name).toBe("lab");

    writeFileSync(config, configText("lab2", "127.0.0.1:0"));
    d.proc.kill("SIGHUP");
    await d.waitForLog(/config reloaded/);
    const status = await fetch(`http://${where}/api/status`, { headers: basicAuth(state) }).then((r) => r.json()) as { cluster: { name: string } };
    expect(status.cluster.name).toBe("lab2");
  });

  it("logs JSON lines with --log-format json", async () => {
    const { config, state } = setup();
    const d = start(["--config", config, "--state-dir", state, "--node", "solo", "--log-format", "json"]);
    await d.waitForLog(/"msg":"vigil started"/);
    const line = d.log().split("\n").find((l) => l.includes('"vigil started"')) ?? "";
    expect(JSON.parse(line)).toMatchObject({ level: "info", msg: "vigil started", node: "solo", cluster: "lab" });
  });

  it("refuses to start on an invalid config, listing every problem", async () => {
    const { config, state } = setup();
    writeFileSync(config, "cluster:\n  name: x\n  nodes: []\n  extra: 1\nweb: { listen: nowhere }\n");
    const d = start(["--config", config, "--state-dir", state]);
    expect(await d.exited).toBe(1);
    expect(d.log()).toMatch(/not starting: the config has errors/);
    expect(d.log()).toMatch(/vigil\.yaml:4:3: cluster\.extra/);
    expect(d.log()).toMatch(/vigil\.yaml:5:\d+: web\.listen/);
  });

  it("explains when the console port is taken", async () => {
    const { config, state } = setup();
    const first = start(["--config", config, "--state-dir", state, "--node", "solo"]);
    const [, where] = await first.waitForLog(/vigil started .*console=http:\/\/([\d.:]+)\//);
    // Heartbeats two ports up: the first node holds 7694 and, to send its news from, 7695.
    const other = setup("127.0.0.1:0", 7696);
    const second = start(["--config", other.config, "--state-dir", other.state, "--node", "solo", "--listen", where ?? ""]);
    expect(await second.exited).toBe(1);
    expect(second.log()).toContain(`cannot listen on ${where}: the address is already in use`);
    expect(existsSync(join(other.state, "vigil.lock"))).toBe(false);
  });
});
