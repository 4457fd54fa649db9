/**
 * The console's two cookies. The session id is HttpOnly (no script reads
 * it); the CSRF token is readable by the page's script, which sends it back
 * in x-csrf-token, where the server compares it with the session's own copy.
 * Both are SameSite=Strict, and under TLS Secure with the __Host- prefix (no
 * Domain, Path=/, so no other site or subdomain can plant one). The port is
 * in the name: cookies are not kept apart by port, and two nodes (or the
 * demo's) on one host must not overwrite each other's logins.
 */
export interface CookieNames {
  session: string;
  csrf: string;
}

export function cookieNames(port: string, secure: boolean): CookieNames {
  const prefix = secure ? "__Host-" : "";
  return { session: `${prefix}vigil-session-${port}`, csrf: `${prefix}vigil-csrf-${port}` };
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function setCookie(name: string, value: string, o: { httpOnly: boolean; secure: boolean; maxAgeS: number }): string {
  return [
    `${name}=${value}`,
    "Path=/",
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeS))}`,
    "SameSite=Strict",
    ...(o.httpOnly ? ["HttpOnly"] : []),
    ...(o.secure ? ["Secure"] : []),
  ].join("; ");
}
