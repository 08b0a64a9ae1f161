// A minimal agency application that logs its users in through LGSP single
// sign-on, as docs/sso.md describes: authorization code with PKCE, the ID
// token's claims, userinfo, logout, and a back-channel logout endpoint.
// Only openid-client and node:http; run it with
//
//   LGSP_SSO_ISSUER=http://127.0.0.1:8080/oidc SSO_CLIENT_ID=... SSO_CLIENT_SECRET=... \
//     node docs/examples/sso-demo-app.mjs
//
// and open http://127.0.0.1:3000 in a browser. Register it first with
//   redirect_uris             http://127.0.0.1:3000/callback
//   post_logout_redirect_uris http://127.0.0.1:3000/
//   backchannel_logout_uri    http://127.0.0.1:3000/backchannel-logout
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import * as oidc from 'openid-client';

const issuer = new URL(process.env.LGSP_SSO_ISSUER ?? 'http://127.0.0.1:8080/oidc');
const port = Number(process.env.PORT ?? 3000);
const base = `http://127.0.0.1:${port}`;
const config = await oidc.discovery(
  issuer,
  process.env.SSO_CLIENT_ID,
  process.env.SSO_CLIENT_SECRET,
  undefined,
  {
    // Plain http is for a machine of one's own only; production issuers are https.
    execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
  },
);

/** The application's own sessions: cookie value → what it knows of the user. */
const sessions = new Map();
/** Logins under way: state → PKCE verifier and nonce. */
const pending = new Map();

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const html = (res, body) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(
    `<!DOCTYPE html><html lang="vi"><meta charset="utf-8"><title>Ứng dụng mẫu</title><body>${body}</body></html>`,
  );
};
const sessionOf = (req) => /(?:^|;\s*)app_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, base);
    try {
      if (url.pathname === '/') {
        const session = sessions.get(sessionOf(req));
        if (session === undefined)
          return html(res, '<p>Chưa đăng nhập.</p><p><a href="/login">Đăng nhập bằng SSO</a></p>');
        return html(
          res,
          `<p>Xin chào ${escapeHtml(session.claims.name)} (${escapeHtml(session.claims.unit_code)}, vai trò: ${escapeHtml(session.claims.roles.join(', '))})</p>
<pre>${escapeHtml(JSON.stringify(session.userinfo, null, 2))}</pre><p><a href="/logout">Đăng xuất</a></p>`,
        );
      }
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        pending.set(state, { verifier, nonce });
        const target = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/callback`,
          scope: 'openid profile email unit roles',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        });
        res.writeHead(302, { location: target.href });
        return res.end();
      }
      if (url.pathname === '/callback') {
        const state = url.searchParams.get('state') ?? '';
        const login = pending.get(state);
        pending.delete(state);
        if (login === undefined) throw new Error('unknown login (state)');
        const tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: login.verifier,
          expectedState: state,
          expectedNonce: login.nonce,
        });
        const claims = tokens.claims();
        const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        const id = randomBytes(16).toString('hex');
        sessions.set(id, { claims, userinfo, idToken: tokens.id_token });
        res.writeHead(302, {
          location: '/',
          'set-cookie': `app_session=${id}; HttpOnly; SameSite=Lax; Path=/`,
        });
        return res.end();
      }
      if (url.pathname === '/logout') {
        const id = sessionOf(req);
        const session = sessions.get(id);
        sessions.delete(id);
        const target = oidc.buildEndSessionUrl(config, {
          post_logout_redirect_uri: `${base}/`,
          ...(session === undefined ? {} : { id_token_hint: session.idToken }),
        });
        res.writeHead(302, { location: target.href });
        return res.end();
      }
      if (url.pathname === '/backchannel-logout' && req.method === 'POST') {
        // A real application verifies the logout token's signature against the
        // provider's key set (jwks_uri) and its iss, aud, iat and events claims.
        let body = '';
        for await (const chunk of req) body += chunk;
        const token = new URLSearchParams(body).get('logout_token') ?? '';
        const payload = JSON.parse(
          Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}',
        );
        for (const [id, s] of sessions)
          if (s.claims.sub === payload.sub && s.claims.sid === payload.sid) sessions.delete(id);
        console.log(`back-channel logout of ${payload.sub}`);
        res.writeHead(200, { 'cache-control': 'no-store' });
        return res.end();
      }
      res.writeHead(404);
      res.end();
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`login failed: ${error.message}`);
    }
  })
  .listen(port, '127.0.0.1', () => console.log(`demo application on ${base}`));
