/**
 * Console passwords: scrypt (RFC 7914) with a random salt, N = 2^15, r = 8,
 * p = 1 (about 32 MiB and a few tens of ms per check), in the text form of
 * config/password-hash.ts. The check is asynchronous so the daemon keeps
 * running its engines while a login is verified.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { formatScryptHash, parseScryptHash, type ScryptHash } from "../config/password-hash.ts";

const COST = { ln: 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

const options = (h: { ln: number; r: number; p: number }) => ({ N: 2 ** h.ln, r: h.r, p: h.p, maxmem: 2 * 128 * 2 ** h.ln * h.r + 1024 * 1024 });

export function hashPassword(password: string, cost: { ln: number; r: number; p: number } = COST): string {
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(password.normalize("NFC"), salt, HASH_BYTES, options(cost));
  return formatScryptHash({ ...cost, salt: new Uint8Array(salt), hash: new Uint8Array(hash) });
}

/** False for a wrong password and for a hash that does not parse; never throws. */
export function verifyPassword(password: string, hashText: string): Promise<boolean> {
  const h: ScryptHash | undefined = parseScryptHash(hashText);
  if (h === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(password.normalize("NFC"), h.salt, h.hash.length, options(h), (err, derived) => {
      if (err) return resolve(false); // Bun passes undefined, Node null
      resolve(derived.length === h.hash.length && timingSafeEqual(derived, h.hash));
    });
  });
}

/** A hash no password matches, checked for unknown user names so the answer time does not tell which names exist. */
export const DUMMY_HASH = formatScryptHash({ ...COST, salt: new Uint8Array(SALT_BYTES), hash: new Uint8Array(HASH_BYTES).fill(1) });
