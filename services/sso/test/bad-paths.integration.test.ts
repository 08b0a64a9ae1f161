/**
 * What must be refused: wrong passwords and the lockout they lead to, a
 * redirect URI nobody registered, an authorization code used twice, a state
 * or nonce that does not match, an expired token at introspection, and a unit
 * administrator reaching into another unit's applications and users. Also the
 * TOTP second factor and the grace period of a rotated client secret.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { sql } from 'kysely';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelyingPartyStatus, UserStatus } from '#gen/lgsp/sso/v1/resources_pb.js';
import { currentTotp } from '../src/domain/totp.js';
import {
  asAdmin,
  asUnitAdmin,
  Browser,
  FINANCE,
  HEALTH,
  type SsoMesh,
  startSsoMesh,
  submitLogin,
} from './support.js';

const CALLBACK = 'http://127.0.0.1:9/cb';
const PASSWORD = 'Mat-khau-rat-dai-1';

let mesh: SsoMesh;
let clientId: string;
let secret: string;

beforeAll(async () => {
  mesh = await startSsoMesh();
  const rp = await mesh.client.registerRelyingParty(
    { name: 'Một cửa điện tử', unitCode: FINANCE, redirectUris: [CALLBACK] },
    asUnitAdmin(FINANCE),
  );
  clientId = rp.relyingParty!.clientId;
  secret = rp.clientSecret;
});
afterAll(async () => {
  await mesh?.close();
});

/** A user of FINANCE whose password is already changed. */
async function newUser(username: string): Promise<string> {
  const created = await mesh.client.createUser(
    { username, fullName: 'Trần Thị B', unitCode: FINANCE, roles: ['unit_staff'] },
    asAdmin(),
  );
  const id = created.user!.id;
  await mesh.sso.context.db
    .updateTable('users')
    .set({
      password_hash: await (await import('../src/domain/passwords.js')).hashPassword(PASSWORD),
      password_change_required: false,
    })
    .where('id', '=', id)
    .execute();
  return id;
}

