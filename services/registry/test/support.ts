/** Starts a registry against the real Postgres and NATS, in a schema and stream prefix of its own. */
import { readFileSync } from 'node:fs';
import { createClient } from '@connectrpc/connect';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { silentLogger } from '#lib/logger.js';
import { createGrpcTransport } from '#lib/rpc/grpc-transport.js';
import { startService } from '#lib/service.js';
import { deleteStreams, dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../../../test/support/env.js';
import type { RegistryConfig } from '../src/config.js';
import { seedUnitTree, type UnitTreeFile } from '../src/db/seed.js';
import { registryModule } from '../src/main.js';

export const demoTree = JSON.parse(
  readFileSync(new URL('../../../deploy/seed/units-example.json', import.meta.url), 'utf8'),
) as UnitTreeFile;

export async function startTestRegistry(options: { seed?: boolean } = {}) {
  const schema = uniqueName('registry');
  const busPrefix = uniqueName('T').toUpperCase();
  const config: RegistryConfig = {
    service: 'registry',
    host: '127.0.0.1',
    port: 0,
    logLevel: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    databaseUrl: TEST_DATABASE_URL,
    dbSchema: schema,
    dataDir: '',
    natsUrl: TEST_NATS_URL,
    busPrefix,
    readMaxBytes: 1024 * 1024,
  };
  const running = await startService(
    registryModule,
    config,
    process.env['TEST_LOG_LEVEL'] ? {} : { logger: silentLogger() },
  );
  if (options.seed ?? true) {
    await seedUnitTree(running.context.db, busPrefix, demoTree, {
      localZone: { code: 'H26', name: 'LGSP H26' },
    });
  }
  const transport = createGrpcTransport({ address: new URL(running.url).host });
  return {
    config,
    running,
    client: createClient(RegistryService, transport),
    async close() {
      transport.close();
      await running.close();
      await dropSchemas([schema]);
      await deleteStreams(busPrefix);
    },
  };
}
