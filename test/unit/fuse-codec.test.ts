import { describe, expect, it } from "vitest";
import { Errno, Fattr, Opcode, SIZE } from "../../src/sys/fuse/abi.ts";
import { FuseDecodeError, decodeRequest, expectsReply } from "../../src/sys/fuse/decode.ts";
import {
  DirentWriter,
  direntSize,
  encodeAttr,
  encodeCreate,
  encodeEntry,
  encodeError,
  encodeInit,
  encodeOpen,
  encodeStatfs,
  encodeWrite,
  encodeXattrSize,
  replyFrame,
  trimFrame,
  type FuseAttr,
} from "../../src/sys/fuse/encode.ts";
import { fuseConnectionName, parseMountinfo } from "../../src/sys/fuse/mountinfo.ts";
import { request } from "./fuse-requests.ts";

const decode = (bytes: Uint8Array) => decodeRequest(bytes, bytes.length);

describe("FUSE request decoding", () => {
  it("reads fuse_in_header", () => {
    const r = decode(request(Opcode.LOOKUP, ["name"], { nodeid: 9n, unique: 123456789012n }));
    expect(r.header).toEqual({ len: 45, opcode: Opcode.LOOKUP, unique: 123456789012n, nodeid: 9n, uid: 1000, gid: 100, pid: 4242 });
    expect(r.args).toEqual({ op: "lookup", name: new TextEncoder().encode("name") });
  });

  it("decodes INIT", () => {
    const r = decode(request(Opcode.INIT, [7, 45, 131072, 0x73fffffb, 0x3f, ...Array(11).fill(0)]));
    expect(r.args).toEqual({ op: "init", major: 7, minor: 45, maxReadahead: 131072, flags: 0x73fffffb, flags2: 0x3f });
    // An old kernel's 16-byte fuse_init_in has no flags2.
    expect(decode(request(Opcode.INIT, [7, 31, 131072, 0x1])).args).toMatchObject({ flags2: 0 });
  });

  it("decodes WRITE with its data right after the 40-byte fuse_write_in", () => {
    const data = new Uint8Array([1, 2, 3, 4, 5]);
    const bytes = request(Opcode.WRITE, [5n, 4096n, 5, 4, 0n, 0x8001, 0, data], { nodeid: 3n });
    expect(bytes.length).toBe(40 + 40 + 5);
    const r = decode(bytes);
    expect(r.args).toEqual({ op: "write", fh: 5n, offset: 4096, writeFlags: 4, data });
  });

  it("decodes SETATTR with nanosecond times, negative seconds included", () => {
    const body = [Fattr.MODE | Fattr.MTIME | Fattr.SIZE, 0, 7n, 1000n, 0n, 11n, -2n, 13n, 1, 999_999_999, 3, 0o100644, 0, 65534, 65534, 0];
    const bytes = request(Opcode.SETATTR, body);
    expect(bytes.length - SIZE.inHeader).toBe(SIZE.setattrIn);
    const r = decode(bytes);
    expect(r.args).toEqual({
      op: "setattr",
      valid: Fattr.MODE | Fattr.MTIME | Fattr.SIZE,
      fh: 7n,
      size: 1000,
      atimeNs: 11_000_000_001n,
      mtimeNs: -2_000_000_000n + 999_999_999n,
      mode: 0o100644,
      uid: 65534,
      gid: 65534,
    });
  });

  it("decodes the two names of RENAME and RENAME2, and their flags", () => {
    expect(decode(request(Opcode.RENAME, [8n, "a", "b"])).args).toEqual({
      op: "rename",
      newDir: 8n,
      flags: 0,
      oldName: new TextEncoder().encode("a"),
      newName: new TextEncoder().encode("b"),
    });
    const r2 = decode(request(Opcode.RENAME2, [8n, 2, 0, "a", "b"]));
    expect(r2.args).toMatchObject({ op: "rename", newDir: 8n, flags: 2 });
  });

  it("keeps names as raw bytes, not UTF-8", () => {
    const raw = new Uint8Array([0x63, 0xe9, 0xff, 0x01, 0]);
    const r = decode(request(Opcode.MKDIR, [0o755, 0o22, raw]));
    expect(r.args).toEqual({ op: "mkdir", name: raw.subarray(0, 4), mode: 0o755, umask: 0o22 });
  });

  it("decodes SYMLINK (name first, then target), MKNOD, CREATE, LINK", () => {
    expect(decode(request(Opcode.SYMLINK, ["ln", "../target"])).args).toEqual({
      op: "symlink",
      name: new TextEncoder().encode("ln"),
      target: new TextEncoder().encode("../target"),
    });
    expect(decode(request(Opcode.MKNOD, [0o10644, 0x0103, 0o22, 0, "fifo"])).args).toMatchObject({ op: "mknod", mode: 0o10644, rdev: 0x0103, umask: 0o22 });
    expect(decode(request(Opcode.CREATE, [0o101, 0o100644, 0o22, 1, "f"])).args).toMatchObject({ op: "create", flags: 0o101, mode: 0o100644, openFlags: 1 });
    expect(decode(request(Opcode.LINK, [12n, "h"])).args).toMatchObject({ op: "link", oldNodeid: 12n });
  });

  it("decodes xattr requests: the value follows the name, its size from fuse_setxattr_in", () => {
    const value = new Uint8Array([0, 1, 2]);
    expect(decode(request(Opcode.SETXATTR, [3, 1, "user.k", value])).args).toEqual({
      op: "setxattr",
      name: new TextEncoder().encode("user.k"),
      value,
      flags: 1,
    });
    expect(decode(request(Opcode.GETXATTR, [0, 0, "user.k"])).args).toMatchObject({ op: "getxattr", size: 0 });
    expect(decode(request(Opcode.LISTXATTR, [4096, 0])).args).toEqual({ op: "listxattr", size: 4096 });
  });

  it("decodes BATCH_FORGET, FSYNC, FALLOCATE, READ", () => {
    expect(decode(request(Opcode.BATCH_FORGET, [2, 0, 5n, 1n, 6n, 3n])).args).toEqual({
      op: "batchForget",
      items: [
        { nodeid: 5n, nlookup: 1n },
        { nodeid: 6n, nlookup: 3n },
      ],
    });
    expect(decode(request(Opcode.FSYNC, [4n, 1, 0])).args).toEqual({ op: "fsync", fh: 4n, dataOnly: true });
    expect(decode(request(Opcode.FALLOCATE, [4n, 10n, 20n, 3, 0])).args).toEqual({ op: "fallocate", fh: 4n, offset: 10, length: 20, mode: 3 });
    expect(decode(request(Opcode.READ, [4n, 8192n, 4096, 0, 0n, 0, 0])).args).toEqual({ op: "read", fh: 4n, offset: 8192, size: 4096 });
  });

  it("passes operations it does not implement through as unsupported", () => {
    expect(decode(request(Opcode.IOCTL, [0, 0, 0, 0])).args).toEqual({ op: "unsupported", opcode: Opcode.IOCTL });
    expect(expectsReply(Opcode.FORGET)).toBe(false);
    expect(expectsReply(Opcode.BATCH_FORGET)).toBe(false);
    expect(expectsReply(Opcode.INTERRUPT)).toBe(false);
    expect(expectsReply(Opcode.WRITE)).toBe(true);
  });

  it("rejects malformed requests with FuseDecodeError only, keeping the unique id when it has one", () => {
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array(39),
      request(Opcode.LOOKUP, [new Uint8Array([0x61, 0x62])]), // no NUL
      request(Opcode.LOOKUP, [""]), // empty name
      request(Opcode.WRITE, [5n, 0n, 100, 0, 0n, 0, 0, new Uint8Array(10)]), // data shorter than size
      request(Opcode.SETATTR, [1, 0]),
      request(Opcode.READ, [1n, 2n ** 60n, 1, 0, 0n, 0, 0]), // offset beyond 2^53
      request(Opcode.BATCH_FORGET, [1000, 0, 1n]),
      request(Opcode.RENAME, [1n, "only-one"]),
    ];
    for (const bytes of cases) {
      let thrown: unknown;
      try {
        decode(bytes);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, `case of ${bytes.length} bytes`).toBeInstanceOf(FuseDecodeError);
      if (bytes.length >= SIZE.inHeader) expect((thrown as FuseDecodeError).unique).toBe(77n);
    }
    // Header length that disagrees with what read() returned.
    const r = request(Opcode.GETATTR, [0, 0, 0n]);
    expect(() => decodeRequest(r, r.length - 1)).toThrow(FuseDecodeError);
  });

  it("never throws anything else on random bytes", () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 3000; i++) {
      const len = SIZE.inHeader + (rnd() % 200);
      const bytes = new Uint8Array(len);
      for (let j = 0; j < len; j++) bytes[j] = rnd() & 0xff;
      const v = new DataView(bytes.buffer);
      v.setUint32(0, len, true);
      v.setUint32(4, (rnd() % 52) + 1, true);
      try {
        decode(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(FuseDecodeError);
      }
    }
  });
});

