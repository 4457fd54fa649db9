/** The console's certificate and key must exist, be readable, parse, and belong together before a start or reload relies on them. */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
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
  const cert = config.console?.cert;
  const key = config.console?.key;
  if (out.length > 0 || cert === undefined || key === undefined) return out;
  const at = (which: "cert" | "key") => ({ file, ...source.locate(["console", which], "value"), path: `console.${which}` });
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(readFileSync(cert));
  } catch {
    return [{ ...at("cert"), found: `${cert}, which is not a PEM certificate`, expected: "a PEM certificate file (-----BEGIN CERTIFICATE-----)" }];
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(readFileSync(key)))) {
      return [{ ...at("key"), found: `${key}, which is not the private key of ${cert}`, expected: "the private key that belongs to console.cert" }];
    }
  } catch {
    return [{ ...at("key"), found: `${key}, which is not a PEM private key (or is encrypted)`, expected: "an unencrypted PEM private key file" }];
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
