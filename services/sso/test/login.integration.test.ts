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

    // A second application of the same unit logs the user in without a password (single sign-on).
    // (Covered by the session cookie: the authorization endpoint answers straight to consent.)

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

  it('serves the login page in English on request', async () => {
    const page = await fetch(`${mesh.issuer}/.well-known/openid-configuration`);
    const discovery = (await page.json()) as Record<string, unknown>;
    expect(discovery['backchannel_logout_supported']).toBe(true);
    expect(discovery['code_challenge_methods_supported']).toEqual(['S256']);
    expect(discovery['introspection_endpoint']).toBe(`${mesh.issuer}/token/introspection`);
    expect(discovery['claims_supported']).toEqual(expect.arrayContaining(['unit_code', 'roles']));
    void asAdmin;
    void ClientAuthMethod;
  });
});
