/** Ids the notification service issues: a prefix and 16 random hex digits, like the other services'. */
import { randomBytes } from 'node:crypto';

export type IdKind = 'ntc' | 'whk' | 'wha';

export const newId = (kind: IdKind): string => `${kind}_${randomBytes(8).toString('hex')}`;

export const isId = (kind: IdKind, value: string): boolean =>
  new RegExp(`^${kind}_[0-9a-f]{16}$`).test(value);

/** App ids as the registry issues them. */
export const APP_ID = /^app_[0-9a-f]{16}$/;
