/**
 * The resume point of an interrupted resync, written crash-safely (temp
 * file, fsync, rename, fsync of the folder). It names the last regular file,
 * in manifest order, whose data was sent and acknowledged: a resumed resync
 * does not look at those files again unless they changed since (the journal
 * says so). A checkpoint that cannot be read is ignored: the resync starts
 * over, which costs time, never correctness.
 */

import { promises as fsp } from "node:fs";
import { dirname } from "node:path";
import { pathKey } from "../core/mirror/resync-plan.ts";
import type { RelPath } from "./ops.ts";

export interface ResyncCheckpoint {
  readonly mode: "full" | "journal";
  readonly checksumAll: boolean;
  /** Files up to this one (manifest order) are done. */
  readonly doneThrough: RelPath;
}

export async function loadCheckpoint(file: string): Promise<ResyncCheckpoint | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as { version?: unknown; mode?: unknown; checksumAll?: unknown; doneThrough?: unknown };
    if (v.version !== 1 || (v.mode !== "full" && v.mode !== "journal") || typeof v.checksumAll !== "boolean" || typeof v.doneThrough !== "string" || !/^([0-9a-f]{2})*$/.test(v.doneThrough)) return null;
    return { mode: v.mode, checksumAll: v.checksumAll, doneThrough: new Uint8Array(Buffer.from(v.doneThrough, "hex")) };
  } catch {
    return null;
  }
}

export async function saveCheckpoint(file: string, c: ResyncCheckpoint): Promise<void> {
  const tmp = `${file}.tmp`;
  const body = JSON.stringify({ version: 1, mode: c.mode, checksumAll: c.checksumAll, doneThrough: Buffer.from(c.doneThrough).toString("hex") });
  const fh = await fsp.open(tmp, "w", 0o600);
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  const dir = await fsp.open(dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function removeCheckpoint(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
}

/** Whether the file at `key` is at or before the checkpoint. */
export function checkpointKey(c: ResyncCheckpoint): string {
  return pathKey(c.doneThrough);
}

