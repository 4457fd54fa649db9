#!/usr/bin/env bun
import { dispatch } from "./cli/dispatch.ts";
import { daemonEntries } from "./daemon/entry.ts";

const io = {
  out: (t: string) => process.stdout.write(t + "\n"),
  err: (t: string) => process.stderr.write(t + "\n"),
  env: process.env,
};

try {
  const code = await dispatch(process.argv.slice(2), io, daemonEntries);
  // Exit explicitly: a finished verb must not linger on an open handle.
  process.exit(code);
} catch (e) {
  // Only a bug lands here; user mistakes are answered inside dispatch.
  process.stderr.write(`vigil: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(70);
}
