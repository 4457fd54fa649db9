/**
 * stdout and stderr for the CLI, so that a verb's whole answer reaches a
 * pipe before the process exits. The runtime's stream takes a large write
 * and sends it on later; `process.exit` right after it cut `vigil status
 * --json | jq` at 64-128 KiB with exit code 0.
 *
 * Neither write()'s answer nor "drain" tells when all of it is out under
 * Bun: its stdout on a pipe or socket is a buffer of its own (a FileSink)
 * that emits one "drain" per write that answered false, when that write is
 * out, so the drain of an early write arrives after later writes answered
 * false and says nothing of them; writes that answered true may still sit
 * in the buffer. Waiting for the first drain let vigil exit with a third of
 * 400 KiB, or none of it, unsent. Ending the stream flushes that buffer and
 * "finish" comes once all of it has been handed to the OS (in Node too).
 */

export interface Outlet {
  write(text: string): void;
  /**
   * Ends the stream; resolves once all that was written has been handed to
   * the OS, or the reader has gone (EPIPE). For the last step before exit:
   * later writes are dropped.
   */
  flushed(): Promise<void>;
}

export function outlet(stream: NodeJS.WriteStream): Outlet {
  let ended: Promise<void> | undefined;
  // The reader went away (`vigil status | head`): nothing more can be delivered, so nothing is owed.
  // Kept for the stream's life so that no late error (EPIPE, a write after the end) throws.
  let failed = false;
  const gone: (() => void)[] = [];
  stream.on("error", () => {
    failed = true;
    for (const resolve of gone.splice(0)) resolve();
  });
  return {
    write(text) {
      if (ended === undefined && !failed) stream.write(text);
    },
    flushed() {
      ended ??= new Promise<void>((resolve) => {
        if (failed || stream.writableFinished || stream.destroyed) return resolve();
        gone.push(resolve);
        stream.once("finish", resolve);
        stream.once("close", resolve);
        stream.end();
      });
      return ended;
    },
  };
}
