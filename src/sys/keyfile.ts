/**
 * The cluster key file: the shared secret every heartbeat frame is signed with.
 *
 * The key is the file's exact bytes, so a key made with
 * `head -c 32 /dev/urandom` or `openssl rand -base64 48` works as well as one
 * made by `writeKeyFile`; every node must simply hold the same file.
 * A key readable by group or others only warns by default, because the file
 * often lives on a FAT-formatted USB stick where modes cannot be set; callers
 * that can insist pass `requirePrivate`.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export const MIN_KEY_BYTES = 32;
/** Anything bigger is almost certainly the wrong file (a disk image, a log). */
export const MAX_KEY_BYTES = 4096;
export const DEFAULT_KEY_BYTES = 32;

export type KeyFileErrorKind =
  | "not-found"
  | "not-a-file"
  | "unreadable"
  | "too-short"
  | "too-long"
  | "weak"
  | "insecure-mode"
  | "exists"
  | "write-failed";

export interface KeyFileError {
  kind: KeyFileErrorKind;
  file: string;
  message: string;
}

/** A failure carries its kind, the file and a message ready to show the operator. */
export type KeyFileFailure = { ok: false } & KeyFileError;

export type ReadKeyResult = { ok: true; key: Uint8Array; file: string; warnings: string[] } | KeyFileFailure;

export type WriteKeyResult = { ok: true; file: string; bytes: number } | KeyFileFailure;

export interface ReadKeyOptions {
  /** Turn the group/world-readable warning into an "insecure-mode" error. */
  requirePrivate?: boolean;
}

export interface WriteKeyOptions {
  /** Replace an existing key file. Without it an existing file is never touched. */
  force?: boolean;
  /** Key length in bytes, MIN_KEY_BYTES..MAX_KEY_BYTES; DEFAULT_KEY_BYTES if omitted. */
  bytes?: number;
}

function err(kind: KeyFileErrorKind, file: string, message: string): KeyFileFailure {
  return { ok: false, kind, file, message: `key file ${file}: ${message}` };
}

function codeOf(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
}

function reason(e: unknown): string {
  const code = codeOf(e);
  const text = e instanceof Error ? e.message : String(e);
  return code && !text.startsWith(code) ? `${code}: ${text}` : text;
}

function octal(mode: number): string {
  return "0" + (mode & 0o777).toString(8).padStart(3, "0");
}

export function readKeyFile(file: string, options: ReadKeyOptions = {}): ReadKeyResult {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    const code = codeOf(e);
    if (code === "ENOENT") return err("not-found", file, `does not exist (create one with \`vigil keygen ${file}\`, then copy it to every node)`);
    if (code === "EISDIR") return err("not-a-file", file, "is a directory, not a key file");
    return err("unreadable", file, `cannot be opened (${reason(e)})`);
  }
  try {
    // fstat on the opened fd: the checks and the read see the same file.
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return err("not-a-file", file, "is not a regular file");
    if (st.size > MAX_KEY_BYTES) {
      return err("too-long", file, `is ${st.size} bytes; a key file holds ${MIN_KEY_BYTES}..${MAX_KEY_BYTES} bytes, so this is probably the wrong file`);
    }
    const warnings: string[] = [];
    if ((st.mode & 0o077) !== 0) {
      const msg = `mode ${octal(st.mode)} lets group or others read the cluster key; run \`chmod 600 ${file}\``;
      if (options.requirePrivate) return err("insecure-mode", file, msg);
      warnings.push(`key file ${file}: ${msg} (if it lives on a FAT USB stick, restrict access with the mount options instead)`);
    }
    const key = fs.readFileSync(fd);
    if (key.length < MIN_KEY_BYTES) {
      return err("too-short", file, `holds ${key.length} bytes; a cluster key needs at least ${MIN_KEY_BYTES} random bytes`);
    }
    if (key.length > MAX_KEY_BYTES) {
      return err("too-long", file, `is ${key.length} bytes; a key file holds ${MIN_KEY_BYTES}..${MAX_KEY_BYTES} bytes, so this is probably the wrong file`);
    }
    if (key.every((b) => b === key[0])) {
      const what = key[0] === 0 ? "all zero bytes" : `one byte (0x${(key[0] ?? 0).toString(16).padStart(2, "0")}) repeated`;
      return err("weak", file, `holds ${what}, which is no secret; make a random key with \`vigil keygen ${file} --force\``);
    }
    return { ok: true, key: new Uint8Array(key), file, warnings };
  } catch (e) {
    return err("unreadable", file, `cannot be read (${reason(e)})`);
  } finally {
    fs.closeSync(fd);
  }
}

// link(2) fails where the filesystem has no hard links (FAT, some FUSE fs).
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"]);

function fsyncDir(dir: string): void {
  // Makes the new directory entry durable. Some filesystems refuse fsync on a
  // directory; the file's own fsync already happened, so that is not fatal.
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}

/**
 * Creates a new random key file with mode 0600, atomically: the key is written
 * and fsynced under a temporary name, then moved into place, so a crash never
 * leaves a half-written key. Refuses to replace an existing file unless `force`.
 */
export function writeKeyFile(file: string, options: WriteKeyOptions = {}): WriteKeyResult {
  const size = options.bytes ?? DEFAULT_KEY_BYTES;
  if (!Number.isInteger(size) || size < MIN_KEY_BYTES || size > MAX_KEY_BYTES) {
    return err("write-failed", file, `key length ${size} is out of range; use ${MIN_KEY_BYTES}..${MAX_KEY_BYTES} bytes`);
  }
  const force = options.force === true;
  const exists = (): boolean => fs.existsSync(file) || isDanglingLink(file);
  if (!force && exists()) {
    return err("exists", file, "already exists; refusing to overwrite a cluster key (nodes holding the old key would stop trusting this one). Pass --force to replace it");
  }
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  let tmpExists = false;
  try {
    const fd = fs.openSync(tmp, "wx", 0o600);
    tmpExists = true;
    try {
      // umask can only remove bits, but an explicit chmod states the intent.
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, randomBytes(size));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (force) {
      fs.renameSync(tmp, file);
      tmpExists = false;
    } else {
      try {
        // link(2) refuses an existing target atomically: no window in which a
        // key created by someone else in the meantime could be clobbered.
        fs.linkSync(tmp, file);
      } catch (e) {
        if (codeOf(e) === "EEXIST") {
          return err("exists", file, "already exists; refusing to overwrite a cluster key. Pass --force to replace it");
        }
        if (!NO_HARD_LINKS.has(codeOf(e))) throw e;
        if (exists()) return err("exists", file, "already exists; refusing to overwrite a cluster key. Pass --force to replace it");
        fs.renameSync(tmp, file);
        tmpExists = false;
      }
    }
    fsyncDir(dir);
    return { ok: true, file, bytes: size };
  } catch (e) {
    // The temporary name means nothing to the operator: the error is about the file they named.
    return err("write-failed", file, `cannot be written (${reason(e).split(tmp).join(file)})`);
  } finally {
    if (tmpExists) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        /* already gone */
      }
    }
  }
}

function isDanglingLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
