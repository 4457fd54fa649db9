import { describe, expect, it } from "vitest";
import { didYouMean, typoDistance } from "../../src/config/did-you-mean.ts";
import { parseCommand } from "../../src/cli/parse.ts";

describe("did you mean", () => {
  it("counts a swap of neighbouring letters as one edit", () => {
    expect(typoDistance("eht0", "eth0")).toBe(1);
    expect(typoDistance("swp", "swap")).toBe(1);
    expect(typoDistance("abc", "abc")).toBe(0);
    expect(typoDistance("", "eth0")).toBe(4);
  });

  it("suggests only a close name", () => {
    expect(didYouMean("eht0", ["lo", "eth0", "eth1"])).toBe("eth0");
    expect(didYouMean("wlan9", ["lo", "eth0", "eth1"])).toBeUndefined();
  });

  it("a mistyped verb gets the verb it most likely meant; a far one the list", () => {
    const swp = parseCommand(["swp", "web"]);
    expect(swp.ok ? "" : swp.message).toBe('unknown verb "swp": did you mean swap?');
    const status = parseCommand(["stauts"]);
    expect(status.ok ? "" : status.message).toBe('unknown verb "stauts": did you mean status?');
    const far = parseCommand(["frobnicate"]);
    expect(far.ok ? "" : far.message).toMatch(/^unknown verb "frobnicate" \(verbs: run, /);
  });
});
