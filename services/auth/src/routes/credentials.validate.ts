/** One validator per credential RPC: every violation at once, before any side effect. */
import type {
  CreateCredentialRequest,
  ListCredentialsRequest,
  RegisterPublicKeyRequest,
  RevokeCredentialRequest,
  RotateCredentialRequest,
} from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { Violations } from '#lib/errors.js';
import { type Page, readPage } from '#lib/rpc/pagination.js';
import { parseRsaPublicKey, type RsaPublicKey } from '../domain/public-keys.js';
import { type OperatorRoles, parseOperatorRoles } from '../domain/roles.js';
import {
  accessKeyId,
  appId,
  duration,
  futureTime,
  MAX_LABEL_LENGTH,
  type Owner,
  owner,
  text,
} from './checks.js';

const DAY_MS = 24 * 3600_000;
export const DEFAULT_OVERLAP_MS = DAY_MS;
export const MAX_OVERLAP_MS = 30 * DAY_MS;
const MAX_REASON_LENGTH = 500;

export interface CreateInput {
  readonly owner: Owner;
  readonly label: string;
  readonly expiresAt: Date | null;
  readonly allowLegacySha1: boolean;
  /** For operators. */
  readonly roles: OperatorRoles | undefined;
}

export function checkCreateCredential(req: CreateCredentialRequest, now: Date): CreateInput {
  const v = new Violations();
  const who = owner('owner', req.owner, v);
  let roles: OperatorRoles | undefined;
  if (who !== undefined && 'appId' in who) {
    if (req.roles.length > 0)
      v.add('roles', 'must be empty for an app: grants decide what an app may do', 'APP_ROLES');
  } else if (who !== undefined) {
    const parsed = parseOperatorRoles(req.roles);
    if (parsed.ok) roles = parsed.value;
    else
      for (const p of parsed.problems)
        v.add(p.index === undefined ? 'roles' : `roles[${p.index}]`, p.description, p.reason);
  }
  const input = {
    label: text('label', req.label, MAX_LABEL_LENGTH, v),
    expiresAt: futureTime('expire_time', req.expireTime, now, v),
  };
  v.throwIfAny();
  return { owner: who!, ...input, allowLegacySha1: req.allowLegacySha1, roles };
}

export interface RegisterKeyInput {
  readonly appId: string;
  readonly key: RsaPublicKey;
  readonly label: string;
  readonly expiresAt: Date | null;
}

export function checkRegisterPublicKey(req: RegisterPublicKeyRequest, now: Date): RegisterKeyInput {
  const v = new Violations();
  const app = appId('app_id', req.appId, v);
  const key = publicKey('public_key_pem', req.publicKeyPem, v);
  const input = {
    label: text('label', req.label, MAX_LABEL_LENGTH, v),
    expiresAt: futureTime('expire_time', req.expireTime, now, v),
  };
  v.throwIfAny();
  return { appId: app, key: key!, ...input };
}

export function checkAccessKeyId(raw: string): string {
  const v = new Violations();
  const id = accessKeyId('access_key_id', raw, v);
  v.throwIfAny();
  return id;
}

export function checkListCredentials(req: ListCredentialsRequest): { owner: Owner | undefined; page: Page } {
  const v = new Violations();
  const who = req.owner === undefined ? undefined : owner('owner', req.owner, v);
  const page = readPage(req.pageSize, req.pageToken, v);
  v.throwIfAny();
  return { owner: who, page };
}

export interface RotateInput {
  readonly accessKeyId: string;
  readonly overlapMs: number;
  readonly key: RsaPublicKey | undefined;
  readonly expiresAt: Date | null;
}

export function checkRotateCredential(req: RotateCredentialRequest, now: Date): RotateInput {
  const v = new Violations();
  const input = {
    accessKeyId: accessKeyId('access_key_id', req.accessKeyId, v),
    overlapMs: duration(
      'overlap',
      req.overlap,
      { min: 0, max: MAX_OVERLAP_MS, fallback: DEFAULT_OVERLAP_MS },
      v,
    ),
    key: req.publicKeyPem.trim() === '' ? undefined : publicKey('public_key_pem', req.publicKeyPem, v),
    expiresAt: futureTime('expire_time', req.expireTime, now, v),
  };
  v.throwIfAny();
  return input;
}

export function checkRevokeCredential(req: RevokeCredentialRequest): { accessKeyId: string; reason: string } {
  const v = new Violations();
  const input = {
    accessKeyId: accessKeyId('access_key_id', req.accessKeyId, v),
    reason: text('reason', req.reason, MAX_REASON_LENGTH, v),
  };
  v.throwIfAny();
  return input;
}

function publicKey(field: string, pem: string, v: Violations): RsaPublicKey | undefined {
  const parsed = parseRsaPublicKey(pem);
  if (parsed.ok) return parsed.key;
  v.add(field, parsed.problem, parsed.reason);
  return undefined;
}
