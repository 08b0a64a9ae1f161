/**
 * One signed POST of a notice to a webhook (docs/notifications.md, "Webhooks").
 *
 * The receiver checks `lgsp-webhook-signature`: base64 of HMAC-SHA256, keyed
 * with the 32 bytes of the webhook's signing secret, over
 * `<notice id>.<timestamp>.<body>`, where the timestamp is the
 * `lgsp-webhook-timestamp` header (RFC 3339). Signing the id and the time
 * with the body lets the receiver refuse replays (an old timestamp, an id it
 * has already handled). The same scheme as Standard Webhooks, with the
 * platform's header names.
 *
 * Redirects are not followed, and only the status line is read: the answer's
 * body is discarded.
 */
import { createHmac } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { AddressForbiddenError, type AddressGuard } from './webhook-address.js';

export const WEBHOOK_ID_HEADER = 'lgsp-webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'lgsp-webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'lgsp-webhook-signature';

/** The signature of one call; `secret` is the base64url signing secret as RegisterWebhook returned it. */
export function webhookSignature(secret: string, noticeId: string, timestamp: string, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'base64url'))
    .update(`${noticeId}.${timestamp}.${body}`)
    .digest('base64');
}

export interface WebhookCall {
  readonly url: string;
  readonly secret: string;
  readonly noticeId: string;
  /** The notice as Connect JSON. */
  readonly body: string;
}

export type CallResult =
  | { readonly ok: true; readonly status: number; readonly latencyMs: number }
  | {
      readonly ok: false;
      /** 0 when nothing was answered. */
      readonly status: number;
      readonly latencyMs: number;
      readonly error: string;
      /** The address may not be called: retrying cannot help. */
      readonly forbidden: boolean;
      /** From a Retry-After header of a 429 or 503, in ms. */
      readonly retryAfterMs?: number;
    };

export interface Caller {
  readonly guard: AddressGuard;
  readonly timeoutMs: number;
  readonly userAgent: string;
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

/** Makes the call; never throws. */
export function callWebhook(call: WebhookCall, caller: Caller, now: Date = new Date()): Promise<CallResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(call.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    const refusal = caller.guard.refusal(host);
    if (refusal !== undefined) return Promise.resolve(failed(0, elapsed(), refusal, true));
  }
  const timestamp = now.toISOString();
  const body = Buffer.from(call.body, 'utf8');
  const secure = url.protocol === 'https:';
  return new Promise((resolve) => {
    const request = (secure ? https : http).request(url, {
      method: 'POST',
      agent: secure ? agents.https : agents.http,
      lookup: caller.guard.lookup as never,
      signal: AbortSignal.timeout(caller.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'user-agent': caller.userAgent,
        [WEBHOOK_ID_HEADER]: call.noticeId,
        [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
        [WEBHOOK_SIGNATURE_HEADER]: webhookSignature(call.secret, call.noticeId, timestamp, call.body),
      },
    });
    request.on('response', (res: IncomingMessage) => {
      res.resume();
      resolve(answered(res, elapsed()));
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      const forbidden = err instanceof AddressForbiddenError || err.cause instanceof AddressForbiddenError;
      resolve(failed(0, elapsed(), describe(err, caller.timeoutMs), forbidden));
    });
    request.end(body);
  });
}

function answered(res: IncomingMessage, latencyMs: number): CallResult {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return { ok: true, status, latencyMs };
  const retryAfterMs =
    status === 429 || status === 503 ? parseRetryAfter(res.headers['retry-after']) : undefined;
  const error =
    status >= 300 && status < 400
      ? `answered ${status}; redirects are not followed${res.headers.location ? ` (to ${res.headers.location.slice(0, 200)})` : ''}`
      : `answered ${status}`;
  return {
    ok: false,
    status,
    latencyMs,
    error,
    forbidden: false,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

function failed(status: number, latencyMs: number, error: string, forbidden: boolean): CallResult {
  return { ok: false, status, latencyMs, error, forbidden };
}

/** Retry-After as seconds or as an HTTP date; undefined when absent or unreadable. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A short description of a failed call, for the attempt's `error`: no response body, no secrets. */
function describe(err: NodeJS.ErrnoException, timeoutMs: number): string {
  if (err.name === 'AbortError' || err.name === 'TimeoutError' || err.code === 'ABORT_ERR') {
    return `timeout after ${timeoutMs / 1000}s`;
  }
  if (err instanceof AddressForbiddenError) return err.message;
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
      return 'host not found';
    case 'EAI_AGAIN':
      return 'host name lookup failed, temporarily';
    default:
      break;
  }
  if (err.code !== undefined && /CERT|SSL|TLS|SELF_SIGNED/.test(err.code)) {
    return `TLS: ${err.message}`.slice(0, 300);
  }
  return `${err.code ?? err.name}: ${err.message}`.slice(0, 300);
}
