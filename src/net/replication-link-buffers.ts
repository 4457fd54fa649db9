/**
 * Buffers that belong to one received message alone: the plaintext of a
 * large record, freshly decrypted, whose op's byte fields are views into it
 * (decodeReplication with `owned`). Whoever carries the op on may hand the
 * whole buffer over to another thread (transfer) instead of copying the data
 * out of it; the op must not be read on this thread after that.
 */
const owned = new WeakSet<ArrayBufferLike>();

export function markOwnedByMessage(buffer: ArrayBufferLike): void {
  owned.add(buffer);
}

export function ownedByMessage(buffer: ArrayBufferLike): boolean {
  return owned.has(buffer);
}
