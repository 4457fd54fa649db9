import type { DaemonEntries } from "../api/daemon-entries.ts";
import { type Io, UsageError } from "./io.ts";

type Values = Record<string, string | boolean | undefined>;

const str = (v: Values, k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);

/** ADDRESS:PORT with an IPv4 address and a port in 0..65535; the usage error names the flag. */
function endpointFlag(v: Values, flag: string): string | undefined {
  const value = str(v, flag);
  if (value === undefined) return undefined;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value);
  const ok = m !== null && (m[1] ?? "").split(".").every((o) => Number(o) <= 255) && Number(m[2]) <= 65535;
  if (!ok) throw new UsageError(`--${flag} must look like IPV4-ADDRESS:PORT (for example 0.0.0.0:7693), not "${value}"`);
  return value;
}

export async function cmdWitness(v: Values, io: Io, daemons: DaemonEntries): Promise<number> {
  const format = str(v, "log-format") ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--log-format must be text or json, not "${format}"`);
  const listen = endpointFlag(v, "listen");
  const http = endpointFlag(v, "http");
  return daemons.witness({
    logFormat: format,
    configFlag: str(v, "config"),
    configEnv: io.env["VIGIL_CONFIG"],
    stateDir: str(v, "state-dir"),
    listen,
    http,
  });
}
