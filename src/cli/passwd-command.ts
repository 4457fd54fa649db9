/** `vigil passwd`: a console password's scrypt hash (and, with --user, the config entry). */
import { hashPassword } from "../api/password.ts";
import { CONSOLE_ROLES } from "../config/console-schema.ts";
import type { Io } from "./io.ts";
import { UsageError } from "./io.ts";
import { EXIT } from "./verbs.ts";

export const MIN_PASSWORD = 8;

/** Reads the password: hidden and twice on a terminal, else the first line of stdin. */
export type ReadPassword = () => Promise<{ ok: true; password: string } | { ok: false; message: string }>;

export async function cmdPasswd(v: Record<string, string | boolean | undefined>, io: Io, read: ReadPassword = readPassword): Promise<number> {
  const user = typeof v["user"] === "string" ? v["user"] : undefined;
  const role = typeof v["role"] === "string" ? v["role"] : undefined;
  if (role !== undefined && !(CONSOLE_ROLES as readonly string[]).includes(role)) {
    throw new UsageError(`--role must be one of ${CONSOLE_ROLES.join(", ")}, not ${JSON.stringify(role)}`);
  }
  if (role !== undefined && user === undefined) throw new UsageError("--role goes with --user NAME");
  if (user !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(user)) {
    throw new UsageError(`--user must be a name of letters, digits, '.', '_' or '-' (up to 63), not ${JSON.stringify(user)}`);
  }
  const got = await read();
  if (!got.ok) {
    io.err(`vigil passwd: ${got.message}`);
    return EXIT.failed;
  }
  if ([...got.password].length < MIN_PASSWORD) {
    io.err(`vigil passwd: the password is shorter than ${MIN_PASSWORD} characters; choose a longer one`);
    return EXIT.failed;
  }
  const hash = hashPassword(got.password);
  io.out(user === undefined ? hash : `- { name: ${user}, role: ${role ?? "operator"}, password: "${hash}" }`);
  return EXIT.ok;
}

async function readPassword(): Promise<{ ok: true; password: string } | { ok: false; message: string }> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) {
      chunks.push(c as Buffer);
      if (Buffer.concat(chunks).includes(10) || Buffer.concat(chunks).length > 4096) break;
    }
    const line = Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
    return line === "" ? { ok: false, message: "no password on standard input (give one line)" } : { ok: true, password: line };
  }
  const first = await hidden("password: ");
  if (first === null) return { ok: false, message: "cancelled" };
  const second = await hidden("again:    ");
  if (second === null) return { ok: false, message: "cancelled" };
  if (first !== second) return { ok: false, message: "the two passwords differ; nothing was printed" };
  return { ok: true, password: first };
}

/** One line from the terminal without echo; null on Ctrl-C or Ctrl-D. */
function hidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  // Echo off before the prompt shows, so nothing typed ahead of it is echoed.
  stdin.setRawMode(true);
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let typed = "";
    const done = (v: string | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      resolve(v);
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(typed);
        if (ch === "\u0003" || ch === "\u0004") return done(null);
        if (ch === "\u007f" || ch === "\b") typed = [...typed].slice(0, -1).join("");
        else if (ch >= " ") typed += ch;
      }
    };
    stdin.on("data", onData);
  });
}
