/**
 * A value for a jsonb column. node-postgres sends a JavaScript array as a
 * Postgres array, not as JSON, so arrays (and anything holding one at the top
 * level) are serialised here; the column's type stays what it reads back as.
 */
export function jsonb<T>(value: T): T {
  return JSON.stringify(value) as unknown as T;
}
