/** The importers' one entry: source files in, vigil.yaml text and warnings out. */
import { mapHeartbeat } from "./heartbeat-map.ts";
import { readHeartbeatDir } from "./heartbeat-parse.ts";
import { mapKeepalived } from "./keepalived-map.ts";
import { parseFile } from "./keepalived-parse.ts";
import { readKeepalived } from "./keepalived-read.ts";
import { yamlText } from "./yaml-out.ts";

export type SourceKind = "keepalived" | "heartbeat";

export interface Imported {
  text: string;
  warnings: string[];
}

/** Throws ImportError (file:line and the problem) for a source that cannot be read. */
export function importConfig(kind: SourceKind, paths: readonly string[], addresses: Map<string, string[]>): Imported {
  const result = kind === "keepalived"
    ? mapKeepalived(paths.map((p) => readKeepalived(p, parseFile(p))), addresses)
    : mapHeartbeat(readHeartbeatDir(paths[0] ?? "."), addresses);
  return { text: yamlText(result.header, result.doc), warnings: result.warnings };
}
