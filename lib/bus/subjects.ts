/**
 * NATS subject rules shared by both bus adapters, so that the in-process bus
 * routes exactly like a nats-server would.
 */

/** True when `subject` (no wildcards) is matched by `pattern` (`*` one token, `>` one or more trailing tokens). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/** True when some concrete subject would be matched by both patterns. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const tx = x[i];
    const ty = y[i];
    if (tx === '>' || ty === '>') return true;
    if (tx !== '*' && ty !== '*' && tx !== ty) return false;
  }
  return x.length === y.length;
}

/**
 * True when every subject matched by `inner` is also matched by `outer`,
 * e.g. `a.b.*` is a subset of `a.>`.
 */
export function subjectIsSubsetOf(inner: string, outer: string): boolean {
  const i = inner.split('.');
  const o = outer.split('.');
  for (let k = 0; k < o.length; k++) {
    const to = o[k];
    const ti = i[k];
    if (to === '>') return ti !== undefined;
    if (ti === undefined) return false;
    if (ti === '>') return false;
    if (to === '*') continue;
    if (ti === '*' || ti !== to) return false;
  }
  return i.length === o.length;
}

const TOKEN = /^[^\s.*>]+$/;

/** Throws unless `subject` is a valid subject, wildcards allowed only when `wildcards` is set. */
export function assertSubject(subject: string, wildcards: boolean): void {
  const tokens = subject.split('.');
  const ok = tokens.every((t, i) => {
    if (TOKEN.test(t)) return true;
    if (!wildcards) return false;
    return t === '*' || (t === '>' && i === tokens.length - 1);
  });
  if (!ok || subject.length === 0) {
    throw new Error(`invalid subject "${subject}"${wildcards ? '' : ' (wildcards are not allowed here)'}`);
  }
}
