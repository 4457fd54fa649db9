/**
 * Who may log in to the console: the users of console.users, or, when there
 * are none, one user `admin` whose password the daemon makes at first start
 * and keeps in STATE_DIR/console-password (mode 0600, readable by root only),
 * so a fresh install has a login without anything sent in clear. Setting
 * console.users replaces it; `vigil passwd` makes the hashes.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hashPassword } from "../api/password.ts";
import type { ConsoleUser, VigilConfig } from "../config/types.ts";
import { writeFileAtomic } from "../sys/atomic-file.ts";

export const INITIAL_PASSWORD_FILE = "console-password";
export const INITIAL_USER = "admin";

export type InitialUser = { ok: true; user: ConsoleUser; file: string; made: boolean } | { ok: false; message: string };

export function initialUser(stateDir: string): InitialUser {
  const file = join(stateDir, INITIAL_PASSWORD_FILE);
  let password: string;
  let made = false;
  try {
    if (existsSync(file)) {
      password = readFileSync(file, "utf8").trim();
    } else {
      // 15 random bytes: 20 characters an operator can copy without ambiguity about padding.
      password = randomBytes(15).toString("base64url");
      writeFileAtomic(file, `${password}\n`, { mode: 0o600 });
      made = true;
    }
  } catch (e) {
    return { ok: false, message: `cannot keep the console's first password in ${file}: ${(e as Error).message}` };
  }
  if (password.length < 8) return { ok: false, message: `${file} holds a password of fewer than 8 characters; remove the file to have a new one made` };
  // Hashed at the first login, not at start: scrypt takes ~0.1 s and 32 MiB, before the first heartbeat otherwise.
  let hash: string | undefined;
  const user: ConsoleUser = { name: INITIAL_USER, role: "admin", get password() { return (hash ??= hashPassword(password)); } };
  return { ok: true, user, file, made };
}

/** The users a login is checked against: the config's, or the first-start admin. */
export function consoleUsers(config: VigilConfig, initial: ConsoleUser | undefined): readonly ConsoleUser[] {
  const users = config.console?.users ?? [];
  if (users.length > 0) return users;
  return initial === undefined ? [] : [initial];
}
