import { describe, expect, it } from "vitest";
import { parseCommand } from "../../src/cli/parse.ts";
import { helpFor } from "../../src/cli/help.ts";
import { VERBS } from "../../src/cli/verbs.ts";

describe("parseCommand", () => {
  it("accepts a verb with its flags and positionals", () => {
    const r = parseCommand(["check-config", "x.yaml", "--print"]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.verb.name).toBe("check-config");
    expect(r.positionals).toEqual(["x.yaml"]);
    expect(r.values["print"]).toBe(true);
  });

  it("names an unknown verb and lists the real ones", () => {
    const r = parseCommand(["frobnicate"]);
    expect(r).toMatchObject({ ok: false });
    if (r.ok) return;
    expect(r.message).toBe(`unknown verb "frobnicate" (verbs: ${VERBS.map((v) => v.name).join(", ")})`);
  });

  it("names an unknown flag and keeps the verb for its usage", () => {
    const r = parseCommand(["status", "--bogus"]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toBe("unknown flag --bogus");
    expect(r.verb?.name).toBe("status");
  });

  it("says when a flag lacks its value", () => {
    const r = parseCommand(["run", "--config"]);
    expect(r.ok ? "" : r.message).toBe("flag --config needs a value");
  });

  it("says when a boolean flag is given a value", () => {
    const r = parseCommand(["status", "--json=yes"]);
    expect(r.ok ? "" : r.message).toBe("flag --json takes no value");
  });

  it("reports a missing argument", () => {
    const r = parseCommand(["keygen"]);
    expect(r.ok ? "" : r.message).toBe('missing argument for "keygen"');
  });

  it("reports an extra argument", () => {
    const r = parseCommand(["version", "now"]);
    expect(r.ok ? "" : r.message).toBe('unexpected argument "now" for "version"');
  });

  it("reports no verb at all", () => {
    const r = parseCommand([]);
    expect(r.ok ? "" : r.message).toBe("no verb given");
  });

  it("turns VERB --help into help for that verb", () => {
    const r = parseCommand(["run", "--help"]);
    expect(r.ok && r.verb.name).toBe("help");
    expect(r.ok && r.positionals).toEqual(["run"]);
  });
});

describe("help", () => {
  it("lists every verb and the exit codes", () => {
    const h = helpFor(undefined);
    for (const v of VERBS) expect(h.text).toContain(`  ${v.name}`);
    expect(h.text).toMatch(/Exit status:\n\s+0 +success/);
    expect(h.text).toContain("2  usage error");
  });

  it("shows a verb's usage and flags", () => {
    const h = helpFor("run");
    expect(h.ok).toBe(true);
    expect(h.text).toMatch(/^Usage: vigil run /);
    expect(h.text).toContain("--state-dir DIR");
  });

  it("rejects help for an unknown verb", () => {
    expect(helpFor("nope").ok).toBe(false);
  });
});
