/** Token buckets: the rate, the burst, overrides, and when to retry. */
import { describe, expect, it } from 'vitest';
import { parseOverrides, TokenBuckets } from '../src/limits/token-buckets.js';

describe('token buckets', () => {
  const policy = {
    default: { perSecond: 10, burst: 3 },
    overrides: new Map([
      ['app_fast', { perSecond: 1000, burst: 1000 }],
      ['app_off', { perSecond: 0, burst: 0 }],
    ]),
  };

  it('allows the burst at once, then the rate, and says when the next token comes', () => {
    const buckets = new TokenBuckets(policy);
    expect([0, 0, 0].map(() => buckets.take('app_a', 0).ok)).toEqual([true, true, true]);
    expect(buckets.take('app_a', 0)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(buckets.take('app_a', 50)).toEqual({ ok: false, retryAfterMs: 50 });
    expect(buckets.take('app_a', 100).ok).toBe(true);
    // Another caller has its own bucket.
    expect(buckets.take('app_b', 100).ok).toBe(true);
  });

  it('refills up to the burst, not beyond', () => {
    const buckets = new TokenBuckets(policy);
    buckets.take('app_a', 0);
    const after = [1, 2, 3, 4].map(() => buckets.take('app_a', 60_000).ok);
    expect(after).toEqual([true, true, true, false]);
  });

  it('applies overrides, and a rate of 0 means no limit', () => {
    const buckets = new TokenBuckets(policy);
    for (let i = 0; i < 500; i++) expect(buckets.take('app_fast', 0).ok).toBe(true);
    for (let i = 0; i < 5000; i++) expect(buckets.take('app_off', 0).ok).toBe(true);
    expect(buckets.size).toBe(1);
  });

  it('parses overrides and names what it cannot read', () => {
    const { overrides, problems } = parseOverrides(' app_x=500:1000, app_y=5 ,, op=0.5');
    expect([...overrides]).toEqual([
      ['app_x', { perSecond: 500, burst: 1000 }],
      ['app_y', { perSecond: 5, burst: 10 }],
      ['op', { perSecond: 0.5, burst: 1 }],
    ]);
    expect(problems).toEqual([]);
    expect(parseOverrides('app_x=fast, =3, app_z=1:').problems).toHaveLength(3);
  });
});
