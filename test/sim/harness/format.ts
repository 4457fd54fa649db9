/** Compact, deterministic text for trace lines (bigints, byte arrays, long values). */
const MAX = 240;

export function brief(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === "bigint") return `${v}n`;
      if (v instanceof Uint8Array) return `<${v.length} bytes>`;
      return v;
    }) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX ? `${text.slice(0, MAX)}...` : text;
}

export function ms(t: number): string {
  return Number.isInteger(t) ? `${t}` : t.toFixed(3);
}
