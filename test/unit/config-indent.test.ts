/** One bad indent is one message, at the line that is wrong, not the parser's cascade. */
import { describe, expect, it } from "vitest";
import { problems as fileProblems } from "./config-text.ts";

/** The lines joined without a final newline: the parser's own messages can depend on it. */
const problems = (lines: string[]): string[] => fileProblems(lines.join("\n"));

describe("YAML syntax errors", () => {
  it("a key indented deeper than the one above it: one message, at that line", () => {
    expect(problems(["cluster:", "  name: x", "   nodes:", "    - { name: a, addresses: [198.51.100.1] }"])).toEqual([
      "vigil.yaml:3:4: found a line indented deeper than the key above it, expected the same indentation as that key (or its value after the colon)",
    ]);
    expect(problems(["cluster:", "  name: x", "  key_file: k", "", "    nodes:", "    - { name: a, addresses: [198.51.100.1] }", "  heartbeat:", "    interval: 1s"])).toEqual([
      "vigil.yaml:5:5: found a line indented deeper than the key above it, expected the same indentation as that key (or its value after the colon)",
    ]);
  });

  it("a list item out of line: only the first of the parser's messages", () => {
    const out = problems(["cluster:", "  name: x", "  nodes:", "  - name: a", "    addresses: [198.51.100.1]", "   - name: b", "    addresses: [198.51.100.2]"]);
    expect(out).toEqual(["vigil.yaml:6:4: found a YAML syntax error (All sequence items must start at the same column), expected valid YAML"]);
  });
});
