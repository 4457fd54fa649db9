/**
 * The start checks through the binary: a published sample key (at start and
 * at a reload), a state dir anyone may write, and what check-config and
 * `vigil token` say about a key file that others may read.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Daemon, ROOT, startDaemon, vigil } from "./vigil-binary.ts";

const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await d.exited;
  }
});

function setup(o: { sampleKey?: string; peer?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-keys-"));
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:", "  name: lab", "  key_file: vigil.key", "  heartbeat: { initdead: 1m, port: 7697 }", "  nodes:",
    "    - { name: solo, addresses: [127.0.0.1] }", `    - { name: other, addresses: [${o.peer ?? "127.0.0.2"}] }`,
    'web: { listen: "127.0.0.1:0" }', "",
  ].join("\n"));
  const key = join(dir, "vigil.key");
  if (o.sampleKey !== undefined) {
    copyFileSync(join(ROOT, "examples", o.sampleKey, "vigil.key"), key);
    chmodSync(key, 0o600);
  } else {
    expect(vigil(["keygen", key]).code).toBe(0);
  }
  return { dir, config, key };
}

describe("vigil run start checks", () => {
  it("refuses a published sample key on a node with a peer on the network, saying how to make a key", () => {
    const { dir, config } = setup({ sampleKey: "service-failover", peer: "198.51.100.2" });
    const r = vigil(["run", "--config", config, "--node", "solo", "--state-dir", join(dir, "state")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/published sample key .*vigil keygen .*vigil\.key --force/);
  });

  it("refuses a state dir that anyone may write, naming its mode and the fix", () => {
    const { dir, config } = setup();
    const state = join(dir, "state");
    mkdirSync(state);
    chmodSync(state, 0o1777);
    const r = vigil(["run", "--config", config, "--node", "solo", "--state-dir", state]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`state dir ${state} has mode 1777, so anyone on this machine can write to it`);
    expect(r.stderr).toContain(`chmod 700 ${state}`);
  });

  it("rejects a reload that would bring in a published sample key, and keeps running", async () => {
    const { dir, config, key } = setup();
    const d = startDaemon(["run", "--config", config, "--node", "solo", "--state-dir", join(dir, "state")]);
    running.push(d);
    await d.waitForLog(/vigil started/);
    copyFileSync(join(ROOT, "examples", "farm", "vigil.key"), key);
    writeFileSync(config, readFileSync(config, "utf8").replace("127.0.0.2", "198.51.100.2"));
    d.proc.kill("SIGHUP");
    await d.waitForLog(/reload rejected: keeping the running config .*published sample key/);
    expect(d.proc.exitCode).toBeNull();
  });

  it("takes --accept-new-key as a flag of run", () => {
    expect(vigil(["run", "--help"]).stdout).toContain("--accept-new-key");
  });
});

describe("key file warnings", () => {
  it("check-config and vigil token warn about a key others can read; the token stays alone on stdout", () => {
    const { config, key } = setup();
    expect(vigil(["check-config", config]).stdout).not.toContain("warning");
    chmodSync(key, 0o644);
    const check = vigil(["check-config", config]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`warning: key file ${key}: mode 0644 lets group or others read the cluster key; run \`chmod 600 ${key}\``);
    const token = vigil(["token", "--config", config]);
    expect(token.code).toBe(0);
    expect(token.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(token.stderr).toContain("mode 0644 lets group or others read the cluster key");
  });

  it("check-config refuses a published sample key that `vigil run` would refuse, saying how to make a key", () => {
    const { config } = setup({ sampleKey: "mirror", peer: "198.51.100.2" });
    const r = vigil(["check-config", config]);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/OK/);
    expect(r.stderr).toMatch(/: key file .* is a published sample key .*vigil keygen .*--force.*`vigil run` refuses it off loopback, so the config is not usable as it is/);
  });
});
