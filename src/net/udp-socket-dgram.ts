/** The UDP socket backend on node:dgram: every runtime has it (Node runs the unit tests on it). */
import * as dgram from "node:dgram";
import { joinLinkMulticast, type OpenSocketOptions, openError, type SocketEndpoint, type UdpBackend, type UdpSocketLike } from "./udp-socket.ts";

function bind(sock: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      sock.off("listening", onListening);
      reject(e);
    };
    const onListening = (): void => {
      sock.off("error", onError);
      resolve();
    };
    sock.once("error", onError);
    sock.once("listening", onListening);
    try {
      sock.bind({ address, port, exclusive: true });
    } catch (e) {
      sock.off("error", onError);
      sock.off("listening", onListening);
      reject(e);
    }
  });
}

function connect(sock: dgram.Socket, to: SocketEndpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      sock.connect(to.port, to.address, () => resolve());
    } catch (e) {
      reject(e);
    }
  });
}

function closeSocket(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

class DgramSocket implements UdpSocketLike {
  constructor(private readonly sock: dgram.Socket) {}

  get port(): number {
    return this.sock.address().port;
  }

  setMulticast(localAddress: string, group: string): void {
    joinLinkMulticast(this.sock, localAddress, group);
  }

  setBroadcast(): void {
    this.sock.setBroadcast(true);
  }

  growReceiveBuffer(bytes: number): Promise<number | undefined> {
    try {
      this.sock.setRecvBufferSize(bytes);
    } catch {
      // Refused: the default buffer still works, it only holds a shorter burst.
    }
    try {
      return Promise.resolve(this.sock.getRecvBufferSize());
    } catch {
      return Promise.resolve(undefined);
    }
  }

  send(bytes: Uint8Array, to: SocketEndpoint | undefined, failed: (e: unknown) => void): void {
    const done = (e: Error | null): void => {
      if (e) failed(e);
    };
    try {
      // A connected socket refuses a destination, even its own peer's.
      if (to === undefined) this.sock.send(bytes, done);
      else this.sock.send(bytes, to.port, to.address, done);
    } catch (e) {
      queueMicrotask(() => failed(e));
    }
  }

  close(): Promise<void> {
    return closeSocket(this.sock);
  }
}

export const dgramBackend: UdpBackend = {
  name: "dgram",
  async open(o: OpenSocketOptions): Promise<UdpSocketLike> {
    const sock = dgram.createSocket({ type: "udp4", reuseAddr: o.reuseAddr });
    try {
      await bind(sock, o.address, o.port);
    } catch (e) {
      await closeSocket(sock);
      throw openError("bind", e);
    }
    if (o.connect !== undefined) {
      try {
        await connect(sock, o.connect);
      } catch (e) {
        await closeSocket(sock);
        throw openError("connect", e);
      }
    }
    sock.on("message", (msg, rinfo) => o.onMessage(msg, rinfo.address, rinfo.port));
    sock.on("error", (e) => o.onError(e));
    return new DgramSocket(sock);
  },
};
