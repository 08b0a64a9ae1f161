/** Field checks shared by the auth service's request validators. */
import { type Duration, durationMs, type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import type { CredentialOwner } from '#gen/lgsp/auth/v1/resources_pb.js';
import type { Violations } from '#lib/errors.js';
import { ACCESS_KEY_ID } from '../domain/access-keys.js';

export const MAX_LABEL_LENGTH = 200;
const APP_ID = /^app_[0-9a-f]{16}$/;
const OPERATOR_NAME = /^[a-z0-9._-]{3,64}$/;

export type Owner = { readonly appId: string } | { readonly operatorName: string };

export function appId(field: string, raw: string, v: Violations): string {
  const id = raw.trim();
  if (id === '') v.add(field, 'is required', 'REQUIRED');
  else if (!APP_ID.test(id)) v.add(field, 'must look like app_0123456789abcdef', 'ID_FORMAT');
  return id;
}

export function operatorName(field: string, raw: string, v: Violations): string {
  const name = raw.trim();
  if (name === '') v.add(field, 'is required', 'REQUIRED');
  else if (!OPERATOR_NAME.test(name))
    v.add(field, 'must be 3 to 64 characters of a-z, 0-9, ".", "_" or "-"', 'NAME_FORMAT');
  return name;
}

export function accessKeyId(field: string, raw: string, v: Violations): string {
  const id = raw.trim();
  if (id === '') v.add(field, 'is required', 'REQUIRED');
  else if (!ACCESS_KEY_ID.test(id))
    v.add(field, 'is not an access key id (LGSP and 16 characters of A-Z, 2-7)', 'ID_FORMAT');
  return id;
}

/** A required owner: an app id or an operator name. */
export function owner(field: string, value: CredentialOwner | undefined, v: Violations): Owner | undefined {
  switch (value?.owner.case) {
    case 'appId':
      return { appId: appId(`${field}.app_id`, value.owner.value, v) };
    case 'operatorName':
      return { operatorName: operatorName(`${field}.operator_name`, value.owner.value, v) };
    default:
      v.add(field, 'set app_id or operator_name', 'REQUIRED');
      return undefined;
  }
}

export function text(field: string, raw: string, max: number, v: Violations): string {
  const value = raw.trim();
  if (value.length > max) v.add(field, `must be at most ${max} characters`, 'TOO_LONG');
  return value;
}

/** An optional expiry, which must lie in the future. */
export function futureTime(
  field: string,
  value: Timestamp | undefined,
  now: Date,
  v: Violations,
): Date | null {
  if (value === undefined) return null;
  const date = timestampDate(value);
  if (Number.isNaN(date.getTime()) || date.getTime() <= now.getTime()) {
    v.add(field, 'must be in the future', 'IN_THE_PAST');
  }
  return date;
}

/** An optional duration within [min, max]; `fallback` when unset. */
export function duration(
  field: string,
  value: Duration | undefined,
  range: { min: number; max: number; fallback: number },
  v: Violations,
): number {
  if (value === undefined) return range.fallback;
  const ms = durationMs(value);
  if (!Number.isFinite(ms) || ms < range.min || ms > range.max) {
    v.add(field, `must be between ${range.min / 1000} s and ${range.max / 1000} s`, 'DURATION_RANGE');
    return range.fallback;
  }
  return ms;
}
