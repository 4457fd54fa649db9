/**
 * The text form of a console password hash, as `vigil passwd` prints it and
 * vigil.yaml holds it: `$scrypt$ln=15,r=8,p=1$SALT$HASH`, salt and hash in
 * unpadded base64 (the PHC string format). Parsing only; hashing and checking
 * live in src/api/password.ts.
 */

export interface ScryptHash {
  /** log2 of scrypt's cost N. */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

export const SCRYPT_HASH_EXAMPLE = "$scrypt$ln=15,r=8,p=1$SALT$HASH";

const FORM = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{43,88})$/;

/** Bounds that keep a hash from a hostile config from pinning memory or CPU: scrypt needs 128 * N * r bytes. */
const MAX_MEMORY = 256 * 1024 * 1024;

/** The parsed hash, or undefined when `text` is not one (a plaintext password, a hash of another kind). */
export function parseScryptHash(text: string): ScryptHash | undefined {
  const m = FORM.exec(text);
  if (m === null) return undefined;
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  if (128 * 2 ** ln * r > MAX_MEMORY) return undefined;
  const salt = Buffer.from(m[4] as string, "base64");
  const hash = Buffer.from(m[5] as string, "base64");
  if (salt.length < 12 || hash.length < 32) return undefined;
  return { ln, r, p, salt: new Uint8Array(salt), hash: new Uint8Array(hash) };
}

export function formatScryptHash(h: ScryptHash): string {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64").replace(/=+$/, "");
  return `$scrypt$ln=${h.ln},r=${h.r},p=${h.p}$${b64(h.salt)}$${b64(h.hash)}`;
}
