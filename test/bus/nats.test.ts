/**
 * Runs the bus contract against a real nats-server. It fails, rather than
 * skips, when the server is unreachable: a silently skipped broker suite would
 * let the JetStream adapter rot unnoticed.
 */
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { connectNatsBus } from '#lib/bus/nats.js';
import { TEST_NATS_URL } from '../support/env.js';
import { busContract } from './bus.contract.js';

// TEST_NATS_URL, else NATS_URL, else nats://127.0.0.1:4222 — as for every integration suite.
const NATS_URL = TEST_NATS_URL;

let admin: NatsConnection | undefined;
let jsm: JetStreamManager | undefined;

beforeAll(async () => {
  try {
    admin = await connect({ servers: NATS_URL, name: 'bus-contract-admin', maxReconnectAttempts: 0 });
    jsm = await jetstreamManager(admin);
  } catch (err) {
    throw new Error(
      `NATS with JetStream is not reachable at ${NATS_URL} (set TEST_NATS_URL or NATS_URL, or start nats-server -js): ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }
});

afterAll(async () => {
  await admin?.drain();
});

async function deleteStream(name: string): Promise<void> {
  try {
    await jsm?.streams.delete(name);
  } catch {
    // Never created, or already gone: nothing to clean.
  }
}

busContract('nats', () => connectNatsBus({ servers: NATS_URL, name: 'bus-contract' }), {
  sharedBroker: true,
  cleanup: async ({ streams, buckets }) => {
    await Promise.all([...streams.map(deleteStream), ...buckets.map((b) => deleteStream(`KV_${b}`))]);
  },
});
