import { VERSION } from "../version.ts";
import { bashCompletion, SHELLS } from "./completion.ts";
import { zshCompletion } from "./completion-zsh.ts";
import type { Io } from "./io.ts";
import { UsageError } from "./io.ts";
import { manPage } from "./man-page.ts";
import { EXIT, VERBS } from "./verbs.ts";

export function cmdCompletion(positionals: string[], io: Io): number {
  const shell = positionals[0];
  if (shell === "bash") io.out(bashCompletion(VERBS).trimEnd());
  else if (shell === "zsh") io.out(zshCompletion(VERBS, SHELLS).trimEnd());
  else throw new UsageError(`no completion for shell "${shell ?? ""}" (shells: ${SHELLS.join(", ")})`);
  return EXIT.ok;
}

export function cmdMan(io: Io): number {
  io.out(manPage(VERBS, VERSION).trimEnd());
  return EXIT.ok;
}
