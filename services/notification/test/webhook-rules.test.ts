/** The pure parts of webhooks: back-off and parking, the address guard, URL and network checks. */
import { describe, expect, it } from 'vitest';
import { loadNotificationConfig } from '../src/config.js';
import { AddressGuard, checkNetworks, webhookUrlProblem } from '../src/domain/webhook-address.js';
import { webhookSignature } from '../src/domain/webhook-call.js';
import { afterFailure, backoffMs, isPermanent, RETRY_CAP_MS } from '../src/domain/webhook-retry.js';

const policy = { maxAttempts: 5, baseMs: 1_000 };
const now = new Date('2026-01-01T00:00:00Z');
const failure = (status: number, extra: { retryAfterMs?: number; forbidden?: boolean } = {}) => ({
  ok: false as const,
  status,
  latencyMs: 5,
  error: `answered ${status}`,
  forbidden: extra.forbidden ?? false,
  ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
});

describe('back-off', () => {
  it('doubles from the base with ±20 % jitter and stops at one hour', () => {
    expect(backoffMs(1, 1_000, () => 0.5)).toBe(1_000);
    expect(backoffMs(3, 1_000, () => 0.5)).toBe(4_000);
    expect(backoffMs(3, 1_000, () => 0)).toBe(3_200);
    expect(backoffMs(3, 1_000, () => 1)).toBe(4_800);
    expect(backoffMs(40, 1_000, () => 1)).toBe(RETRY_CAP_MS);
  });

  it('retries 5xx, 408, 429 and no answer; parks other 4xx, the last attempt and forbidden addresses', () => {
    expect(afterFailure(failure(503), 1, policy, now, () => 0.5)).toEqual({
      kind: 'retry',
      at: new Date(now.getTime() + 1_000),
    });
    expect(afterFailure(failure(0), 2, policy, now, () => 0.5).kind).toBe('retry');
    expect(afterFailure(failure(408), 2, policy, now).kind).toBe('retry');
    expect(afterFailure(failure(404), 1, policy, now)).toEqual({ kind: 'park', reason: 'permanent_error' });
    expect(afterFailure(failure(500), 5, policy, now)).toEqual({ kind: 'park', reason: 'max_attempts' });
    expect(afterFailure(failure(0, { forbidden: true }), 1, policy, now)).toEqual({
      kind: 'park',
      reason: 'address_forbidden',
    });
    expect([400, 401, 403, 410, 422].every(isPermanent)).toBe(true);
    expect([408, 429, 500, 503, 302].some(isPermanent)).toBe(false);
  });

  it('waits as long as Retry-After asks, within the cap', () => {
    const slow = afterFailure(failure(429, { retryAfterMs: 30_000 }), 1, policy, now, () => 0.5);
    expect(slow).toEqual({ kind: 'retry', at: new Date(now.getTime() + 30_000) });
    const huge = afterFailure(failure(503, { retryAfterMs: 10 * RETRY_CAP_MS }), 1, policy, now);
    expect(huge).toEqual({ kind: 'retry', at: new Date(now.getTime() + RETRY_CAP_MS) });
  });
});

describe('the address guard', () => {
  const strict = new AddressGuard({ allowLoopback: false, allowedNetworks: [] });

  it.each([
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '127.0.0.1',
    '::1',
    'fc00::1',
    'fe80::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    '224.0.0.1',
  ])('refuses %s', (address) => {
    expect(strict.refusal(address)).toBeDefined();
  });

  it.each(['203.113.131.1', '8.8.8.8', '2001:4860:4860::8888'])('allows the public address %s', (address) => {
    expect(strict.refusal(address)).toBeUndefined();
  });

  it('allows loopback and the networks the operator names, and nothing more', () => {
    const wan = new AddressGuard({ allowLoopback: true, allowedNetworks: ['10.20.0.0/16'] });
    expect(wan.refusal('127.0.0.1')).toBeUndefined();
    expect(wan.refusal('10.20.5.6')).toBeUndefined();
    expect(wan.refusal('10.21.0.1')).toMatch(/private or reserved/);
  });

  it('checks network lists', () => {
    expect(checkNetworks(['10.0.0.0/8', 'fd00::/8'])).toEqual([]);
    expect(checkNetworks(['10.0.0.0', '10.0.0.0/33', 'x/8'])).toHaveLength(3);
    expect(() => loadNotificationConfig({ LGSP_WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/8, nonsense' })).toThrow(
      /LGSP_WEBHOOK_ALLOWED_NETWORKS: "nonsense" is not a network/,
    );
    expect(
      loadNotificationConfig({ LGSP_WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/8, 172.16.0.0/12' })
        .webhookAllowedNetworks,
    ).toEqual(['10.0.0.0/8', '172.16.0.0/12']);
  });
});

describe('webhook URLs', () => {
  it('accepts https anywhere and http on loopback only', () => {
    expect(webhookUrlProblem('https://qlvb.example.gov.vn/lgsp/notices')).toBeUndefined();
    expect(webhookUrlProblem('http://localhost:8080/hook')).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.1/hook')).toBeUndefined();
    expect(webhookUrlProblem('http://[::1]:9000/hook')).toBeUndefined();
    expect(webhookUrlProblem('http://127.example.org/hook')).toMatch(/https/);
    expect(webhookUrlProblem('http://10.0.0.1/hook')).toMatch(/https/);
  });
});

describe('the signature', () => {
  it('is base64 HMAC-SHA256 over "<id>.<timestamp>.<body>" keyed with the decoded secret', () => {
    // Fixed inputs, so receivers in any language can check their code against this value.
    const secret = Buffer.alloc(32, 7).toString('base64url');
    const signature = webhookSignature(
      secret,
      'ntc_0123456789abcdef',
      '2026-11-25T01:02:03.456Z',
      '{"id":"ntc_0123456789abcdef"}',
    );
    expect(signature).toBe(SIGNATURE_VECTOR);
  });
});

/** Also in docs/notifications.md, computed there with openssl. */
const SIGNATURE_VECTOR = 'uA7jWA7ISMosSn2CPcEPwuc0YEj+S+j8RcEZLf+wyh4=';
