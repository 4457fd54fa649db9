/**
 * Through the binary: what check-config and `vigil run` say about a config
 * that is valid but cannot work on this host (scripts, interfaces), what
 * check-config says off the cluster, and the small CLI answers that belong
 * with them (a mistyped verb, status --json without a daemon, keygen into a
 * missing folder, a bad indent).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Daemon, startDaemon, VIGIL, vigil } from "./vigil-binary.ts";

const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await d.exited;
  }
});

/** A two-node config whose first node is this machine (127.0.0.1), or none of it. */
function setup(module: string[], o: { addresses?: [string, string] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-host-"));
  const config = join(dir, "vigil.yaml");
  const [a, b] = o.addresses ?? ["127.0.0.1", "127.0.0.2"];
  writeFileSync(config, [
    "cluster:", "  name: lab", "  key_file: vigil.key", "  heartbeat: { initdead: 1m, port: 7698 }", "  nodes:",
    `    - { name: solo, addresses: [${a}] }`, `    - { name: other, addresses: [${b}] }`,
    'web: { listen: "127.0.0.1:0" }', "modules:", ...module, "",
  ].join("\n"));
  expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
  const script = (name: string, mode: number) => {
    writeFileSync(join(dir, name), "#!/bin/sh\nexit 0\n");
    chmodSync(join(dir, name), mode);
  };
  return { dir, config, script };
}

const MODULE = [
  "  - name: app",
  "    type: failover",
  "    interface: lo0",
  "    start: ./start.sh",
  "    stop: ./stop.sh",
];

describe("check-config on a node of the cluster", () => {
  it("names a missing script, one that is not executable and an unknown interface (with did-you-mean), each at file:line:col; exit 1", () => {
    const { dir, config, script } = setup(MODULE);
    script("start.sh", 0o644);
    const r = vigil(["check-config", config]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")).toEqual([
      `${config}:12:16: modules[0].interface: found interface "lo0", which does not exist on this host, expected an interface of this host (did you mean "lo"?)`,
      `${config}:13:12: modules[0].start: found "./start.sh" (${dir}/start.sh), which is not executable (mode 0644), expected an executable script (chmod +x ${dir}/start.sh)`,
      `${config}:14:11: modules[0].stop: found "./stop.sh" (${dir}/stop.sh), which does not exist on this host, expected an executable script`,
      `${config}: valid, but 3 problems on this host (node solo): it cannot work here as it is`,
      "",
    ]);
    // vigil doctor says so too, in one line.
    expect(vigil(["doctor", "--config", config]).stdout).toMatch(/^MISSING +config on this host +3 problems \(run vigil check-config\) \(needed by: vigil run\)$/m);
  });

  it("says OK, on which node, once the host has what the config needs", () => {
    const { config, script } = setup(["  - { name: app, type: failover, interface: lo, start: ./start.sh, stop: ./stop.sh }"]);
    script("start.sh", 0o755);
    script("stop.sh", 0o700);
    const r = vigil(["check-config", config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("this machine is node solo: scripts, interfaces and VIP subnets checked on this host");
  });

  it("off the cluster: valid, and it says which checks it could not make", () => {
    const { config } = setup(MODULE, { addresses: ["192.0.2.251", "192.0.2.252"] });
    const r = vigil(["check-config", config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("this machine matches no node by address (use --node NAME with vigil run); not checked from here:\n" +
      "    - that the start, stop, checker, track and notify scripts exist and are executable\n" +
      "    - that the interfaces exist\n" +
      "    - that each VIP lies in a subnet of its interface\n");
  });
});

describe("vigil run on a host that lacks what the config needs", () => {
  it("refuses a missing start script, naming it at file:line:col; only warns about a missing interface", async () => {
    const { dir, config, script } = setup(MODULE);
    script("stop.sh", 0o755);
    const d = startDaemon(["run", "--config", config, "--state-dir", join(dir, "state"), "--node", "solo"]);
    running.push(d);
    expect(await d.exited).toBe(1);
    expect(d.log()).toContain(`not starting: 1 problem on this host (\`vigil check-config\` lists them): ${config}:13:12: modules[0].start: found "./start.sh" (${dir}/start.sh), which does not exist on this host, expected an executable script`);
    expect(d.log()).not.toMatch(/vigil started/);
  });
});

describe("who sent a command", () => {
  it("the daemon logs a module command with its source: the control socket and the CLI's pid and uid", async () => {
    const { dir, config, script } = setup(["  - { name: app, type: failover, start: ./start.sh, stop: ./stop.sh }"]);
    script("start.sh", 0o755);
    script("stop.sh", 0o755);
    const state = join(dir, "state");
    // A single node: "other" never answers, so the module waits for initdead; shorten it.
    writeFileSync(config, readFileSync(config, "utf8").replace("initdead: 1m", "initdead: 500ms"));
    const d = startDaemon(["run", "--config", config, "--state-dir", state, "--node", "solo"]);
    running.push(d);
    await d.waitForLog(/vigil started/);
    const r = spawnSync(VIGIL, ["restart", "app", "--state-dir", state, "--timeout", "5s"], { encoding: "utf8", env: { ...process.env, VIGIL_CONFIG: "" }, timeout: 30_000 });
    const [line] = await d.waitForLog(/module app command restart .*source="control socket \(vigil pid=(\d+) uid=(\d+), as the client says\)"/);
    expect(line).toContain(`pid=${r.pid} uid=${process.getuid?.()}`);
    d.proc.kill("SIGTERM");
    expect(await d.exited).toBe(0);
  });
});

describe("small answers of the CLI", () => {
  it("a mistyped verb gets a did-you-mean and exit 2, without the whole help", () => {
    const r = vigil(["swp", "web"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('vigil: unknown verb "swp": did you mean swap?\n(`vigil help` lists every verb)\n');
  });

  it("status --json with no daemon prints a JSON error on stdout and exits 3", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-nodaemon-"));
    const r = vigil(["status", "--json", "--state-dir", dir]);
    expect(r.code).toBe(3);
    const body = JSON.parse(r.stdout) as { ok: boolean; reason: string; error: string };
    expect(body.ok).toBe(false);
    expect(body.reason).toBe("daemon-unreachable");
    expect(body.error).toContain(`no vigil daemon is running with state dir ${dir}`);
  });

  it("keygen into a folder that does not exist says so, without a temp file name", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-keygen-"));
    const r = vigil(["keygen", join(dir, "missing", "k")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cannot write ${dir}/missing/k: folder ${dir}/missing does not exist\n`);
  });

  it("one bad indent is one message, at the line that is wrong", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-indent-"));
    const config = join(dir, "vigil.yaml");
    writeFileSync(config, "cluster:\n  name: x\n   nodes:\n    - { name: a, addresses: [198.51.100.1] }\n");
    const r = vigil(["check-config", config]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${config}:3:4: found a line indented deeper than the key above it, expected the same indentation as that key (or its value after the colon)\n${config}: 1 problem; the config is not valid\n`);
  });
});
