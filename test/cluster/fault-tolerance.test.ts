/**
 * The short fault test of the normal suite: on a local cluster (three NATS
 * nodes, two processes of every service and of the gateway, a Postgres of
 * its own), under a steady load of signed transfers through both gateways,
 * one transfer replica is killed (SIGKILL) and started again. Nothing
 * committed is lost, nothing goes to a wrong recipient, delivered content is
 * purged, and the platform answered throughout. `npm run test:faults` runs
 * the whole sequence (test/cluster/fault-tolerance.faults.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOutcome, FaultBed } from './faults.support.js';

let bed: FaultBed;

beforeAll(async () => {
  bed = new FaultBed();
  await bed.start({ senders: 2, pauseMs: 50 });
}, 240_000);

afterAll(async () => {
  await bed?.close();
}, 120_000);

it('a transfer replica killed under load loses nothing', async () => {
  const outcome = await bed.run([{ kind: 'kill', component: 'transfer' }], 3_000, 90_000);
  console.info(`fault test (short)\n${describeOutcome(outcome)}`);
  if (outcome.lost > 0 || outcome.problems.length > 0)
    console.info([...bed.log, ...outcome.problems].join('\n'));
  expect(outcome.sent).toBeGreaterThan(10);
  expect(outcome.sendFailures).toBe(0);
  expect(outcome.lost).toBe(0);
  expect(outcome.misdelivered).toBe(0);
  expect(outcome.notDelivered).toEqual([]);
  expect(outcome.notPurged).toEqual([]);
  expect(outcome.underReplicated).toEqual([]);
  expect(outcome.longestUnavailabilityMs).toBeLessThan(30_000);
}, 300_000);
