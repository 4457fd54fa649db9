/** How a checker of vigil.yaml is named in logs, status and the cores: its position and target. */
import type { Checker } from "./types.ts";

/** The kind and target of a checker of vigil.yaml, e.g. "tcp 127.0.0.1:8080" or "ping tcp 198.51.100.1:22". */
export function checkerTarget(c: Checker): string {
  if ("tcp" in c) return `tcp ${c.tcp}`;
  if ("http" in c) return `http ${c.http}`;
  if ("process" in c) return `process ${c.pidfile === undefined ? c.process : `${c.pidfile} (${c.process})`}`;
  if ("pidfile" in c) return `process ${c.pidfile}`;
  if ("ping" in c) return c.protocol === "icmp" ? `ping ${c.ping}` : `ping ${c.protocol} ${c.ping}:${c.port ?? 0}`;
  if ("interface" in c) return `interface ${c.interface}`;
  if ("file" in c) return `file ${c.file}`;
  return `custom ${[c.custom, ...(c.args ?? [])].join(" ")}`;
}

/** The name a checker of vigil.yaml goes by in the core: its position and target, e.g. "1: tcp 127.0.0.1:8080". */
export function checkerName(c: Checker, index: number): string {
  return `${index + 1}: ${checkerTarget(c)}`;
}
