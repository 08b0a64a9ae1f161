/**
 * The interaction pages oidc-provider sends the browser to: login (with the
 * second factor and a forced password change as further steps), consent,
 * and abort. Plain node handlers under `<mount>/interaction/<uid>`.
 *
 * Safety: every POST carries a CSRF token bound to the interaction (an HMAC
 * of its uid), and the interaction itself is bound to the browser by
 * oidc-provider's signed, httpOnly, SameSite=Lax cookie. After the password,
 * the next step is carried by a ticket (HMAC of uid, user and expiry), never
 * by anything the browser could choose. Redirects go only where
 * oidc-provider says (the resume URL of this provider).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { create } from '@bufbuild/protobuf';
import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { AuditOutcome, type AuditRecorder } from '#lib/audit.js';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import type { Logger } from '#lib/logger.js';
import type { SsoConfig } from '../config.js';
import type { SsoDatabase } from '../db/schema.js';
import { findUserById, type UserRow, updateUser } from '../db/users.js';
import { checkPassword, type LockoutPolicy, recordFailure, recordSuccess } from '../domain/login.js';
import { hashPassword, passwordProblem, verifyPassword } from '../domain/passwords.js';
import { checkTotp } from '../domain/totp.js';
import { alert, escapeHtml, hidden, type Lang, langOf, page, send, type TextKey, t } from './pages.js';

const MAX_FORM_BYTES = 16 * 1024;
const TICKET_MS = 5 * 60_000;

export interface InteractionDeps {
  readonly config: SsoConfig;
  readonly db: Kysely<SsoDatabase>;
  readonly box: SecretBox;
  readonly audit: AuditRecorder;
  readonly logger: Logger;
  /** HMAC key of CSRF tokens and step tickets. */
  readonly formKey: Buffer;
  readonly provider: () => Provider;
  /** Display name of a client, for the pages. */
  readonly clientName: (clientId: string) => Promise<string>;
}

type Step = 'totp' | 'password';

