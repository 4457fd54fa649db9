/**
 * keepalived's track_file: an integer in a file that moves the priority.
 *
 * keepalived's rules (keepalived.conf(5), "Track files"):
 * - weight 0: a non-zero value is a failure (the instance goes to FAULT),
 *   0 is fine;
 * - any other weight: value x weight is added to the priority, which stays
 *   within 1..254; a product below -253 puts the instance in FAULT.
 * A file that is missing or holds no integer counts as a failure with
 * weight 0 and as "no change" otherwise, and is reported.
 *
 * The VRRP core (src/core/vrrp/track.ts) knows only objects that are up or
 * down with a fixed weight. A file's variable amount is therefore given to
 * it as binary digits: one object per power of two (1..128) for each sign,
 * up or down so that their weights add up to the amount, plus one weight-0
 * object for the FAULT case. fileTrackParts names them, fileTrackHealth
 * sets them.
 */
import { readFileSync } from "node:fs";

export type FileReading = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string };

/** Largest file contents we read; a number needs a few bytes. */
const MAX_BYTES = 4096;
const INTEGER = /^[+-]?[0-9]{1,10}$/;
/** keepalived: "if the result is less than -253 ... transition to the fault state". */
export const FILE_FAULT_BELOW = -253;
const BITS = [1, 2, 4, 8, 16, 32, 64, 128] as const;

/** The integer in `path` (surrounding whitespace allowed). Never throws. */
export function readTrackFile(path: string): FileReading {
  let text: string;
  try {
    const raw = readFileSync(path);
    if (raw.length > MAX_BYTES) return { ok: false, message: `track file ${path}: ${raw.length} bytes is too big for a number` };
    text = new TextDecoder().decode(raw).trim();
  } catch (e) {
    const c = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
    return { ok: false, message: `track file ${path}: ${c === "ENOENT" ? "no such file" : `cannot read it (${c || String(e)})`}` };
  }
  if (!INTEGER.test(text)) return { ok: false, message: `track file ${path}: holds ${JSON.stringify(text.slice(0, 20))}, not an integer` };
  return { ok: true, value: Number(text) };
}

export interface FileEffect {
  /** Amount added to the priority (0 with weight 0). */
  readonly delta: number;
  /** The instance must be in FAULT. */
  readonly fault: boolean;
}

/** keepalived's rule for one reading (null: unreadable). */
export function fileTrackEffect(value: number | null, weight: number): FileEffect {
  if (weight === 0) return { delta: 0, fault: value === null || value !== 0 };
  if (value === null) return { delta: 0, fault: false };
  const product = value * weight;
  if (product < FILE_FAULT_BELOW) return { delta: 0, fault: true };
  // Beyond +-254 the priority is pinned to 1 or 254 anyway.
  return { delta: Math.max(-255, Math.min(255, product)), fault: false };
}

export interface CoreTrack {
  readonly name: string;
  readonly weight: number;
}

const partName = (name: string, suffix: string): string => `${name}#${suffix}`;

/** The core tracked objects that stand for one file track (see the header). */
export function fileTrackParts(name: string, weight: number): CoreTrack[] {
  if (weight === 0) return [{ name, weight: 0 }];
  return [
    ...BITS.map((b) => ({ name: partName(name, `+${b}`), weight: b })),
    ...BITS.map((b) => ({ name: partName(name, `-${b}`), weight: -b })),
    { name: partName(name, "fault"), weight: 0 },
  ];
}

/** Up/down of each part so that the core adds `effect.delta`, or goes to FAULT. */
export function fileTrackHealth(name: string, weight: number, effect: FileEffect): Record<string, boolean> {
  if (weight === 0) return { [name]: !effect.fault };
  const health: Record<string, boolean> = { [partName(name, "fault")]: !effect.fault };
  const plus = effect.delta > 0 ? effect.delta : 0;
  const minus = effect.delta < 0 ? -effect.delta : 0;
  for (const b of BITS) {
    // A positive weight counts while up; a negative one while down.
    health[partName(name, `+${b}`)] = (plus & b) !== 0;
    health[partName(name, `-${b}`)] = (minus & b) === 0;
  }
  return health;
}
