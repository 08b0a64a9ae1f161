/**
 * Redirect, post-logout and back-channel URIs: absolute, https (or http on a
 * loopback host when insecure local URIs are allowed), no fragment, no
 * credentials. Matching is exact (oidc-provider's), so no pattern is allowed.
 */
import type { Violations } from '#lib/errors.js';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function checkUri(
  value: string,
  field: string,
  allowInsecureLocal: boolean,
  violations: Violations,
): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    violations.add(field, 'must be an absolute URL', 'URI_FORMAT');
    return;
  }
  if (value.length > 2000) violations.add(field, 'must be at most 2000 characters', 'URI_LENGTH');
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && allowInsecureLocal)) {
    violations.add(
      field,
      allowInsecureLocal ? 'must use https (http only on a loopback host)' : 'must use https',
      'URI_SCHEME',
    );
  }
  if (url.hash !== '' || value.includes('#'))
    violations.add(field, 'must not have a fragment', 'URI_FRAGMENT');
  if (url.username !== '' || url.password !== '')
    violations.add(field, 'must not carry credentials', 'URI_CREDENTIALS');
  if (value.includes('*')) violations.add(field, 'must be exact: no wildcards', 'URI_WILDCARD');
}

export function checkUriList(
  values: readonly string[],
  field: string,
  range: { min: number; max: number },
  allowInsecureLocal: boolean,
  violations: Violations,
): void {
  if (values.length < range.min || values.length > range.max) {
    violations.add(field, `must have ${range.min} to ${range.max} entries`, 'URI_COUNT');
  }
  if (new Set(values).size !== values.length)
    violations.add(field, 'must not repeat an entry', 'URI_DUPLICATE');
  values.forEach((v, i) => {
    checkUri(v, `${field}[${i}]`, allowInsecureLocal, violations);
  });
}