export function interactionHandler(deps: InteractionDeps, mount: string) {
  const policy: LockoutPolicy = {
    maxFailedLogins: deps.config.maxFailedLogins,
    lockoutMs: deps.config.lockoutSeconds * 1000,
  };
  const csrfOf = (uid: string) => mac(deps.formKey, `csrf:${uid}`);
  const ticketOf = (uid: string, userId: string, step: Step, exp: number) =>
    `${userId}.${exp}.${mac(deps.formKey, `ticket:${step}:${uid}:${userId}:${exp}`)}`;
  const readTicket = (uid: string, step: Step, ticket: string): string | undefined => {
    const [userId, exp, sig] = ticket.split('.');
    if (userId === undefined || exp === undefined || sig === undefined) return undefined;
    if (!/^\d+$/.test(exp) || Number(exp) < Date.now()) return undefined;
    return safeEqual(sig, mac(deps.formKey, `ticket:${step}:${uid}:${userId}:${exp}`)) ? userId : undefined;
  };
  const base = (uid: string) => `${mount}/interaction/${encodeURIComponent(uid)}`;

  const audit = (user: UserRow | undefined, outcome: AuditOutcome, reason: string, object: string) =>
    deps.audit.record({
      actor: create(CallerSchema, {
        kind: CallerKind.USER,
        subject: user?.id ?? 'unknown',
        unitCode: user?.unit_code ?? '',
      }),
      action: 'lgsp.sso.v1.Login',
      object,
      outcome,
      reason,
    });

  // ---- pages ----
  const loginPage = async (
    res: ServerResponse,
    uid: string,
    clientId: string,
    lang: Lang,
    error?: TextKey,
    username = '',
    status = 200,
  ) => {
    const app = await deps.clientName(clientId);
    const errId = error === undefined ? '' : ' aria-describedby="form-error"';
    send(
      res,
      status,
      page({
        lang,
        title: t(lang, 'title_login'),
        otherLangHref: `${base(uid)}?lang=${lang === 'vi' ? 'en' : 'vi'}`,
        body: `<p>${t(lang, 'to_app')} <span class="app">${escapeHtml(app)}</span></p>
${alert(error === undefined ? undefined : t(lang, error))}
<form method="post" action="${base(uid)}/login" novalidate>
${hidden({ csrf: csrfOf(uid), lang })}
<label for="username">${t(lang, 'username')}</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${escapeHtml(username)}"${errId}>
<label for="password">${t(lang, 'password')}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${errId}>
<button type="submit">${t(lang, 'submit_login')}</button>
</form>
<form method="post" action="${base(uid)}/abort">
${hidden({ csrf: csrfOf(uid), lang })}
<button type="submit" class="secondary">${t(lang, 'cancel')}</button>
</form>`,
      }),
    );
  };

  const totpPage = (res: ServerResponse, uid: string, ticket: string, lang: Lang, error?: TextKey) =>
    send(
      res,
      error === undefined ? 200 : 400,
      page({
        lang,
        title: t(lang, 'title_totp'),
        body: `<p id="totp-help">${t(lang, 'totp_help')}</p>
${alert(error === undefined ? undefined : t(lang, error))}
<form method="post" action="${base(uid)}/totp" novalidate>
${hidden({ csrf: csrfOf(uid), lang, ticket })}
<label for="code">${t(lang, 'totp_code')}</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required aria-describedby="totp-help">
<button type="submit">${t(lang, 'submit_continue')}</button>
</form>`,
      }),
    );

  const passwordPage = (res: ServerResponse, uid: string, ticket: string, lang: Lang, error?: TextKey) =>
    send(
      res,
      error === undefined ? 200 : 400,
      page({
        lang,
        title: t(lang, 'title_password'),
        body: `<p id="password-help">${t(lang, 'password_help')}</p>
${alert(error === undefined ? undefined : t(lang, error))}
<form method="post" action="${base(uid)}/password" novalidate>
${hidden({ csrf: csrfOf(uid), lang, ticket })}
<label for="new_password">${t(lang, 'new_password')}</label>
<input type="password" id="new_password" name="new_password" autocomplete="new-password" minlength="10" required aria-describedby="password-help">
<label for="confirm_password">${t(lang, 'confirm_password')}</label>
<input type="password" id="confirm_password" name="confirm_password" autocomplete="new-password" minlength="10" required>
<button type="submit">${t(lang, 'submit_password')}</button>
</form>`,
      }),
    );

  const consentPage = async (
    res: ServerResponse,
    uid: string,
    clientId: string,
    scopes: readonly string[],
    accountId: string,
    lang: Lang,
  ) => {
    const app = await deps.clientName(clientId);
    const user = await findUserById(deps.db, accountId);
    const items = scopes
      .map((s) => `scope_${s}`)
      .filter((k): k is TextKey => Object.hasOwn(TEXT_SCOPES, k))
      .map((k) => `<li>${t(lang, k)}</li>`)
      .join('');
    send(
      res,
      200,
      page({
        lang,
        title: t(lang, 'title_consent'),
        otherLangHref: `${base(uid)}?lang=${lang === 'vi' ? 'en' : 'vi'}`,
        body: `<p>${t(lang, 'consent_intro')} <span class="app">${escapeHtml(app)}</span></p>
<ul>${items}</ul>
<p>${t(lang, 'consent_as')} <strong>${escapeHtml(user?.username ?? '')}</strong>.</p>
<form method="post" action="${base(uid)}/confirm">
${hidden({ csrf: csrfOf(uid), lang })}
<button type="submit">${t(lang, 'submit_allow')}</button>
</form>
<form method="post" action="${base(uid)}/abort">
${hidden({ csrf: csrfOf(uid), lang })}
<button type="submit" class="secondary">${t(lang, 'submit_deny')}</button>
</form>`,
      }),
    );
  };

  const errorPage = (res: ServerResponse, lang: Lang, key: TextKey, status = 400) =>
    send(res, status, page({ lang, title: t(lang, 'title_error'), body: alert(t(lang, key)) }));

  // ---- steps ----
  const finishLogin = async (req: IncomingMessage, res: ServerResponse, user: UserRow, amr: string[]) => {
    await recordSuccess(deps.db, user.id);
    audit(user, AuditOutcome.SUCCEEDED, 'LOGIN', user.username);
    const result: InteractionResults = { login: { accountId: user.id, amr, remember: true } };
    await deps.provider().interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  };

  /** After the password: the second factor, then a forced password change, then done. */
  const nextStep = async (
    req: IncomingMessage,
    res: ServerResponse,
    uid: string,
    user: UserRow,
    lang: Lang,
    done: Step[],
  ) => {
    const exp = Date.now() + TICKET_MS;
    if (user.totp_secret_sealed !== null && !done.includes('totp')) {
      totpPage(res, uid, ticketOf(uid, user.id, 'totp', exp), lang);
      return;
    }
    if (user.password_change_required) {
      passwordPage(res, uid, ticketOf(uid, user.id, 'password', exp), lang);
      return;
    }
    await finishLogin(req, res, user, user.totp_secret_sealed === null ? ['pwd'] : ['pwd', 'otp']);
  };

  return async (req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<void> => {
    // path: /interaction/<uid>[/<action>]
    const [, , rawUid = '', action = '', ...rest] = path.split('/');
    const uid = decodeURIComponent(rawUid);
    let lang = langOf(url, req.headers);
    const provider = deps.provider();
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      errorPage(res, lang, 'session_expired');
      return;
    }
    if (details.uid !== uid || rest.length > 0) {
      errorPage(res, lang, 'session_expired');
      return;
    }
    const clientId = String(details.params['client_id'] ?? '');
    const prompt = details.prompt.name;

    if (req.method === 'GET' && action === '') {
      if (prompt === 'login') {
        await loginPage(res, uid, clientId, lang);
        return;
      }
      if (prompt === 'consent') {
        const missing = (details.prompt.details['missingOIDCScope'] as string[] | undefined) ?? [];
        await consentPage(res, uid, clientId, missing, details.session?.accountId ?? '', lang);
        return;
      }
      errorPage(res, lang, 'error_intro');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' });
      res.end();
      return;
    }
    const form = await readForm(req);
    if (form === undefined) {
      errorPage(res, lang, 'csrf', 413);
      return;
    }
    lang = langOf(undefined, req.headers, form.get('lang') ?? undefined);
    if (!safeEqual(form.get('csrf') ?? '', csrfOf(uid))) {
      errorPage(res, lang, 'csrf', 403);
      return;
    }

    switch (action) {
      case 'login': {
        if (prompt !== 'login') break;
        const username = form.get('username') ?? '';
        const password = form.get('password') ?? '';
        if (username === '' || password === '') {
          await loginPage(res, uid, clientId, lang, 'missing', username, 400);
          return;
        }
        const outcome = await checkPassword(deps.db, username, password, policy);
        if (!outcome.ok) {
          audit(
            outcome.user,
            AuditOutcome.REFUSED,
            `LOGIN_${outcome.reason.toUpperCase()}`,
            username.slice(0, 64),
          );
          await loginPage(
            res,
            uid,
            clientId,
            lang,
            outcome.reason,
            username,
            outcome.reason === 'invalid' ? 401 : 403,
          );
          return;
        }
        await nextStep(req, res, uid, outcome.user, lang, []);
        return;
      }
      case 'totp': {
        if (prompt !== 'login') break;
        const userId = readTicket(uid, 'totp', form.get('ticket') ?? '');
        const user = userId === undefined ? undefined : await findUserById(deps.db, userId);
        if (user === undefined || user.totp_secret_sealed === null) {
          errorPage(res, lang, 'session_expired');
          return;
        }
        const secret = deps.box.open(user.totp_secret_sealed, `sso-totp:${user.id}`).toString('utf8');
        const step = checkTotp(secret, (form.get('code') ?? '').trim(), user.totp_last_step);
        if (step === undefined) {
          const locked = await recordFailure(deps.db, user.id, policy);
          audit(user, AuditOutcome.REFUSED, 'LOGIN_TOTP_INVALID', user.username);
          if (locked) {
            await loginPage(res, uid, clientId, lang, 'locked', user.username, 403);
            return;
          }
          totpPage(res, uid, ticketOf(uid, user.id, 'totp', Date.now() + TICKET_MS), lang, 'totp_invalid');
          return;
        }
        await updateUser(deps.db, user.id, { totp_last_step: step });
        await nextStep(req, res, uid, { ...user, totp_last_step: step }, lang, ['totp']);
        return;
      }
      case 'password': {
        if (prompt !== 'login') break;
        const ticket = form.get('ticket') ?? '';
        const userId = readTicket(uid, 'password', ticket);
        const user = userId === undefined ? undefined : await findUserById(deps.db, userId);
        if (user === undefined || !user.password_change_required) {
          errorPage(res, lang, 'session_expired');
          return;
        }
        const next = form.get('new_password') ?? '';
        const problem: TextKey | undefined =
          next !== (form.get('confirm_password') ?? '')
            ? 'password_mismatch'
            : (passwordProblem(next, user) ??
              ((await verifyPassword(user.password_hash, next)) ? 'password_same' : undefined));
        if (problem !== undefined) {
          passwordPage(res, uid, ticket, lang, problem);
          return;
        }
        const changed = await updateUser(deps.db, user.id, {
          password_hash: await hashPassword(next),
          password_change_required: false,
        });
        audit(user, AuditOutcome.SUCCEEDED, 'PASSWORD_CHANGED', user.username);
        await finishLogin(req, res, changed, changed.totp_secret_sealed === null ? ['pwd'] : ['pwd', 'otp']);
        return;
      }
      case 'confirm': {
        if (prompt !== 'consent') break;
        const accountId = details.session?.accountId;
        if (accountId === undefined) break;
        const grant =
          details.grantId === undefined
            ? new provider.Grant({ accountId, clientId })
            : ((await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId }));
        const promptDetails = details.prompt.details;
        const scopes = promptDetails['missingOIDCScope'] as string[] | undefined;
        const claims = promptDetails['missingOIDCClaims'] as string[] | undefined;
        const resources = promptDetails['missingResourceScopes'] as Record<string, string[]> | undefined;
        if (scopes !== undefined) grant.addOIDCScope(scopes.join(' '));
        if (claims !== undefined) grant.addOIDCClaims(claims);
        for (const [indicator, list] of Object.entries(resources ?? {}))
          grant.addResourceScope(indicator, list.join(' '));
        const grantId = await grant.save();
        await provider.interactionFinished(
          req,
          res,
          { consent: details.grantId === undefined ? { grantId } : {} },
          { mergeWithLastSubmission: true },
        );
        return;
      }
      case 'abort': {
        await provider.interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: 'the user cancelled' },
          { mergeWithLastSubmission: false },
        );
        return;
      }
    }
    errorPage(res, lang, 'session_expired');
  };
}

const TEXT_SCOPES = {
  scope_openid: true,
  scope_profile: true,
  scope_email: true,
  scope_phone: true,
  scope_unit: true,
  scope_roles: true,
  scope_offline_access: true,
} as const;

function mac(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
