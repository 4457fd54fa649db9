/**
 * http checker: a GET answered with an expected status, and optionally a
 * body that contains a string or matches a regular expression.
 *
 * - Expected status: 200-399 unless given (redirects are not followed: a
 *   302 to a login page still shows the server is up).
 * - HTTPS certificates are verified unless `rejectUnauthorized: false`
 *   (a self-signed appliance certificate).
 * - Only the first `maxBodyBytes` of the body are read for matching.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { abortText, describeError, measure, withTimeout, type Outcome } from "./measure.ts";
import type { Checker } from "./types.ts";

export type StatusExpectation = number | readonly number[] | { readonly min: number; readonly max: number };

export interface HttpCheckerOptions {
  readonly url: string;
  /** Default { min: 200, max: 399 }. */
  readonly status?: StatusExpectation;
  /** The body must contain this string, or match this expression. */
  readonly body?: string | RegExp;
  readonly rejectUnauthorized?: boolean;
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Default 64 KiB. */
  readonly maxBodyBytes?: number;
}

const DEFAULT_STATUS = { min: 200, max: 399 } as const;
const DEFAULT_MAX_BODY = 64 * 1024;

function statusOk(expect: StatusExpectation, status: number): boolean {
  if (typeof expect === "number") return status === expect;
  if ("min" in expect) return status >= expect.min && status <= expect.max;
  return (expect as readonly number[]).includes(status);
}

function describeStatus(expect: StatusExpectation): string {
  if (typeof expect === "number") return String(expect);
  if ("min" in expect) return expect.min === 200 && expect.max === 399 ? "2xx or 3xx" : `${expect.min}-${expect.max}`;
  return (expect as readonly number[]).join(" or ");
}

function describeBody(body: string | RegExp): string {
  return typeof body === "string" ? `contain ${JSON.stringify(body)}` : `match ${String(body)}`;
}

function readBody(res: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      if (size >= limit) return;
      chunks.push(c);
      size += c.length;
      if (size >= limit) {
        resolve(Buffer.concat(chunks).subarray(0, limit).toString("utf8"));
        res.destroy();
      }
    });
    res.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.once("error", reject);
    res.once("aborted", () => reject(new Error("the response was cut off")));
  });
}

export function httpChecker(opts: HttpCheckerOptions): Checker {
  let url: URL | null = null;
  let problem: string | null = null;
  try {
    url = new URL(opts.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") problem = `${opts.url}: only http: and https: URLs can be checked, not ${url.protocol}`;
  } catch {
    problem = `${JSON.stringify(opts.url)} is not a URL`;
  }
  const target = opts.url;
  const expect = opts.status ?? DEFAULT_STATUS;

  const once = (u: URL, signal: AbortSignal): Promise<Outcome> =>
    new Promise((resolve) => {
      if (signal.aborted) {
        resolve({ ok: false, detail: `${target}: ${abortText(signal)} before the request` });
        return;
      }
      let settled = false;
      const done = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        req.destroy();
        resolve(o);
      };
      const onAbort = (): void => done({ ok: false, detail: `${target}: no answer, ${abortText(signal)}` });
      const request = u.protocol === "https:" ? httpsRequest : httpRequest;
      const req = request(u, {
        method: "GET",
        headers: { "user-agent": "vigil-checker", ...opts.headers },
        rejectUnauthorized: opts.rejectUnauthorized ?? true,
        agent: false,
      });
      signal.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e) => done({ ok: false, detail: `${target}: ${describeError(e)}` }));
      req.on("response", (res) => {
        res.on("error", () => {});
        const status = res.statusCode ?? 0;
        if (!statusOk(expect, status)) {
          done({ ok: false, detail: `${target}: HTTP ${status}, expected ${describeStatus(expect)}` });
          return;
        }
        if (opts.body === undefined) {
          done({ ok: true, detail: `${target}: HTTP ${status}` });
          return;
        }
        const want = opts.body;
        readBody(res, opts.maxBodyBytes ?? DEFAULT_MAX_BODY).then(
          (text) => {
            const matched = typeof want === "string" ? text.includes(want) : new RegExp(want.source, want.flags.replace("g", "")).test(text);
            done(matched
              ? { ok: true, detail: `${target}: HTTP ${status}, body does ${describeBody(want)}` }
              : { ok: false, detail: `${target}: HTTP ${status}, but the body does not ${describeBody(want)}` });
          },
          (e: unknown) => done({ ok: false, detail: `${target}: HTTP ${status}, reading the body failed: ${describeError(e)}` }),
        );
      });
      req.end();
    });

  return {
    kind: "http",
    target,
    run: (outer) =>
      measure(target, async () => {
        if (url === null || problem !== null) return { ok: false, detail: problem ?? `${target}: not a URL` };
        return once(url, withTimeout(outer, opts.timeoutMs));
      }),
  };
}
