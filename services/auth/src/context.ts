import type { Kysely } from 'kysely';
import { type AuditRecorder, createAuditRecorder } from '#lib/audit.js';
import { type NonceStore, openNonceStore } from '#lib/auth/nonces.js';
import type { VerifyPolicy } from '#lib/auth/verify-request.js';
import { createSecretBox, type SecretBox } from '#lib/crypto/secret-box.js';
import type { BaseContext } from '#lib/service.js';
import { connectRegistry, type RegistryPort } from './clients/registry.js';
import type { AuthConfig } from './config.js';
import { authSubjects } from './db/events.js';
import type { AuthDatabase } from './db/schema.js';
import { createSessionKeys, type SessionKeys } from './domain/session-keys.js';

/** Everything the auth service's handlers depend on, built once at start. */
export interface AuthContext extends Omit<BaseContext<AuthConfig>, 'db'> {
  readonly db: Kysely<AuthDatabase>;
  readonly secretBox: SecretBox;
  readonly registry: RegistryPort;
  readonly sessionKeys: SessionKeys;
  /** Nonces already spent, shared with every gateway replica (NATS KV). */
  readonly nonces: NonceStore;
  readonly policy: VerifyPolicy;
  readonly audit: AuditRecorder;
  /**
   * Tells every verifier to drop its cached material of these keys now
   * (revocation, rotation, expiry). Call after the commit; never throws.
   */
  announceStale(accessKeyIds: readonly string[]): Promise<void>;
}

export async function createAuthContext(base: BaseContext<AuthConfig>): Promise<AuthContext> {
  const { config, logger, bus } = base;
  if (config.masterKey === undefined || config.masterKey.length !== 32) {
    throw new Error('the auth service needs its 32-byte master key (LGSP_MASTER_KEY, config.masterKey)');
  }
  const db = base.db as unknown as Kysely<AuthDatabase>;
  const secretBox = createSecretBox(config.masterKey, config.previousMasterKey);
  const maxSkewMs = config.maxClockSkewSeconds * 1000;
  const nonces = await openNonceStore(bus, config.busPrefix, maxSkewMs);
  const revoked = authSubjects(config.busPrefix).revoked;
  return {
    ...base,
    db,
    secretBox,
    registry: connectRegistry(config.registryAddr),
    sessionKeys: createSessionKeys(db, secretBox),
    nonces,
    policy: { maxSkewMs, allowHmacSha1: config.allowHmacSha1 },
    audit: createAuditRecorder(bus, config.busPrefix, 'auth', logger),
    async announceStale(accessKeyIds) {
      for (const id of accessKeyIds) {
        await bus.broadcast(revoked, Buffer.from(id, 'utf8')).catch((err: unknown) => {
          logger.warn(
            { err, accessKeyId: id },
            'cache invalidation not broadcast; caches expire on their TTL',
          );
        });
      }
    },
  };
}

export async function disposeAuthContext(ctx: AuthContext): Promise<void> {
  ctx.registry.close();
}
