/**
 * A loopback TCP proxy that sits between a replication client and server and
 * sees the client-to-server stream record by record (u32 length + body), so
 * a test can alter, drop, duplicate or swap records, or stop forwarding
 * altogether (a blackholed link).
 */
import * as net from "node:net";

export type RecordAction = (record: Buffer, index: number) => Buffer[];

export interface Proxy {
  readonly port: number;
  /** Decides what happens to each client-to-server record from now on (index counts from 0 per connection). */
  setAction(action: RecordAction | null): void;
  /** Stops or resumes forwarding in both directions; bytes stay queued while stopped (nothing is lost). */
  setBlackhole(on: boolean): void;
  /** Client-to-server records seen on the current connection, as sent by the client. */
  readonly records: Buffer[];
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  let action: RecordAction | null = null;
  let blackhole = false;
  const records: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const holdC2S: Buffer[] = [];
  const holdS2C: Buffer[] = [];
  let pair: { client: net.Socket; server: net.Socket } | null = null;
  let pendingClose = false;

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    pair = { client, server: upstream };
    records.length = 0;
    let buf = Buffer.alloc(0);
    let index = 0;
    const forward = (to: net.Socket, hold: Buffer[], data: Buffer): void => {
      if (blackhole) hold.push(data);
      else to.write(data);
    };
    client.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const record = Buffer.from(buf.subarray(0, 4 + len));
        buf = buf.subarray(4 + len);
        records.push(record);
        const out = action === null ? [record] : action(record, index);
        index++;
        for (const r of out) forward(upstream, holdC2S, r);
      }
    });
    upstream.on("data", (chunk: Buffer) => forward(client, holdS2C, chunk));
    // A blackholed link carries no FIN or RST either: a close waits until the link is back.
    const end = (): void => {
      if (blackhole) {
        pendingClose = true;
        return;
      }
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    records,
    setAction(a) {
      action = a;
    },
    setBlackhole(on) {
      blackhole = on;
      if (!on && pair !== null) {
        for (const d of holdC2S.splice(0)) pair.server.write(d);
        for (const d of holdS2C.splice(0)) pair.client.write(d);
        if (pendingClose) {
          pendingClose = false;
          pair.client.destroy();
          pair.server.destroy();
        }
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
