/**
 * The struct sizes and field offsets vigil's FUSE codec uses, checked against
 * the kernel's own header (/usr/include/linux/fuse.h, package linux-libc-dev)
 * by compiling a small C program with the host's C compiler.
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Opcode, SIZE } from "../../src/sys/fuse/abi.ts";

const HEADER = "/usr/include/linux/fuse.h";

function compilerMissing(): string | null {
  if (!existsSync(HEADER)) return `${HEADER} is missing (apt-get install linux-libc-dev)`;
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return null;
  } catch {
    return "no C compiler (apt-get install gcc)";
  }
}

/** [our name, C expression] pairs: sizeof / offsetof values to compare. */
const SIZES: [keyof typeof SIZE, string][] = [
  ["inHeader", "sizeof(struct fuse_in_header)"],
  ["outHeader", "sizeof(struct fuse_out_header)"],
  ["attr", "sizeof(struct fuse_attr)"],
  ["entryOut", "sizeof(struct fuse_entry_out)"],
  ["attrOut", "sizeof(struct fuse_attr_out)"],
  ["openOut", "sizeof(struct fuse_open_out)"],
  ["writeOut", "sizeof(struct fuse_write_out)"],
  ["statfsOut", "sizeof(struct fuse_statfs_out)"],
  ["initIn", "sizeof(struct fuse_init_in)"],
  ["initOut", "sizeof(struct fuse_init_out)"],
  ["getxattrOut", "sizeof(struct fuse_getxattr_out)"],
  ["lseekOut", "sizeof(struct fuse_lseek_out)"],
  ["direntHeader", "offsetof(struct fuse_dirent, name)"],
  ["forgetIn", "sizeof(struct fuse_forget_in)"],
  ["forgetOne", "sizeof(struct fuse_forget_one)"],
  ["batchForgetIn", "sizeof(struct fuse_batch_forget_in)"],
  ["getattrIn", "sizeof(struct fuse_getattr_in)"],
  ["setattrIn", "sizeof(struct fuse_setattr_in)"],
  ["mknodIn", "sizeof(struct fuse_mknod_in)"],
  ["mkdirIn", "sizeof(struct fuse_mkdir_in)"],
  ["renameIn", "sizeof(struct fuse_rename_in)"],
  ["rename2In", "sizeof(struct fuse_rename2_in)"],
  ["linkIn", "sizeof(struct fuse_link_in)"],
  ["openIn", "sizeof(struct fuse_open_in)"],
  ["createIn", "sizeof(struct fuse_create_in)"],
  ["releaseIn", "sizeof(struct fuse_release_in)"],
  ["flushIn", "sizeof(struct fuse_flush_in)"],
  ["readIn", "sizeof(struct fuse_read_in)"],
  ["writeIn", "sizeof(struct fuse_write_in)"],
  ["fsyncIn", "sizeof(struct fuse_fsync_in)"],
  ["setxattrIn", "FUSE_COMPAT_SETXATTR_IN_SIZE"],
  ["getxattrIn", "sizeof(struct fuse_getxattr_in)"],
  ["accessIn", "sizeof(struct fuse_access_in)"],
  ["interruptIn", "sizeof(struct fuse_interrupt_in)"],
  ["fallocateIn", "sizeof(struct fuse_fallocate_in)"],
  ["lseekIn", "sizeof(struct fuse_lseek_in)"],
];

/** Offsets the encoder and decoder write and read directly (see encode.ts, decode.ts). */
const OFFSETS: [string, number][] = [
  ["offsetof(struct fuse_entry_out, attr)", 40],
  ["offsetof(struct fuse_attr_out, attr)", 16],
  ["offsetof(struct fuse_attr, mode)", 60],
  ["offsetof(struct fuse_attr, blksize)", 80],
  ["offsetof(struct fuse_attr, atimensec)", 48],
  ["offsetof(struct fuse_init_out, max_write)", 20],
  ["offsetof(struct fuse_init_out, time_gran)", 24],
  ["offsetof(struct fuse_init_out, max_pages)", 28],
  ["offsetof(struct fuse_init_out, flags2)", 32],
  ["offsetof(struct fuse_init_in, flags2)", 16],
  ["offsetof(struct fuse_setattr_in, atimensec)", 56],
  ["offsetof(struct fuse_setattr_in, mode)", 68],
  ["offsetof(struct fuse_setattr_in, uid)", 76],
  ["offsetof(struct fuse_write_in, write_flags)", 20],
  ["offsetof(struct fuse_kstatfs, namelen)", 44],
  ["offsetof(struct fuse_open_out, open_flags)", 8],
];

const OPCODES: [keyof typeof Opcode, string][] = (Object.keys(Opcode) as (keyof typeof Opcode)[]).map((k) => [k, `FUSE_${k}`]);

const missing = compilerMissing();

describe("FUSE ABI against linux/fuse.h", () => {
  it.skipIf(missing !== null)(`sizes, offsets and opcodes match the header${missing ? ` (skipped: ${missing})` : ""}`, () => {
    const exprs = [...SIZES.map(([, c]) => c), ...OFFSETS.map(([c]) => c), ...OPCODES.map(([, c]) => c)];
    const program = [
      "#include <stddef.h>",
      "#include <stdio.h>",
      "#include <linux/fuse.h>",
      "int main(void) {",
      ...exprs.map((e) => `  printf("%lu\\n", (unsigned long)(${e}));`),
      "  return 0;",
      "}",
    ].join("\n");
    const dir = mkdtempSync(join(tmpdir(), "vigil-fuse-abi-"));
    try {
      writeFileSync(join(dir, "abi.c"), program);
      execFileSync("cc", ["-o", join(dir, "abi"), join(dir, "abi.c")], { stdio: ["ignore", "ignore", "pipe"] });
      const values = execFileSync(join(dir, "abi"), { encoding: "utf8" }).trim().split("\n").map(Number);
      const got: Record<string, number> = {};
      const want: Record<string, number> = {};
      exprs.forEach((e, i) => (got[e] = values[i] ?? -1));
      for (const [ours, c] of SIZES) want[c] = SIZE[ours];
      for (const [c, n] of OFFSETS) want[c] = n;
      for (const [ours, c] of OPCODES) want[c] = Opcode[ours];
      expect(got).toEqual(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
