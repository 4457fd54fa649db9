/** Cross-field rules of the console: hashes that are hashes, one user per name, cert with key. */
import type { Problem } from "./problem.ts";
import { isRec, items, rec, str } from "./raw.ts";
import { parseScryptHash, SCRYPT_HASH_EXAMPLE } from "./password-hash.ts";

export function consoleProblems(section: unknown): Problem[] {
  if (!isRec(section)) return [];
  const out: Problem[] = [];
  const seen = new Map<string, number>();
  items(section["users"]).forEach((u, i) => {
    const user = rec(u);
    const password = str(user["password"]);
    if (password !== undefined && parseScryptHash(password) === undefined) {
      out.push({
        path: ["console", "users", i, "password"], at: "value",
        // Never echo it: it may well be someone's real password.
        found: password.startsWith("$") ? "a hash that is not a usable scrypt hash" : "a plaintext password (not shown)",
        expected: `a scrypt hash made by \`vigil passwd\`, like ${SCRYPT_HASH_EXAMPLE}`,
      });
    }
    const name = str(user["name"]);
    if (name !== undefined) {
      const first = seen.get(name);
      if (first !== undefined) {
        out.push({ path: ["console", "users", i, "name"], at: "value", found: `${JSON.stringify(name)} again (also console.users[${first}])`, expected: "one entry per user name" });
      } else seen.set(name, i);
    }
  });
  const cert = section["cert"];
  const key = section["key"];
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "cert" : "key";
    out.push({ path: ["console", cert === undefined ? "key" : "cert"], at: "key", found: `no console.${missing} beside it`, expected: "cert and key together (or neither, for a self-signed certificate)" });
  }
  if (section["tls"] === false && (cert !== undefined || key !== undefined)) {
    out.push({ path: ["console", "tls"], at: "value", found: "false, with cert and key given", expected: "true when a certificate is given (or remove cert and key)" });
  }
  return out;
}