async function relyingParty(key = secret) {
  return oidc.discovery(new URL(mesh.issuer), clientId, key, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
}

async function authorize(config: oidc.Configuration, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid profile unit roles',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

/** Logs `username` in through the pages and returns the callback URL. */
async function loginToCallback(browser: Browser, url: URL, username: string): Promise<URL> {
  const login = await browser.follow(url.href, CALLBACK);
  let step = await submitLogin(browser, login.page!, username, PASSWORD, CALLBACK);
  if (step.page?.html.includes('/confirm')) {
    const allow = step.page.form('/confirm');
    step = await browser.follow(allow.action, CALLBACK, { form: allow.fields });
  }
  if (step.callback === undefined) throw new Error(`no callback: ${step.page?.html.slice(0, 500)}`);
  return step.callback;
}

function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

describe('logins refused', () => {
  it('refuses a wrong password, locks the account after five, and an administrator unlocks it', async () => {
    const id = await newUser('lockout.stc');
    const config = await relyingParty();
    const browser = new Browser();
    const { url } = await authorize(config);
    let page = (await browser.follow(url.href, CALLBACK)).page!;
    for (let i = 1; i <= 5; i++) {
      const answer = await submitLogin(browser, page, 'lockout.stc', `sai-mat-khau-${i}`, CALLBACK);
      expect(answer.callback).toBeUndefined();
      page = answer.page!;
      if (i < 5) {
        expect(answer.status).toBe(401);
        expect(page.alert()).toBe('Tên đăng nhập hoặc mật khẩu không đúng.');
      }
    }
    expect(page.alert()).toContain('Tài khoản đang bị khóa');
    // Locked: the right password does not open it either.
    const locked = await submitLogin(browser, page, 'lockout.stc', PASSWORD, CALLBACK);
    expect(locked.status).toBe(403);
    expect(locked.callback).toBeUndefined();
    const user = await mesh.client.getUser({ key: { case: 'id', value: id } }, asUnitAdmin(FINANCE));
    expect(user.user?.status).toBe(UserStatus.LOCKED);
    // An unknown username gets the same answer as a wrong password.
    const unknown = await submitLogin(browser, locked.page!, 'khong.ton.tai', PASSWORD, CALLBACK);
    expect(unknown.page?.alert()).toBe('Tên đăng nhập hoặc mật khẩu không đúng.');

    await mesh.client.setUserStatus(
      { id, status: UserStatus.ACTIVE, reason: 'đã xác minh' },
      asUnitAdmin(FINANCE),
    );
    const callback = await loginToCallback(new Browser(), (await authorize(config)).url, 'lockout.stc');
    expect(callback.searchParams.get('code')).toBeTruthy();
  });

  it('asks for the TOTP code when the second factor is on, and refuses a wrong one', async () => {
    const id = await newUser('totp.stc');
    const totp = await mesh.client.setUserTotp({ id, enabled: true }, asUnitAdmin(FINANCE));
    expect(totp.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    expect(totp.user?.totpEnabled).toBe(true);
    const config = await relyingParty();
    const browser = new Browser();
    const { url } = await authorize(config);
    const login = await browser.follow(url.href, CALLBACK);
    const second = await submitLogin(browser, login.page!, 'totp.stc', PASSWORD, CALLBACK);
    expect(second.page?.html).toContain('Xác thực hai lớp');
    const form = second.page!.form('/totp');
    const wrong = await browser.follow(form.action, CALLBACK, { form: { ...form.fields, code: '000000' } });
    expect(wrong.page?.alert()).toBe('Mã xác thực không đúng hoặc đã được dùng.');
    const retry = wrong.page!.form('/totp');
    let done = await browser.follow(retry.action, CALLBACK, {
      form: { ...retry.fields, code: currentTotp(totp.secret) },
    });
    if (done.page?.html.includes('/confirm')) {
      const allow = done.page.form('/confirm');
      done = await browser.follow(allow.action, CALLBACK, { form: allow.fields });
    }
    expect(done.callback?.searchParams.get('code')).toBeTruthy();
  });

  it('never sends the browser to a redirect URI nobody registered', async () => {
    const config = await relyingParty();
    const { url } = await authorize(config);
    url.searchParams.set('redirect_uri', 'https://evil.example/steal');
    const answer = await new Browser().follow(url.href, 'https://evil.example');
    expect(answer.callback).toBeUndefined();
    expect(answer.status).toBe(400);
    expect(answer.page?.html).toContain('redirect_uri');
    expect(answer.page?.html).not.toContain('<script');
  });

  it('refuses a forged form (no CSRF token) and a form of another browser', async () => {
    const config = await relyingParty();
    const { url } = await authorize(config);
    const browser = new Browser();
    const login = await browser.follow(url.href, CALLBACK);
    const { action, fields } = login.page!.form('/login');
    const forged = await browser.follow(action, CALLBACK, {
      form: { ...fields, csrf: 'forged', username: 'x', password: 'y' },
    });
    expect(forged.status).toBe(403);
    // Another browser (no interaction cookie) posting the same form gets nowhere.
    const other = await new Browser().follow(action, CALLBACK, {
      form: { ...fields, username: 'x', password: 'y' },
    });
    expect(other.callback).toBeUndefined();
    expect(other.status).toBe(400);
  });
});

describe('tokens refused', () => {
  it('revokes what a reused authorization code gave, and refuses the second use', async () => {
    await newUser('reuse.stc');
    const config = await relyingParty();
    const auth = await authorize(config);
    const callback = await loginToCallback(new Browser(), auth.url, 'reuse.stc');
    const checks = { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce };
    const first = await oidc.authorizationCodeGrant(config, callback, checks);
    await expect(oidc.authorizationCodeGrant(config, callback, checks)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect((await oidc.tokenIntrospection(config, first.access_token)).active).toBe(false);
  });

  it('refuses a tampered state and a tampered nonce', async () => {
    await newUser('tamper.stc');
    const config = await relyingParty();
    const auth = await authorize(config);
    const callback = await loginToCallback(new Browser(), auth.url, 'tamper.stc');
    const tampered = new URL(callback);
    tampered.searchParams.set('state', 'tampered');
    await expect(
      oidc.authorizationCodeGrant(config, tampered, {
        pkceCodeVerifier: auth.verifier,
        expectedState: auth.state,
        expectedNonce: auth.nonce,
      }),
    ).rejects.toSatisfy((e: Error) => /"state"/.test(`${e.message} ${(e.cause as Error)?.message}`));
    // The nonce in the ID token is the one sent, so a relying party expecting another refuses it.
    await expect(
      oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: auth.verifier,
        expectedState: auth.state,
        expectedNonce: 'tampered-nonce',
      }),
    ).rejects.toSatisfy((e: Error) => /"nonce"/.test(`${e.message} ${(e.cause as Error)?.message}`));
  });

  it('answers inactive for an expired access token at introspection', async () => {
    await newUser('expired.stc');
    const config = await relyingParty();
    const auth = await authorize(config);
    const callback = await loginToCallback(new Browser(), auth.url, 'expired.stc');
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: auth.verifier,
      expectedState: auth.state,
      expectedNonce: auth.nonce,
    });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    // Time passes for this token: its expiry, as stored and as signed into the payload, is now behind us.
    const past = Math.floor(Date.now() / 1000) - 5;
    await mesh.sso.context.db
      .updateTable('oidc_payloads')
      .set({
        expires_at: new Date(past * 1000),
        payload: sql`jsonb_set(payload, '{exp}', to_jsonb(${past}::int))`,
      })
      .where('model', '=', 'AccessToken')
      .where('id', '=', tokens.access_token)
      .execute();
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(config, tokens.access_token, oidc.skipSubjectCheck)).rejects.toThrow();
  });

  it('keeps the previous client secret working through its grace period after a rotation', async () => {
    const rotated = await mesh.client.rotateRelyingPartySecret({ clientId }, asUnitAdmin(FINANCE));
    expect(rotated.clientSecret).not.toBe(secret);
    for (const key of [secret, rotated.clientSecret]) {
      const config = await relyingParty(key);
      const answer = await oidc.tokenIntrospection(config, 'not-a-token');
      expect(answer.active).toBe(false);
    }
    await expect(oidc.tokenIntrospection(await relyingParty('wrong-secret'), 'x')).rejects.toThrow();
    secret = rotated.clientSecret;
  });
});

