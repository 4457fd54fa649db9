/**
 * The one place that reaches libc through FFI (Bun's `bun:ffi`).
 *
 * Raw IP sockets (VRRP) and AF_PACKET frames (gratuitous ARP) need system
 * calls that node:dgram and node:net do not offer. Only the Bun runtime, and
 * so the compiled vigil binary, has FFI; everything else gets a
 * FfiUnavailableError that says so, instead of a crash.
 *
 * `bun:ffi` is imported lazily through a computed specifier: Node (vitest) and
 * Deno can then import this module, and everything above it, without ever
 * resolving `bun:ffi`. For the same reason the few FFI types used here are
 * declared structurally instead of imported from Bun's type package.
 *
 * Blocking calls (poll with a timeout, recvfrom without MSG_DONTWAIT) must
 * never run on the main thread: they freeze the event loop. startFfiWorker
 * runs such loops in a Worker.
 */

export const LIBC_PATH = "libc.so.6";

/**
 * The libc functions vigil uses (Linux, glibc, x86-64 and arm64 ABI).
 * Plain data, so a Worker can receive it and open the same table.
 */
export const LIBC_SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
  recvfrom: { args: ["i32", "ptr", "u64", "i32", "ptr", "ptr"], returns: "i64" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  if_nametoindex: { args: ["ptr"], returns: "u32" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
} as const;

/** A pointer argument: Bun passes a TypedArray's memory, or null for NULL. */
type PtrArg = Uint8Array | Int32Array | null;

/** libc as bun:ffi hands it out, typed for the calls above. */
export interface LibcSymbols {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: PtrArg, length: number): number;
  bind(fd: number, addr: PtrArg, length: number): number;
  sendto(fd: number, buf: PtrArg, length: number, flags: number, addr: PtrArg, addrLength: number): bigint | number;
  recvfrom(fd: number, buf: PtrArg, length: number, flags: number, addr: PtrArg, addrLength: PtrArg): bigint | number;
  poll(fds: PtrArg, count: number, timeoutMs: number): number;
  close(fd: number): number;
  if_nametoindex(name: PtrArg): number;
  __errno_location(): number | bigint | null;
  strerror(errno: number): unknown;
}

/** The part of the `bun:ffi` module vigil touches. */
export interface FfiModule {
  dlopen(path: string, symbols: typeof LIBC_SYMBOLS): { symbols: unknown; close(): void };
  read: { i32(ptr: number | bigint, byteOffset?: number): number };
}

/** What a function run by startFfiWorker gets: FFI, and libc opened in the Worker's own thread. */
export interface FfiWorkerEnv {
  ffi: FfiModule;
  libc: LibcSymbols;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

/** "Deno 2.1.4", "Node 20.19.0", "Bun 1.2.0": for messages. */
function runtimeName(): string {
  const g = globalThis as { Deno?: { version?: { deno?: string } }; Bun?: { version?: string } };
  if (g.Deno !== undefined) return `Deno ${g.Deno.version?.deno ?? ""}`.trim();
  if (g.Bun !== undefined) return `Bun ${g.Bun.version ?? ""}`.trim();
  return typeof process === "object" && process.versions?.node !== undefined ? `Node ${process.versions.node}` : "this runtime";
}

/** This runtime cannot do FFI: it is not Bun (Node, Deno), or libc could not be opened. */
export class FfiUnavailableError extends Error {
  readonly feature: string;
  constructor(feature: string, detail?: string) {
    super(`${feature} needs the vigil binary (bun:ffi); ${runtimeName()} cannot provide it${detail === undefined ? "" : ` (${detail})`}`);
    this.name = "FfiUnavailableError";
    this.feature = feature;
  }
}

/** A system call failed; errno and its name say why. */
export class SyscallError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;
  constructor(call: string, errno: number, reason: string) {
    super(`${call} failed: ${errnoName(errno)} (${reason})`);
    this.name = "SyscallError";
    this.call = call;
    this.errno = errno;
    this.code = errnoName(errno);
  }
}

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  113: "EHOSTUNREACH",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** Thin wrappers that turn -1 returns into SyscallError. */
export interface Libc {
  readonly symbols: LibcSymbols;
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, what: string): void;
  bind(fd: number, addr: Uint8Array): void;
  /** Returns the bytes sent. */
  sendto(fd: number, data: Uint8Array, flags: number, addr: Uint8Array): number;
  close(fd: number): void;
  /** 0 when there is no such interface. */
  ifNameToIndex(name: string): number;
}

let cachedFfi: FfiModule | undefined;
let cachedLibc: Libc | undefined;

/** Loads `bun:ffi`, or rejects with FfiUnavailableError naming the feature that needed it. */
export async function loadFfi(feature: string): Promise<FfiModule> {
  if (cachedFfi !== undefined) return cachedFfi;
  if (typeof (globalThis as { Bun?: unknown }).Bun === "undefined") throw new FfiUnavailableError(feature);
  // Computed so that bundlers and type checkers for other runtimes leave it alone.
  const specifier = ["bun", "ffi"].join(":");
  try {
    cachedFfi = (await import(specifier)) as FfiModule;
  } catch (e) {
    throw new FfiUnavailableError(feature, e instanceof Error ? e.message : String(e));
  }
  return cachedFfi;
}

