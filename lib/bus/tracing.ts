/**
 * A consumer's handling of a message continues the trace of what published
 * it: the W3C trace context travels in the message headers (the outbox puts
 * it there), and each handling runs in a CONSUMER span under it. So one
 * transfer's trace follows it from the gateway through the services and
 * across JetStream to the consumers that act on its events, and whatever a
 * handler publishes carries the same trace on.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { BusMessage, MessageHandler } from './bus.js';

const tracer = trace.getTracer('lgsp.bus');

/** `handler`, run in a span named after the consumer that continues the message's trace. */
export function tracedHandler(consumer: string, handler: MessageHandler): MessageHandler {
  return async (msg: BusMessage) => {
    const parent = propagation.extract(context.active(), msg.headers);
    const span = tracer.startSpan(
      `${consumer} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': msg.subject,
          'messaging.consumer.group.name': consumer,
          'messaging.message.delivery_count': msg.deliveryCount,
        },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), () => handler(msg));
    } catch (error) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      throw error;
    } finally {
      span.end();
    }
  };
}
