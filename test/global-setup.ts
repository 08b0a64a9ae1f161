/**
 * Runs once before any test: checks that the real Postgres and NATS answer,
 * and fails the whole run with a clear message when one does not.
 */
import net from 'node:net';
import pg from 'pg';
import { TEST_DATABASE_URL, TEST_NATS_URL } from './support/env.js';

export default async function setup(): Promise<void> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    problems.push(
      `PostgreSQL at ${redact(TEST_DATABASE_URL)} is not reachable (${(error as Error).message})`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  const nats = new URL(TEST_NATS_URL);
  if (!(await reachable(nats.hostname, Number(nats.port || 4222)))) {
    problems.push(`NATS at ${TEST_NATS_URL} is not reachable`);
  }
  if (problems.length > 0) {
    throw new Error(
      `integration tests need real servers:\n  - ${problems.join('\n  - ')}\n` +
        'start them (see README, "Running the tests") or point TEST_DATABASE_URL / TEST_NATS_URL at them',
    );
  }
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}
