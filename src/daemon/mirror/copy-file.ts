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

/**
 * Throws on failure: the caller must not go on as if it were saved.
 * `folder`: the folder the record is of, saved beside it (see copy-key.ts).
 */
export function writeCopyRecord(stateDir: string, module: string, copy: CopyRecord, folder?: string): void {
  const dir = mirrorStateDir(stateDir, module);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = copyFile(stateDir, module);
  writeFileAtomic(path, `${JSON.stringify({ ...copy, ...(folder === undefined ? {} : { folder }), savedAt: new Date().toISOString() })}\n`, { requireDirSync: true });
}

/**
 * What a stored record says besides the copy: the folder it is of (null in
 * records written before it was saved) and when it was saved (ms; 0 when
 * unknown). "absent": no record; "unusable": one readCopyRecord refuses.
 */
export function recordOrigin(stateDir: string, module: string): { folder: string | null; savedAt: number } | "absent" | "unusable" {
  const read = readCopyRecord(stateDir, module);
  if (!read.ok) return "unusable";
  if (read.copy === null) return "absent";
  const raw = read.copy as unknown as { folder?: unknown; savedAt?: unknown };
  const savedAt = typeof raw.savedAt === "string" ? Date.parse(raw.savedAt) : NaN;
  return { folder: typeof raw.folder === "string" ? raw.folder : null, savedAt: Number.isFinite(savedAt) ? savedAt : 0 };
}
