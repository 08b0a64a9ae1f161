/** Ids the transfer service issues: a prefix and 16 random hex digits, like the registry's. */
import { randomBytes } from 'node:crypto';

export type IdKind = 'trf' | 'dlv';

export const newId = (kind: IdKind): string => `${kind}_${randomBytes(8).toString('hex')}`;

export const isId = (kind: IdKind, value: string): boolean =>
  new RegExp(`^${kind}_[0-9a-f]{16}$`).test(value);
