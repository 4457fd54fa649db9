import { didYouMean } from "../config/did-you-mean.ts";
import { EXIT, findVerb, VERBS, type VerbSpec } from "./verbs.ts";

export function generalHelp(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length));
  return [
    "vigil: high availability in one file (heartbeats, VRRP, mirroring, farms, console)",
    "",
    "Usage: vigil VERB [FLAGS]",
    "",
    "Verbs:",
    ...VERBS.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`),
    "",
    "Run `vigil help VERB` for a verb's flags.",
    "",
    "Exit status:",
    `  ${EXIT.ok}  success`,
    `  ${EXIT.failed}  the command failed (an invalid config, a daemon that could not start,`,
    `     a module command refused or not done in time, ...)`,
    `  ${EXIT.usage}  usage error (unknown verb or flag, missing argument)`,
    `  ${EXIT.daemonUnreachable}  no daemon answered on the control socket`,
    "",
    "Config search (when no --config): $VIGIL_CONFIG, /etc/vigil/vigil.yaml, then",
    "/media/*/vigil.yaml, /media/*/*/vigil.yaml, /run/media/*/*/vigil.yaml, /mnt/*/vigil.yaml.",
  ].join("\n");
}

export function verbHelp(verb: VerbSpec): string {
  return [`Usage: ${verb.usage}`, "", `  ${verb.summary}`, ...(verb.details ? ["", verb.details] : [])].join("\n");
}

export function helpFor(name: string | undefined): { text: string; ok: boolean } {
  if (name === undefined) return { text: generalHelp(), ok: true };
  const verb = findVerb(name);
  if (!verb) {
    const guess = didYouMean(name, VERBS.map((v) => v.name));
    return { text: `unknown verb "${name}"${guess === undefined ? "" : `: did you mean ${guess}?`}\n\n${generalHelp()}`, ok: false };
  }
  return { text: verbHelp(verb), ok: true };
}
