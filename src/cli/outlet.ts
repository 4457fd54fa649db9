/**
 * stdout and stderr for the CLI, so that a verb's whole answer reaches a
 * pipe before the process exits. The runtime's stream takes a large write
 * and sends it on later; `process.exit` right after it cut `vigil status
 * --json | jq` at 64-128 KiB with exit code 0. The stream's own counters
 * (writableLength, writableNeedDrain) read 0 meanwhile under Bun, so what is
 * still owed is known from write()'s answer and the "drain" event.
 */

export interface Outlet {
  write(text: string): void;
  /** Resolves once what was written has been handed to the OS, or the reader has gone (EPIPE). */
  flushed(): Promise<void>;
}

export function outlet(stream: NodeJS.WriteStream): Outlet {
  let owed = false;
  const waiting: (() => void)[] = [];
  const settle = (): void => {
    owed = false;
    for (const resolve of waiting.splice(0)) resolve();
  };
  stream.on("drain", settle);
  // The reader went away (`vigil status | head`): nothing more can be delivered, so nothing is owed.
  stream.on("error", settle);
  return {
    write(text) {
      if (!stream.write(text)) owed = true;
    },
    flushed: () => (owed ? new Promise<void>((resolve) => waiting.push(resolve)) : Promise.resolve()),
  };
}
