/**
 * Which config file to use when none is named: $VIGIL_CONFIG, then
 * /etc/vigil/vigil.yaml, then removable media, so a node can boot its config
 * from a USB stick. Two sticks with a config each are refused rather than
 * guessed between.
 */
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export type SearchResult = { ok: true; file: string; how: "flag" | "env" | "etc" | "media" } | { ok: false; message: string };

export const ETC_CONFIG = "/etc/vigil/vigil.yaml";

/** Where removable media get mounted; `*` is one directory level. */
export const MEDIA_PATTERNS = ["/media/*/vigil.yaml", "/media/*/*/vigil.yaml", "/run/media/*/*/vigil.yaml", "/mnt/*/vigil.yaml"];

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir)
      .sort()
      .map((name) => join(dir, name))
      .filter((p) => {
        try {
          return statSync(p).isDirectory();
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

/** Expands one pattern under `root`; only `*` path segments are special. */
function expand(root: string, pattern: string): string[] {
  let dirs = [root];
  const parts = pattern.split("/").filter((p) => p !== "");
  const file = parts.pop() as string;
  for (const part of parts) dirs = part === "*" ? dirs.flatMap(subdirs) : dirs.map((d) => join(d, part));
  return dirs.map((d) => join(d, file)).filter(isFile);
}

/**
 * `root` prefixes the system locations (/etc, /media, ...), so tests can lay
 * out a fake file system in a temporary folder. A named file (flag or
 * environment) is taken as is, even if it does not exist: loading it then
 * says why, instead of silently falling back to another config.
 */
export function findConfigFile(opts: { flag?: string | undefined; env?: string | undefined; root?: string }): SearchResult {
  if (opts.flag !== undefined && opts.flag !== "") return { ok: true, file: resolve(opts.flag), how: "flag" };
  if (opts.env !== undefined && opts.env !== "") return { ok: true, file: resolve(opts.env), how: "env" };
  const root = opts.root ?? "/";
  const etc = join(root, ETC_CONFIG);
  if (isFile(etc)) return { ok: true, file: etc, how: "etc" };
  const media = [...new Set(MEDIA_PATTERNS.flatMap((p) => expand(root, p)))];
  if (media.length === 1) return { ok: true, file: media[0] as string, how: "media" };
  if (media.length > 1) {
    return {
      ok: false,
      message:
        `found a vigil.yaml on ${media.length} removable media and cannot tell which one to use: ${media.join(", ")}; ` +
        `remove all but one, or name the file with --config FILE`,
    };
  }
  return {
    ok: false,
    message:
      `no config file found: --config not given, $VIGIL_CONFIG not set, no ${etc}, ` +
      `and none on removable media (${MEDIA_PATTERNS.map((p) => join(root, p)).join(", ")}); ` +
      "name one with --config FILE",
  };
}
