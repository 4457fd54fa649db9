/**
 * Rebuilds an entry of the backing folder as MirrorOps, for an entry that
 * enters the copy from an excluded name (see exclude.ts): the SECOND never
 * had its source, so it gets the entry itself (folder tree, file contents,
 * links, special files, owners, modes, times) under another name. Runs on
 * the FUSE server's thread, synchronously, like every other handler.
 * Extended attributes are not carried over this way.
 */
import * as fs from "node:fs";
import type { ExcludeTest } from "./exclude.ts";
import type { MirrorOp, RelPath } from "./ops.ts";

const CHUNK = 1 << 20;
const SLASH = 0x2f;

function join(dir: RelPath, name: Uint8Array): RelPath {
  const out = new Uint8Array(dir.length + 1 + name.length);
  out.set(dir, 0);
  out[dir.length] = SLASH;
  out.set(name, dir.length + 1);
  return out;
}

/**
 * Ops that create at `as` what the backing folder holds at `path`.
 * `backing` maps a RelPath to the path that reaches it beneath the mount.
 */
export function materializeEntry(backing: (rel: RelPath) => Buffer, path: RelPath, as: RelPath, excluded: ExcludeTest): MirrorOp[] {
  const out: MirrorOp[] = [];
  const walk = (src: RelPath, dst: RelPath): void => {
    const at = backing(src);
    const st = fs.lstatSync(at, { bigint: true });
    const owner = { uid: Number(st.uid), gid: Number(st.gid) };
    const mode = Number(st.mode) & 0o7777;
    if (st.isDirectory()) {
      out.push({ op: "mkdir", path: dst, mode, ...owner });
      for (const name of fs.readdirSync(at, { encoding: "buffer" })) {
        const child = join(src, name);
        if (!excluded(child)) walk(child, join(dst, name));
      }
    } else if (st.isFile()) {
      out.push({ op: "create", path: dst, mode, ...owner });
      const fd = fs.openSync(at, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const size = Number(st.size);
        for (let offset = 0; offset < size; offset += CHUNK) {
          const data = new Uint8Array(Math.min(CHUNK, size - offset));
          const n = fs.readSync(fd, data, 0, data.length, offset);
          // Holes stay holes: an all-zero chunk is left to the final size.
          if (n > 0 && data.subarray(0, n).some((b) => b !== 0)) out.push({ op: "write", path: dst, offset, data: n === data.length ? data : data.slice(0, n), mtimeNs: st.mtimeNs });
        }
        out.push({ op: "truncate", path: dst, size, mtimeNs: st.mtimeNs });
      } finally {
        fs.closeSync(fd);
      }
    } else if (st.isSymbolicLink()) {
      out.push({ op: "symlink", path: dst, target: new Uint8Array(fs.readlinkSync(at, { encoding: "buffer" })), ...owner });
    } else {
      out.push({ op: "mknod", path: dst, mode: Number(st.mode), rdev: Number(st.rdev), ...owner });
    }
    if (!st.isSymbolicLink()) out.push({ op: "chmod", path: dst, mode });
    out.push({ op: "utimes", path: dst, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs });
  };
  walk(path, as);
  return out;
}
