#!/usr/bin/env bun
import { dispatch } from "./cli/dispatch.ts";
import { daemonEntries } from "./daemon/entry.ts";
import { stdioOutlet } from "./sys/outlet.ts";

const stdout = stdioOutlet("stdout");
// The daemon's log goes through the same one (src/daemon/log.ts).
const stderr = stdioOutlet("stderr");
const io = {
  out: (t: string) => stdout.write(t + "\n"),
  err: (t: string) => stderr.write(t + "\n"),
  env: process.env,
};

/** Exit explicitly (a finished verb must not linger on an open handle), once the answer is out. */
async function exit(code: number): Promise<never> {
  await Promise.all([stdout.flushed(), stderr.flushed()]);
  process.exit(code);
}

try {
  await exit(await dispatch(process.argv.slice(2), io, daemonEntries));
} catch (e) {
  // Only a bug lands here; user mistakes are answered inside dispatch.
  stderr.write(`vigil: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  await exit(70);
}
