/**
 * Where the integration tests find the real servers. Both are required: a
 * test run without them fails (see test/global-setup.ts), it never skips.
 */
import { randomBytes } from 'node:crypto';

export const TEST_DATABASE_URL =
  process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_NATS_URL =
  process.env['TEST_NATS_URL'] ?? process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** A name no other suite uses: schemas, stream prefixes, durable names. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}
