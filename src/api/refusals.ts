/**
 * Refusals every surface (CLI, console, daemon) words the same way, so the
 * operator reads one text whichever door they came through.
 */

/** Why forceprim wants an explicit yes. */
export const FORCEPRIM_RISK =
  "forceprim makes this node PRIM even though the usual rules say no (peers unknown, isolated without a witness, a failed start). " +
  "If another node still runs the module, both nodes serve clients and write the same data (split brain), which can lose or corrupt data.";

/** How a surface spells the acknowledgement and the safe alternative. */
export interface ForceprimWords {
  /** `--yes` on the command line, `{"yes": true}` in an HTTP request. */
  readonly yes: string;
  /** `vigil prim` on the command line, `prim` elsewhere. */
  readonly prim: string;
}

/** forceprim without its acknowledgement. */
export function forceprimRefusal(words: ForceprimWords): string {
  return (
    `forceprim refused: ${words.yes} is missing. ${FORCEPRIM_RISK} ` +
    `Use it only when you know the other nodes are down or cut off from the clients; otherwise use ${words.prim}. ` +
    `Repeat it with ${words.yes} once you are sure no other node runs it.`
  );
}
