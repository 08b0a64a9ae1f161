/**
 * Webhook calls (docs/notifications.md, "Webhooks"), on every replica side by
 * side. Each pass takes due deliveries (a notice waiting for a webhook) that
 * no other replica holds, as many as free call slots, and calls them; each
 * call records its outcome on its own, and frees its slot for the next pass.
 *
 * A notice is not posted when it was acknowledged meanwhile, or when its app
 * holds a Subscribe stream: the stream has it (the webhook is for apps that
 * hold none). A call that fails is retried with back-off, then parked with its
 * reason; a webhook that has failed every call for a day is disabled.
 */
import { create, toJsonString } from '@bufbuild/protobuf';
import { type Counter, metrics } from '@opentelemetry/api';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { NoticeSchema } from '#gen/lgsp/notification/v1/resources_pb.js';
import { AuditOutcome } from '#lib/audit.js';
import type { Subscription } from '#lib/bus/bus.js';
import { type PeriodicTask, startPeriodic } from '#lib/periodic.js';
import type { NotificationContext } from '../context.js';
import { toNotice } from '../db/rows.js';
import {
  type ClaimedDelivery,
  claimDue,
  type DeliveryOutcome,
  recordOutcome,
  type WebhookHealth,
} from '../db/webhooks.js';
import { newId } from '../domain/ids.js';
import { callWebhook } from '../domain/webhook-call.js';
import { afterFailure } from '../domain/webhook-retry.js';

/** Due deliveries are looked for at least this often, on every replica. */
const POLL_MS = 1_000;
/** Margin past the call's timeout before another replica may take a delivery this one holds. */
const LEASE_MARGIN_MS = 30_000;
const USER_AGENT = 'lgsp-webhooks/1';
/**
 * Webhook calls by outcome, on the Prometheus endpoint: a rise in retrying or
 * parked is an alert. Made on first use, once the process's meter provider is set.
 */
let callCounter: Counter | undefined;
const calls = (): Counter =>
  (callCounter ??= metrics.getMeter('lgsp.notification').createCounter('lgsp_webhook_calls', {
    description: 'Webhook calls made, by outcome (succeeded, retrying, parked)',
  }));

/** Who disables a webhook in the audit log: the platform itself. */
const SYSTEM_ACTOR = create(CallerSchema, { kind: CallerKind.SERVICE, subject: 'service:notification' });

/** What the dispatcher needs of the service's context. */
export type WebhookDeps = Pick<
  NotificationContext,
  'db' | 'config' | 'logger' | 'audit' | 'presence' | 'secretBox' | 'webhookGuard'
>;

export class WebhookDispatcher implements Subscription {
  readonly #ctx: WebhookDeps;
  readonly #calls = new Set<Promise<void>>();
  #task: PeriodicTask | undefined;
  #stopped = false;

  constructor(deps: WebhookDeps) {
    this.#ctx = deps;
  }

