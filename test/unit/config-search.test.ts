import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findConfigFile } from "../../src/config/search.ts";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A fake file system root holding `files` (paths relative to /). */
function fakeRoot(...files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), "vigil-search-"));
  roots.push(root);
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), "cluster: {}\n");
  }
  return root;
}

describe("config search order", () => {
  it("takes --config first, as given, even over $VIGIL_CONFIG and /etc", () => {
    const root = fakeRoot("etc/vigil/vigil.yaml");
    expect(findConfigFile({ flag: "/srv/a.yaml", env: "/srv/b.yaml", root })).toEqual({ ok: true, file: "/srv/a.yaml", how: "flag" });
    expect(findConfigFile({ flag: "rel/a.yaml", root })).toEqual({ ok: true, file: resolve("rel/a.yaml"), how: "flag" });
  });

  it("takes $VIGIL_CONFIG over /etc, even when that file is missing (loading then says so)", () => {
    const root = fakeRoot("etc/vigil/vigil.yaml", "media/usb/vigil.yaml");
    expect(findConfigFile({ env: "/nowhere/vigil.yaml", root })).toEqual({ ok: true, file: "/nowhere/vigil.yaml", how: "env" });
    expect(findConfigFile({ flag: undefined, env: "", root })).toMatchObject({ how: "etc" });
  });

  it("takes /etc/vigil/vigil.yaml over removable media", () => {
    const root = fakeRoot("etc/vigil/vigil.yaml", "media/usb/vigil.yaml");
    expect(findConfigFile({ root })).toEqual({ ok: true, file: join(root, "etc/vigil/vigil.yaml"), how: "etc" });
  });

  for (const where of ["media/USBSTICK/vigil.yaml", "media/operator/USBSTICK/vigil.yaml", "run/media/operator/USBSTICK/vigil.yaml", "mnt/usb/vigil.yaml"]) {
    it(`finds a config on removable media at /${where}`, () => {
      const root = fakeRoot(where);
      expect(findConfigFile({ root })).toEqual({ ok: true, file: join(root, where), how: "media" });
    });
  }

  it("refuses to choose between two media and lists both", () => {
    const root = fakeRoot("media/operator/STICK1/vigil.yaml", "mnt/usb/vigil.yaml");
    const r = findConfigFile({ root });
    expect(r.ok).toBe(false);
    const message = r.ok ? "" : r.message;
    expect(message).toContain(join(root, "media/operator/STICK1/vigil.yaml"));
    expect(message).toContain(join(root, "mnt/usb/vigil.yaml"));
    expect(message).toContain("--config");
  });

  it("ignores media folders without a config, a vigil.yaml that is a folder, and deeper nesting", () => {
    const root = fakeRoot("media/empty/readme.txt", "media/a/b/c/vigil.yaml", "mnt/usb/other.yaml");
    mkdirSync(join(root, "mnt", "odd", "vigil.yaml"), { recursive: true });
    const r = findConfigFile({ root });
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.message).toMatch(/^no config file found: .*--config FILE$/);
  });

  it("says where it looked when nothing is found", () => {
    const root = fakeRoot();
    const r = findConfigFile({ root });
    expect(r.ok ? "" : r.message).toContain(join(root, "etc/vigil/vigil.yaml"));
    expect(r.ok ? "" : r.message).toContain(join(root, "/run/media/*/*/vigil.yaml"));
  });
});