const attr: FuseAttr = {
  ino: 0x1122334455n,
  size: 4096n,
  blocks: 8n,
  atimeNs: 1_700_000_000_123_456_789n,
  mtimeNs: -1n,
  ctimeNs: 5n,
  mode: 0o100644,
  nlink: 2,
  uid: 1000,
  gid: 100,
  rdev: 0,
  blksize: 4096,
};

describe("FUSE reply encoding", () => {
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

  it("writes fuse_out_header with -errno", () => {
    const b = encodeError(99n, Errno.ENOENT);
    expect(b.length).toBe(16);
    expect(view(b).getUint32(0, true)).toBe(16);
    expect(view(b).getInt32(4, true)).toBe(-2);
    expect(view(b).getBigUint64(8, true)).toBe(99n);
  });

  it("lays out fuse_entry_out (128 bytes) and fuse_attr (88 bytes at offset 40)", () => {
    const b = encodeEntry(1n, { nodeid: 42n, generation: 3n, entryValidNs: 1_500_000_000n, attrValidNs: 2_000_000_001n, attr });
    expect(b.length).toBe(16 + 128);
    const v = view(b);
    expect(v.getBigUint64(16, true)).toBe(42n);
    expect(v.getBigUint64(24, true)).toBe(3n);
    expect(v.getBigUint64(32, true)).toBe(1n); // entry_valid
    expect(v.getBigUint64(40, true)).toBe(2n); // attr_valid
    expect(v.getUint32(48, true)).toBe(500_000_000);
    expect(v.getUint32(52, true)).toBe(1);
    const a = 16 + 40;
    expect(v.getBigUint64(a, true)).toBe(0x1122334455n);
    expect(v.getBigUint64(a + 24, true)).toBe(1_700_000_000n);
    expect(v.getUint32(a + 48, true)).toBe(123_456_789);
    // -1 ns is one nanosecond before the epoch: seconds -1, nanoseconds 999999999.
    expect(v.getBigInt64(a + 32, true)).toBe(-1n);
    expect(v.getUint32(a + 52, true)).toBe(999_999_999);
    expect(v.getUint32(a + 60, true)).toBe(0o100644);
    expect(v.getUint32(a + 64, true)).toBe(2);
    expect(v.getUint32(a + 68, true)).toBe(1000);
    expect(v.getUint32(a + 72, true)).toBe(100);
    expect(v.getUint32(a + 80, true)).toBe(4096);
  });

  it("sizes every reply as linux/fuse.h does", () => {
    expect(encodeAttr(1n, 0n, attr).length).toBe(16 + SIZE.attrOut);
    expect(encodeOpen(1n, 5n, 2).length).toBe(16 + 16);
    expect(encodeCreate(1n, { nodeid: 2n, generation: 0n, entryValidNs: 0n, attrValidNs: 0n, attr }, 5n, 0).length).toBe(16 + 128 + 16);
    expect(encodeWrite(1n, 10).length).toBe(16 + 8);
    expect(encodeXattrSize(1n, 10).length).toBe(16 + 8);
    const st = encodeStatfs(1n, { blocks: 1n, bfree: 2n, bavail: 3n, files: 4n, ffree: 5n, bsize: 4096, namelen: 255, frsize: 4096 });
    expect(st.length).toBe(16 + 80);
    expect(view(st).getUint32(16 + 44, true)).toBe(255);
    const init = encodeInit(1n, { maxReadahead: 131072, flags: 0x440029, maxBackground: 64, congestionThreshold: 48, maxWrite: 1 << 20, timeGran: 1, maxPages: 256 });
    expect(init.length).toBe(16 + 64);
    expect(view(init).getUint32(16, true)).toBe(7);
    expect(view(init).getUint32(20, true)).toBe(31);
    expect(view(init).getUint32(16 + 20, true)).toBe(1 << 20);
    expect(view(init).getUint16(16 + 28, true)).toBe(256);
  });

  it("trims a READ frame to what was read", () => {
    const { frame } = replyFrame(5n, 4096);
    const out = trimFrame(frame, 10);
    expect(out.length).toBe(26);
    expect(view(out).getUint32(0, true)).toBe(26);
  });

  it("packs dirents 8-byte aligned and stops when the next does not fit", () => {
    expect(direntSize(1)).toBe(32);
    expect(direntSize(8)).toBe(32);
    expect(direntSize(9)).toBe(40);
    const w = new DirentWriter(3n, 64);
    expect(w.add(10n, 1, 4, new Uint8Array([0x2e]))).toBe(true);
    expect(w.add(11n, 2, 8, new TextEncoder().encode("abcdefgh"))).toBe(true);
    expect(w.add(12n, 3, 8, new Uint8Array([0x7a]))).toBe(false);
    const b = w.finish();
    expect(b.length).toBe(16 + 64);
    const v = view(b);
    expect(v.getBigUint64(16, true)).toBe(10n);
    expect(v.getBigUint64(24, true)).toBe(1n);
    expect(v.getUint32(32, true)).toBe(1);
    expect(v.getUint32(36, true)).toBe(4);
    expect(b[40]).toBe(0x2e);
    expect(v.getBigUint64(48, true)).toBe(11n);
  });
});

describe("mountinfo", () => {
  const text = [
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "301 22 0:63 / /srv/my\\040data rw,nosuid,nodev,relatime shared:170 - fuse.vigil vigil:vms rw,user_id=0,group_id=0,default_permissions,allow_other",
    "302 301 0:1300 / /srv/my\\040data rw - fuse.vigil vigil:vms rw",
    "garbage line",
    "",
  ].join("\n");

  it("parses entries, unescapes mount points, skips malformed lines", () => {
    const m = parseMountinfo(text);
    expect(m).toHaveLength(3);
    expect(m[1]).toEqual({ id: 301, major: 0, minor: 63, mountPoint: "/srv/my data", fsType: "fuse.vigil", source: "vigil:vms" });
  });

  it("names the fusectl connection by the kernel's device number", () => {
    expect(fuseConnectionName({ major: 0, minor: 63 })).toBe("63");
    expect(fuseConnectionName({ major: 0, minor: 1300 })).toBe("1300");
    expect(fuseConnectionName({ major: 1, minor: 2 })).toBe(String((1 << 20) + 2));
  });
});
