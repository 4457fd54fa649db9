/**
 * SIGHUP around the end of start-up: ignored (with a warning) before "vigil
 * started", kept from then until the reload handler is set, carried out once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type DaemonSignals, takeSignals } from "../../src/daemon/signals.ts";
import type { Logger } from "../../src/daemon/log.ts";

function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const put = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  const log = { debug: put("debug"), info: put("info"), warn: put("warn"), error: put("error") } as unknown as Logger;
  return { log, lines };
}

/** process.kill runs the handler on a later turn; wait for it. */
async function hup(): Promise<void> {
  process.kill(process.pid, "SIGHUP");
  await new Promise((r) => setTimeout(r, 50));
}

let taken: DaemonSignals | undefined;
afterEach(() => {
  taken?.release();
  taken = undefined;
});

describe("daemon SIGHUP", () => {
  it("is ignored with a warning before start-up holds reloads", async () => {
    const { log, lines } = recordingLog();
    taken = takeSignals(log);
    await hup();
    let reloads = 0;
    taken.onReload(() => reloads++);
    expect(reloads).toBe(0);
    expect(lines.join("\n")).toMatch(/warn SIGHUP during start-up ignored/);
  });

  it("is kept after holdReloads and carried out once when the handler is set", async () => {
    const { log, lines } = recordingLog();
    taken = takeSignals(log);
    taken.holdReloads();
    await hup();
    await hup();
    let reloads = 0;
    taken.onReload(() => reloads++);
    expect(reloads).toBe(1);
    expect(lines.filter((l) => l.includes("SIGHUP kept"))).toHaveLength(1);
    await hup();
    expect(reloads).toBe(2);
  });

  it("is dropped when a stop was asked while it was kept", async () => {
    const { log } = recordingLog();
    taken = takeSignals(log);
    taken.holdReloads();
    await hup();
    process.kill(process.pid, "SIGTERM");
    expect(await taken.stopped).toBe("SIGTERM");
    let reloads = 0;
    taken.onReload(() => reloads++);
    expect(reloads).toBe(0);
  });
});
