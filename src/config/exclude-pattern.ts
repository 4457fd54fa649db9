/**
 * The syntax of `exclude:` patterns of a mirror module: a shell glob over one
 * name (`*`, `?`, `[abc]`, `[!a-z]`, `\` escapes the next character), never
 * a path. Checked here for the config's messages, compiled here for the
 * replicator (src/replicator/exclude.ts says what a match means).
 */

/** Why `pattern` cannot be an exclude pattern, or null when it can. */
export function excludePatternProblem(pattern: string): string | null {
  if (pattern.length === 0) return "an empty pattern matches nothing";
  if (pattern.includes("/")) return `"${pattern}" has a "/": patterns match one name at any depth (write "cache", not "data/cache")`;
  if (pattern === "." || pattern === "..") return `"${pattern}" is not a name`;
  try {
    globToRegExp(pattern);
  } catch (e) {
    return `"${pattern}": ${(e as Error).message}`;
  }
  return null;
}

export function globToRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) throw new Error("a trailing \\ escapes nothing");
      re += escapeRe(next);
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new Error("a [ without its ]");
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`, "s");
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\]/.test(c) ? `\\${c}` : c;
}
