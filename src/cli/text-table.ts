/** Left-aligned columns two spaces apart, or one line in brackets when there are no rows. */
export function table(head: string[], rows: string[][], empty: string): string[] {
  if (rows.length === 0) return [`(${empty})`];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}
