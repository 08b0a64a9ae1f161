/**
 * The oidc-provider configuration: which flows, endpoints and claims the
 * province's single sign-on offers, its storage (db/oidc-adapter.ts), its
 * accounts (the users table) and its pages (pages.ts).
 */

import type { Kysely } from 'kysely';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { SsoConfig } from '../config.js';
import { type ClientSource, createAdapterFactory } from '../db/oidc-adapter.js';
import type { SsoDatabase } from '../db/schema.js';
import { accountState, findUserById } from '../db/users.js';
import type { KeySet } from '../domain/keys.js';
import { escapeHtml, langOf, PAGE_HEADERS, page, t } from './pages.js';

/** Scopes an application may ask for, and the claims each one releases. */
export const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  openid: ['sub'],
  profile: ['name', 'preferred_username', 'updated_at'],
  email: ['email'],
  phone: ['phone_number'],
  unit: ['unit_code'],
  roles: ['roles'],
};
export const SCOPES = [...Object.keys(SCOPE_CLAIMS), 'offline_access'];
export const DEFAULT_SCOPES = ['openid', 'profile', 'unit', 'roles'];

export interface ProviderDeps {
  readonly config: SsoConfig;
  readonly db: Kysely<SsoDatabase>;
  readonly clients: ClientSource;
  /** Previous client secrets still accepted during their grace period, by client id. */
  readonly previousSecret: (clientId: string) => string | undefined;
  /** Keys of the provider's signed cookies (from the master key: the same on every replica). */
  readonly cookieKeys: readonly Buffer[];
  readonly onServerError: (error: unknown) => void;
  readonly onBackchannelError: (error: unknown, clientId: string) => void;
  readonly onLogout: (accountId: string | undefined, clientId: string | undefined) => void;
}

export function buildProvider(deps: ProviderDeps, keys: KeySet, issuer: string): Provider {
  const { config } = deps;
  const mount = new URL(issuer).pathname.replace(/\/$/, '');
  const configuration: Configuration = {
    adapter: createAdapterFactory(deps.db, deps.clients),
    jwks: { keys: keys.keys as unknown as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: deps.cookieKeys.map((k) => k.toString('base64url')),
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
      names: { session: 'lgsp_sso_session', interaction: 'lgsp_sso_interaction', resume: 'lgsp_sso_resume' },
    },
    claims: Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([k, v]) => [k, [...v]])),
    scopes: SCOPES,
    responseTypes: ['code'],
    // The ID token carries the claims of the granted scopes (unit code, roles), not only userinfo.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    clockTolerance: 5,
    features: {
      devInteractions: { enabled: false },
      // An application may introspect only the tokens issued to it, authenticating with its secret.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) =>
          client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
      },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          const lang = langOf(new URL(ctx.href), ctx.req.headers);
          const formHtml = form.replace('<form ', '<form aria-label="logout" ');
          ctx.set(PAGE_HEADERS);
          ctx.body = page({
            lang,
            title: t(lang, 'title_logout'),
            body: `<p>${t(lang, 'logout_question')}</p>
${formHtml}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>${t(lang, 'submit_logout')}</button>
<button type="submit" form="op.logoutForm" class="secondary">${t(lang, 'submit_stay')}</button>`,
          });
        },
        postLogoutSuccessSource: async (ctx) => {
          const lang = langOf(new URL(ctx.href), ctx.req.headers);
          ctx.set(PAGE_HEADERS);
          ctx.body = page({
            lang,
            title: t(lang, 'title_logged_out'),
            body: `<p>${t(lang, 'logged_out')}</p>`,
          });
        },
      },
    },
    ttl: {
      AccessToken: config.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: config.idTokenTtlSeconds,
      RefreshToken: config.refreshTokenTtlSeconds,
      Interaction: 30 * 60,
      Session: config.sessionTtlSeconds,
      Grant: config.refreshTokenTtlSeconds,
    },
    // Every application with the refresh_token grant gets one; it ends with the login session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    interactions: { url: async (_ctx, interaction) => `${mount}/interaction/${interaction.uid}` },
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
    findAccount: async (_ctx, sub) => {
      const user = await findUserById(deps.db, sub);
      // A disabled or administratively locked account has no session and gets no tokens.
      if (user === undefined || accountState(user) === 'disabled') return undefined;
      if (user.status === 'locked' && user.locked_until === null) return undefined;
      return {
        accountId: user.id,
        claims: async () => ({
          sub: user.id,
          name: user.full_name,
          preferred_username: user.username,
          updated_at: Math.floor(user.updated_at.getTime() / 1000),
          ...(user.email === '' ? {} : { email: user.email }),
          ...(user.phone === '' ? {} : { phone_number: user.phone }),
          unit_code: user.unit_code,
          roles: user.roles,
        }),
      };
    },
    renderError: async (ctx: KoaContextWithOIDC, out, _error) => {
      const lang = langOf(new URL(ctx.href), ctx.req.headers);
      ctx.set(PAGE_HEADERS);
      ctx.type = 'html';
      ctx.body = page({
        lang,
        title: t(lang, 'title_error'),
        body: `<p class="alert" role="alert">${t(lang, 'error_intro')}</p>
<p>${t(lang, 'error_code')}: <code>${escapeHtml(String(out.error ?? ''))}</code></p>
${out.error_description === undefined ? '' : `<p>${escapeHtml(String(out.error_description))}</p>`}`,
      });
    },
    // Back-channel logout calls: public addresses only, unless local networks are allowed (development, a provincial WAN).
    fetch: config.allowInsecureLocal
      ? (url, options) => {
          const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
          return globalThis.fetch(url, rest);
        }
      : (url, options) => globalThis.fetch(url, options),
  };
  const provider = new Provider(issuer, configuration);
  provider.proxy = true;

  // A rotated client secret: the previous one is accepted until its grace period ends.
  const ClientClass = provider.Client as unknown as {
    prototype: { compareClientSecret(actual: string): Promise<boolean>; clientId: string };
  };
  const compare = ClientClass.prototype.compareClientSecret;
  ClientClass.prototype.compareClientSecret = async function (this: { clientId: string }, actual: string) {
    if (await compare.call(this, actual)) return true;
    const previous = deps.previousSecret(this.clientId);
    return previous !== undefined && (await compare.call({ ...this, clientSecret: previous }, actual));
  };

  provider.on('server_error', (_ctx: unknown, error: unknown) => deps.onServerError(error));
  provider.on('backchannel.error', (_ctx: unknown, error: unknown, client: { clientId: string }) =>
    deps.onBackchannelError(error, client.clientId),
  );
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) =>
    deps.onLogout(ctx.oidc.session?.accountId, ctx.oidc.client?.clientId),
  );
  return provider;
}
