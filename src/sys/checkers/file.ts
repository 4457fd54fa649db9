/**
 * file checker: a file exists, does not exist, or contains a string or
 * matches an expression (a status file an application writes, a flag an
 * operator drops to take a node out of service).
 *
 * For `contains`, only the first `maxBytes` (default 1 MiB) are read.
 */
import { open, stat } from "node:fs/promises";
import { abortText, errorCode, measure } from "./measure.ts";
import type { Checker } from "./types.ts";

export type FileCheckerOptions =
  | { readonly path: string; readonly expect: "exists" | "absent" }
  | { readonly path: string; readonly expect: "contains"; readonly match: string | RegExp; readonly maxBytes?: number };

export const DEFAULT_FILE_MAX_BYTES = 1024 * 1024;

function describeMatch(match: string | RegExp): string {
  return typeof match === "string" ? `contain ${JSON.stringify(match)}` : `match ${String(match)}`;
}

function problem(path: string, e: unknown): string {
  const code = errorCode(e);
  if (code === "ENOENT") return `${path}: does not exist`;
  if (code === "EACCES") return `${path}: permission denied (EACCES)`;
  if (code === "EISDIR") return `${path}: is a directory`;
  return `${path}: cannot be read (${code || String(e)})`;
}

async function readHead(path: string, limit: number): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(limit);
    let filled = 0;
    while (filled < limit) {
      const { bytesRead } = await handle.read(buf, filled, limit - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled).toString("utf8");
  } finally {
    await handle.close();
  }
}

export function fileChecker(opts: FileCheckerOptions): Checker {
  const path = opts.path;
  return {
    kind: "file",
    target: path,
    run: (signal) =>
      measure(path, async () => {
        if (signal.aborted) return { ok: false, detail: `${path}: ${abortText(signal)}` };
        if (opts.expect !== "contains") {
          let exists: boolean;
          try {
            await stat(path);
            exists = true;
          } catch (e) {
            if (errorCode(e) !== "ENOENT" && errorCode(e) !== "ENOTDIR") return { ok: false, detail: problem(path, e) };
            exists = false;
          }
          if (opts.expect === "exists") return { ok: exists, detail: exists ? `${path}: exists` : `${path}: does not exist` };
          return { ok: !exists, detail: exists ? `${path}: exists, expected absent` : `${path}: absent` };
        }
        let text: string;
        try {
          text = await readHead(path, opts.maxBytes ?? DEFAULT_FILE_MAX_BYTES);
        } catch (e) {
          return { ok: false, detail: problem(path, e) };
        }
        const m = opts.match;
        const matched = typeof m === "string" ? text.includes(m) : new RegExp(m.source, m.flags.replace("g", "")).test(text);
        return { ok: matched, detail: matched ? `${path}: does ${describeMatch(m)}` : `${path}: does not ${describeMatch(m)}` };
      }),
  };
}
