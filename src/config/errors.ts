/**
 * One problem in a config file, located precisely enough that an operator can
 * fix it without reading the code: file, line, column, key path, what was
 * found and what was expected.
 */
export interface ConfigError {
  file: string;
  /** 1-based; 0 when the problem is the file as a whole (unreadable, not found). */
  line: number;
  /** 1-based; 0 together with line 0. */
  col: number;
  /** Key path like "cluster.nodes[1].addresses[0]"; "" for the file as a whole. */
  path: string;
  found: string;
  expected: string;
}

/**
 * `vigil.yaml:12:5: cluster.heartbeat.interval: found "fast-ish", expected a duration like 100ms, 2s or 1m`.
 * Problems of the whole file leave out the position and the key path.
 */
export function formatConfigError(e: ConfigError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.col}` : e.file;
  const key = e.path === "" ? "" : ` ${e.path}:`;
  return `${where}:${key} found ${e.found}, expected ${e.expected}`;
}