/** Opens libc once per process (per thread: Workers open their own through startFfiWorker). */
export async function loadLibc(feature: string): Promise<Libc> {
  if (cachedLibc !== undefined) return cachedLibc;
  const ffi = await loadFfi(feature);
  let symbols: LibcSymbols;
  try {
    symbols = ffi.dlopen(LIBC_PATH, LIBC_SYMBOLS).symbols as LibcSymbols;
  } catch (e) {
    throw new FfiUnavailableError(feature, `cannot open ${LIBC_PATH}: ${e instanceof Error ? e.message : String(e)}`);
  }
  cachedLibc = wrapLibc(ffi, symbols);
  return cachedLibc;
}

/**
 * Opens libc with a feature's own table of symbols (a feature declares only
 * the calls it makes; the table must include `__errno_location`), and reads
 * errno for it. For features that call libc outside the shared LIBC_SYMBOLS.
 */
export async function openLibcTable(feature: string, table: Record<string, unknown>): Promise<{ symbols: unknown; errno(): number }> {
  const ffi = (await loadFfi(feature)) as unknown as { dlopen(path: string, t: unknown): { symbols: unknown }; read: FfiModule["read"] };
  let symbols: { __errno_location(): number | bigint | null };
  try {
    symbols = ffi.dlopen(LIBC_PATH, table).symbols as typeof symbols;
  } catch (e) {
    throw new FfiUnavailableError(feature, `cannot open ${LIBC_PATH}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    symbols,
    errno() {
      const at = symbols.__errno_location();
      return at === null ? -1 : ffi.read.i32(at, 0);
    },
  };
}

/** NUL-terminated copy of a string, for `const char *` arguments. */
export function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function wrapLibc(ffi: FfiModule, s: LibcSymbols): Libc {
  const errno = (): number => {
    const at = s.__errno_location();
    return at === null ? 0 : ffi.read.i32(at, 0);
  };
  const fail = (call: string): SyscallError => {
    const n = errno();
    return new SyscallError(call, n, String(s.strerror(n) ?? "unknown error"));
  };
  return {
    symbols: s,
    socket(domain, type, protocol) {
      const fd = s.socket(domain, type, protocol);
      if (fd < 0) throw fail("socket");
      return fd;
    },
    setsockopt(fd, level, name, value, what) {
      if (s.setsockopt(fd, level, name, value, value.length) !== 0) throw fail(`setsockopt ${what}`);
    },
    bind(fd, addr) {
      if (s.bind(fd, addr, addr.length) !== 0) throw fail("bind");
    },
    sendto(fd, data, flags, addr) {
      const n = Number(s.sendto(fd, data, data.length, flags, addr, addr.length));
      if (n < 0) throw fail("sendto");
      return n;
    },
    close(fd) {
      if (s.close(fd) !== 0) throw fail("close");
    },
    ifNameToIndex(name) {
      return s.if_nametoindex(cString(name));
    },
  };
}

/** Messages a Worker body posts; `transfer` hands buffers over without a copy. */
export type WorkerPost = (message: unknown, transfer?: ArrayBuffer[]) => void;

/**
 * Runs `body` in a Worker that has `bun:ffi` and its own libc handle.
 *
 * `body` must be self-contained: it is shipped as source text (its
 * toString()), so it may use only its parameters and globals, never names
 * from this module. The Worker is built from a Blob rather than from this
 * file's URL because, inside the compiled binary, a module's URL is the whole
 * bundle: a Worker started from it would run vigil's entry point again.
 * `data` is structured-cloned (SharedArrayBuffers stay shared).
 * The returned Worker first posts `{ type: "ffi-worker-started" }`, then
 * whatever `body` posts; after `body` returns it posts
 * `{ type: "ffi-worker-exit" }`, or `{ type: "ffi-worker-error", message }` if it threw.
 */
export async function startFfiWorker<D>(
  feature: string,
  body: (env: FfiWorkerEnv, data: D, post: WorkerPost) => void,
  data: D,
): Promise<Worker> {
  await loadFfi(feature);
  const source = [
    `import * as ffi from ${JSON.stringify(["bun", "ffi"].join(":"))};`,
    `const body = (${body.toString()});`,
    `const post = (m, t) => self.postMessage(m, t ?? []);`,
    `self.onmessage = (event) => {`,
    `  self.onmessage = null;`,
    `  post({ type: "ffi-worker-started" });`,
    `  const { path, symbols, data } = event.data;`,
    `  let lib;`,
    `  try {`,
    `    lib = ffi.dlopen(path, symbols);`,
    `    const libc = lib.symbols;`,
    `    const errno = () => { const at = libc.__errno_location(); return at === null ? 0 : ffi.read.i32(at, 0); };`,
    `    body({ ffi, libc, errno }, data, post);`,
    `    post({ type: "ffi-worker-exit" });`,
    `  } catch (e) {`,
    `    post({ type: "ffi-worker-error", message: e instanceof Error ? e.message : String(e) });`,
    `  } finally {`,
    `    if (lib !== undefined) lib.close();`,
    `  }`,
    `};`,
  ].join("\n");
  const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
  let worker: Worker;
  try {
    worker = new Worker(url);
  } catch (e) {
    URL.revokeObjectURL(url);
    throw e;
  }
  // The Worker loads its script asynchronously: the URL must live until it has.
  const revoke = (): void => {
    URL.revokeObjectURL(url);
    worker.removeEventListener("message", revoke);
    worker.removeEventListener("error", revoke);
  };
  worker.addEventListener("message", revoke);
  worker.addEventListener("error", revoke);
  worker.postMessage({ path: LIBC_PATH, symbols: LIBC_SYMBOLS, data });
  return worker;
}
