/**
 * Webhooks (docs/notifications.md, "Webhooks"): an app registers URLs that
 * receive its notices while it holds no stream, sees every attempt, and puts
 * parked notices back in line. An app manages its own webhooks; an
 * administrator manages any app's. Another app's webhook is answered as not
 * found, so ids do not tell what exists.
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { Caller } from '#gen/lgsp/common/v1/common_pb.js';
import type { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import {
  ParkedReason,
  type Webhook,
  type WebhookAttempt,
  WebhookAttemptOutcome,
  WebhookAttemptSchema,
  WebhookSchema,
  WebhookState,
} from '#gen/lgsp/notification/v1/resources_pb.js';
import { AuditOutcome } from '#lib/audit.js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
} from '#lib/errors.js';
import { callerOf, isAdmin } from '#lib/rpc/caller.js';
import { nextPageToken } from '#lib/rpc/pagination.js';
import type { NotificationContext } from '../context.js';
import { noticeKinds } from '../db/rows.js';
import type { AttemptOutcomeName, WebhookStateName } from '../db/schema.js';
import {
  type AttemptRow,
  appWebhooks,
  countAppWebhooks,
  deleteWebhook,
  findWebhook,
  insertWebhook,
  listAttempts,
  requeueParked,
  updateWebhook,
  type WebhookRow,
} from '../db/webhooks.js';
import { newId } from '../domain/ids.js';
import type { ParkedReasonName } from '../domain/webhook-retry.js';
import { requireApp } from './caller.js';
import { NOTIFICATION_SERVICE } from './send.js';
import {
  checkAppIdOrEmpty,
  checkListWebhookAttempts,
  checkRegisterWebhook,
  checkRetryParked,
  checkUpdateWebhook,
  checkWebhookIdOnly,
} from './webhook-checks.js';

/** Enough for an app's production, standby and test receivers; more suggests a leak. */
export const MAX_WEBHOOKS_PER_APP = 10;

export function webhookRoutes(ctx: NotificationContext): Partial<ServiceImpl<typeof NotificationService>> {
  /**
   * The app whose webhooks the caller manages: itself, or any app for an
   * administrator; `mustExist` asks the registry about another app.
   */
  async function ownerApp(
    handlerCtx: HandlerContext,
    requested: string,
    mustExist: boolean,
  ): Promise<string> {
    const caller = callerOf(handlerCtx);
    if (requested === '' || requested === caller.appId) return requireApp(handlerCtx).appId;
    if (!isAdmin(caller)) {
      throw new PermissionDeniedError('ADMIN_REQUIRED', "only administrators manage another app's webhooks", {
        app_id: requested,
      });
    }
    if (mustExist && (await ctx.registry.getApp(requested)) === undefined) {
      throw new NotFoundError('APP_NOT_FOUND', `no app ${requested}`, { app_id: requested });
    }
    return requested;
  }

  /** The webhook, if the caller may see it. */
  async function visibleWebhook(handlerCtx: HandlerContext, id: string): Promise<WebhookRow> {
    const caller = callerOf(handlerCtx);
    const row = await findWebhook(ctx.db, id);
    if (row === undefined || (row.app_id !== caller.appId && !isAdmin(caller))) {
      throw new NotFoundError('WEBHOOK_NOT_FOUND', `no webhook ${id} of yours`, { webhook_id: id });
    }
    return row;
  }

  function audit(caller: Caller, rpc: string, webhook: string, message: string): void {
    ctx.audit.record({
      actor: caller,
      action: `${NOTIFICATION_SERVICE}/${rpc}`,
      object: webhook,
      outcome: AuditOutcome.SUCCEEDED,
      message,
    });
  }

  return {
    async registerWebhook(req, handlerCtx) {
      const input = checkRegisterWebhook(req);
      const appId = await ownerApp(handlerCtx, input.appId, true);
      const existing = await appWebhooks(ctx.db, appId);
      const same = existing.find((w) => w.url === input.url);
      if (same !== undefined) {
        throw new AlreadyExistsError(
          'WEBHOOK_EXISTS',
          `${appId} already has webhook ${same.id} for this URL`,
          {
            webhook_id: same.id,
          },
        );
      }
      if ((await countAppWebhooks(ctx.db, appId)) >= MAX_WEBHOOKS_PER_APP) {
        throw new ResourceExhaustedError(
          'WEBHOOK_LIMIT',
          `an app has at most ${MAX_WEBHOOKS_PER_APP} webhooks; delete one first`,
          { app_id: appId },
        );
      }
      const id = newId('whk');
      const secret = randomBytes(32).toString('base64url');
      const now = new Date();
      const row = await insertWebhook(ctx.db, {
        id,
        app_id: appId,
        url: input.url,
        kinds: input.kinds,
        state: 'active',
        secret_sealed: ctx.secretBox.seal(Buffer.from(secret, 'utf8'), id),
        created_at: now,
        updated_at: now,
      });
      audit(callerOf(handlerCtx), 'RegisterWebhook', id, `webhook for ${appId} registered: ${input.url}`);
      return { webhook: toWebhook(row), signingSecret: secret };
    },

    async updateWebhook(req, handlerCtx) {
      const { id, change } = checkUpdateWebhook(req);
      const current = await visibleWebhook(handlerCtx, id);
      if (change.url !== undefined && change.url !== current.url) {
        const clash = (await appWebhooks(ctx.db, current.app_id)).find((w) => w.url === change.url);
        if (clash !== undefined) {
          throw new AlreadyExistsError('WEBHOOK_EXISTS', `webhook ${clash.id} already has this URL`, {
            webhook_id: clash.id,
          });
        }
      }
      const row = await updateWebhook(ctx.db, id, change);
      if (row.state === 'active') ctx.webhooks.wake();
      audit(callerOf(handlerCtx), 'UpdateWebhook', id, `webhook changed: ${Object.keys(change).join(', ')}`);
      return { webhook: toWebhook(row) };
    },

    async deleteWebhook(req, handlerCtx) {
      const id = checkWebhookIdOnly('id', req.id);
      const caller = callerOf(handlerCtx);
      const row = await findWebhook(ctx.db, id);
      // Idempotent: gone, or never there, answers the same; so does another app's.
      if (row !== undefined && (row.app_id === caller.appId || isAdmin(caller))) {
        if (await deleteWebhook(ctx.db, id))
          audit(caller, 'DeleteWebhook', id, `webhook of ${row.app_id} deleted`);
      }
      return {};
    },

    async listWebhooks(req, handlerCtx) {
      const appId = await ownerApp(handlerCtx, checkAppIdOrEmpty(req.appId), false);
      return { webhooks: (await appWebhooks(ctx.db, appId)).map(toWebhook) };
    },

    async listWebhookAttempts(req, handlerCtx) {
      const input = checkListWebhookAttempts(req);
      await visibleWebhook(handlerCtx, input.webhookId);
      const rows = await listAttempts(ctx.db, {
        webhookId: input.webhookId,
        ...(input.outcome === undefined ? {} : { outcome: input.outcome }),
        ...(input.noticeId === undefined ? {} : { noticeId: input.noticeId }),
        offset: input.page.offset,
        limit: input.page.limit,
      });
      return { attempts: rows.map(toAttempt), nextPageToken: nextPageToken(input.page, rows.length) };
    },

    async retryParkedNotices(req, handlerCtx) {
      const input = checkRetryParked(req);
      const webhook = await visibleWebhook(handlerCtx, input.webhookId);
      if (webhook.state !== 'active') {
        throw new FailedPreconditionError(
          'WEBHOOK_NOT_ACTIVE',
          `webhook ${webhook.id} is ${webhook.state}; set it ACTIVE with UpdateWebhook, which also retries what it parked`,
          { webhook_id: webhook.id, state: webhook.state },
        );
      }
      const scheduled = await requeueParked(
        ctx.db,
        webhook.id,
        input.noticeIds.length === 0 ? {} : { noticeIds: input.noticeIds },
      );
      if (scheduled > 0) ctx.webhooks.wake();
      audit(
        callerOf(handlerCtx),
        'RetryParkedNotices',
        webhook.id,
        `${scheduled} parked notice(s) scheduled again`,
      );
      return { scheduledCount: scheduled };
    },
  };
}

