import { describe, expect, it } from 'vitest';
import { emptyTraffic } from '../src/db/statistics-report.js';
import {
  csvField,
  dayOf,
  dayStart,
  LATENCY_BOUNDS_MS,
  LATENCY_BUCKETS,
  latencyBucket,
  parseDay,
  parseUtcOffset,
  periodsOf,
  quantileMs,
  splitByDay,
} from '../src/domain/statistics.js';
import { toCsv } from '../src/routes/statistics.js';

const H = 3_600_000;
const VN = 420;

describe('days in the statistics time zone', () => {
  it('puts an instant on its local day', () => {
    expect(dayOf(Date.parse('2026-10-31T16:59:59Z'), VN)).toBe('2026-10-31');
    expect(dayOf(Date.parse('2026-10-31T17:00:00Z'), VN)).toBe('2026-11-01');
    expect(dayStart('2026-11-01', VN)).toBe(Date.parse('2026-10-31T17:00:00Z'));
  });

  it('reads offsets and real dates only', () => {
    expect(parseUtcOffset('+07:00')).toBe(420);
    expect(parseUtcOffset('-03:30')).toBe(-210);
    expect(() => parseUtcOffset('7')).toThrow();
    expect(parseDay('2026-02-29')).toBeUndefined();
    expect(parseDay('2028-02-29')).toBe('2028-02-29');
    expect(parseDay('2026-1-01')).toBeUndefined();
  });

  it('spreads a spell over the days it covers', () => {
    const start = Date.parse('2026-10-31T15:00:00Z'); // 22:00 local
    expect(splitByDay(start, start + 27 * H, VN)).toEqual([
      { day: '2026-10-31', ms: 2 * H },
      { day: '2026-11-01', ms: 24 * H },
      { day: '2026-11-02', ms: 1 * H },
    ]);
    expect(splitByDay(start, start, VN)).toEqual([]);
  });

  it('cuts a range into months, the first and last partial', () => {
    expect(periodsOf('month', '2026-10-15', '2026-12-03')).toEqual([
      ['2026-10-15', '2026-10-31'],
      ['2026-11-01', '2026-11-30'],
      ['2026-12-01', '2026-12-03'],
    ]);
    expect(periodsOf('day', '2026-12-30', '2027-01-01').map(([d]) => d)).toEqual([
      '2026-12-30',
      '2026-12-31',
      '2027-01-01',
    ]);
    expect(periodsOf('range', '2026-01-01', '2026-12-31')).toEqual([['2026-01-01', '2026-12-31']]);
  });
});

describe('the delivery-time histogram', () => {
  it('has fixed buckets, the last one open', () => {
    expect(LATENCY_BUCKETS).toBe(22);
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1000)).toBe(0);
    expect(latencyBucket(1001)).toBe(1);
    expect(latencyBucket(30 * 24 * H)).toBe(21);
  });

  it('reads the 95th percentile from counts, within one bucket of the exact value', () => {
    // 1000 deliveries: 900 in about 3 s, 100 spread over 1–3 hours.
    const times: number[] = [];
    for (let i = 0; i < 900; i++) times.push(2500 + (i % 10) * 100);
    for (let i = 0; i < 100; i++) times.push(H + i * 72_000);
    const histogram = Array.from({ length: LATENCY_BUCKETS }, () => 0);
    for (const t of times) histogram[latencyBucket(t)]!++;
    const exact = [...times].sort((a, b) => a - b)[Math.ceil(0.95 * times.length) - 1]!;
    const p95 = quantileMs(histogram, 0.95)!;
    const bucket = latencyBucket(exact);
    expect(p95).toBeGreaterThan(LATENCY_BOUNDS_MS[bucket - 1]!);
    expect(p95).toBeLessThanOrEqual(LATENCY_BOUNDS_MS[bucket]!);
    // Sums of histograms are histograms: any range's percentile comes from its days' rows.
    expect(
      quantileMs(
        histogram.map((n) => n * 2),
        0.95,
      ),
    ).toBe(p95);
    expect(
      quantileMs(
        histogram.map(() => 0),
        0.95,
      ),
    ).toBeUndefined();
  });
});

describe('CSV', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "x"')).toBe('"say ""x"""');
    expect(csvField('=1+1')).toBe("'=1+1");
    expect(csvField(-3)).toBe('-3');
  });

  it('writes one header and one line per row', () => {
    const sent = {
      ...emptyTraffic(),
      packages: 3,
      bytes: 30n,
      delivered: 2,
      expired: 1,
      deliveryMsSum: 4000,
    };
    sent.histogram[latencyBucket(1500)] = 1;
    sent.histogram[latencyBucket(2500)] = 1;
    const csv = toCsv([
      {
        unitCode: '000.00.03.H26',
        periodStart: '2026-10-01',
        periodEnd: '2026-10-31',
        counterparty: '',
        sent,
        received: emptyTraffic(),
        connection: { connects: 2, disconnects: 1, onlineMs: 3_600_000, appCount: 1, possibleMs: 7_200_000 },
      },
    ]);
    const [header, line, end] = csv.split('\r\n');
    expect(header?.split(',')).toHaveLength(29);
    expect(line).toBe(
      '000.00.03.H26,2026-10-01,2026-10-31,,3,30,2,0,1,0,0,0,2.000,5.000,0,0,0,0,0,0,0,0,,,2,1,3600.000,0.5,1',
    );
    expect(end).toBe('');
  });
});