  start(): this {
    this.#task ??= startPeriodic({
      name: 'webhook dispatch',
      intervalMs: POLL_MS,
      firstDelayMs: 200,
      logger: this.#ctx.logger,
      pass: () => this.#pass(),
    });
    return this;
  }

  /** Looks for due deliveries now: new notices were committed, or a retry falls due. */
  wake(): void {
    this.#task?.wake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#task?.stop();
    await Promise.all(this.#calls);
  }

  async #pass(): Promise<boolean> {
    const { config } = this.#ctx;
    const free = config.webhookConcurrency - this.#calls.size;
    if (this.#stopped || free <= 0) return false;
    const claimed = await claimDue(this.#ctx.db, free, config.webhookTimeoutMs + LEASE_MARGIN_MS);
    for (const delivery of claimed) {
      const call = this.#deliver(delivery)
        .catch((err: unknown) =>
          // The lease runs out and another pass takes the delivery again.
          this.#ctx.logger.warn({ err, delivery: delivery.id }, 'webhook delivery not recorded; will retry'),
        )
        .finally(() => {
          this.#calls.delete(call);
          if (!this.#stopped) this.wake();
        });
      this.#calls.add(call);
    }
    return false;
  }

  async #deliver(delivery: ClaimedDelivery): Promise<void> {
    const { outcome, health } = await this.#attempt(delivery);
    if (outcome.kind === 'attempt' && outcome.called) calls().add(1, { outcome: outcome.attempt.outcome });
    const { disabled } = await recordOutcome(
      this.#ctx.db,
      delivery,
      outcome,
      health,
      newId('wha'),
      this.#ctx.config.webhookDisableAfterMs,
    );
    if (outcome.kind === 'attempt' && outcome.attempt.next_attempt_at !== null) {
      this.#wakeAt(outcome.attempt.next_attempt_at);
    }
    const { presence, logger } = this.#ctx;
    // Presence is told after the outcome is safe; a failure here costs a presence write, not a notice.
    if (health === 'answered') {
      await presence
        .webhookAnswered(delivery.app_id)
        .catch((err: unknown) =>
          logger.warn({ err, app: delivery.app_id }, 'presence not updated by webhook'),
        );
    }
    if (disabled) {
      logger.warn({ webhook: delivery.webhook_id }, 'webhook disabled after failing continuously');
      this.#ctx.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'lgsp.notification.v1.NotificationService/DisableWebhook',
        object: delivery.webhook_id,
        outcome: AuditOutcome.SUCCEEDED,
        message: `webhook of ${delivery.app_id} disabled after failing every call for ${this.#ctx.config.webhookDisableAfterMs / 1000}s`,
      });
      await presence
        .webhookDisabled(delivery.app_id)
        .catch((err: unknown) =>
          logger.warn({ err, app: delivery.app_id }, 'presence not updated by webhook'),
        );
    }
  }

  async #attempt(delivery: ClaimedDelivery): Promise<{ outcome: DeliveryOutcome; health: WebhookHealth }> {
    const now = new Date();
    const number = delivery.attempts + 1;
    const base = {
      notice_kind: delivery.notice_kind,
      attempt: number,
      attempted_at: now,
      http_status: 0,
      latency_ms: 0,
      next_attempt_at: null,
      parked_reason: null,
    };
    if (delivery.payload === null || (delivery.expire_at !== null && delivery.expire_at <= now)) {
      return {
        outcome: {
          kind: 'attempt',
          called: false,
          attempt: {
            ...base,
            outcome: 'parked',
            error: 'not sent: the notice expired first',
            parked_reason: 'notice_expired',
          },
        },
        health: 'unchanged',
      };
    }
    if (delivery.acked_at !== null || this.#ctx.presence.holdsStream(delivery.app_id)) {
      return { outcome: { kind: 'skipped' }, health: 'unchanged' };
    }

    const { config, secretBox } = this.#ctx;
    const secret = secretBox.open(delivery.secret_sealed, delivery.webhook_id).toString('utf8');
    const result = await callWebhook(
      {
        url: delivery.url,
        secret,
        noticeId: delivery.notice_id,
        body: toJsonString(NoticeSchema, toNotice({ payload: delivery.payload })),
      },
      { guard: this.#ctx.webhookGuard, timeoutMs: config.webhookTimeoutMs, userAgent: USER_AGENT },
      now,
    );
    const measured = { ...base, http_status: result.status, latency_ms: result.latencyMs };
    if (result.ok) {
      return {
        outcome: { kind: 'attempt', called: true, attempt: { ...measured, outcome: 'succeeded', error: '' } },
        health: 'answered',
      };
    }
    const next = afterFailure(
      result,
      number,
      { maxAttempts: config.webhookMaxAttempts, baseMs: config.webhookRetryBaseMs },
      new Date(),
    );
    const attempt =
      next.kind === 'retry'
        ? { ...measured, outcome: 'retrying' as const, error: result.error, next_attempt_at: next.at }
        : { ...measured, outcome: 'parked' as const, error: result.error, parked_reason: next.reason };
    return { outcome: { kind: 'attempt', called: true, attempt }, health: 'failed' };
  }

  /** A retry due before the next poll gets a wake-up of its own. */
  #wakeAt(at: Date): void {
    const wait = at.getTime() - Date.now();
    if (wait >= POLL_MS) return;
    setTimeout(() => this.wake(), Math.max(0, wait)).unref();
  }
}
