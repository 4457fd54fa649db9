import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import { ImportError } from "../import/import-error.ts";
import { importConfig, type SourceKind } from "../import/import-config.ts";
import { parseAddressesFlag } from "../import/values.ts";
import { type Io, UsageError } from "./io.ts";
import { EXIT } from "./verbs.ts";

type Values = Record<string, string | boolean | undefined>;

/** `vigil import keepalived FILE...` and `vigil import heartbeat DIR`. */
export function cmdImport(v: Values, positionals: string[], io: Io): number {
  const [kind, ...paths] = positionals;
  if (kind !== "keepalived" && kind !== "heartbeat") throw new UsageError(`import what? "keepalived" or "heartbeat", not "${kind ?? ""}"`);
  if (kind === "heartbeat" && paths.length !== 1) throw new UsageError("import heartbeat takes one folder (the one holding ha.cf, haresources and authkeys)");
  const addresses = parseAddressesFlag(typeof v["addresses"] === "string" ? v["addresses"] : undefined);
  if (typeof addresses === "string") throw new UsageError(addresses);
  const out = typeof v["out"] === "string" ? v["out"] : undefined;
  if (out === undefined && v["force"] === true) throw new UsageError("--force only goes with --out FILE");
  if (out !== undefined && existsSync(out) && v["force"] !== true) {
    io.err(`vigil import: ${out} exists; not overwritten (add --force to replace it)`);
    return EXIT.failed;
  }

  let imported;
  try {
    imported = importConfig(kind as SourceKind, paths, addresses);
  } catch (e) {
    if (!(e instanceof ImportError)) throw e;
    io.err(`vigil import ${kind}: ${e.message}`);
    return EXIT.failed;
  }
  // What we write must load: a failure here is the importer's own mistake, said as such.
  const checked = parseConfig(imported.text, out ?? "vigil.yaml");
  if (!checked.ok) {
    io.err(`vigil import ${kind}: the imported config does not pass vigil's checks (an importer bug; please report it with the source files):`);
    for (const e of checked.errors) io.err(`  ${formatConfigError(e)}`);
    return EXIT.failed;
  }
  for (const w of imported.warnings) io.err(`warning: ${w}`);
  const keyPath = join(out === undefined ? "." : dirname(out), "vigil.key");
  if (out !== undefined) {
    try {
      writeFileSync(out, imported.text, { mode: 0o644 });
    } catch (e) {
      io.err(`vigil import: cannot write ${out}: ${e instanceof Error ? e.message : String(e)}`);
      return EXIT.failed;
    }
    io.err(`wrote ${out}`);
  } else {
    io.out(imported.text.trimEnd());
  }
  io.err(`next: \`vigil keygen ${keyPath}\` (copy the key to every node), then \`vigil check-config ${out ?? "FILE"}\``);
  return EXIT.ok;
}
