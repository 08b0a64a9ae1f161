/** Field checks shared by the registry's request validators. */

import { normalizeUnitCode, unitCodeProblem } from '#lib/domain/unit-code.js';
import type { Violations } from '#lib/errors.js';

export const MAX_NAME_LENGTH = 300;
export const MAX_TEXT_LENGTH = 2000;

/** A required unit code, normalised; records a violation when malformed. */
export function unitCode(field: string, raw: string, v: Violations): string {
  const code = normalizeUnitCode(raw);
  const problem = unitCodeProblem(code);
  if (problem !== undefined) v.add(field, problem, code === '' ? 'REQUIRED' : 'UNIT_CODE_FORMAT');
  return code;
}

/** An optional unit code: empty stays undefined. */
export function optionalUnitCode(field: string, raw: string, v: Violations): string | undefined {
  return raw.trim() === '' ? undefined : unitCode(field, raw, v);
}

export function requiredText(field: string, raw: string, v: Violations, max = MAX_NAME_LENGTH): string {
  const text = raw.trim().replace(/\s+/g, ' ');
  if (text === '') v.add(field, 'is required', 'REQUIRED');
  else if (text.length > max) v.add(field, `must be at most ${max} characters`, 'TOO_LONG');
  return text;
}

export function optionalText(field: string, raw: string, v: Violations, max = MAX_TEXT_LENGTH): string {
  const text = raw.trim();
  if (text.length > max) v.add(field, `must be at most ${max} characters`, 'TOO_LONG');
  return text;
}

export function requiredId(field: string, raw: string, prefix: string, v: Violations): string {
  const id = raw.trim();
  if (id === '') v.add(field, 'is required', 'REQUIRED');
  else if (!new RegExp(`^${prefix}_[0-9a-f]{16}$`).test(id)) {
    v.add(field, `must look like ${prefix}_0123456789abcdef`, 'ID_FORMAT');
  }
  return id;
}

/** An enum field that must be set to a known value; returns the stored name. */
export function requiredEnum<N>(
  field: string,
  value: number,
  map: { fromProto: (value: never) => N | undefined },
  v: Violations,
): N | undefined {
  const name = map.fromProto(value as never);
  if (name === undefined) v.add(field, value === 0 ? 'is required' : `unknown value ${value}`, 'ENUM_VALUE');
  return name;
}

export function distinct(field: string, values: readonly string[], v: Violations): void {
  const seen = new Set<string>();
  values.forEach((value, i) => {
    if (seen.has(value)) v.add(`${field}[${i}]`, `repeats "${value}"`, 'DUPLICATE');
    seen.add(value);
  });
}
