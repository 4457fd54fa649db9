/**
 * `vigil man`: the vigil(8) manual page in roff (man(7) macros), generated from
 * the verb table (verbs.ts), the same table `vigil help` prints.
 */
import { flagDocs } from "./verb-flags.ts";
import type { VerbSpec } from "./verb-spec.ts";
import { EXIT } from "./verbs.ts";

export function manPage(verbs: readonly VerbSpec[], version: string): string {
  const lines: string[] = [
    `.TH VIGIL 8 "" "vigil ${esc(version)}" "System Administration"`,
    ".SH NAME",
    "vigil \\- high availability in one file: heartbeats, VRRP, mirroring, farms, console",
    ".SH SYNOPSIS",
    ".B vigil",
    ".I VERB",
    ".RI [ FLAGS ]",
    ".SH DESCRIPTION",
    "vigil keeps a service alive across two or more servers: it watches them with authenticated",
    "heartbeats, moves virtual IPs with standard VRRP, mirrors the service's files synchronously,",
    "spreads clients over a farm with nftables, runs the service's start and stop scripts and",
    "checkers, guards against split brain, and shows all of it on a web console (port 9010).",
    "The whole configuration is one YAML file,",
    ".IR vigil.yaml ,",
    "the same on every node.",
    ".SH VERBS",
  ];
  for (const verb of verbs) {
    lines.push(".SS " + esc(verb.name), esc(verb.summary) + ".", ".PP", ".nf", ...wrapUsage(verb.usage).map(esc), ".fi");
    const flags = flagDocs(verb);
    for (const f of flags) {
      const name = esc(`--${f.long}${f.short ? `, -${f.short}` : ""}`);
      lines.push(".TP", f.value ? `.BI "${name}" " ${esc(f.value)}"` : `.B "${name}"`);
      lines.push(esc(f.text || "(see the usage above)"));
    }
    const notes = (verb.details ?? "").split("\n").filter((l) => !/^\s+--/.test(l) && !isContinuation(verb.details ?? "", l));
    const prose = notes.map((l) => l.trim()).join("\n").trim();
    if (prose) lines.push(".PP", ...prose.split("\n").map((l) => (l === "" ? ".PP" : esc(l))));
  }
  lines.push(
    ".SH FILES",
    ".TP", ".I /etc/vigil/vigil.yaml", "The config, unless",
    ".B \\-\\-config", "or", ".B $VIGIL_CONFIG", "names another; then removable media:",
    ".IR /media/*/vigil.yaml ,", ".IR /media/*/*/vigil.yaml ,", ".IR /run/media/*/*/vigil.yaml ,", ".IR /mnt/*/vigil.yaml .",
    ".TP", ".I /var/lib/vigil", "The state dir: the lock, the control socket", ".IR vigil.sock ,", "module state and journals.",
    ".TP", ".I /etc/systemd/system/vigil.service", "The unit", ".B vigil install", "writes (or", ".I /etc/init.d/vigil", "without systemd).",
    ".SH ENVIRONMENT",
    ".TP", ".B VIGIL_CONFIG", "The config file, when no", ".B \\-\\-config", "is given.",
    ".SH EXIT STATUS",
    ".TP", `.B ${EXIT.ok}`, "success",
    ".TP", `.B ${EXIT.failed}`, "the command failed (an invalid config, a daemon that could not start, a module command refused or not done in time)",
    ".TP", `.B ${EXIT.usage}`, "usage error (unknown verb or flag, missing argument)",
    ".TP", `.B ${EXIT.daemonUnreachable}`, "no daemon answered on the control socket",
    ".SH SEE ALSO",
    ".BR systemctl (1),",
    ".BR keepalived (8),",
    ".BR nft (8)",
    "",
  );
  return lines.join("\n");
}

/** A usage line broken before its flags, so no line is wider than a terminal. */
function wrapUsage(usage: string, width = 64): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of usage.split(/ (?=\[|--)/)) {
    if (line !== "" && line.length + 1 + word.length > width) {
      out.push(line);
      line = "    " + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  out.push(line);
  return out;
}

/** Lines that continue a flag's description belong to the flag, not to the verb's prose. */
function isContinuation(details: string, line: string): boolean {
  const all = details.split("\n");
  const i = all.indexOf(line);
  for (let j = i - 1; j >= 0; j--) {
    const prev = all[j] as string;
    if (prev.trim() === "") return false;
    if (/^\s+--/.test(prev)) return line.search(/\S/) > prev.search(/\S/);
    if (line.search(/\S/) <= prev.search(/\S/)) return false;
  }
  return false;
}

/** Escapes text for roff: backslashes, a leading dot or quote, and dashes (so they are not hyphens). */
function esc(s: string): string {
  const t = s.replace(/\\/g, "\\e").replace(/-/g, "\\-");
  return /^[.']/.test(t) ? `\\&${t}` : t;
}
