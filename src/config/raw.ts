/**
 * Careful readers of not-yet-validated config data: the cross-field checks
 * run even when the schema check failed, so every access must tolerate any
 * shape and simply skip what is not what it should be.
 */
export type Rec = Record<string, unknown>;

export function isRec(x: unknown): x is Rec {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

export function rec(x: unknown): Rec {
  return isRec(x) ? x : {};
}

export function items(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

export function str(x: unknown): string | undefined {
  return typeof x === "string" ? x : undefined;
}

export function int(x: unknown): number | undefined {
  return typeof x === "number" && Number.isInteger(x) ? x : undefined;
}
