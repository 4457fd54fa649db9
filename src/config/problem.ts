import type { Segment } from "./key-path.ts";

/** A config problem before it is given a file position. */
export interface Problem {
  path: Segment[];
  /** Point at the key itself (unknown or duplicate keys) or at its value. */
  at: "key" | "value";
  found: string;
  expected: string;
  /**
   * A summary about a whole entry ("no kind given") that a more precise
   * problem inside the same entry (an unknown key, a typo) already explains.
   */
  yieldsToInner?: true;
}
