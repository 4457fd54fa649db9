/**
 * Reading the files `vigil import` converts: a file that cannot be read is
 * `undefined` to the parsers (an optional file such as authkeys may be
 * missing), and `unreadable` says why for the error a needed one gets.
 */
import { readFileSync, statSync } from "node:fs";

export type ReadText = (path: string) => string | undefined;

export const readOrUndefined: ReadText = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** Why `path` cannot be read as a text file, in words ("no such file", "it is a folder", ...). */
export function unreadable(path: string): string {
  try {
    if (statSync(path).isDirectory()) return "it is a folder";
    readFileSync(path);
    return "it could not be read";
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT") return "no such file";
    if (code === "ENOTDIR") return "a part of its path is not a folder";
    if (code === "EACCES" || code === "EPERM") return "permission denied";
    if (code === "EISDIR") return "it is a folder";
    return typeof code === "string" ? code : String(e);
  }
}
