/**
 * Where an operator can open the console, said truthfully: a console bound to
 * 0.0.0.0 is not at http://0.0.0.0:9010/ (no browser goes there), it is at
 * every address of the host, so those are listed.
 */

/** `url` as the console gives it ("http://0.0.0.0:9010/"); `local` the host's IPv4 addresses. */
export function reachableConsole(url: string, local: readonly string[]): string {
  const m = /^(https?):\/\/(\[[^\]]*\]|[^/:]+):(\d+)\/?$/.exec(url);
  if (m === null) return url;
  const [, scheme, host, port] = m;
  if (host !== "0.0.0.0" && host !== "[::]" && host !== "::") return url;
  // Loopback last: it only serves a browser on the node itself.
  const addresses = [...new Set(local)].sort((a, b) => Number(a.startsWith("127.")) - Number(b.startsWith("127.")));
  const urls = addresses.map((a) => `${scheme}://${a}:${port}/`);
  return `listening on all addresses, port ${port}${urls.length === 0 ? "" : `: ${urls.join(" ")}`}`;
}
