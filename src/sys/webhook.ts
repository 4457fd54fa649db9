/**
 * Webhooks: POST one event as JSON to an operator's URL (a chat bridge, a
 * ticketing system, a SCADA alarm gateway) when something happens.
 *
 * - Any 2xx answer is success.
 * - A network error, a timeout, a 5xx or a 429 is retried once after
 *   `retryDelayMs`; other 4xx answers are not (the request itself is wrong
 *   and will be again).
 * - Failures are logged (one warning per failed attempt) and returned,
 *   never thrown: a notification must not disturb a failover.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { describeError } from "./checkers/measure.ts";

export interface WebhookLogger {
  warn(msg: string, fields?: Record<string, string | number | boolean | null>): void;
}

export interface WebhookOptions {
  /** Per attempt. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Before the retry. Default 1000 ms. */
  readonly retryDelayMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Default true; false accepts a self-signed HTTPS certificate. */
  readonly rejectUnauthorized?: boolean;
  /** Aborting gives up (no retry). */
  readonly signal?: AbortSignal;
  readonly logger?: WebhookLogger;
}

export interface WebhookResult {
  readonly ok: boolean;
  readonly attempts: number;
  /** The last HTTP status, null if none was received. */
  readonly status: number | null;
  /** One line: "HTTP 204", "HTTP 500 twice", "connection refused (ECONNREFUSED)". */
  readonly detail: string;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;
export const DEFAULT_WEBHOOK_RETRY_DELAY_MS = 1000;
/** Of the answer's body, quoted in a failure. */
const BODY_QUOTE_BYTES = 200;

type Attempt = { readonly ok: boolean; readonly status: number | null; readonly detail: string; readonly retry: boolean };

function attempt(url: URL, body: string, opts: WebhookOptions, signal: AbortSignal): Promise<Attempt> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, status: null, detail: "aborted", retry: false });
      return;
    }
    let settled = false;
    const done = (a: Attempt): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(a);
    };
    const onAbort = (): void => {
      const timedOut = signal.reason instanceof Error && signal.reason.name === "TimeoutError";
      done({ ok: false, status: null, detail: timedOut ? `no answer within ${opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS} ms` : "aborted", retry: timedOut });
    };
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "user-agent": "vigil-webhook",
        ...opts.headers,
      },
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      agent: false,
    });
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e) => done({ ok: false, status: null, detail: describeError(e), retry: true }));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < BODY_QUOTE_BYTES) chunks.push(c);
        size += c.length;
      });
      res.on("error", () => {});
      res.on("end", () => {
        if (status >= 200 && status <= 299) {
          done({ ok: true, status, detail: `HTTP ${status}`, retry: false });
          return;
        }
        const said = Buffer.concat(chunks).subarray(0, BODY_QUOTE_BYTES).toString("utf8").replace(/\s+/g, " ").trim();
        done({ ok: false, status, detail: `HTTP ${status}${said === "" ? "" : `: ${said}`}`, retry: status >= 500 || status === 429 });
      });
    });
    req.end(body);
  });
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = (): void => {
      clearTimeout(t);
      resolve();
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** The URL as logged: no user:password, no query (tokens often travel there). */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search === "" ? "" : "?..."}`;
}

/** POSTs `event` as JSON to `url`. Resolves with the outcome; never throws or rejects. */
export async function postWebhook(url: string, event: unknown, opts: WebhookOptions = {}): Promise<WebhookResult> {
  const warn = (msg: string, fields: Record<string, string | number | boolean | null>): void => {
    try {
      opts.logger?.warn(msg, fields);
    } catch {
      // The log is best effort too.
    }
  };
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    const detail = `${JSON.stringify(url)} is not a URL`;
    warn("webhook not sent", { detail });
    return { ok: false, attempts: 0, status: null, detail };
  }
  const shown = redactUrl(target);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    const detail = `${shown}: only http: and https: URLs can be posted to, not ${target.protocol}`;
    warn("webhook not sent", { url: shown, detail });
    return { ok: false, attempts: 0, status: null, detail };
  }
  let body: string;
  try {
    body = JSON.stringify(event) ?? "null";
  } catch (e) {
    const detail = `the event cannot be written as JSON: ${e instanceof Error ? e.message : String(e)}`;
    warn("webhook not sent", { url: shown, detail });
    return { ok: false, attempts: 0, status: null, detail };
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  let last: Attempt | null = null;
  for (let n = 1; n <= 2; n++) {
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal === undefined ? [] : [opts.signal])];
    const a = await attempt(target, body, opts, AbortSignal.any(signals));
    if (a.ok) return { ok: true, attempts: n, status: a.status, detail: a.detail };
    const again = n === 1 && a.retry && opts.signal?.aborted !== true;
    warn(again ? "webhook failed, retrying" : "webhook failed", { url: shown, attempt: n, detail: a.detail });
    const twice = last !== null && last.detail === a.detail;
    last = a;
    if (!again) return { ok: false, attempts: n, status: a.status, detail: twice ? `${a.detail} (twice)` : a.detail };
    await delay(opts.retryDelayMs ?? DEFAULT_WEBHOOK_RETRY_DELAY_MS, opts.signal);
  }
  // Not reached: the loop returns on its second pass.
  return { ok: false, attempts: 2, status: last?.status ?? null, detail: last?.detail ?? "failed" };
}
