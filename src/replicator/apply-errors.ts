/**
 * Turns what went wrong while applying an op into an ApplyResult.
 */
import { constants } from "node:os";
import { FfiUnavailableError, SyscallError } from "../sys/ffi/libc.ts";
import type { ApplyResult } from "./apply-result.ts";
import { UnsafePathError } from "./apply-paths.ts";

/** Storage failures: the object may be half-changed, and more ops would likely fail too. */
const STORAGE_ERRORS = new Set(["EIO", "ENOSPC", "EDQUOT", "EROFS", "EFBIG", "ENOMEM", "EUCLEAN", "EBADMSG"]);

/** The op needs a call this runtime cannot make (no bun:ffi under Node). */
export class UnsupportedHere extends Error {
  constructor(readonly what: string) {
    super(`${what} needs the vigil binary (bun:ffi); this runtime cannot do it`);
    this.name = "UnsupportedHere";
  }
}

/** errno numbers to names, from the platform's own table (SyscallError only names a few). */
const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

function codeOf(e: unknown): string | null {
  if (e instanceof SyscallError) return ERRNO_NAMES.get(e.errno) ?? e.code;
  if (typeof e === "object" && e !== null && "code" in e) {
    const c = (e as { code: unknown }).code;
    if (typeof c === "string" && /^E[A-Z0-9]+$/.test(c)) return c;
  }
  return null;
}

/** The result for an exception thrown while applying `what` ("write a/b"). Rethrows nothing. */
export function failure(what: string, e: unknown): ApplyResult {
  if (e instanceof UnsafePathError) return { ok: false, kind: "refused", errno: "EOUTSIDE", message: `${what}: refused: ${e.message}` };
  if (e instanceof UnsupportedHere || e instanceof FfiUnavailableError) return { ok: false, kind: "unsupported", errno: "ENOSYS", message: `${what}: ${e.message}` };
  const code = codeOf(e);
  const text = e instanceof Error ? e.message : String(e);
  if (code === null) return { ok: false, kind: "failed", errno: "EIO", message: `${what}: ${text}` };
  return { ok: false, kind: STORAGE_ERRORS.has(code) ? "inconsistent" : "failed", errno: code, message: `${what}: ${text}` };
}
