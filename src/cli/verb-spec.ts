import type { ParseArgsConfig } from "node:util";

/** One verb of the binary: its usage text and flags (the table is verbs.ts). */
export interface VerbSpec {
  name: string;
  summary: string;
  usage: string;
  /** Extra lines shown by `vigil help VERB`. */
  details?: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  /** [min, max] positional arguments. */
  positionals: [number, number];
}
