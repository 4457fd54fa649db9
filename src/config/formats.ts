/**
 * The string formats of vigil.yaml. Each one has a checker (used by ajv as a
 * custom format) and an explanation of what was expected, tailored to the
 * value found where that helps ("the prefix length must be 0 to 32").
 */
import { excludePatternProblem } from "./exclude-pattern.ts";
import { parseDuration } from "./duration.ts";

export interface StringFormat {
  check(s: string): boolean;
  /** What a valid value looks like, for "expected ..." in messages; may look at the bad value. */
  expected(found: string): string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Dotted quad, each part 0..255, no leading zeros (inet_aton reads 010 as octal 8). */
export function isIPv4(s: string): boolean {
  const m = IPV4.exec(s);
  if (m === null) return false;
  return m.slice(1).every((p) => Number(p) <= 255 && (p === "0" || !p.startsWith("0")));
}

export function ipv4ToNumber(s: string): number {
  return s.split(".").reduce((n, p) => n * 256 + Number(p), 0);
}

/** The address as a number, or null when it is not a dotted quad. */
export function ipv4Value(s: string): number | null {
  return isIPv4(s) ? ipv4ToNumber(s) : null;
}

/** "a.b.c.d/n" -> its parts, or undefined. */
export function splitCidr(s: string): { address: string; prefix: number } | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (m === null || !isIPv4(m[1] as string)) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32 || (m[2] as string).length > 1 && (m[2] as string).startsWith("0")) return undefined;
  return { address: m[1] as string, prefix };
}

/** "host:port" -> its parts when host is IPv4 or "localhost" and port 0..65535. */
export function splitHostPort(s: string, minPort = 0): { host: string; port: number } | undefined {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(s);
  if (m === null) return undefined;
  const host = m[1] as string;
  const port = Number(m[2]);
  if (!isIPv4(host) && host !== "localhost") return undefined;
  if (port < minPort || port > 65535) return undefined;
  return { host, port };
}

const IPV4_EXPECTED = "an IPv4 address like 198.51.100.11";

function ipv4Expected(found: string): string {
  if (/^\d+(\.\d+){3}$/.test(found)) return `${IPV4_EXPECTED} (each of the four numbers 0 to 255, without leading zeros)`;
  if (found.includes("/")) return `${IPV4_EXPECTED}, without a /prefix`;
  return IPV4_EXPECTED;
}

const CIDR_EXPECTED = "an IPv4 address with a prefix length, like 198.51.100.100/24";

function cidrExpected(found: string): string {
  const slash = found.indexOf("/");
  if (slash < 0) return isIPv4(found) ? `${CIDR_EXPECTED} (the /prefix is missing)` : CIDR_EXPECTED;
  if (!isIPv4(found.slice(0, slash))) return `${CIDR_EXPECTED} (${JSON.stringify(found.slice(0, slash))} is not an IPv4 address)`;
  return `${CIDR_EXPECTED} (the prefix length after the / is a number from 0 to 32)`;
}

function hostPortExpected(what: string, example: string, minPort: number) {
  return (found: string): string => {
    const base = `${what} like ${example}`;
    const m = /^(.*):(\d+)$/.exec(found);
    if (m === null) return `${base} (an IPv4 address, a colon, a port)`;
    if (!isIPv4(m[1] as string) && m[1] !== "localhost") return `${base} (${JSON.stringify(m[1])} is not an IPv4 address)`;
    return `${base} (the port is a number from ${minPort} to 65535)`;
  };
}

const utf8 = new TextEncoder();
const byteLength = (s: string): number => utf8.encode(s).length;

/** Linux dev_valid_name(): 1..15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace, not "." or "..". */
/**
 * Letters, digits, '_', '.' and '-', not starting with '-': the kernel would
 * take more, but an interface name ends up in `ip` and `nft` argument lists
 * and in scripts' environments, where "-batch" reads as an option and
 * "eth0;id" as two commands.
 */
const INTERFACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function isInterfaceName(s: string): boolean {
  return byteLength(s) <= 15 && INTERFACE.test(s) && s !== "." && s !== "..";
}

function interfaceExpected(found: string): string {
  const base = "a network interface name like eth0";
  if (found.length === 0) return `${base} (it is empty)`;
  if (byteLength(found) > 15) return `${base} (at most 15 characters; this one has ${byteLength(found)})`;
  if (found.startsWith("-")) return `${base} (it must not start with '-', which commands read as an option)`;
  return `${base} (letters, digits, '_', '.' and '-' only)`;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export const formats = {
  duration: {
    check: (s) => parseDuration(s) !== undefined,
    expected: (found) =>
      /^\d+(\.\d+)?$/.test(found)
        ? "a duration with a unit, like 100ms, 2s or 1m"
        : /^\d+\.\d+ms$/.test(found)
          ? "a duration in whole milliseconds, like 100ms, 2s or 1m"
          : "a duration like 100ms, 2s or 1m",
  },
  ipv4: { check: isIPv4, expected: ipv4Expected },
  "ipv4-cidr": { check: (s) => splitCidr(s) !== undefined, expected: cidrExpected },
  listen: {
    check: (s) => splitHostPort(s) !== undefined,
    expected: hostPortExpected("an address and port to listen on", "0.0.0.0:9010", 0),
  },
  endpoint: {
    check: (s) => splitHostPort(s, 1) !== undefined,
    expected: hostPortExpected("an address and port", "127.0.0.1:8080", 1),
  },
  interface: { check: isInterfaceName, expected: interfaceExpected },
  name: {
    check: (s) => NAME.test(s),
    expected: () => "a name of letters, digits, '.', '_' or '-' (up to 63, starting with a letter or digit)",
  },
  path: {
    check: (s) => s.length > 0 && !/[\0\n\r]/.test(s),
    expected: () => "a file path (relative paths start from the config file's folder)",
  },
  "absolute-path": {
    check: (s) => s.startsWith("/") && !/[\0\n\r]/.test(s),
    expected: () => "an absolute directory path like /var/lib/vms",
  },
  "systemd-unit": {
    check: (s) => /^[A-Za-z0-9_:@][A-Za-z0-9_.:@\\-]{0,254}$/.test(s),
    expected: () => "a systemd unit name like httpd or postgresql.service",
  },
  "exclude-pattern": {
    check: (s) => excludePatternProblem(s) === null,
    expected: (found) => `a name pattern like "*.tmp" or "cache": ${excludePatternProblem(found) ?? "a glob over one name"}`,
  },
  "http-url": {
    check: (s) => /^https?:\/\/[^\s/]+(\/\S*)?$/.test(s) && URL.canParse(s),
    expected: () => "an http:// or https:// URL like http://127.0.0.1:8080/health",
  },
} satisfies Record<string, StringFormat>;

export type FormatName = keyof typeof formats;
