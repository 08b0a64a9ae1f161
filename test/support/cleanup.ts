/** Removes what a suite (or a bench run) created on the shared servers: its schemas and its streams. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { TEST_DATABASE_URL, TEST_NATS_URL } from './env.js';

export async function dropSchemas(
  schemas: readonly string[],
  databaseUrl = TEST_DATABASE_URL,
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const schema of schemas)
      await client.query(`drop schema if exists "${schema.replace(/"/g, '')}" cascade`);
  } finally {
    await client.end();
  }
}

/** Deletes every stream of `prefix`: its own (`prefix_`) and its KV buckets' (`KV_prefix_`). */
export async function deleteStreams(prefix: string, natsUrl = TEST_NATS_URL): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const info of jsm.streams.list()) {
      const name = info.config.name;
      if (name.startsWith(`${prefix}_`) || name.startsWith(`KV_${prefix}_`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}
