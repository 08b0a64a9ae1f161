/**
 * Request checks of the webhook RPCs, one function per RPC, run before any
 * side effect; each throws one InvalidArgument naming every bad field.
 */
import type {
  ListWebhookAttemptsRequest,
  RegisterWebhookRequest,
  RetryParkedNoticesRequest,
  UpdateWebhookRequest,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { WebhookAttemptOutcome, WebhookState } from '#gen/lgsp/notification/v1/resources_pb.js';
import { Violations } from '#lib/errors.js';
import { type Page, readPage } from '#lib/rpc/pagination.js';
import type { AttemptOutcomeName, NoticeKindName } from '../db/schema.js';
import type { WebhookChange } from '../db/webhooks.js';
import { APP_ID, isId } from '../domain/ids.js';
import { webhookUrlProblem } from '../domain/webhook-address.js';
import { checkKinds } from './checks.js';

export const RETRY_MAX_IDS = 1000;
const UPDATE_PATHS = ['url', 'kinds', 'state'] as const;

export interface RegisterWebhookInput {
  readonly url: string;
  readonly kinds: NoticeKindName[];
  /** Empty for the caller. */
  readonly appId: string;
}

export function checkRegisterWebhook(req: RegisterWebhookRequest): RegisterWebhookInput {
  const v = new Violations();
  const url = req.url.trim();
  checkUrl(url, v);
  const kinds = checkKinds(req.kinds, v).sort();
  if (req.appId !== '' && !APP_ID.test(req.appId)) {
    v.add('app_id', 'must look like app_0123456789abcdef', 'ID_FORMAT');
  }
  v.throwIfAny();
  return { url, kinds, appId: req.appId };
}

export function checkUpdateWebhook(req: UpdateWebhookRequest): { id: string; change: WebhookChange } {
  const v = new Violations();
  checkWebhookId('id', req.id, v);
  const paths = new Set<string>();
  if (req.updatePaths.length === 0) {
    v.add('update_paths', `name what to change: ${UPDATE_PATHS.join(', ')}`, 'REQUIRED');
  }
  req.updatePaths.forEach((path, i) => {
    if ((UPDATE_PATHS as readonly string[]).includes(path)) paths.add(path);
    else v.add(`update_paths[${i}]`, `must be one of ${UPDATE_PATHS.join(', ')}`, 'UNKNOWN_PATH');
  });
  const change: { url?: string; kinds?: NoticeKindName[]; state?: 'active' | 'paused' } = {};
  if (paths.has('url')) {
    change.url = req.url.trim();
    checkUrl(change.url, v);
  }
  if (paths.has('kinds')) change.kinds = checkKinds(req.kinds, v).sort();
  if (paths.has('state')) {
    if (req.state === WebhookState.ACTIVE) change.state = 'active';
    else if (req.state === WebhookState.PAUSED) change.state = 'paused';
    else
      v.add('state', 'must be ACTIVE or PAUSED; only the platform disables a webhook', 'STATE_NOT_SETTABLE');
  }
  v.throwIfAny();
  return { id: req.id, change };
}

export function checkWebhookIdOnly(field: string, id: string): string {
  const v = new Violations();
  checkWebhookId(field, id, v);
  v.throwIfAny();
  return id;
}

export function checkAppIdOrEmpty(appId: string): string {
  const v = new Violations();
  if (appId !== '' && !APP_ID.test(appId))
    v.add('app_id', 'must look like app_0123456789abcdef', 'ID_FORMAT');
  v.throwIfAny();
  return appId;
}

export interface ListAttemptsInput {
  readonly webhookId: string;
  readonly outcome?: AttemptOutcomeName;
  readonly noticeId?: string;
  readonly page: Page;
}

const OUTCOMES: Partial<Record<WebhookAttemptOutcome, AttemptOutcomeName>> = {
  [WebhookAttemptOutcome.SUCCEEDED]: 'succeeded',
  [WebhookAttemptOutcome.RETRYING]: 'retrying',
  [WebhookAttemptOutcome.PARKED]: 'parked',
};

export function checkListWebhookAttempts(req: ListWebhookAttemptsRequest): ListAttemptsInput {
  const v = new Violations();
  checkWebhookId('webhook_id', req.webhookId, v);
  const outcome = OUTCOMES[req.outcome];
  if (req.outcome !== WebhookAttemptOutcome.UNSPECIFIED && outcome === undefined) {
    v.add('outcome', 'is not an attempt outcome', 'UNKNOWN_OUTCOME');
  }
  if (req.noticeId !== '' && !isId('ntc', req.noticeId)) {
    v.add('notice_id', 'must look like ntc_0123456789abcdef', 'ID_FORMAT');
  }
  const page = readPage(req.pageSize, req.pageToken, v);
  v.throwIfAny();
  return {
    webhookId: req.webhookId,
    ...(outcome === undefined ? {} : { outcome }),
    ...(req.noticeId === '' ? {} : { noticeId: req.noticeId }),
    page,
  };
}

export function checkRetryParked(req: RetryParkedNoticesRequest): { webhookId: string; noticeIds: string[] } {
  const v = new Violations();
  checkWebhookId('webhook_id', req.webhookId, v);
  if (req.noticeIds.length > RETRY_MAX_IDS) {
    v.add(
      'notice_ids',
      `at most ${RETRY_MAX_IDS} at once; leave it empty for every parked notice`,
      'TOO_MANY',
    );
  }
  req.noticeIds.slice(0, RETRY_MAX_IDS).forEach((id, i) => {
    if (!isId('ntc', id)) v.add(`notice_ids[${i}]`, 'must look like ntc_0123456789abcdef', 'ID_FORMAT');
  });
  v.throwIfAny();
  return { webhookId: req.webhookId, noticeIds: [...new Set(req.noticeIds)] };
}

function checkUrl(url: string, v: Violations): void {
  if (url === '') {
    v.add('url', 'is required', 'REQUIRED');
    return;
  }
  const problem = webhookUrlProblem(url);
  if (problem !== undefined) v.add('url', problem, 'URL_NOT_ALLOWED');
}

function checkWebhookId(field: string, id: string, v: Violations): void {
  if (id === '') v.add(field, 'is required', 'REQUIRED');
  else if (!isId('whk', id)) v.add(field, 'must look like whk_0123456789abcdef', 'ID_FORMAT');
}
