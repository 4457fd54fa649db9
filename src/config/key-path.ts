/** One step into the config: a mapping key or a list index. */
export type Segment = string | number;

/** ["cluster", "nodes", 1, "name"] -> "cluster.nodes[1].name", the spelling every error message uses. */
export function formatKeyPath(path: readonly Segment[]): string {
  let out = "";
  for (const s of path) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? s : `.${s}`;
  }
  return out;
}
