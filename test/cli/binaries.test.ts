/**
 * The binaries for other boxes, run under qemu-user: the arm64 build under
 * qemu-aarch64-static, and the x86-64 baseline build under qemu-x86_64-static
 * emulating a Nehalem CPU, which has no AVX2 (an Atom or an old Xeon would
 * die with "Illegal instruction" on a runtime that needs it). A control
 * program proves the emulator enforces that CPU model, so the test can fail.
 *
 * The two binaries are built once, into a temporary folder, with
 * scripts/build.mjs --target (the same path `npm run build:all` takes).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./vigil-binary.ts";

const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const NEEDS = [
  { what: "qemu-aarch64-static", ok: () => onPath("qemu-aarch64-static"), pkg: "qemu-user-static" },
  { what: "qemu-x86_64-static", ok: () => onPath("qemu-x86_64-static"), pkg: "qemu-user-static" },
  { what: `${ARM64_SYSROOT}/lib/ld-linux-aarch64.so.1`, ok: () => existsSync(`${ARM64_SYSROOT}/lib/ld-linux-aarch64.so.1`), pkg: "libc6-arm64-cross" },
  { what: "cc", ok: () => onPath("cc"), pkg: "gcc" },
];

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

const missing = NEEDS.filter((n) => !n.ok());
const ci = /^(true|1|yes)$/i.test(process.env.CI ?? "");
const problem = missing.length === 0 ? "" :
  `missing ${missing.map((m) => m.what).join(", ")} (Debian packages ${[...new Set(missing.map((m) => m.pkg))].join(" ")}; scripts/setup.sh installs them as root)`;

// Without the emulators the tests are skipped, except under CI, where each fails with what is missing.
describe.runIf(problem === "" || ci)("binaries for other CPUs, under qemu-user", () => {
  let dir = "";
  // The examples ship a published sample key, which check-config refuses off loopback as `vigil run`
  // does: the example is checked as a user runs it, copied with a key of its own.
  const exampleDir = join(mkdtempSync(join(tmpdir(), "vigil-binaries-example-")), "vip-failover");
  cpSync(join(ROOT, "examples", "vip-failover"), exampleDir, { recursive: true });
  rmSync(join(exampleDir, "vigil.key"), { force: true });
  writeFileSync(join(exampleDir, "vigil.key"), randomBytes(32), { mode: 0o600 });
  const example = join(exampleDir, "vigil.yaml");

  beforeAll(() => {
    if (problem) throw new Error(problem);
    dir = mkdtempSync(join(tmpdir(), "vigil-binaries-"));
    execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--target", "linux-x64", "--target", "linux-arm64", "--outdir", dir], {
      stdio: ["ignore", "ignore", "inherit"],
    });
  }, 180_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const runners = [
    { target: "linux-arm64", cmd: "qemu-aarch64-static", pre: ["-L", ARM64_SYSROOT], line: /^vigil 0\.1\.0 \(build linux-arm64: arm64, glibc; bun \d+\.\d+\.\d+\)$/ },
    { target: "linux-x64", cmd: "qemu-x86_64-static", pre: ["-cpu", "Nehalem"], line: /^vigil 0\.1\.0 \(build linux-x64: x86-64 baseline, no AVX2 needed, glibc; bun \d+\.\d+\.\d+\)$/ },
  ];
  const verbs = { version: ["version"], checkConfig: ["check-config", example], doctor: ["doctor", "--config", example] };
  type Ran = { code: number | null; signal: string | null; out: string; err: string };
  // Emulation is slow (seconds per run), so all runs start together, once, and the tests read their results.
  const results = new Map<string, Ran>();
  const run = (r: (typeof runners)[number], args: string[]) =>
    new Promise<Ran>((resolve) => {
      const p = spawn(r.cmd, [...r.pre, join(dir, `vigil-${r.target}`), ...args], { env: { ...process.env, VIGIL_CONFIG: "" } });
      let out = "";
      let err = "";
      p.stdout.on("data", (c) => (out += c));
      p.stderr.on("data", (c) => (err += c));
      p.on("error", (e) => resolve({ code: null, signal: null, out, err: err + String(e) }));
      p.on("close", (code, signal) => resolve({ code, signal, out, err }));
    });
  const result = (target: string, verb: keyof typeof verbs): Ran => {
    const r = results.get(`${target} ${verb}`);
    if (!r) throw new Error(`no run of ${verb} on ${target}`);
    return r;
  };

  beforeAll(async () => {
    await Promise.all(runners.flatMap((r) =>
      Object.entries(verbs).map(async ([verb, args]) => results.set(`${r.target} ${verb}`, await run(r, args)))));
  }, 300_000);

  it("the emulated Nehalem refuses AVX2 (control: an AVX2 instruction dies there, runs on Haswell)", () => {
    writeFileSync(join(dir, "avx2.c"), 'int main(void) { __asm__ volatile("vpaddd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0"); return 0; }\n');
    execFileSync("cc", ["-O0", "-o", join(dir, "avx2"), join(dir, "avx2.c")]);
    expect(spawnSync("qemu-x86_64-static", ["-cpu", "Haswell", join(dir, "avx2")]).status).toBe(0);
    const nehalem = spawnSync("qemu-x86_64-static", ["-cpu", "Nehalem", join(dir, "avx2")]);
    expect(nehalem.status === 132 || nehalem.signal === "SIGILL").toBe(true);
  });

  it("each binary has a SHA-256 file beside it that sha256sum -c accepts", () => {
    for (const r of runners) {
      const sums = readFileSync(join(dir, `vigil-${r.target}.sha256`), "utf8");
      expect(sums).toMatch(new RegExp(`^[0-9a-f]{64}  vigil-${r.target}\\n$`));
      const check = spawnSync("sha256sum", ["-c", `vigil-${r.target}.sha256`], { cwd: dir, encoding: "utf8" });
      expect(check.stdout.trim()).toBe(`vigil-${r.target}: OK`);
    }
  });

  for (const r of runners) {
    describe(`${r.target} under ${r.cmd} ${r.pre.join(" ")}`, () => {
      it("version names the build", () => {
        const v = result(r.target, "version");
        expect(v.err).toBe("");
        expect(v.code).toBe(0);
        expect(v.out.trimEnd()).toMatch(r.line);
      });

      it("check-config accepts an example config", () => {
        const c = result(r.target, "checkConfig");
        expect(c.code).toBe(0);
        expect(c.out).toContain(`${example}: OK (found by the command line)`);
        expect(c.out).toContain("cluster gateway-pair: gw1, gw2");
      });

      it("doctor checks the host and the config", () => {
        const d = result(r.target, "doctor");
        // Exit 1 only for what this host lacks (root, a tool), never a crash.
        expect(d.signal).toBe(null);
        expect([0, 1]).toContain(d.code);
        expect(d.err).not.toMatch(/internal error|Illegal instruction/);
        expect(d.out).toMatch(/^ok +raw sockets \(FFI\) +available \(vigil binary\)$/m);
        expect(d.out).toMatch(new RegExp(`^ok +config +${example.replace(/[.]/g, "\\.")} is valid$`, "m"));
      });
    });
  }
});
