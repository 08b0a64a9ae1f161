/**
 * docs/sso.md's "Try it" as a person does it: register the demo application
 * (docs/examples/sso-demo-app.mjs), start it, log in through it in a browser
 * and log out; and an administrator disabling a user ends the user's
 * sessions everywhere, the applications told over their back channel.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserStatus } from '#gen/lgsp/sso/v1/resources_pb.js';
import { asUnitAdmin, Browser, FINANCE, type SsoMesh, startSsoMesh, submitLogin } from './support.js';

let mesh: SsoMesh;
let app: ChildProcess | undefined;
let appOutput = '';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; app said: ${appOutput}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  mesh = await startSsoMesh();
});
afterAll(async () => {
  app?.kill('SIGTERM');
  await mesh?.close();
});

describe('the demo application of docs/sso.md', () => {
  it('logs a staff member in and out, and hears the logout on its back channel; disabling the user ends its session and refuses its logins', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const user = await mesh.client.createUser(
      { username: 'nguyenvana.stc', fullName: 'Nguyễn Văn A', unitCode: FINANCE, roles: ['unit_staff'] },
      asUnitAdmin(FINANCE),
    );
    const rp = await mesh.client.registerRelyingParty(
      {
        name: 'Ứng dụng mẫu',
        unitCode: FINANCE,
        redirectUris: [`${base}/callback`],
        postLogoutRedirectUris: [`${base}/`],
        backchannelLogoutUri: `${base}/backchannel-logout`,
        allowedScopes: ['openid', 'profile', 'email', 'unit', 'roles'],
      },
      asUnitAdmin(FINANCE),
    );
    app = spawn(process.execPath, ['docs/examples/sso-demo-app.mjs'], {
      env: {
        ...process.env,
        PORT: String(port),
        LGSP_SSO_ISSUER: mesh.issuer,
        SSO_CLIENT_ID: rp.relyingParty!.clientId,
        SSO_CLIENT_SECRET: rp.clientSecret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app.stdout!.on('data', (d: Buffer) => {
      appOutput += d.toString();
    });
    app.stderr!.on('data', (d: Buffer) => {
      appOutput += d.toString();
    });
    await until(() => appOutput.includes('demo application on'), 'the demo application to listen');

    const browser = new Browser();
    const home = `${base}/`;
    const login = await browser.follow(`${base}/login`, '\u0000');
    expect(login.page?.html).toContain('Ứng dụng mẫu');
    const change = await submitLogin(browser, login.page!, 'nguyenvana.stc', user.initialPassword, '\u0000');
    const password = change.page!.form('/password');
    const consent = await browser.follow(password.action, '\u0000', {
      form: { ...password.fields, new_password: 'Mat-khau-moi-2024', confirm_password: 'Mat-khau-moi-2024' },
    });
    const allow = consent.page!.form('/confirm');
    const greeted = await browser.follow(allow.action, '\u0000', { form: allow.fields });
    expect(greeted.page?.url).toBe(home);
    expect(greeted.page?.html).toContain('Xin chào Nguyễn Văn A (000.00.03.H26, vai trò: unit_staff)');

    const confirm = await browser.follow(`${base}/logout`, '\u0000');
    const form = confirm.page!.form('/session/end/confirm');
    const out = await browser.follow(form.action, '\u0000', { form: { ...form.fields, logout: 'yes' } });
    expect(out.page?.html).toContain('Chưa đăng nhập.');
    await until(
      () => appOutput.includes(`back-channel logout of ${user.user!.id}`),
      'the back-channel logout',
    );

    // Logged in again, then disabled by the unit's administrator: the session ends
    // at once, the application is told, and the next login is refused.
    const again = await browser.follow(`${base}/login`, '\u0000');
    let back = await submitLogin(browser, again.page!, 'nguyenvana.stc', 'Mat-khau-moi-2024', '\u0000');
    // Logging out revoked the grant: the application asks for consent again.
    const reconsent = back.page!.form('/confirm');
    back = await browser.follow(reconsent.action, '\u0000', { form: reconsent.fields });
    expect(back.page?.html).toContain('Xin chào');
    const told = appOutput.split('back-channel logout').length;
    await mesh.client.setUserStatus(
      { id: user.user!.id, status: UserStatus.DISABLED, reason: 'chuyển công tác' },
      asUnitAdmin(FINANCE),
    );
    await until(
      () => appOutput.split('back-channel logout').length > told,
      'the back-channel logout of the disabled user',
    );
    const refused = await browser.follow(`${base}/login`, '\u0000');
    expect(refused.page?.html).toContain('name="password"');
    const denied = await submitLogin(browser, refused.page!, 'nguyenvana.stc', 'Mat-khau-moi-2024', '\u0000');
    expect(denied.page?.alert()).toBe('Tài khoản đã bị vô hiệu hóa. Hãy liên hệ quản trị viên đơn vị.');
  });
});
