import type { VerbSpec } from "./verb-spec.ts";

export const PASSWD_VERB: VerbSpec = {
  name: "passwd",
  summary: "hash a console password for console.users in vigil.yaml",
  usage: "vigil passwd [--user NAME] [--role viewer|operator|admin]",
  details: [
    "  Asks for the password twice (not echoed) on a terminal, or reads one line from standard",
    "  input, and prints its scrypt hash: vigil.yaml holds only the hash, never the password.",
    "  With --user it prints the whole console.users entry to paste, e.g.",
    "    - { name: alice, role: operator, password: \"$scrypt$ln=15,r=8,p=1$...\" }",
    "  --user NAME        print the whole console.users entry for NAME, not only the hash (-u NAME)",
    "  --role ROLE        the entry's role with --user: viewer, operator (default) or admin",
    "  Roles: viewer sees the console; operator also sends module commands; admin also forceprim.",
    "  SIGHUP (or a restart) makes the daemon take the new users; a changed password ends that",
    "  user's logins.",
  ].join("\n"),
  options: { user: { type: "string", short: "u" }, role: { type: "string" } },
  positionals: [0, 0],
};
