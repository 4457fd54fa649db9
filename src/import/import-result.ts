import type { YMap } from "./yaml-out.ts";

/** What an importer makes: the document, its header comment, and what the user must still do. */
export interface ImportResult {
  header: string[];
  doc: YMap;
  /** What the user must do before the config works (also in the YAML, as comments). */
  warnings: string[];
}
