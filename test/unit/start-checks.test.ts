import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { keyFileWarnings } from "../../src/api/key-checks.ts";
import { loadConfigFile } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { checkKeyContinuity, checkSampleKey, checkStateDirMode } from "../../src/daemon/start-checks.ts";
import { writeKeyFile } from "../../src/sys/keyfile.ts";

const EXAMPLES = join(__dirname, "..", "..", "examples");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-start-"));
  dirs.push(d);
  return d;
}

function config(dir: string, o: { addresses: [string, string]; listen: string; key?: string }): VigilConfig {
  const key = join(dir, "vigil.key");
  if (o.key !== undefined) copyFileSync(o.key, key);
  else writeKeyFile(key);
  chmodSync(key, 0o600);
  writeFileSync(join(dir, "vigil.yaml"), [
    "cluster:", "  name: c", "  key_file: vigil.key", "  nodes:",
    `    - { name: a, addresses: [${o.addresses[0]}] }`, `    - { name: b, addresses: [${o.addresses[1]}] }`,
    `web: { listen: "${o.listen}" }`, "",
  ].join("\n"));
  const r = loadConfigFile(join(dir, "vigil.yaml"));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe("published sample keys", () => {
  it("are refused on a node that talks to other machines, with the way to make a key", () => {
    const c = config(tmp(), { addresses: ["198.51.100.1", "198.51.100.2"], listen: "0.0.0.0:9010", key: join(EXAMPLES, "vip-failover", "vigil.key") });
    const r = checkSampleKey(c, c.web.listen);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/published sample key .*vigil keygen .*vigil\.key --force/);
    // A console on loopback is not enough: the heartbeat still goes to the LAN.
    expect(checkSampleKey(c, "127.0.0.1:9010").ok).toBe(false);
  });

  it("are accepted, with a warning, for the demo: every node and the console on loopback", () => {
    const demo = loadConfigFile(join(EXAMPLES, "demo", "vigil.yaml"));
    if (!demo.ok) throw new Error("the demo config does not load");
    const r = checkSampleKey(demo.config, demo.config.web.listen);
    expect(r).toMatchObject({ ok: true, warnings: [expect.stringContaining("published sample key")] });
    // `npm run demo` with --listen 0.0.0.0:9010 would expose it: refused.
    expect(checkSampleKey(demo.config, "0.0.0.0:9010").ok).toBe(false);
  });

  it("a key of one's own passes; check-config's warnings name a readable key and a sample key", () => {
    const dir = tmp();
    const own = config(dir, { addresses: ["198.51.100.1", "198.51.100.2"], listen: "0.0.0.0:9010" });
    expect(checkSampleKey(own, own.web.listen)).toEqual({ ok: true, warnings: [] });
    expect(keyFileWarnings(own)).toEqual([]);
    chmodSync(join(dir, "vigil.key"), 0o644);
    expect(keyFileWarnings(own)).toEqual([expect.stringMatching(/mode 0644 lets group or others read the cluster key; run `chmod 600 .*vigil\.key`/)]);
    const sample = config(tmp(), { addresses: ["198.51.100.1", "198.51.100.2"], listen: "0.0.0.0:9010", key: join(EXAMPLES, "farm", "vigil.key") });
    expect(keyFileWarnings(sample)).toEqual([expect.stringMatching(/published sample key.*`vigil run` refuses it/)]);
  });
});

describe("state dir mode", () => {
  it("refuses 1777 and any world-writable dir, warns on 0755, accepts 0700 and a dir not made yet", () => {
    const base = tmp();
    const dir = join(base, "state");
    expect(checkStateDirMode(dir)).toEqual({ ok: true, warnings: [] });
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const sticky = checkStateDirMode(dir);
    expect(sticky.ok).toBe(false);
    if (!sticky.ok) expect(sticky.message).toBe(`not starting: state dir ${dir} has mode 1777, so anyone on this machine can write to it (replace the lock, the control socket, the module state); run \`chmod 700 ${dir}\` or use another --state-dir`);
    chmodSync(dir, 0o777);
    expect(checkStateDirMode(dir).ok).toBe(false);
    chmodSync(dir, 0o755);
    expect(checkStateDirMode(dir)).toEqual({ ok: true, warnings: [`state dir ${dir} has mode 0755: other users can look inside; run \`chmod 700 ${dir}\``] });
    chmodSync(dir, 0o700);
    expect(checkStateDirMode(dir)).toEqual({ ok: true, warnings: [] });
    writeFileSync(join(base, "file"), "");
    expect(checkStateDirMode(join(base, "file")).ok).toBe(false);
  });
});

describe("a new cluster key from removable media", () => {
  it("is refused once the node has run with another key, unless --accept-new-key", () => {
    const state = join(tmp(), "state");
    const first = config(tmp(), { addresses: ["198.51.100.1", "198.51.100.2"], listen: "0.0.0.0:9010" });
    expect(checkKeyContinuity(first, state, { configHow: "media", acceptNewKey: false })).toEqual({ ok: true, warnings: [] });
    expect(statSync(join(state, "cluster-key.sha256")).mode & 0o777).toBe(0o600);
    // The same key again, from anywhere: fine.
    expect(checkKeyContinuity(first, state, { configHow: "media", acceptNewKey: false })).toEqual({ ok: true, warnings: [] });
    const stick = config(tmp(), { addresses: ["198.51.100.1", "198.51.100.2"], listen: "0.0.0.0:9010" });
    const refused = checkKeyContinuity(stick, state, { configHow: "media", acceptNewKey: false });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.message).toMatch(/removable media .*another cluster key .*--accept-new-key/);
    const recorded = readFileSync(join(state, "cluster-key.sha256"), "utf8");
    // The operator says so: accepted, and the new key is the one remembered.
    const accepted = checkKeyContinuity(stick, state, { configHow: "media", acceptNewKey: true });
    expect(accepted).toMatchObject({ ok: true, warnings: [expect.stringContaining("cluster key changed")] });
    expect(readFileSync(join(state, "cluster-key.sha256"), "utf8")).not.toBe(recorded);
    // A reload checks first and records only once it succeeded.
    const third = config(tmp(), { addresses: ["198.51.100.1", "198.51.100.2"], listen: "0.0.0.0:9010" });
    const before = readFileSync(join(state, "cluster-key.sha256"), "utf8");
    expect(checkKeyContinuity(third, state, { configHow: "etc", acceptNewKey: false, record: false }).ok).toBe(true);
    expect(readFileSync(join(state, "cluster-key.sha256"), "utf8")).toBe(before);
    // A key change in /etc/vigil (root edited it) is a warning only.
    expect(checkKeyContinuity(first, state, { configHow: "etc", acceptNewKey: false })).toMatchObject({ ok: true, warnings: [expect.stringContaining("cluster key changed")] });
  });
});
