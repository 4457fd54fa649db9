import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_KEY_BYTES, MIN_KEY_BYTES, readKeyFile, writeKeyFile } from "../../src/sys/keyfile.ts";
import { isPublishedSampleKey, sampleKeyMessage } from "../../src/sys/sample-keys.ts";

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-keyfile-"));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const modeOf = (file: string): number => fs.statSync(file).mode & 0o777;
/** Key bytes that are not all alike (those are refused as weak). */
const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));

describe("writeKeyFile", () => {
  it("creates a 32-byte random key with mode 0600 that readKeyFile returns unchanged", () => {
    const file = path.join(dir, "vigil.key");
    const w = writeKeyFile(file);
    expect(w).toEqual({ ok: true, file, bytes: 32 });
    expect(modeOf(file)).toBe(0o600);
    const onDisk = fs.readFileSync(file);
    expect(onDisk.length).toBe(32);
    const r = readKeyFile(file);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Buffer.from(r.key).equals(onDisk)).toBe(true);
    expect(r.warnings).toEqual([]);
  });

  it("makes a different key every time", () => {
    const a = path.join(dir, "a.key");
    const b = path.join(dir, "b.key");
    writeKeyFile(a);
    writeKeyFile(b);
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(false);
  });

  it("honours a requested length and refuses lengths outside the allowed range", () => {
    const file = path.join(dir, "long.key");
    expect(writeKeyFile(file, { bytes: 64 })).toMatchObject({ ok: true, bytes: 64 });
    expect(fs.statSync(file).size).toBe(64);
    const short = writeKeyFile(path.join(dir, "short.key"), { bytes: MIN_KEY_BYTES - 1 });
    expect(short).toMatchObject({ ok: false, kind: "write-failed" });
    if (!short.ok) expect(short.message).toMatch(/short\.key: key length 31 is out of range; use 32\.\.4096 bytes/);
    expect(fs.existsSync(path.join(dir, "short.key"))).toBe(false);
  });

  it("refuses to overwrite an existing key and leaves it untouched", () => {
    const file = path.join(dir, "vigil.key");
    writeKeyFile(file);
    const before = fs.readFileSync(file);
    const again = writeKeyFile(file);
    expect(again.ok).toBe(false);
    if (again.ok) return;
    expect(again.kind).toBe("exists");
    expect(again.file).toBe(file);
    expect(again.message).toContain(file);
    expect(again.message).toMatch(/already exists; refusing to overwrite/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it("does not write through an existing symlink, even a dangling one", () => {
    const file = path.join(dir, "vigil.key");
    const target = path.join(dir, "elsewhere");
    fs.symlinkSync(target, file);
    expect(writeKeyFile(file)).toMatchObject({ ok: false, kind: "exists" });
    expect(fs.existsSync(target)).toBe(false);
  });

  it("replaces an existing key when forced, keeping mode 0600", () => {
    const file = path.join(dir, "vigil.key");
    fs.writeFileSync(file, "x".repeat(40), { mode: 0o644 });
    const w = writeKeyFile(file, { force: true });
    expect(w.ok).toBe(true);
    expect(fs.readFileSync(file).toString()).not.toBe("x".repeat(40));
    expect(modeOf(file)).toBe(0o600);
  });

  it("leaves no temporary file behind, on success or refusal", () => {
    const file = path.join(dir, "vigil.key");
    writeKeyFile(file);
    writeKeyFile(file);
    writeKeyFile(file, { force: true });
    expect(fs.readdirSync(dir)).toEqual(["vigil.key"]);
  });

  it("reports a directory that does not exist, naming the file", () => {
    const file = path.join(dir, "missing", "vigil.key");
    const w = writeKeyFile(file);
    expect(w).toMatchObject({ ok: false, kind: "write-failed", file });
    if (!w.ok) expect(w.message).toMatch(new RegExp(`^key file ${file}: cannot be written \\(ENOENT`));
    if (!w.ok) expect(w.message).not.toContain(".tmp-");
  });
});

describe("readKeyFile", () => {
  it("reports a missing file and how to create one", () => {
    const file = path.join(dir, "nope.key");
    const r = readKeyFile(file);
    expect(r).toMatchObject({ ok: false, kind: "not-found", file });
    if (!r.ok) expect(r.message).toBe(`key file ${file}: does not exist (create one with \`vigil keygen ${file}\`, then copy it to every node)`);
  });

  it("accepts exactly the minimum length and refuses one byte less", () => {
    const ok = path.join(dir, "ok.key");
    const short = path.join(dir, "short.key");
    fs.writeFileSync(ok, pattern(MIN_KEY_BYTES), { mode: 0o600 });
    fs.writeFileSync(short, pattern(MIN_KEY_BYTES - 1), { mode: 0o600 });
    expect(readKeyFile(ok)).toMatchObject({ ok: true, key: new Uint8Array(pattern(MIN_KEY_BYTES)) });
    const r = readKeyFile(short);
    expect(r).toMatchObject({ ok: false, kind: "too-short", file: short });
    if (!r.ok) expect(r.message).toBe(`key file ${short}: holds 31 bytes; a cluster key needs at least 32 random bytes`);
  });

  it("accepts a text key made with common tools, byte for byte", () => {
    const file = path.join(dir, "text.key");
    const text = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9==\n";
    fs.writeFileSync(file, text, { mode: 0o600 });
    const r = readKeyFile(file);
    expect(r.ok && Buffer.from(r.key).toString()).toBe(text);
  });

  it("refuses an empty file and a file too large to be a key", () => {
    const empty = path.join(dir, "empty.key");
    const huge = path.join(dir, "disk.img");
    fs.writeFileSync(empty, "", { mode: 0o600 });
    fs.writeFileSync(huge, Buffer.alloc(MAX_KEY_BYTES + 1), { mode: 0o600 });
    expect(readKeyFile(empty)).toMatchObject({ ok: false, kind: "too-short" });
    const r = readKeyFile(huge);
    expect(r).toMatchObject({ ok: false, kind: "too-long", file: huge });
    if (!r.ok) expect(r.message).toMatch(/is 4097 bytes; .* probably the wrong file/);
  });

  it("refuses a directory", () => {
    expect(readKeyFile(dir)).toMatchObject({ ok: false, kind: "not-a-file", file: dir });
  });

  it("warns, naming the file and the fix, when group or others can read the key", () => {
    const file = path.join(dir, "open.key");
    fs.writeFileSync(file, pattern(32));
    for (const mode of [0o640, 0o604, 0o660]) {
      fs.chmodSync(file, mode);
      const r = readKeyFile(file);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toContain(`key file ${file}: mode 0${mode.toString(8)}`);
      expect(r.warnings[0]).toContain(`chmod 600 ${file}`);
    }
    fs.chmodSync(file, 0o400);
    expect(readKeyFile(file)).toMatchObject({ ok: true, warnings: [] });
  });

  it("turns the warning into an error when the caller requires a private key", () => {
    const file = path.join(dir, "open.key");
    fs.writeFileSync(file, pattern(32));
    fs.chmodSync(file, 0o644);
    const r = readKeyFile(file, { requirePrivate: true });
    expect(r).toMatchObject({ ok: false, kind: "insecure-mode", file });
    fs.chmodSync(file, 0o600);
    expect(readKeyFile(file, { requirePrivate: true }).ok).toBe(true);
  });
});

describe("key quality", () => {
  it("refuses an all-zero key and one byte repeated, saying how to make a real one", () => {
    const zero = path.join(dir, "zero.key");
    fs.writeFileSync(zero, Buffer.alloc(32), { mode: 0o600 });
    const r = readKeyFile(zero);
    expect(r).toMatchObject({ ok: false, kind: "weak", file: zero });
    if (!r.ok) expect(r.message).toBe(`key file ${zero}: holds all zero bytes, which is no secret; make a random key with \`vigil keygen ${zero} --force\``);
    const same = path.join(dir, "same.key");
    fs.writeFileSync(same, Buffer.alloc(64, 0x41), { mode: 0o600 });
    expect(readKeyFile(same)).toMatchObject({ ok: false, kind: "weak" });
    if (!readKeyFile(same).ok) expect((readKeyFile(same) as { message: string }).message).toContain("one byte (0x41) repeated");
  });

  it("knows every sample key shipped in examples/, and no key vigil keygen makes", () => {
    const examples = path.join(__dirname, "..", "..", "examples");
    const keys = fs.readdirSync(examples).map((d) => path.join(examples, d, "vigil.key")).filter((f) => fs.existsSync(f));
    expect(keys.length).toBeGreaterThanOrEqual(5);
    for (const k of keys) expect(isPublishedSampleKey(fs.readFileSync(k)), k).toBe(true);
    const mine = path.join(dir, "mine.key");
    writeKeyFile(mine);
    expect(isPublishedSampleKey(fs.readFileSync(mine))).toBe(false);
    expect(sampleKeyMessage("vigil.key")).toContain("vigil keygen vigil.key --force");
  });
});
