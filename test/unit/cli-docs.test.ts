/**
 * `vigil completion bash` and `vigil man` come from the verb table that
 * `vigil help` prints: every verb and every flag must appear in both. The
 * completion is sourced into a real bash and asked, as bash would, through
 * COMP_WORDS/COMP_CWORD; the page is rendered by man (or groff) with warnings on.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bashCompletion } from "../../src/cli/completion.ts";
import { generalHelp } from "../../src/cli/help.ts";
import { manPage } from "../../src/cli/man-page.ts";
import { flagDocs, positionalName } from "../../src/cli/verb-flags.ts";
import { findVerb, VERBS } from "../../src/cli/verbs.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-docs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const completion = bashCompletion(VERBS);
const page = manPage(VERBS, "0.1.0");
const onPath = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** What _vigil offers for the words typed so far (the last one is being completed). */
function complete(...words: string[]): string[] {
  const script = join(dir, "completion.bash");
  writeFileSync(script, completion);
  const quoted = words.map((w) => `'${w}'`).join(" ");
  const r = spawnSync("bash", ["--norc", "-c", `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _vigil; printf '%s\\n' "\${COMPREPLY[@]}"`], {
    encoding: "utf8",
    cwd: dir,
  });
  expect(r.stderr).toBe("");
  return r.stdout.split("\n").filter((w) => w !== "");
}

describe("one verb table for help, completion and man page", () => {
  it("every verb of the table is in vigil help, the completion and the man page", () => {
    const help = generalHelp();
    const roffName = (s: string) => s.replace(/-/g, "\\-");
    for (const v of VERBS) {
      expect(help).toMatch(new RegExp(`^  ${v.name} `, "m"));
      expect(completion).toMatch(new RegExp(`^    ${v.name}\\)$`, "m"));
      expect(page).toContain(`\n.SS ${roffName(v.name)}\n`);
    }
    expect(complete("vigil", "")).toEqual(VERBS.map((v) => v.name));
  });

  it("every verb of the table is named in README's CLI table", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("\n## The CLI\n"), readme.indexOf("\n## ", readme.indexOf("\n## The CLI\n") + 1));
    // The table's first column: `vigil VERB ...`, several verbs joined by an escaped |.
    const named = new Set([...section.matchAll(/^\| (.+?) \| /gm)].flatMap((m) => [...(m[1] ?? "").matchAll(/`vigil ([a-z-]+(?:\\\|[a-z-]+)*)/g)])
      .flatMap((m) => (m[1] ?? "").split("\\|")));
    expect(VERBS.map((v) => v.name).filter((v) => !named.has(v))).toEqual([]);
  });

  it("every flag of every verb is described in that verb's help, each on a line of its own", () => {
    const undescribed = VERBS.flatMap((v) => flagDocs(v).filter((f) => f.text === "").map((f) => `${v.name} --${f.long}`));
    expect(undescribed).toEqual([]);
  });

  it("every flag of every verb is offered by the completion and described in the man page", () => {
    for (const v of VERBS) {
      const offered = complete("vigil", v.name, "-");
      for (const f of flagDocs(v)) {
        expect(offered).toContain(`--${f.long}`);
        if (f.short) expect(offered).toContain(`-${f.short}`);
        expect(page).toContain(`.B${f.value ? "I" : ""} "\\-\\-${f.long.replace(/-/g, "\\-")}`);
      }
    }
  });
});

describe("bash completion, as bash calls it", () => {
  it("completes a verb from its first letters", () => {
    expect(complete("vigil", "ch")).toEqual(["check-config"]);
    expect(complete("vigil", "un")).toEqual(["uninstall"]);
  });

  it("completes a flag's listed values and a verb's flags", () => {
    expect(complete("vigil", "run", "--log-format", "")).toEqual(["text", "json"]);
    expect(complete("vigil", "install", "--init", "s")).toEqual(["systemd", "sysv"]);
    expect(complete("vigil", "status", "--")).toEqual(["--help", "--state-dir", "--json"]);
  });

  it("completes the positional argument: a verb for help, a shell for completion, files for check-config", () => {
    expect(complete("vigil", "help", "unin")).toEqual(["uninstall"]);
    expect(complete("vigil", "completion", "")).toEqual(["bash", "zsh"]);
    writeFileSync(join(dir, "vigil.yaml"), "");
    expect(complete("vigil", "check-config", "vigil.y")).toEqual(["vigil.yaml"]);
    expect(complete("vigil", "swap", "")).toEqual([]);
  });

  it("reads each verb's argument kind from its usage", () => {
    expect(positionalName(findVerb("check-config")!)).toBe("FILE");
    expect(positionalName(findVerb("help")!)).toBe("VERB");
    expect(positionalName(findVerb("swap")!)).toBe("MODULE");
    expect(positionalName(findVerb("status")!)).toBeUndefined();
  });
});

describe("man page", () => {
  it("carries a flag's text from the verb's details, continuation lines included", () => {
    const run = flagDocs(findVerb("run")!);
    expect(run.find((f) => f.long === "log-format")).toEqual({ long: "log-format", short: undefined, value: "FMT", text: "text (default) or json, one line per event on stderr" });
    expect(run.find((f) => f.long === "listen")?.text).toBe("serve the console here instead of web.listen from the config");
    expect(run.find((f) => f.long === "accept-new-key")?.text).toMatch(/^start with a config from removable media whose cluster key differs from the one this node last ran with/);
    // Prose that mentions a flag at the start of a line is not the flag's entry.
    const verb = { ...findVerb("uninstall")!, details: "  Give it the same\n  --state-dir as install.\n  --state-dir DIR    the state dir" };
    expect(flagDocs(verb).find((f) => f.long === "state-dir")).toMatchObject({ value: "DIR", text: "the state dir" });
  });

  it("renders without a warning", () => {
    const file = join(dir, "vigil.8");
    writeFileSync(file, page);
    if (onPath("man")) {
      for (const width of ["80", "120"]) {
        const r = spawnSync("man", ["--warnings", "-l", file], { encoding: "utf8", env: { ...process.env, MANWIDTH: width, MAN_KEEP_FORMATTING: "", PAGER: "cat" } });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/^VIGIL\(8\)/);
        expect(r.stdout).toContain("vigil install [--witness] [--prefix DIR]");
      }
    } else if (onPath("groff")) {
      const r = spawnSync("groff", ["-man", "-ww", "-z", file], { encoding: "utf8" });
      expect(r.stderr).toBe("");
    } else {
      // Neither is installed: check the page's frame at least.
      expect(page).toMatch(/^\.TH VIGIL 8 /);
      for (const section of ["NAME", "SYNOPSIS", "DESCRIPTION", "VERBS", "FILES", "EXIT STATUS"]) expect(page).toContain(`\n.SH ${section}\n`);
    }
  });
});
