/**
 * DNS rebinding: a page from evil.example whose name is made to resolve to a
 * node would otherwise talk to the console as its own origin. The browser
 * still sends Host: evil.example, so the console answers only requests whose
 * Host names this node (its addresses, names, VIPs, localhost, or
 * console.names).
 */

/** The host part of a Host header, lowercased, without port, brackets or a trailing dot; undefined when malformed. */
export function hostOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const h = header.trim().toLowerCase();
  let host: string;
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    if (end < 0 || !/^(:\d{1,5})?$/.test(h.slice(end + 1))) return undefined;
    host = h.slice(1, end);
    return /^[0-9a-f:.]+$/.test(host) ? host : undefined;
  }
  const m = /^([a-z0-9._-]+?)\.?(?::(\d{1,5}))?$/.exec(h);
  if (m === null) return undefined;
  host = m[1] as string;
  return host === "" ? undefined : host;
}

export function normalizedNames(names: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const n of names) {
    const h = hostOf(n.includes(":") && !n.startsWith("[") ? `[${n}]` : n);
    if (h !== undefined) out.add(h);
  }
  return out;
}

export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  const h = hostOf(header);
  return h !== undefined && allowed.has(h);
}
