/**
 * A mirror module that goes from one folder to several, or back: the folder
 * that stays keeps its copy record (its generations), instead of meeting its
 * peer as a new copy (src/daemon/mirror/copy-key.ts). Checked through
 * mirrorSetFor, which builds the module's drivers from the config and the
 * state dir as the daemon does.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import type { MirrorModule } from "../../src/config/types.ts";
import { Logger } from "../../src/daemon/log.ts";
import { mirrorStateDir, recordOrigin, writeCopyRecord } from "../../src/daemon/mirror/copy-file.ts";
import { mirrorSetFor } from "../../src/daemon/mirror/setup.ts";
import { type CopyRecord, freshCopy } from "../../src/core/mirror/copy.ts";
import { writeKeyFile } from "../../src/sys/keyfile.ts";

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function place(): { dir: string; state: string; a: string; b: string } {
  const dir = mkdtempSync(join(tmpdir(), "vigil-copy-key-"));
  made.push(dir);
  const [state, a, b] = [join(dir, "state"), join(dir, "srv"), join(dir, "etc")];
  for (const d of [state, a, b]) mkdirSync(d);
  writeFileSync(join(a, "data"), "x");
  const key = writeKeyFile(join(dir, "vigil.key"));
  if (!key.ok) throw new Error(key.message);
  return { dir, state, a, b };
}

/** The gens the module's drivers start from, one per folder, in the config's order; `said`: what was logged. */
function gensFor(p: { dir: string; state: string }, folders: readonly string[], said: string[] = []): string[] {
  const text = [
    "cluster:",
    "  name: c",
    `  key_file: ${join(p.dir, "vigil.key")}`,
    "  nodes:",
    "    - { name: a, addresses: [192.0.2.1] }",
    "    - { name: b, addresses: [192.0.2.2] }",
    "modules:",
    `  - { name: vms, type: mirror, replicate: [${folders.join(", ")}], start: /bin/true, stop: /bin/true }`,
    "",
  ].join("\n");
  const loaded = parseConfig(text, join(p.dir, "vigil.yaml"));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const m = loaded.config.modules[0] as MirrorModule;
  const set = mirrorSetFor(m, loaded.config, "a", p.state, new Logger("json", (l) => said.push(l)));
  if (!set.ok) throw new Error(set.message);
  const s = set.mirror.status();
  return (s.folders ?? [s]).map((f) => f.gen);
}

const held = (gen: string): CopyRecord => ({ ...freshCopy(0), gen, history: ["1:b"] });

describe("a folder that stays when a mirror module's folders change keeps its generations", () => {
  it("one folder to two: the module's record goes on as the first folder's; the added folder is a new copy", () => {
    const p = place();
    writeCopyRecord(p.state, "vms", held("3:a"), p.a);
    const said: string[] = [];
    expect(gensFor(p, [p.a, p.b], said)).toEqual(["3:a", "0:"]);
    // Rule 7's fact (whether a new copy's folders hold files) is of the added folder alone: the
    // first folder holds a file, the added one none.
    expect(said.filter((l) => l.includes("new copy of"))).toEqual([expect.stringContaining(`new copy of ${p.b} holds no file`)]);
    // Also when the added folder comes first in the list: the record names its folder.
    expect(gensFor(p, [p.b, p.a])).toEqual(["0:", "3:a"]);
  });

  it("two folders to one: the folder that stays keeps its own record", () => {
    const p = place();
    writeCopyRecord(p.state, `vms@${p.a}`, held("4:b"), p.a);
    writeCopyRecord(p.state, `vms@${p.b}`, held("2:a"), p.b);
    expect(gensFor(p, [p.a])).toEqual(["4:b"]);
    expect(gensFor(p, [p.b])).toEqual(["2:a"]);
  });

  it("one, two, one again: the record saved last is the folder's, not the one left behind earlier", () => {
    const p = place();
    writeCopyRecord(p.state, "vms", held("3:a"), p.a);
    // Left under the per-folder key by an earlier time with two folders, older.
    writeCopyRecord(p.state, `vms@${p.a}`, held("1:a"), p.a);
    const older = join(mirrorStateDir(p.state, `vms@${p.a}`), "copy.json");
    writeFileSync(older, JSON.stringify({ ...held("1:a"), folder: p.a, savedAt: "2020-01-01T00:00:00.000Z" }));
    expect(gensFor(p, [p.a])).toEqual(["3:a"]);
    expect(gensFor(p, [p.a, p.b])).toEqual(["3:a", "0:"]);
  });

  it("a module's record that names no folder (saved by an older release) or another folder is not taken", () => {
    const p = place();
    const file = join(mirrorStateDir(p.state, "vms"), "copy.json");
    mkdirSync(mirrorStateDir(p.state, "vms"), { recursive: true });
    writeFileSync(file, JSON.stringify({ ...held("3:a"), savedAt: new Date().toISOString() }));
    expect(gensFor(p, [p.a, p.b])).toEqual(["0:", "0:"]);
    writeFileSync(file, JSON.stringify({ ...held("3:a"), folder: join(p.dir, "gone"), savedAt: new Date().toISOString() }));
    expect(gensFor(p, [p.a, p.b])).toEqual(["0:", "0:"]);
    // The one folder it is of, under the module's name, is read as always.
    expect(gensFor(p, [p.a])).toEqual(["3:a"]);
  });

  it("a record is saved with its folder", () => {
    const p = place();
    writeCopyRecord(p.state, "vms", held("3:a"), p.a);
    expect(recordOrigin(p.state, "vms")).toMatchObject({ folder: p.a });
    expect(recordOrigin(p.state, "other")).toBe("absent");
  });
});
