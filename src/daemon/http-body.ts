/**
 * A request body that is read only when the handler asks for it, up to a
 * bound and within a time. Routing and the token check run first, so a client
 * that is not allowed to command never makes the server buffer a byte of its
 * body; a route that takes no body never reads one.
 */
import type { IncomingMessage } from "node:http";

export type BodyRefusal = { status: 408 | 413; reason: string };

export interface LazyBody {
  /** The stream to give the Request, or undefined when the request has no body. */
  readonly stream: ReadableStream<Uint8Array> | undefined;
  /** True once the whole body was received (or there was none). */
  complete(): boolean;
}

export function lazyBody(
  req: IncomingMessage,
  maxBytes: number,
  timeoutMs: number,
  refuse: (r: BodyRefusal) => void,
): LazyBody {
  const length = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (length === undefined || length === "0")) return { stream: undefined, complete: () => true };
  let done = false;
  let failed = false;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, r: BodyRefusal): void => {
    if (done || failed) return;
    failed = true;
    clearTimeout(timer);
    req.removeAllListeners("data");
    refuse(r);
    controller.error(new Error(r.reason));
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  // highWaterMark 0: pull() runs only when the handler reads, never ahead of it.
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (timer !== undefined || done || failed) return;
      const tooLarge: BodyRefusal = { status: 413, reason: `the request body is larger than ${maxBytes} bytes` };
      if (length !== undefined && Number(length) > maxBytes) return fail(controller, tooLarge);
      timer = setTimeout(() => {
        fail(controller, { status: 408, reason: `the request body did not arrive within ${timeoutMs} ms` });
      }, timeoutMs);
      timer.unref?.();
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) return fail(controller, tooLarge);
        controller.enqueue(new Uint8Array(c));
      });
      req.once("end", () => {
        if (failed) return;
        done = true;
        clearTimeout(timer);
        controller.close();
      });
      req.once("error", (e) => fail(controller, { status: 408, reason: `the request body broke off: ${e.message}` }));
    },
  }, { highWaterMark: 0 });
  return { stream, complete: () => done };
}
