/**
 * Media-type matching for "does this app accept this content": patterns are
 * exact types (`application/json`), a whole top-level type (`application/*`)
 * or anything (`*\/*`). Parameters (`; charset=utf-8`) are ignored.
 */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$/;

export function normalizeMediaType(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase();
}

export function isMediaTypePattern(value: string): boolean {
  const type = normalizeMediaType(value);
  return type === '*/*' || MEDIA_TYPE.test(type);
}

export function accepts(patterns: readonly string[], contentType: string): boolean {
  const wanted = normalizeMediaType(contentType);
  if (wanted === '') return patterns.length > 0;
  const [top] = wanted.split('/');
  return patterns.some((p) => p === '*/*' || p === wanted || p === `${top}/*`);
}