describe('unit administrators stay within their units', () => {
  it("refuses a unit administrator another unit's applications and users", async () => {
    const health = asUnitAdmin(HEALTH);
    const refused = async (call: Promise<unknown>) =>
      expect(codeOf(await call.catch((e: unknown) => e))).toBe(Code.PermissionDenied);
    await refused(
      mesh.client.registerRelyingParty({ name: 'x', unitCode: FINANCE, redirectUris: [CALLBACK] }, health),
    );
    await refused(mesh.client.getRelyingParty({ clientId }, health));
    await refused(
      mesh.client.updateRelyingParty(
        { clientId, status: RelyingPartyStatus.DISABLED, updatePaths: ['status'] },
        health,
      ),
    );
    await refused(mesh.client.rotateRelyingPartySecret({ clientId }, health));
    await refused(mesh.client.listRelyingParties({ unitCode: FINANCE }, health));
    await refused(mesh.client.createUser({ username: 'xx.syt', fullName: 'X', unitCode: FINANCE }, health));
    // Listing without a unit shows only their own unit's.
    const own = await mesh.client.listRelyingParties({}, health);
    expect(own.relyingParties.map((r) => r.unitCode)).not.toContain(FINANCE);
    // Nor may a unit administrator make anyone a province administrator.
    await refused(
      mesh.client.createUser(
        { username: 'yy.syt', fullName: 'Y', unitCode: HEALTH, roles: ['admin'] },
        health,
      ),
    );
    // Its own unit's: allowed.
    const mine = await mesh.client.registerRelyingParty(
      { name: 'Hồ sơ sức khỏe', unitCode: HEALTH, redirectUris: ['https://hssk.example.gov.vn/cb'] },
      health,
    );
    expect(mine.relyingParty?.unitCode).toBe(HEALTH);
    // Bad input is answered with the fields at fault.
    const bad = await mesh.client
      .registerRelyingParty(
        { name: '', unitCode: HEALTH, redirectUris: ['http://evil.example/cb#x'] },
        health,
      )
      .catch((e: unknown) => ConnectError.from(e));
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).message).toMatch(/name.*redirect_uris\[0\]/);
  });
});
