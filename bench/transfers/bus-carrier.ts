/**
 * The bus baseline's transport: a message published durably and consumed
 * (and acknowledged) by a durable consumer, nothing of LGSP on top. With a
 * real NATS it is raw JetStream (`@nats-io/jetstream`): a stream of the run's
 * own, file storage like the mesh's streams, deleted afterwards. Without one
 * it is a fresh in-process bus (`lib/bus/memory.ts`, what the mesh uses then),
 * in the worker thread that drives it.
 *
 * Each message's id travels in its subject, not in a header: NATS refuses a
 * message whose payload and headers pass its 1 MiB limit, and the baseline
 * must carry exactly the scenario's bytes.
 */
import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createMemoryBus } from '#lib/bus/memory.js';

export interface Carrier {
  /** Publishes message `id`; resolves once the broker stored it (JetStream ack). */
  publish(id: number, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Called with the id and size of every message the consumer receives, after acknowledging it. */
export type OnConsumed = (id: number, bytes: number) => void;

/**
 * The in-process bus keeps messages until they age out; a short max age
 * bounds what a fast publisher can pile up in memory, while the consumer, a
 * few messages behind at most, is never that late.
 */
const MEMORY_MAX_AGE_MS = 500;
/** A cap on what the NATS stream keeps on disk (oldest dropped first): the consumer reads each message at once. */
const NATS_MAX_BYTES = 256 * 1024 * 1024;

export async function openCarrier(
  natsUrl: string | undefined,
  busPrefix: string,
  concurrency: number,
  onConsumed: OnConsumed,
): Promise<Carrier> {
  return natsUrl === undefined
    ? memoryCarrier(concurrency, onConsumed)
    : natsCarrier(natsUrl, busPrefix, onConsumed);
}

const idOf = (subject: string) => Number(subject.slice(subject.lastIndexOf('.') + 1));

async function memoryCarrier(concurrency: number, onConsumed: OnConsumed): Promise<Carrier> {
  const bus = createMemoryBus();
  await bus.ensureStream({ name: 'BASELINE', subjects: ['baseline.>'], maxAgeMs: MEMORY_MAX_AGE_MS });
  const subscription = await bus.consume(
    { stream: 'BASELINE', durable: 'baseline' },
    async (msg) => onConsumed(idOf(msg.subject), msg.data.length),
    { concurrency },
  );
  return {
    publish: async (id, data) => {
      await bus.publish(`baseline.${id}`, data);
    },
    close: async () => {
      await subscription.stop();
      await bus.close();
    },
  };
}

async function natsCarrier(natsUrl: string, busPrefix: string, onConsumed: OnConsumed): Promise<Carrier> {
  const nc = await connect({ servers: natsUrl });
  // A name of its own: a stream a failed run left behind cannot be in the way.
  const stream = `${busPrefix}_BASELINE_${randomBytes(3).toString('hex').toUpperCase()}`;
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.add({
      name: stream,
      subjects: [`${stream}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_bytes: NATS_MAX_BYTES,
    });
    await jsm.consumers.add(stream, { durable_name: 'baseline', ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    const messages = await (await js.consumers.get(stream, 'baseline')).consume();
    const consuming = (async () => {
      for await (const m of messages) {
        m.ack();
        onConsumed(idOf(m.subject), m.data.length);
      }
    })();
    return {
      publish: async (id, data) => {
        await js.publish(`${stream}.${id}`, data);
      },
      close: async () => {
        await messages.close();
        await consuming.catch(() => {});
        await jsm.streams.delete(stream).catch(() => false);
        await nc.close();
      },
    };
  } catch (error) {
    await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
    throw error;
  }
}
