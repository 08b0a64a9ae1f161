/**
 * `npm start`: the whole platform in one process with embedded defaults.
 *
 *   LGSP_DATA_DIR   where data is kept (default .lgsp/data)
 *   PORT            gateway port (default 8080)
 *   DATABASE_URL    a real Postgres instead of PGlite
 *   NATS_URL        a real NATS instead of a private nats-server / the in-process bus
 *   LGSP_MASTER_KEY base64 of 32 bytes encrypting stored secrets (default: kept in the data directory)
 *   LGSP_DEMO_SEED  load the demo unit tree on first start (default true)
 */

import { ConfigError, EnvReader } from '#lib/config.js';
import { runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { startEmbeddedMesh } from '../embedded/mesh.js';

const env = new EnvReader();
const options = {
  dataDir: env.string('LGSP_DATA_DIR', '.lgsp/data'),
  gatewayPort: env.int('PORT', 8080, { min: 0, max: 65535 }),
  databaseUrl: env.url('DATABASE_URL', ['postgres:', 'postgresql:']),
  nats: env.url('NATS_URL', ['nats:', 'tls:']) ?? 'auto',
  seedDemo: env.bool('LGSP_DEMO_SEED', true),
  masterKey: env.base64Key('LGSP_MASTER_KEY', 32),
  logLevel: env.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], 'warn'),
};
try {
  env.done();
} catch (error) {
  // A wrong variable is the user's to fix: say which, without a stack trace.
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(2);
}
const logger = createLogger({ level: options.logLevel });

runUntilSignal(async () => {
  const mesh = await startEmbeddedMesh({
    dataDir: options.dataDir,
    gatewayPort: options.gatewayPort,
    nats: options.nats,
    seedDemo: options.seedDemo,
    logger,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.masterKey ? { masterKey: options.masterKey } : {}),
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
    mesh.firstAdmin === undefined
      ? `  administrator credential                kept in ${mesh.adminEnvFile} since the first start`
      : `  first administrator created            ${mesh.firstAdmin.accessKeyId} (secret in ${mesh.adminEnvFile}, shown once)`,
    `  sign calls with                         set -a; . ${mesh.adminEnvFile}; set +a; clients/shell/lgsp-call <Service/Method> '<json>'`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return mesh;
}, logger);
