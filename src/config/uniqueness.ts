import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";

/**
 * Remembers who first used a value, and reports later users: "found X again
 * (also vrrp[0])". One tracker per rule.
 */
export class FirstUse {
  private readonly seen = new Map<string, string>();
  constructor(private readonly expected: string) {}

  /** Records `value` for `owner`; returns a problem at `path` when someone had it already. */
  claim(value: string, shown: string, owner: string, path: Segment[]): Problem | undefined {
    const first = this.seen.get(value);
    if (first === undefined) {
      this.seen.set(value, owner);
      return undefined;
    }
    return { path, at: "value", found: `${shown} again (also ${first})`, expected: this.expected };
  }
}
