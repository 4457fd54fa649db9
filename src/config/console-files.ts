/** The console's certificate and key must exist and be readable before a start or reload relies on them. */
import { accessSync, constants, statSync } from "node:fs";
import type { ConfigError } from "./errors.ts";
import type { VigilConfig } from "./types.ts";
import type { YamlSource } from "./yaml-source.ts";

export function consoleFileErrors(config: VigilConfig, source: YamlSource, file: string): ConfigError[] {
  const out: ConfigError[] = [];
  for (const which of ["cert", "key"] as const) {
    const path = config.console?.[which];
    if (path === undefined) continue;
    const problem = fileProblem(path);
    if (problem === undefined) continue;
    out.push({
      file, ...source.locate(["console", which], "value"), path: `console.${which}`,
      found: `${path}: ${problem}`,
      expected: which === "cert" ? "a readable PEM certificate file" : "a readable PEM private key file",
    });
  }
  return out;
}

function fileProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return "not a regular file";
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
    return { ENOENT: "no such file", EACCES: "permission denied", ENOTDIR: "a path through something that is not a directory" }[code] ?? "cannot be read";
  }
}
