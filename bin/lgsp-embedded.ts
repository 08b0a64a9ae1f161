/**
 * `npm start`: the whole platform in one process with embedded defaults.
 *
 *   LGSP_DATA_DIR   where data is kept (default .lgsp/data)
 *   PORT            gateway port (default 8080)
 *   DATABASE_URL    a real Postgres instead of PGlite
 *   NATS_URL        a real NATS instead of a private nats-server / the in-process bus
 *   LGSP_DEMO_SEED  load the demo unit tree on first start (default true)
 */

import { EnvReader } from '#lib/config.js';
import { runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { startEmbeddedMesh } from '../embedded/mesh.js';

const env = new EnvReader();
const options = {
  dataDir: env.string('LGSP_DATA_DIR', '.lgsp/data'),
  gatewayPort: env.int('PORT', 8080, { min: 0, max: 65535 }),
  databaseUrl: env.url('DATABASE_URL', ['postgres:', 'postgresql:']),
  nats: env.url('NATS_URL', ['nats:', 'tls:']) ?? 'auto',
  bootstrapToken: env.optionalString('LGSP_BOOTSTRAP_TOKEN'),
  seedDemo: env.bool('LGSP_DEMO_SEED', true),
  logLevel: env.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], 'warn'),
};
env.done();
const logger = createLogger({ level: options.logLevel });

runUntilSignal(async () => {
  const mesh = await startEmbeddedMesh({
    dataDir: options.dataDir,
    gatewayPort: options.gatewayPort,
    nats: options.nats,
    seedDemo: options.seedDemo,
    logger,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.bootstrapToken ? { bootstrapToken: options.bootstrapToken } : {}),
  });
  const lines = [
    '',
    'LGSP is running (embedded mode). Ctrl-C stops it.',
    '',
    `  gateway (gRPC, gRPC-Web, Connect JSON)  ${mesh.gateway.url}`,
    `  health / readiness / metrics            ${mesh.gateway.url}/healthz  /readyz  /metrics`,
    ...mesh.services.map((s) => `  ${s.name.padEnd(39)} ${s.url}`),
    `  database                                ${mesh.database.kind === 'pglite' ? `PGlite in ${options.dataDir}/pglite` : 'DATABASE_URL'}`,
    `  bus                                     ${mesh.busLocation}`,
    '',
    `  operator token (Authorization: Bearer)  ${mesh.bootstrapToken}`,
    `  (kept in ${options.dataDir}/bootstrap-token)`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return mesh;
}, logger);
