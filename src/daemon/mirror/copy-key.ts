/**
 * Which record in the state dir holds a folder's copy (its copy record,
 * ALONE journal and resync checkpoint: STATE_DIR/mirror/KEY/). A module
 * with one folder keeps it under the module's name; with several, each
 * folder's is keyed by its path, so a folder added, removed or moved in the
 * list never takes another folder's generations.
 *
 * A module that goes from one folder to several (or back) changes the key
 * of the folder that stays. Left there, that folder would lose its
 * generations on both nodes and meet its peer as a new copy (rule 7): a
 * full compare of data that is in sync, none served when both hold files,
 * and a stale copy taken as the source when its node is preferred. So the
 * record under the other key is taken when it is this folder's: a per-folder
 * key names its folder; the module's one record names it inside (saved with
 * it). A record under the module's name that names no folder (saved by an
 * older release) is not taken: which folder it was of is not known, and a
 * wrong guess would give a new folder another's generations, two different
 * trees then counting as in sync. Of two records of this folder, the one
 * saved last.
 */
import { recordOrigin } from "./copy-file.ts";

export function copyKeyFor(stateDir: string, module: string, folder: string, several: boolean): string {
  const own = several ? `${module}@${folder}` : module;
  const other = several ? module : `${module}@${folder}`;
  const theirs = recordOrigin(stateDir, other);
  if (theirs === "absent" || theirs === "unusable") return own;
  if (several && theirs.folder !== folder) return own;
  const ours = recordOrigin(stateDir, own);
  // An unusable record of our own key is reported as it always was, never stepped over.
  if (ours === "unusable") return own;
  if (ours === "absent") return other;
  return theirs.savedAt > ours.savedAt ? other : own;
}
