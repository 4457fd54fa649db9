/**
 * `vigil completion zsh` from the same verb table as `vigil help` and the
 * bash completion. A real zsh (Debian's zsh package) parses it, registers it
 * through compinit both ways users load completions (sourced, and autoloaded
 * from $fpath), and answers: _vigil is called as the completion system calls
 * it, with `words` and CURRENT set, and compadd, _describe, _files and
 * _message stand in for the completion system's builtins, printing what
 * they were offered that matches what is typed.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SHELLS } from "../../src/cli/completion.ts";
import { zshCompletion } from "../../src/cli/completion-zsh.ts";
import { flagDocs } from "../../src/cli/verb-flags.ts";
import { VERBS } from "../../src/cli/verbs.ts";

const ZSH = "/usr/bin/zsh";
const dir = mkdtempSync(join(tmpdir(), "vigil-zsh-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, "vigil.zsh");
writeFileSync(script, zshCompletion(VERBS, SHELLS));

/** Stand-ins for the completion system's functions: each prints the candidates that match PREFIX. */
const STUBS = [
  "emit() { local w; for w in \"$@\"; do [[ $w == ${PREFIX}* ]] && print -r -- $w; done; }",
  "compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done; [[ $1 == -- ]] && shift; emit \"$@\"; }",
  // Each entry is NAME:DESCRIPTION and verb names have no colon.
  "_describe() { local -a names; local x; for x in \"${(@P)${@[-1]}}\"; do names+=( ${x%%:*} ); done; emit \"${names[@]}\"; }",
  "_files() { [[ $1 == -/ ]] && print -r -- '<folders>' || print -r -- '<files>'; }",
  "_message() { print -r -- \"<$*>\"; }",
  "compdef() { :; }",
].join("\n");

function zsh(code: string): { out: string; err: string; status: number | null } {
  const r = spawnSync(ZSH, ["-f", "-c", code], { encoding: "utf8", cwd: dir });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

/** What _vigil offers for the words typed so far (the last one is being completed). */
function complete(...words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(" ");
  const r = zsh(`${STUBS}\nsource '${script}'\nwords=(${quoted}); CURRENT=${words.length}; PREFIX=${quoted.split(" ").at(-1)}\n_vigil`);
  expect(r.err).toBe("");
  return r.out.split("\n").filter((w) => w !== "");
}

describe.runIf(spawnSync("sh", ["-c", `command -v ${ZSH}`]).status === 0 || /^(true|1|yes)$/i.test(process.env.CI ?? ""))("zsh completion, as zsh runs it", () => {
  it("parses in zsh and registers _vigil for vigil, sourced after compinit and autoloaded from $fpath", () => {
    expect(zsh(`zsh -n '${script}'`).err).toBe("");
    const sourced = zsh(`autoload -Uz compinit && compinit -u -d '${join(dir, "dump1")}' && source '${script}' && print -r -- $_comps[vigil]`);
    expect(sourced.err).toBe("");
    expect(sourced.out.trim()).toBe("_vigil");
    const site = join(dir, "site-functions");
    mkdirSync(site, { recursive: true });
    writeFileSync(join(site, "_vigil"), zshCompletion(VERBS, SHELLS));
    const autoloaded = zsh(`fpath=('${site}' $fpath); autoload -Uz compinit && compinit -u -d '${join(dir, "dump2")}' && print -r -- $_comps[vigil]`);
    expect(autoloaded.err).toBe("");
    expect(autoloaded.out.trim()).toBe("_vigil");
  });

  it("offers every verb of the table, and completes one from its first letters", () => {
    expect(complete("vigil", "")).toEqual(VERBS.map((v) => v.name));
    expect(complete("vigil", "ch")).toEqual(["check-config"]);
    expect(complete("vigil", "un")).toEqual(["uninstall"]);
  });

  it("offers every flag of every verb", () => {
    for (const v of VERBS) {
      const offered = complete("vigil", v.name, "-");
      for (const f of flagDocs(v)) {
        expect(offered).toContain(`--${f.long}`);
        if (f.short) expect(offered).toContain(`-${f.short}`);
      }
    }
    expect(complete("vigil", "status", "--")).toEqual(["--help", "--state-dir", "--json"]);
  });

  it("completes a flag's listed values, folders, files, and names the value it cannot list", () => {
    expect(complete("vigil", "run", "--log-format", "")).toEqual(["text", "json"]);
    expect(complete("vigil", "install", "--init", "s")).toEqual(["systemd", "sysv"]);
    expect(complete("vigil", "status", "--state-dir", "")).toEqual(["<folders>"]);
    expect(complete("vigil", "run", "--config", "")).toEqual(["<files>"]);
    expect(complete("vigil", "run", "--listen", "")).toEqual(["<ADDR:PORT>"]);
  });

  it("completes the positional argument: a verb for help, a shell for completion, files for check-config", () => {
    expect(complete("vigil", "help", "unin")).toEqual(["uninstall"]);
    expect(complete("vigil", "completion", "")).toEqual(["bash", "zsh"]);
    expect(complete("vigil", "check-config", "")).toEqual(["<files>"]);
    expect(complete("vigil", "swap", "")).toEqual(["<MODULE>"]);
    expect(complete("vigil", "nosuchverb", "")).toEqual([]);
  });
});
