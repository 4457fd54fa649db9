/**
 * A loopback TCP port that forwards every connection to a daemon's control
 * socket (vigil.sock in its state dir), so a browser in the root namespace
 * reaches the console of a daemon that runs in a lab namespace. The socket
 * serves the same app as the console's port.
 */
import { connect, createServer, type Socket } from "node:net";

export interface SocketProxy {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  close(): Promise<void>;
}

export async function proxyToSocket(socketPath: string): Promise<SocketProxy> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(socketPath);
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
