import { parseArgs } from "node:util";
import { didYouMean } from "../config/did-you-mean.ts";
import { findVerb, VERBS, type VerbSpec } from "./verbs.ts";

export type ParsedCommand = {
  ok: true;
  verb: VerbSpec;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
} | { ok: false; message: string; verb?: VerbSpec; suggested?: true };

/**
 * Turns argv (without the program name) into a verb and its flags. Every
 * failure is one line saying what was wrong; the caller adds the usage.
 */
export function parseCommand(argv: readonly string[]): ParsedCommand {
  const [first, ...rest] = argv;
  if (first === undefined) return { ok: false, message: "no verb given" };
  if (first === "--help" || first === "-h") return parseCommand(["help", ...rest]);
  if (first === "--version" || first === "-V") return parseCommand(["version", ...rest]);
  const verb = findVerb(first);
  if (!verb) {
    const names = VERBS.map((v) => v.name);
    const guess = didYouMean(first, names);
    if (guess !== undefined) return { ok: false, message: `unknown verb "${first}": did you mean ${guess}?`, suggested: true };
    return { ok: false, message: `unknown verb "${first}" (verbs: ${names.join(", ")})` };
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    return { ok: true, verb: findVerb("help") as VerbSpec, values: {}, positionals: [verb.name] };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options: verb.options, allowPositionals: true, strict: true });
  } catch (e) {
    return { ok: false, verb, message: describeParseError(e) };
  }
  const [min, max] = verb.positionals;
  if (parsed.positionals.length < min) {
    return { ok: false, verb, message: `missing argument for "${verb.name}"` };
  }
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals[max];
    return { ok: false, verb, message: `unexpected argument "${extra}" for "${verb.name}"` };
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  return { ok: true, verb, values, positionals: parsed.positionals };
}

/** parseArgs throws errors with codes; turn them into one short sentence. */
function describeParseError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = String(err.message ?? e);
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      return `unknown flag ${flagIn(msg)}`.trim();
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      if (/argument missing/.test(msg)) return `flag ${flagIn(msg)} needs a value`;
      return `flag ${flagIn(msg)} takes no value`;
    }
    default:
      return msg.split("\n")[0] ?? msg;
  }
}

function flagIn(msg: string): string {
  // Messages quote the flag as '-c, --config <value>' or '--bogus'; name the long form.
  const quoted = /'([^']+)'/.exec(msg)?.[1] ?? "";
  return /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0] ?? quoted;
}
