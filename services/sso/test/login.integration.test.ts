/**
 * A registered application logs a user in and out through the platform
 * (Art. 11): an independent relying party on openid-client, which knows only
 * the discovery URL and its credentials, a browser submitting the login pages,
 * and a back-channel logout endpoint.
 */

import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientAuthMethod } from '#gen/lgsp/sso/v1/resources_pb.js';
import { postJson } from '../../../test/e2e/support.js';
import {
  asAdmin,
  asUnitAdmin,
  BackchannelReceiver,
  Browser,
  FINANCE,
  type SsoMesh,
  startSsoMesh,
  submitLogin,
} from './support.js';

const CALLBACK = 'http://127.0.0.1:9/callback';
const AFTER_LOGOUT = 'http://127.0.0.1:9/logged-out';
const SECOND_CALLBACK = 'http://localhost:9/spa/callback';

let mesh: SsoMesh;
let receiver: BackchannelReceiver;

beforeAll(async () => {
  mesh = await startSsoMesh();
  receiver = new BackchannelReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await mesh?.close();
});

describe('single sign-on with an independent relying party', () => {
  it('registers an application, logs a staff member in with code + PKCE, refreshes, reads userinfo, and logs out everywhere', async () => {
    const backchannel = await receiver.start();
    // A province administrator registers the application through the gateway, signed, as Art. 11 describes.
    const registered = await postJson(
      mesh.e2e.url,
      'RegisterRelyingParty',
      {
        name: 'Quản lý văn bản Sở Tài chính',
        unitCode: FINANCE,
        redirectUris: [CALLBACK],
        postLogoutRedirectUris: [AFTER_LOGOUT],
        backchannelLogoutUri: backchannel,
        allowedScopes: ['openid', 'profile', 'email', 'unit', 'roles'],
      },
      { service: 'lgsp.sso.v1.SsoService', signer: mesh.e2e.admin },
    );
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
    const rp = registered.body.relyingParty;
    const secret: string = registered.body.clientSecret;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The answer says exactly which URLs to configure, all under the gateway's origin.
    expect(registered.body.endpoints).toMatchObject({
      issuer: mesh.issuer,
      discoveryUrl: `${mesh.issuer}/.well-known/openid-configuration`,
      authorizationEndpoint: `${mesh.issuer}/auth`,
      tokenEndpoint: `${mesh.issuer}/token`,
      endSessionEndpoint: `${mesh.issuer}/session/end`,
      userinfoEndpoint: `${mesh.issuer}/me`,
      jwksUri: `${mesh.issuer}/jwks`,
    });

    // A unit administrator of the same unit creates a staff account.
    const created = await mesh.client.createUser(
      {
        username: 'nguyenvana.stc',
        fullName: 'Nguyễn Văn A',
        email: 'nva@stc.example.gov.vn',
        unitCode: FINANCE,
        roles: ['unit_staff', 'unit_viewer'],
      },
      asUnitAdmin(FINANCE),
    );
    const user = created.user!;
    expect(created.initialPassword).toHaveLength(16);

    // The relying party: openid-client, configured from the discovery URL alone.
    const config = await oidc.discovery(new URL(mesh.issuer), rp.clientId, secret, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    expect(config.serverMetadata().issuer).toBe(mesh.issuer);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile email unit roles',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });

    // The browser: login page in Vietnamese, with the application's name.
    const browser = new Browser();
    const started = Date.now();
    const login = await browser.follow(authUrl.href, CALLBACK);
    expect(login.page?.html).toContain('Đăng nhập');
    expect(login.page?.html).toContain('Quản lý văn bản Sở Tài chính');
    expect(login.page?.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(login.page?.html).not.toContain('<script');
    // The one-time password, then the forced change of password, then consent.
    const changePage = await submitLogin(
      browser,
      login.page!,
      'nguyenvana.stc',
      created.initialPassword,
      CALLBACK,
    );
    expect(changePage.page?.html).toContain('Đổi mật khẩu');
    const change = changePage.page!.form('/password');
    const consentPage = await browser.follow(change.action, CALLBACK, {
      form: { ...change.fields, new_password: 'Mat-khau-moi-2024', confirm_password: 'Mat-khau-moi-2024' },
    });
    expect(consentPage.page?.html).toContain('Cho phép truy cập');
    const allow = consentPage.page!.form('/confirm');
    const back = await browser.follow(allow.action, CALLBACK, { form: allow.fields });
    const loginMs = Date.now() - started;
    expect(back.callback, back.page?.html).toBeDefined();

    // Code for tokens, checked by the relying party (state, nonce, PKCE, ID token signature).
    const tokens = await oidc.authorizationCodeGrant(config, back.callback!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      iss: mesh.issuer,
      sub: user.id,
      aud: rp.clientId,
      name: 'Nguyễn Văn A',
      preferred_username: 'nguyenvana.stc',
      unit_code: FINANCE,
      roles: ['unit_staff', 'unit_viewer'],
    });
    expect(tokens.refresh_token).toBeTruthy();
    // The ID token is signed by the key the provider publishes.
    const jwks = createRemoteJWKSet(new URL(`${mesh.issuer}/jwks`));
    await jwtVerify(tokens.id_token!, jwks, { issuer: mesh.issuer, audience: rp.clientId });

    const info = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info).toMatchObject({ sub: user.id, email: 'nva@stc.example.gov.vn', unit_code: FINANCE });

    const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, sub: user.id, client_id: rp.clientId });

    // Refresh: a new access token, and the refresh token rotates.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toThrow();

    // A second application, a public client (PKCE, no secret): the same browser is
    // logged in already, so it is asked only to consent, never for the password.
    const second = await mesh.client.registerRelyingParty(
      {
        name: 'Cổng thông tin nội bộ',
        unitCode: FINANCE,
        redirectUris: [SECOND_CALLBACK],
        authMethod: ClientAuthMethod.NONE,
      },
      asUnitAdmin(FINANCE),
    );
    expect(second.clientSecret).toBe('');
    const spa = await oidc.discovery(
      new URL(mesh.issuer),
      second.relyingParty!.clientId,
      undefined,
      oidc.None(),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const spaVerifier = oidc.randomPKCECodeVerifier();
    const spaAuth = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SECOND_CALLBACK,
      scope: 'openid unit roles',
      code_challenge: await oidc.calculatePKCECodeChallenge(spaVerifier),
      code_challenge_method: 'S256',
      state: 'spa',
    });
    const spaConsent = await browser.follow(spaAuth.href, SECOND_CALLBACK);
    expect(spaConsent.page?.html).not.toContain('name="password"');
    const spaAllow = spaConsent.page!.form('/confirm');
    const spaBack = await browser.follow(spaAllow.action, SECOND_CALLBACK, { form: spaAllow.fields });
    const spaTokens = await oidc.authorizationCodeGrant(spa, spaBack.callback!, {
      pkceCodeVerifier: spaVerifier,
      expectedState: 'spa',
    });
    expect(spaTokens.claims()).toMatchObject({ sub: user.id, unit_code: FINANCE });
    // Without PKCE a public client gets nothing.
    const noPkce = new URL(spaAuth);
    noPkce.searchParams.delete('code_challenge');
    noPkce.searchParams.delete('code_challenge_method');
    const refusedNoPkce = await browser.follow(noPkce.href, SECOND_CALLBACK);
    expect(refusedNoPkce.callback?.searchParams.get('error')).toBe('invalid_request');

    // RP-initiated logout: the browser is sent to the end-session endpoint, confirms,
    // and lands on the registered post-logout URI; the back channel is told.
    const endUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: AFTER_LOGOUT,
      state: 'bye',
    });
    const confirm = await browser.follow(endUrl.href, AFTER_LOGOUT);
    expect(confirm.page?.html).toContain('Đăng xuất');
    const form = confirm.page!.form('/session/end/confirm');
    const out = await browser.follow(form.action, AFTER_LOGOUT, { form: { ...form.fields, logout: 'yes' } });
    expect(out.callback?.searchParams.get('state')).toBe('bye');

    expect(receiver.tokens).toHaveLength(1);
    const logout = await jwtVerify(receiver.tokens[0]!, jwks, { issuer: mesh.issuer, audience: rp.clientId });
    expect(logout.payload.sub).toBe(user.id);
    expect(logout.payload['sid']).toBe(claims['sid']);
    expect(logout.payload['events']).toHaveProperty(['http://schemas.openid.net/event/backchannel-logout']);
    expect(decodeJwt(receiver.tokens[0]!).nonce).toBeUndefined();

    // The session is over: the refresh token and the access token are dead.
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toThrow();
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
    // And the next authorization asks for the password again.
    const again = await browser.follow(authUrl.href, CALLBACK);
    expect(again.page?.html).toContain('name="password"');
    console.info(`login round trip (pages + redirects, no token call): ${loginMs} ms`);
  });

  it('serves the login page in English on request, and the discovery document with every endpoint', async () => {
    const rp = await mesh.client.registerRelyingParty(
      { name: 'Ứng dụng <b>thử</b>', unitCode: FINANCE, redirectUris: [CALLBACK] },
      asAdmin(),
    );
    const config = await oidc.discovery(
      new URL(mesh.issuer),
      rp.relyingParty!.clientId,
      rp.clientSecret,
      undefined,
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const browser = new Browser();
    const vi = await browser.follow(url.href, CALLBACK);
    expect(vi.page?.html).toContain('<html lang="vi">');
    // The name is escaped, never markup.
    expect(vi.page?.html).toContain('Ứng dụng &lt;b&gt;thử&lt;/b&gt;');
    const en = await browser.follow(`${vi.page!.url}?lang=en`, CALLBACK);
    expect(en.page?.html).toContain('<html lang="en">');
    expect(en.page?.html).toContain('<label for="password">Password</label>');
    const byHeader = await browser.request(vi.page!.url, {
      headers: { 'accept-language': 'en-US,en;q=0.9' },
    });
    expect(await byHeader.text()).toContain('Log in');
    // Cookies are httpOnly and SameSite; the provider's own are signed.
    expect(browser.cookieNames()).toEqual(
      expect.arrayContaining(['lgsp_sso_interaction', 'lgsp_sso_interaction.sig']),
    );

    const discovery = (await (
      await fetch(`${mesh.issuer}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({
      issuer: mesh.issuer,
      backchannel_logout_supported: true,
      code_challenge_methods_supported: ['S256'],
      introspection_endpoint: `${mesh.issuer}/token/introspection`,
      revocation_endpoint: `${mesh.issuer}/token/revocation`,
      end_session_endpoint: `${mesh.issuer}/session/end`,
      response_types_supported: ['code'],
    });
    expect(discovery['claims_supported']).toEqual(expect.arrayContaining(['unit_code', 'roles']));
    const info = await mesh.client.getProviderInfo({});
    expect(info.endpoints?.discoveryUrl).toBe(`${mesh.issuer}/.well-known/openid-configuration`);
  });

  it('rotates the signing key: the next key is published before it signs, the old one stays until its tokens expire', async () => {
    const jwks = async () =>
      ((await (await fetch(`${mesh.issuer}/jwks`)).json()) as { keys: { kid: string; d?: string }[] }).keys;
    const before = await jwks();
    expect(before).toHaveLength(1);
    expect(before[0]!.d).toBeUndefined();
    const config = mesh.sso.context.config;
    const day = 86_400_000;
    const start = Date.now();
    // Due for rotation: the next key is published, the current one still signs.
    await mesh.sso.context.oidc.refreshKeys(new Date(start + config.keyRotationSeconds * 1000 - day / 2));
    const published = await jwks();
    expect(published.map((k) => k.kid)).toEqual([before[0]!.kid, expect.any(String)]);
    // Its time comes: it signs, and the old one is still published.
    await mesh.sso.context.oidc.refreshKeys(new Date(start + config.keyRotationSeconds * 1000 + day));
    const switched = await jwks();
    expect(switched.map((k) => k.kid)).toEqual([published[1]!.kid, before[0]!.kid]);
    // After the retention period the old key is gone.
    await mesh.sso.context.oidc.refreshKeys(
      new Date(start + config.keyRotationSeconds * 1000 + day + config.keyRetainSeconds * 1000 + day),
    );
    expect((await jwks()).map((k) => k.kid)).not.toContain(before[0]!.kid);
    // Private halves are sealed at rest: no stored column holds the key in clear.
    const rows = await mesh.sso.context.db.selectFrom('signing_keys').selectAll().execute();
    for (const row of rows) {
      expect(Buffer.from(row.private_jwk_sealed).toString('utf8')).not.toContain('"d"');
      expect(row.public_jwk).not.toHaveProperty('d');
    }
  });
});
