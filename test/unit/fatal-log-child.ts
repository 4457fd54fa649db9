/** A daemon-like process for fatal-log.test.ts: its Logger writes a file, then a fault nobody catches. */
import { logUncaughtFaults } from "../../src/daemon/fatal-log.ts";
import { RotatingLogFile } from "../../src/daemon/log-file.ts";
import { Logger } from "../../src/daemon/log.ts";

const [file, how] = process.argv.slice(2);
const log = new Logger("text");
log.attachFile(new RotatingLogFile(file ?? "/nonexistent/vigil.log"));
logUncaughtFaults(log);
log.info("started");
setTimeout(() => {
  if (how === "throw") throw new Error("fault-by-throw");
  void Promise.reject(new Error("fault-by-rejection"));
}, 5);
setTimeout(() => log.info("still running"), 2000);
