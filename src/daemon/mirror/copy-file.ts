/**
 * Where a mirror module's copy record (src/core/mirror/copy.ts) lives: one
 * JSON file per module in the state dir, written crash-safely (temporary
 * file, fsync, rename, fsync of the folder), since the data generations
 * are what keeps a stale copy from ever being served.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../../sys/atomic-file.ts";
import { join } from "node:path";
import { checkCopyRecord, type CopyRecord } from "../../core/mirror/copy.ts";

export function mirrorStateDir(stateDir: string, module: string): string {
  return join(stateDir, "mirror", encodeURIComponent(module));
}

function copyFile(stateDir: string, module: string): string {
  return join(mirrorStateDir(stateDir, module), "copy.json");
}

/**
 * The record; null when there is none yet (a new node). A file that exists
 * but cannot be used is an error: guessing could serve a stale copy.
 */
export function readCopyRecord(stateDir: string, module: string): { ok: true; copy: CopyRecord | null } | { ok: false; message: string } {
  const path = copyFile(stateDir, module);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") return { ok: true, copy: null };
    return { ok: false, message: `${path}: cannot be read (${code ?? String(e)})` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, message: `${path}: not JSON; move it away only if you know this node's copy is not needed (the peer's copy then wins)` };
  }
  const why = checkCopyRecord(v);
  if (why !== null) return { ok: false, message: `${path}: ${why}` };
  // Records written before split-brain acknowledgements have no conflict field.
  return { ok: true, copy: { conflict: null, ...(v as Omit<CopyRecord, "conflict">) } };
}

/** Throws on failure: the caller must not go on as if it were saved. */
export function writeCopyRecord(stateDir: string, module: string, copy: CopyRecord): void {
  const dir = mirrorStateDir(stateDir, module);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = copyFile(stateDir, module);
  writeFileAtomic(path, `${JSON.stringify({ ...copy, savedAt: new Date().toISOString() })}\n`, { requireDirSync: true });
}
