import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { requireBinary, ROOT, VIGIL, vigil } from "./vigil-binary.ts";

const noStackTrace = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+/m);

describe("vigil binary: verbs and usage errors", () => {
  it("prints its version", () => {
    const r = vigil(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vigil 0\.1\.0 \(build linux-x64: x86-64 baseline, no AVX2 needed, glibc; bun \d+\.\d+\.\d+\)\n$/);
  });

  it("answers an unknown verb with one line, the usage, and exit 2", () => {
    const r = vigil(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toMatch(/^vigil: unknown verb "frobnicate" \(verbs: run, /);
    expect(r.stderr).toContain("Usage: vigil VERB [FLAGS]");
    noStackTrace(r.stderr);
  });

  it("answers an unknown flag with the verb's usage and exit 2", () => {
    const r = vigil(["status", "--colour"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe("vigil: unknown flag --colour");
    expect(r.stderr).toContain("Usage: vigil status [--json] [--state-dir DIR]");
  });

  it("answers a missing argument with exit 2", () => {
    const r = vigil(["keygen"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe('vigil: missing argument for "keygen"');
  });

  it("rejects a bad flag value with the verb's usage", () => {
    const r = vigil(["run", "--log-format", "xml"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe('vigil: --log-format must be text or json, not "xml"');
    expect(r.stderr).toContain("Usage: vigil run");
  });

  it("documents the exit codes in help", () => {
    const r = vigil(["help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Exit status:");
    expect(r.stdout).toContain("3  no daemon answered");
  });

  it("prints the config JSON Schema", () => {
    const r = vigil(["schema"]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["cluster", "vrrp", "modules", "web"]));
  });

  it("says no daemon runs, with exit 3, when the socket is absent", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-nostate-"));
    const r = vigil(["status", "--state-dir", dir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no vigil daemon is running with state dir ${dir}`);
  });

  it("doctor lists host tools and the config, and fails naming what is missing", () => {
    const good = vigil(["doctor", "--config", join(ROOT, "examples", "demo", "vigil.yaml")]);
    expect(good.stdout).toMatch(/^ok +ip +\/\S+\/ip$/m);
    expect(good.stdout).toMatch(/^ok +raw sockets \(FFI\) +available/m);
    // Advice where a woken real-time thread can wait for its CPU: printed as a note, not MISSING.
    expect(good.stdout).toMatch(/^(ok|note) +kernel preemption +(none|voluntary|full|lazy|rt|model not told|none or voluntary) \(from /m);
    const bad = vigil(["doctor", "--config", "/nonexistent/vigil.yaml"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^MISSING +config +\/nonexistent\/vigil\.yaml has errors \(run vigil check-config\) \(needed by: vigil run\)$/m);
  });

  it("writes a key with mode 0600 and refuses to overwrite it", () => {
    const file = join(mkdtempSync(join(tmpdir(), "vigil-key-")), "vigil.key");
    expect(vigil(["keygen", file]).code).toBe(0);
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBeGreaterThanOrEqual(32);
    const again = vigil(["keygen", file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
  });
});

describe("vigil binary: check-config", () => {
  const examples = readdirSync(join(ROOT, "examples")).filter((d) =>
    statSync(join(ROOT, "examples", d)).isDirectory()
  );

  it("has examples to check", () => {
    expect(examples).toEqual(expect.arrayContaining(["vip-failover", "service-failover", "mirror", "farm", "demo"]));
  });

  // The examples ship a published sample key, which check-config refuses as `vigil run` does off
  // loopback: each is checked as a newcomer uses it, copied with a key of its own (the demo, all on
  // loopback, as it is).
  for (const ex of ["vip-failover", "service-failover", "mirror", "farm", "demo"]) {
    it(`accepts examples/${ex}${ex === "demo" ? "" : " with a key of its own"}`, () => {
      let dir = join(ROOT, "examples", ex);
      if (ex !== "demo") {
        const copy = join(mkdtempSync(join(tmpdir(), `vigil-example-${ex}-`)), ex);
        cpSync(dir, copy, { recursive: true });
        expect(vigil(["keygen", join(copy, "vigil.key"), "--force"]).code).toBe(0);
        dir = copy;
      }
      const file = join(dir, "vigil.yaml");
      const r = vigil(["check-config", file]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${file}: OK (found by the command line)`);
    });
  }

  it("refuses examples/mirror as shipped: its key is a published sample, and says how to make one", () => {
    const file = join(ROOT, "examples", "mirror", "vigil.yaml");
    const r = vigil(["check-config", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/is a published sample key .*vigil keygen .*--force/);
    noStackTrace(r.stderr);
  });

  it("prints the effective config with defaults applied", () => {
    const r = vigil(["check-config", "--print", join(ROOT, "examples", "demo", "vigil.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/initdead: /);
    expect(r.stdout).toMatch(/listen: /);
  });

  it("finds the config through $VIGIL_CONFIG", () => {
    const file = join(ROOT, "examples", "demo", "vigil.yaml");
    const r = vigil(["check-config"], { VIGIL_CONFIG: file });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${file}: OK (found by $VIGIL_CONFIG)`);
  });

  it("rejects a missing file with one clear line and exit 1", () => {
    const r = vigil(["check-config", "/nonexistent/vigil.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent/vigil.yaml");
    noStackTrace(r.stderr);
  });
});

describe("vigil binary: the directory it runs in", () => {
  it("reads no bunfig.toml (its preload would run as the caller, root) and no .env from there", () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "vigil-cwd-"));
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.js"]\n');
    writeFileSync(join(dir, "preload.js"), `require("node:fs").writeFileSync(${JSON.stringify(join(dir, "preloaded"))}, "");\n`);
    const demo = join(ROOT, "examples", "demo", "vigil.yaml");
    writeFileSync(join(dir, ".env"), `VIGIL_CONFIG=${demo}\n`);
    const { VIGIL_CONFIG: _unset, ...env } = process.env;
    const r = spawnSync(VIGIL, ["check-config"], { cwd: dir, env, encoding: "utf8", timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(existsSync(join(dir, "preloaded"))).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(demo);
  });
});
