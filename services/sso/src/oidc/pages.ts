/**
 * The login, second-factor, password-change, consent, logout and error pages:
 * server-rendered HTML, in Vietnamese by default and in English with
 * `?lang=en` (or a browser that prefers English). No script: every step is a
 * plain form. Every value is escaped; labels name every field; errors are
 * announced (role="alert") and tied to their field.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Lang = 'vi' | 'en';

const TEXT = {
  vi: {
    title_login: 'Đăng nhập',
    product: 'Hệ thống đăng nhập một lần (SSO) — LGSP tỉnh',
    to_app: 'để tiếp tục vào',
    username: 'Tên đăng nhập',
    password: 'Mật khẩu',
    submit_login: 'Đăng nhập',
    cancel: 'Hủy',
    other_lang: 'English',
    invalid: 'Tên đăng nhập hoặc mật khẩu không đúng.',
    locked:
      'Tài khoản đang bị khóa do đăng nhập sai nhiều lần hoặc theo quyết định của quản trị viên. Hãy thử lại sau hoặc liên hệ quản trị viên đơn vị.',
    disabled: 'Tài khoản đã bị vô hiệu hóa. Hãy liên hệ quản trị viên đơn vị.',
    missing: 'Hãy nhập tên đăng nhập và mật khẩu.',
    title_totp: 'Xác thực hai lớp',
    totp_help: 'Nhập mã 6 chữ số từ ứng dụng xác thực trên điện thoại của bạn.',
    totp_code: 'Mã xác thực',
    totp_invalid: 'Mã xác thực không đúng hoặc đã được dùng.',
    submit_continue: 'Tiếp tục',
    title_password: 'Đổi mật khẩu',
    password_help: 'Bạn đang dùng mật khẩu tạm thời. Hãy đặt mật khẩu mới trước khi tiếp tục.',
    new_password: 'Mật khẩu mới (ít nhất 10 ký tự)',
    confirm_password: 'Nhập lại mật khẩu mới',
    password_too_short: 'Mật khẩu mới phải có ít nhất 10 ký tự.',
    password_too_long: 'Mật khẩu mới quá dài (tối đa 200 ký tự).',
    password_is_username: 'Mật khẩu mới không được chứa tên đăng nhập.',
    password_mismatch: 'Hai lần nhập mật khẩu mới không khớp.',
    password_same: 'Mật khẩu mới phải khác mật khẩu tạm thời.',
    submit_password: 'Đổi mật khẩu và tiếp tục',
    title_consent: 'Cho phép truy cập',
    consent_intro: 'Ứng dụng sau đề nghị được biết các thông tin của bạn:',
    consent_as: 'Bạn đang đăng nhập với tài khoản',
    submit_allow: 'Đồng ý',
    submit_deny: 'Từ chối',
    title_logout: 'Đăng xuất',
    logout_question: 'Bạn có muốn đăng xuất khỏi hệ thống đăng nhập một lần và mọi ứng dụng đang dùng không?',
    submit_logout: 'Đăng xuất',
    submit_stay: 'Không, giữ đăng nhập',
    title_logged_out: 'Đã đăng xuất',
    logged_out: 'Bạn đã đăng xuất khỏi hệ thống đăng nhập một lần.',
    title_error: 'Không thể tiếp tục',
    error_intro: 'Yêu cầu đăng nhập không hợp lệ hoặc đã hết hạn. Hãy quay lại ứng dụng và đăng nhập lại.',
    error_code: 'Mã lỗi',
    session_expired:
      'Phiên đăng nhập đã hết hạn hoặc không thuộc trình duyệt này. Hãy quay lại ứng dụng và đăng nhập lại.',
    csrf: 'Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại.',
    scope_openid: 'Định danh tài khoản của bạn',
    scope_profile: 'Họ tên và tên đăng nhập',
    scope_email: 'Địa chỉ thư điện tử',
    scope_phone: 'Số điện thoại',
    scope_unit: 'Mã định danh cơ quan, đơn vị của bạn',
    scope_roles: 'Vai trò của bạn',
    scope_offline_access: 'Duy trì truy cập khi bạn không trực tuyến',
  },
  en: {
    title_login: 'Log in',
    product: 'Single sign-on (SSO) — provincial LGSP',
    to_app: 'to continue to',
    username: 'Username',
    password: 'Password',
    submit_login: 'Log in',
    cancel: 'Cancel',
    other_lang: 'Tiếng Việt',
    invalid: 'The username or password is wrong.',
    locked:
      'The account is locked after too many failed logins or by an administrator. Try again later or ask your unit administrator.',
    disabled: 'The account is disabled. Ask your unit administrator.',
    missing: 'Enter your username and password.',
    title_totp: 'Two-step verification',
    totp_help: 'Enter the 6-digit code from the authenticator app on your phone.',
    totp_code: 'Verification code',
    totp_invalid: 'The code is wrong or was already used.',
    submit_continue: 'Continue',
    title_password: 'Change your password',
    password_help: 'You are using a temporary password. Choose a new one to continue.',
    new_password: 'New password (at least 10 characters)',
    confirm_password: 'New password again',
    password_too_short: 'The new password must have at least 10 characters.',
    password_too_long: 'The new password is too long (200 characters at most).',
    password_is_username: 'The new password must not contain the username.',
    password_mismatch: 'The two new passwords differ.',
    password_same: 'The new password must differ from the temporary one.',
    submit_password: 'Change password and continue',
    title_consent: 'Allow access',
    consent_intro: 'This application asks to know:',
    consent_as: 'You are logged in as',
    submit_allow: 'Allow',
    submit_deny: 'Deny',
    title_logout: 'Log out',
    logout_question: 'Do you want to log out of single sign-on and every application you use?',
    submit_logout: 'Log out',
    submit_stay: 'No, stay logged in',
    title_logged_out: 'Logged out',
    logged_out: 'You have logged out of single sign-on.',
    title_error: 'Cannot continue',
    error_intro: 'The login request is invalid or has expired. Go back to the application and log in again.',
    error_code: 'Error code',
    session_expired:
      'The login has expired or belongs to another browser. Go back to the application and log in again.',
    csrf: 'The form has expired or is invalid. Reload the page and try again.',
    scope_openid: 'Your account identifier',
    scope_profile: 'Your name and username',
    scope_email: 'Your e-mail address',
    scope_phone: 'Your phone number',
    scope_unit: "Your unit's identification code",
    scope_roles: 'Your roles',
    scope_offline_access: 'Access while you are not online',
  },
} as const;

export type TextKey = keyof (typeof TEXT)['vi'];

export function t(lang: Lang, key: TextKey): string {
  return TEXT[lang][key];
}

export function isTextKey(key: string): key is TextKey {
  return Object.hasOwn(TEXT.vi, key);
}

/** `?lang=` first (a form carries it as a field), then the browser's first preference; Vietnamese by default. */
export function langOf(url: URL | undefined, headers: IncomingMessage['headers'], field?: string): Lang {
  const asked = field ?? url?.searchParams.get('lang') ?? undefined;
  if (asked === 'en' || asked === 'vi') return asked;
  const accept = String(headers['accept-language'] ?? '')
    .split(',')[0]
    ?.trim()
    .toLowerCase();
  return accept?.startsWith('en') ? 'en' : 'vi';
}

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;background:#f1f4f8;color:#1a1a1a}
header{background:#a50e0e;color:#fff;padding:.75rem 1rem}
header p{margin:0;font-weight:600}
main{max-width:26rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=password]{width:100%;padding:.6rem;font-size:1rem;border:1px solid #666;border-radius:.25rem}
input:focus,button:focus,a:focus{outline:3px solid #1d4ed8;outline-offset:2px}
button{font-size:1rem;padding:.6rem 1rem;margin:1rem .5rem 0 0;border-radius:.25rem;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1d4ed8}
.alert{border-left:4px solid #b91c1c;background:#fef2f2;padding:.5rem .75rem;margin:0 0 1rem}
.app{font-weight:600}
footer{max-width:26rem;margin:0 auto;text-align:right}
footer a{color:#1d4ed8}
ul{padding-left:1.25rem}
`;

/** The page's own policy: inline style only, no script, nothing from elsewhere, never framed. */
const PAGE_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_POLICY,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface PageInput {
  readonly lang: Lang;
  readonly title: string;
  /** Already-escaped HTML. */
  readonly body: string;
  /** The same page in the other language (a relative URL), if it can be shown again. */
  readonly otherLangHref?: string;
}

export function page(input: PageInput): string {
  const other =
    input.otherLangHref === undefined
      ? ''
      : `<footer><a href="${escapeHtml(input.otherLangHref)}" lang="${input.lang === 'vi' ? 'en' : 'vi'}">${t(input.lang, 'other_lang')}</a></footer>`;
  return `<!DOCTYPE html>
<html lang="${input.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)} — LGSP SSO</title>
<style>${STYLE}</style>
</head>
<body>
<header><p>${t(input.lang, 'product')}</p></header>
<main>
<h1>${escapeHtml(input.title)}</h1>
${input.body}
</main>
${other}
</body>
</html>`;
}

export function alert(message: string | undefined, id = 'form-error'): string {
  return message === undefined ? '' : `<p class="alert" role="alert" id="${id}">${escapeHtml(message)}</p>`;
}

export function hidden(fields: Readonly<Record<string, string>>): string {
  return Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
}

export function send(
  res: ServerResponse,
  status: number,
  html: string,
  extra: Record<string, string> = {},
): void {
  const body = Buffer.from(html, 'utf8');
  res.writeHead(status, { ...PAGE_HEADERS, ...extra, 'content-length': String(body.length) });
  res.end(body);
}