const STATES: Record<WebhookStateName, WebhookState> = {
  active: WebhookState.ACTIVE,
  paused: WebhookState.PAUSED,
  disabled: WebhookState.DISABLED,
};

const OUTCOMES: Record<AttemptOutcomeName, WebhookAttemptOutcome> = {
  succeeded: WebhookAttemptOutcome.SUCCEEDED,
  retrying: WebhookAttemptOutcome.RETRYING,
  parked: WebhookAttemptOutcome.PARKED,
};

const PARKED_REASONS: Record<ParkedReasonName, ParkedReason> = {
  max_attempts: ParkedReason.MAX_ATTEMPTS,
  permanent_error: ParkedReason.PERMANENT_ERROR,
  notice_expired: ParkedReason.NOTICE_EXPIRED,
  webhook_unavailable: ParkedReason.WEBHOOK_UNAVAILABLE,
  address_forbidden: ParkedReason.ADDRESS_FORBIDDEN,
};

function toWebhook(row: WebhookRow): Webhook {
  return create(WebhookSchema, {
    id: row.id,
    appId: row.app_id,
    url: row.url,
    kinds: row.kinds.map((k) => noticeKinds.toProto(k)),
    state: STATES[row.state],
    consecutiveFailures: row.consecutive_failures,
    ...(row.last_success_at === null ? {} : { lastSuccessTime: timestampFromDate(row.last_success_at) }),
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
  });
}

function toAttempt(row: AttemptRow): WebhookAttempt {
  return create(WebhookAttemptSchema, {
    id: row.id,
    webhookId: row.webhook_id,
    noticeId: row.notice_id,
    noticeKind: noticeKinds.toProto(row.notice_kind),
    attempt: row.attempt,
    attemptTime: timestampFromDate(row.attempted_at),
    outcome: OUTCOMES[row.outcome],
    httpStatus: row.http_status,
    error: row.error,
    latency: durationFromMs(row.latency_ms),
    ...(row.next_attempt_at === null ? {} : { nextAttemptTime: timestampFromDate(row.next_attempt_at) }),
    ...(row.parked_reason === null ? {} : { parkedReason: PARKED_REASONS[row.parked_reason] }),
  });
}
