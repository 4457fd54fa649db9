import { request } from "node:http";
import { join } from "node:path";

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, "vigil.sock");
}

export type ControlReply =
  | { ok: true; status: number; body: unknown }
  | { ok: false; message: string };

/**
 * Talks to the local daemon over its unix socket; never over the network.
 * Module commands wait for the cluster, so they pass a longer answer time.
 */
export function askDaemon(stateDir: string, method: string, path: string, body?: unknown, answerWithinMs = 10_000): Promise<ControlReply> {
  const socketPath = controlSocketPath(stateDir);
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // Who asks, for the daemon's log of module commands (see web/command-source.ts).
    const headers: Record<string, string> = { accept: "application/json", "x-vigil-client": `vigil pid=${process.pid} uid=${process.getuid?.() ?? "?"}` };
    if (payload !== undefined) headers["content-type"] = "application/json";
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolve({ ok: true, status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ ok: false, message: `the daemon answered ${path} with something that is not JSON` });
        }
      });
    });
    req.setTimeout(answerWithinMs, () => req.destroy(new Error(`no answer within ${answerWithinMs / 1000} s`)));
    req.on("error", (e: NodeJS.ErrnoException) => {
      const hint = e.code === "ENOENT" || e.code === "ECONNREFUSED"
        ? `no vigil daemon is running with state dir ${stateDir} (no socket at ${socketPath}); start it with "vigil run" or pass --state-dir`
        : e.code === "EACCES"
        ? `permission denied on ${socketPath}: run as root`
        : `cannot reach the daemon at ${socketPath}: ${e.message}`;
      resolve({ ok: false, message: hint });
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
