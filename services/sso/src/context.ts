import { hkdfSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AdapterPayload } from 'oidc-provider';
import { type AuditRecorder, createAuditRecorder } from '#lib/audit.js';
import { createSecretBox, type SecretBox } from '#lib/crypto/secret-box.js';
import { type PeriodicTask, startPeriodic } from '#lib/periodic.js';
import type { BaseContext } from '#lib/service.js';
import { connectRegistry, type RegistryPort } from './clients/registry.js';
import type { SsoConfig } from './config.js';
import { sweepExpiredPayloads } from './db/oidc-adapter.js';
import { findRelyingParty, type RelyingPartyRow } from './db/relying-parties.js';
import type { SsoDatabase } from './db/schema.js';
import { OidcHost } from './oidc/host.js';

/** How often each replica checks the signing keys (and rotates them when due). */
const KEY_CHECK_MS = 60_000;
/** How often expired provider state is deleted. */
const SWEEP_MS = 10 * 60_000;

/** Everything the sso service's handlers depend on, built once at start. */
export interface SsoContext extends Omit<BaseContext<SsoConfig>, 'db'> {
  readonly db: Kysely<SsoDatabase>;
  readonly box: SecretBox;
  readonly registry: RegistryPort;
  readonly audit: AuditRecorder;
  /** The OpenID Connect provider and its pages. */
  readonly oidc: OidcHost;
  readonly timers: readonly PeriodicTask[];
}

/** Keys derived from the master key, one per purpose, the same on every replica. */
function derive(masterKey: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `lgsp-sso:${purpose}`, 32));
}

export function sealedSecretContext(clientId: string): string {
  return `sso-client-secret:${clientId}`;
}

export async function createSsoContext(base: BaseContext<SsoConfig>): Promise<SsoContext> {
  const { config, logger, bus } = base;
  if (config.masterKey.length !== 32) {
    throw new Error(
      'the sso service needs its 32-byte master key for signing keys and client secrets (LGSP_MASTER_KEY, config.masterKey)',
    );
  }
  const db = base.db as unknown as Kysely<SsoDatabase>;
  const box = createSecretBox(config.masterKey, config.previousMasterKey);
  const audit = createAuditRecorder(bus, config.busPrefix, 'sso', logger);
  const registry = connectRegistry(config.registryAddr);
  const previousSecrets = new Map<string, { secret: string; until: number }>();

  const clientMetadata = (row: RelyingPartyRow): AdapterPayload => {
    const secret =
      row.secret_sealed === null
        ? undefined
        : box.open(row.secret_sealed, sealedSecretContext(row.client_id)).toString('utf8');
    if (row.previous_secret_sealed !== null && row.previous_secret_expires_at !== null) {
      previousSecrets.set(row.client_id, {
        secret: box.open(row.previous_secret_sealed, sealedSecretContext(row.client_id)).toString('utf8'),
        until: row.previous_secret_expires_at.getTime(),
      });
    } else previousSecrets.delete(row.client_id);
    return {
      client_id: row.client_id,
      client_name: row.name,
      ...(secret === undefined ? {} : { client_secret: secret }),
      redirect_uris: row.redirect_uris,
      post_logout_redirect_uris: row.post_logout_redirect_uris,
      ...(row.backchannel_logout_uri === ''
        ? {}
        : { backchannel_logout_uri: row.backchannel_logout_uri, backchannel_logout_session_required: true }),
      token_endpoint_auth_method: row.auth_method,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: [...new Set(['openid', ...row.allowed_scopes])].join(' '),
      application_type: 'web',
    };
  };

  const oidc = new OidcHost({
    config,
    db,
    box,
    logger,
    // Cookies signed under the previous key stay valid during a rotation.
    cookieKeys: [config.masterKey, ...(config.previousMasterKey ? [config.previousMasterKey] : [])].map(
      (key) => derive(key, 'cookies'),
    ),
    clients: {
      async find(clientId) {
        const row = await findRelyingParty(db, clientId);
        return row === undefined || row.status !== 'active' ? undefined : clientMetadata(row);
      },
    },
    previousSecret: (clientId) => {
      const previous = previousSecrets.get(clientId);
      return previous !== undefined && previous.until > Date.now() ? previous.secret : undefined;
    },
    onServerError: (error) => logger.error({ err: error }, 'oidc provider error'),
    onBackchannelError: (error, clientId) =>
      logger.warn({ err: error, clientId }, 'back-channel logout not delivered'),
    onLogout: (accountId, clientId) => logger.info({ accountId, clientId }, 'sso logout'),
    interactions: {
      audit,
      formKey: derive(config.masterKey, 'forms'),
      clientName: async (clientId) => (await findRelyingParty(db, clientId))?.name ?? clientId,
    },
  });
  await oidc.refreshKeys();

  const timers = [
    startPeriodic({
      name: 'sso-keys',
      intervalMs: KEY_CHECK_MS,
      firstDelayMs: KEY_CHECK_MS,
      logger,
      pass: async () => {
        if (await oidc.refreshKeys())
          logger.info({ keys: oidc.keys.fingerprint }, 'sso signing keys changed');
      },
    }),
    startPeriodic({
      name: 'sso-sweep',
      intervalMs: SWEEP_MS,
      firstDelayMs: SWEEP_MS,
      logger,
      pass: async () => {
        await sweepExpiredPayloads(db);
      },
    }),
  ];
  return { ...base, db, box, registry, audit, oidc, timers };
}

export async function disposeSsoContext(ctx: SsoContext): Promise<void> {
  for (const timer of ctx.timers) await timer.stop();
  ctx.registry.close();
}
