/**
 * The service of bench/mirror-failover.ts: keeps a mirror busy. It
 * overwrites its own file in the replicated folder in CHUNK_KIB writes,
 * round and round over FILE_MIB (the copy never grows), with an fsync every
 * 4 MiB, and after every write that returned appends the time (ms since the
 * epoch, sub-ms) to ACKLOG, a file outside the folder: in mode sync a write
 * returns once the SECOND applied it, so ACKLOG is what the application was
 * promised, and when. On the first error it writes "error CODE" and ends.
 *
 *   bun bench/mirror-failover-writer.ts DIR NAME ACKLOG [CHUNK_KIB] [FILE_MIB]
 */
import { appendFileSync, fsyncSync, openSync, writeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { join } from "node:path";

const [dir, name, ackLog, chunkArg, fileArg] = process.argv.slice(2);
if (dir === undefined || name === undefined || ackLog === undefined) {
  console.error("usage: mirror-failover-writer.ts DIR NAME ACKLOG [CHUNK_KIB] [FILE_MIB]");
  process.exit(2);
}
const chunk = Number(chunkArg ?? "256") * 1024;
const fileBytes = Number(fileArg ?? "16") * 1024 * 1024;
const SYNC_EVERY = 4 * 1024 * 1024;
const buf = Buffer.alloc(chunk);
randomFillSync(buf);
const now = (): number => performance.timeOrigin + performance.now();

const log = openSync(ackLog, "a");
try {
  const fd = openSync(join(dir, `${name}.dat`), "w");
  let at = 0;
  let sinceSync = 0;
  for (;;) {
    writeSync(fd, buf, 0, chunk, at);
    at = (at + chunk) % fileBytes;
    sinceSync += chunk;
    if (sinceSync >= SYNC_EVERY) {
      fsyncSync(fd);
      sinceSync = 0;
    }
    writeSync(log, `${now().toFixed(2)}\n`);
  }
} catch (e) {
  appendFileSync(ackLog, `error ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
  process.exit(1);
}
