/**
 * Where `blocked` (why this node must not take a module back: a failed
 * start) survives a restart: one small JSON file per module in the state
 * dir, written crash-safely (temporary file, fsync, rename; see sys/atomic-file.ts).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../sys/atomic-file.ts";

export function blockedFile(stateDir: string, module: string): string {
  // Module names are checked by the config; still, keep them inside the dir.
  return join(stateDir, "modules", `${encodeURIComponent(module)}.json`);
}

/** The persisted reason, null when clear; a missing or unreadable file counts as clear (and says why). */
export function readBlocked(stateDir: string, module: string): { blocked: string | null; problem: string | null } {
  const path = blockedFile(stateDir, module);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    return { blocked: null, problem: code === "ENOENT" ? null : `${path}: cannot be read (${code ?? String(e)})` };
  }
  try {
    const v = JSON.parse(text) as { blocked?: unknown };
    if (v.blocked === null || v.blocked === undefined) return { blocked: null, problem: null };
    if (typeof v.blocked === "string") return { blocked: v.blocked, problem: null };
    return { blocked: null, problem: `${path}: "blocked" is not a string` };
  } catch {
    return { blocked: null, problem: `${path}: not JSON` };
  }
}

/** Throws on a write failure: the caller must not carry on as if it were saved. */
export function writeBlocked(stateDir: string, module: string, blocked: string | null): void {
  const path = blockedFile(stateDir, module);
  mkdirSync(join(stateDir, "modules"), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify({ module, blocked, at: new Date().toISOString() })}\n`);
}
