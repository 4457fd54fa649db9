import { type Io, UsageError } from "./io.ts";
import { EXIT } from "./verbs.ts";

type Values = Record<string, string | boolean | undefined>;

export function cmdImport(_v: Values, positionals: string[], _io: Io): number {
  throw new UsageError(`import ${positionals[0] ?? ""}: not built yet`);
  return EXIT.failed;
}
