/**
 * The FUSE server's inode table: kernel nodeid → the backing object, found
 * again by the names it has (parent nodeid + name), keyed by the backing
 * (dev, ino) so every hard link of a file is one nodeid, and renames only
 * move a name. Lookup counts follow the kernel's (LOOKUP, CREATE, MKNOD,
 * MKDIR, SYMLINK, LINK add one; FORGET takes them back).
 *
 * Pure bookkeeping, no I/O.
 */

export const ROOT_NODEID = 1n;

interface Name {
  readonly parent: bigint;
  readonly name: Uint8Array;
}

interface Node {
  readonly id: bigint;
  readonly key: string;
  lookups: bigint;
  /** Every name known to lead to this object; the first one is used to reach it. */
  names: Name[];
}

/** Names as map keys: latin1 maps each byte to one char, so any bytes round-trip. */
function nameKey(parent: bigint, name: Uint8Array): string {
  let s = `${parent}/`;
  for (let i = 0; i < name.length; i += 4096) s += String.fromCharCode(...name.subarray(i, i + 4096));
  return s;
}

function inoKey(dev: bigint, ino: bigint): string {
  return `${dev}:${ino}`;
}

const SLASH = new Uint8Array([0x2f]);

export class NodeTable {
  private readonly nodes = new Map<bigint, Node>();
  private readonly byIno = new Map<string, bigint>();
  private readonly byName = new Map<string, bigint>();
  private nextId = 2n;

  constructor(rootDev: bigint, rootIno: bigint) {
    const key = inoKey(rootDev, rootIno);
    this.nodes.set(ROOT_NODEID, { id: ROOT_NODEID, key, lookups: 1n, names: [] });
    this.byIno.set(key, ROOT_NODEID);
  }

  has(id: bigint): boolean {
    return this.nodes.has(id);
  }

  get size(): number {
    return this.nodes.size;
  }

  /**
   * The name `parent/name` leads to the backing object (dev, ino): returns
   * its nodeid (new or known) and counts one kernel lookup.
   */
  found(parent: bigint, name: Uint8Array, dev: bigint, ino: bigint): bigint {
    const key = inoKey(dev, ino);
    const nk = nameKey(parent, name);
    const previous = this.byName.get(nk);
    let id = this.byIno.get(key);
    if (previous !== undefined && previous !== id) this.dropName(previous, parent, name);
    let node = id === undefined ? undefined : this.nodes.get(id);
    if (node === undefined) {
      id = this.nextId++;
      node = { id, key, lookups: 0n, names: [] };
      this.nodes.set(id, node);
      this.byIno.set(key, id);
    }
    if (this.byName.get(nk) !== node.id) {
      node.names.push({ parent, name: name.slice() });
      this.byName.set(nk, node.id);
    }
    node.lookups += 1n;
    return node.id;
  }

  /** The nodeid a name is known to lead to, if any. */
  child(parent: bigint, name: Uint8Array): bigint | undefined {
    return this.byName.get(nameKey(parent, name));
  }

  /** The kernel forgot `count` lookups of `id`. */
  forget(id: bigint, count: bigint): void {
    const node = this.nodes.get(id);
    if (node === undefined || id === ROOT_NODEID) return;
    node.lookups -= count;
    if (node.lookups > 0n) return;
    this.nodes.delete(id);
    if (this.byIno.get(node.key) === id) this.byIno.delete(node.key);
    for (const n of node.names) {
      const nk = nameKey(n.parent, n.name);
      if (this.byName.get(nk) === id) this.byName.delete(nk);
    }
  }

  /** `parent/name` no longer exists (unlink, rmdir, replaced by a rename). */
  removed(parent: bigint, name: Uint8Array): void {
    const nk = nameKey(parent, name);
    const id = this.byName.get(nk);
    if (id !== undefined) this.dropName(id, parent, name);
  }

  /** rename(2) without flags or with NOREPLACE: the object at `from` is now at `to`, whatever was at `to` is gone. */
  renamed(fromParent: bigint, fromName: Uint8Array, toParent: bigint, toName: Uint8Array): void {
    const id = this.byName.get(nameKey(fromParent, fromName));
    this.removed(toParent, toName);
    if (id === undefined) return;
    this.dropName(id, fromParent, fromName, true);
    const node = this.nodes.get(id);
    if (node === undefined) return;
    // The moved name becomes the way to reach it: the others may be stale hard links.
    node.names.unshift({ parent: toParent, name: toName.slice() });
    this.byName.set(nameKey(toParent, toName), id);
  }

  /** RENAME_EXCHANGE: the two names swap objects. */
  exchanged(aParent: bigint, aName: Uint8Array, bParent: bigint, bName: Uint8Array): void {
    const a = this.byName.get(nameKey(aParent, aName));
    const b = this.byName.get(nameKey(bParent, bName));
    if (a !== undefined) this.dropName(a, aParent, aName, true);
    if (b !== undefined) this.dropName(b, bParent, bName, true);
    const put = (id: bigint | undefined, parent: bigint, name: Uint8Array): void => {
      const node = id === undefined ? undefined : this.nodes.get(id);
      if (node === undefined) return;
      node.names.unshift({ parent, name: name.slice() });
      this.byName.set(nameKey(parent, name), node.id);
    };
    put(a, bParent, bName);
    put(b, aParent, aName);
  }

  /**
   * The path of `id` relative to the root, as raw bytes ("" for the root),
   * or null when no name leads to it any more (an unlinked open file) or
   * the chain is broken.
   */
  path(id: bigint): Uint8Array | null {
    const parts: Uint8Array[] = [];
    let cur = id;
    for (let depth = 0; cur !== ROOT_NODEID; depth++) {
      if (depth > 4096) return null;
      const node = this.nodes.get(cur);
      const first = node?.names[0];
      if (first === undefined) return null;
      parts.push(first.name);
      cur = first.parent;
    }
    return joinPath(parts.reverse());
  }

  /** The path of `parent/name`, or null when the parent cannot be reached. */
  childPath(parent: bigint, name: Uint8Array): Uint8Array | null {
    const base = this.path(parent);
    if (base === null) return null;
    return base.length === 0 ? name.slice() : joinPath([base, name]);
  }

  /** `moving`: the name is about to be replaced by another one, so the object keeps its nodeid. */
  private dropName(id: bigint, parent: bigint, name: Uint8Array, moving = false): void {
    const nk = nameKey(parent, name);
    if (this.byName.get(nk) === id) this.byName.delete(nk);
    const node = this.nodes.get(id);
    if (node === undefined) return;
    node.names = node.names.filter((n) => !(n.parent === parent && sameBytes(n.name, name)));
    // No name left: a new file that reuses this inode number must get a new nodeid.
    if (!moving && node.names.length === 0 && id !== ROOT_NODEID && this.byIno.get(node.key) === id) this.byIno.delete(node.key);
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function joinPath(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  len += Math.max(0, parts.length - 1);
  const out = new Uint8Array(len);
  let at = 0;
  parts.forEach((p, i) => {
    if (i > 0) out.set(SLASH, at++);
    out.set(p, at);
    at += p.length;
  });
  return out;
}
