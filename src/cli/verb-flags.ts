import type { VerbSpec } from "./verb-spec.ts";

/** One flag of a verb, as the completion and the man page show it. */
export interface FlagDoc {
  long: string;
  short: string | undefined;
  /** The value's name in the usage (FILE, DIR, ...), or undefined for a switch. */
  value: string | undefined;
  /** From the verb's details ("  --flag VALUE   what it does"), "" if they say nothing. */
  text: string;
}

/** For a flag whose verb shows no value name. */
const NAMED_VALUES: Record<string, string> = { config: "FILE", "state-dir": "DIR" };

/** The verb's flags, in the table's order, with what its usage and details say of each. */
export function flagDocs(verb: VerbSpec): FlagDoc[] {
  return Object.entries(verb.options).map(([long, opt]) => {
    const takesValue = opt.type === "string";
    // The value's name: as the details write it (--log-format FMT), else as the usage does (--timeout 30s).
    const valueRe = new RegExp(`--${escape(long)}[ =]([^\\s\\]]+)`);
    const value = valueRe.exec(detailLine(verb.details ?? "", long) ?? "")?.[1] ?? valueRe.exec(verb.usage)?.[1];
    return {
      long,
      short: typeof opt.short === "string" ? opt.short : undefined,
      value: takesValue ? (value ?? NAMED_VALUES[long] ?? "VALUE") : undefined,
      text: describedIn(verb.details ?? "", long, takesValue),
    };
  });
}

/** The words a flag's value may be, where the usage lists them (--log-format text|json). */
export function flagChoices(verb: VerbSpec, long: string): string[] {
  const m = new RegExp(`--${escape(long)} ([a-z0-9-]+(?:\\|[a-z0-9-]+)+)`).exec(verb.usage + "\n" + (verb.details ?? ""));
  return m?.[1]?.split("|") ?? [];
}

/** What the verb's positional argument is: the first CAPITAL word of its usage that is not a flag's value. */
export function positionalName(verb: VerbSpec): string | undefined {
  if (verb.positionals[1] === 0) return undefined;
  const words = verb.usage.split(/\s+/).slice(2);
  for (let i = 0; i < words.length; i++) {
    const w = (words[i] ?? "").replace(/^\[|\]$/g, "");
    if (/^-/.test(w)) {
      const flag = Object.entries(verb.options).find(([long]) => w === `--${long}` || w.startsWith(`--${long}=`));
      if (flag && flag[1].type === "string" && !w.includes("=")) i++;
      continue;
    }
    if (/^[A-Z][A-Z_]*$/.test(w)) return w;
  }
  return undefined;
}

/** A line of the details that documents the flag: the flag first, then its value's NAME or the text. */
const flagLineRe = (long: string) => new RegExp(`^\\s+--${escape(long)}(?:[ =][A-Z]\\S*\\s|\\s{2,}|$)`);

function detailLine(details: string, long: string): string | undefined {
  return details.split("\n").find((l) => flagLineRe(long).test(l));
}

function describedIn(details: string, long: string, takesValue: boolean): string {
  const lines = details.split("\n");
  const at = lines.findIndex((l) => flagLineRe(long).test(l));
  if (at < 0) return "";
  const first = lines[at] as string;
  // The text follows the flag and, if it takes one, its value.
  const m = (takesValue ? /^\s+--\S+[ =]\S+\s+(.*)$/ : /^\s+--\S+\s+(.*)$/).exec(first);
  const parts = [m?.[1] ?? ""];
  // Continuation lines are indented deeper than the flag and start with no dash.
  const indent = first.search(/\S/);
  for (const next of lines.slice(at + 1)) {
    if (next.trim() === "" || next.search(/\S/) <= indent || /^\s*-/.test(next)) break;
    parts.push(next.trim());
  }
  return parts.join(" ").trim();
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
