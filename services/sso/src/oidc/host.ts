/**
 * Serves the provider over HTTP under its mount (`/oidc`): the interaction
 * pages (interactions.ts) and every oidc-provider endpoint. Keeps the key
 * set current: each replica checks the keys periodically, rotates them when
 * due (one replica at a time) and swaps in a provider built on the new set.
 * All provider state is in Postgres, so swapping the instance loses nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import type { Logger } from '#lib/logger.js';
import type { HttpRoute } from '#lib/rpc/server.js';
import type { SsoConfig } from '../config.js';
import type { SsoDatabase } from '../db/schema.js';
import { type KeySet, loadKeySet, rotateKeys } from '../domain/keys.js';
import type { InteractionDeps } from './interactions.js';
import { interactionHandler } from './interactions.js';
import { buildProvider, type ProviderDeps } from './provider.js';

export interface OidcHostDeps extends ProviderDeps {
  readonly box: SecretBox;
  readonly logger: Logger;
  readonly interactions: Omit<InteractionDeps, 'provider' | 'config' | 'db' | 'box' | 'logger'>;
}

export class OidcHost {
  #provider: Provider | undefined;
  #keys: KeySet | undefined;
  #issuer: string;
  #callback: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  readonly #deps: OidcHostDeps;
  readonly #interactions: ReturnType<typeof interactionHandler>;

  constructor(deps: OidcHostDeps) {
    this.#deps = deps;
    this.#issuer = deps.config.issuer;
    this.#interactions = interactionHandler(
      {
        ...deps.interactions,
        config: deps.config,
        db: deps.db,
        box: deps.box,
        logger: deps.logger,
        provider: () => this.provider,
      },
      this.mount,
    );
  }

  get issuer(): string {
    return this.#issuer;
  }

  /** The path the provider is served under, e.g. `/oidc`. */
  get mount(): string {
    return new URL(this.#issuer).pathname.replace(/\/$/, '');
  }

  get provider(): Provider {
    if (this.#provider === undefined) throw new Error('the OIDC provider is not started');
    return this.#provider;
  }

  get keys(): KeySet {
    if (this.#keys === undefined) throw new Error('the OIDC provider is not started');
    return this.#keys;
  }

  /** Rotates the keys if due and rebuilds the provider when they changed. */
  async refreshKeys(now = new Date()): Promise<boolean> {
    const { config, db, box } = this.#deps;
    await rotateKeys(db as Kysely<SsoDatabase>, box, policyOf(config), now);
    const keys = await loadKeySet(db, box, now);
    if (this.#provider !== undefined && keys.fingerprint === this.#keys?.fingerprint) return false;
    this.#install(keys, this.#issuer);
    return true;
  }

  /** Changes the public issuer (the embedded mode learns the gateway's port only once it listens). */
  setIssuer(issuer: string): void {
    if (this.#keys === undefined) throw new Error('the OIDC provider is not started');
    if (new URL(issuer).pathname.replace(/\/$/, '') !== this.mount) {
      throw new Error(`the issuer must keep the path ${this.mount}`);
    }
    this.#install(this.#keys, issuer.replace(/\/$/, ''));
  }

  #install(keys: KeySet, issuer: string): void {
    const provider = buildProvider(this.#deps, keys, issuer);
    this.#provider = provider;
    this.#keys = keys;
    this.#issuer = issuer;
    this.#callback = provider.callback();
  }

  /** The HTTP handler of everything under the mount. */
  route(): HttpRoute {
    return (req, res) => {
      this.#serve(req as IncomingMessage, res as ServerResponse).catch((error: unknown) => {
        this.#deps.logger.error({ err: error }, 'sso request failed');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('internal error');
        } else res.destroy();
      });
    };
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const original = req.url ?? '/';
    const url = new URL(original, 'http://sso.invalid');
    const mount = this.mount;
    if (!url.pathname.startsWith(`${mount}/`) && url.pathname !== mount) {
      res.writeHead(404);
      res.end();
      return;
    }
    const path = url.pathname.slice(mount.length) || '/';
    if (path.startsWith('/interaction/')) {
      await this.#interactions(req, res, path, url);
      return;
    }
    const callback = this.#callback;
    if (callback === undefined) throw new Error('the OIDC provider is not started');
    // As a framework mounting it would: oidc-provider computes its URLs from the stripped path.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = original;
    req.url = original.slice(mount.length) || '/';
    callback(req, res);
  }
}

function policyOf(config: SsoConfig) {
  return {
    rotationMs: config.keyRotationSeconds * 1000,
    prepublishMs: config.keyPrepublishSeconds * 1000,
    retainMs: config.keyRetainSeconds * 1000,
  };
}
