import type { VerbSpec } from "./verb-spec.ts";

/** Verbs that print vigil's own documentation, generated from the verb table. */
export const DOC_VERBS: VerbSpec[] = [
  {
    name: "completion",
    summary: "print the shell completion script for vigil's verbs and flags",
    usage: "vigil completion SHELL",
    details: [
      "  SHELL is bash or zsh. Load it in the running shell with: source <(vigil completion bash)",
      "  or for every shell: vigil completion bash > /etc/bash_completion.d/vigil",
      "  zsh (after compinit): source <(vigil completion zsh), or install it in a folder of $fpath:",
      "  vigil completion zsh > /usr/local/share/zsh/site-functions/_vigil",
    ].join("\n"),
    options: {},
    positionals: [1, 1],
  },
  {
    name: "man",
    summary: "print the vigil(8) manual page (roff)",
    usage: "vigil man",
    details: "  Read it with: vigil man | man -l -   Install it: vigil man > /usr/local/share/man/man8/vigil.8",
    options: {},
    positionals: [0, 0],
  },
];
