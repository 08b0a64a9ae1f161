/**
 * What the transfers suite (suite.ts, main thread) asks of its workers, and
 * what they answer. Everything here crosses a thread boundary (structured
 * clone): plain data only.
 */
import type { SignerSpec } from '../scenarios.js';

/** An app of the bench: its id, its unit and its HMAC credential. */
export interface AppSpec {
  readonly appId: string;
  readonly unitCode: string;
  readonly signer: SignerSpec;
}

/** The apps the suite provisioned: one source, several recipients in other units. */
export interface Cast {
  readonly source: AppSpec;
  readonly recipients: readonly AppSpec[];
}

interface ClosedLoop {
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Operations in flight at any time: each finished one starts the next. */
  readonly concurrency: number;
  /** Stop measuring after this many operations even if the duration has not elapsed. */
  readonly maxOps: number;
}

/** End-to-end transfers in a closed loop, through the gateway. */
export interface E2eSpec extends ClosedLoop {
  /** `host:port` of the gateway. */
  readonly gateway: string;
  readonly cast: Cast;
  readonly payloadBytes: number;
  /** The content travels inline in CreateTransfer and in the AcceptDelivery answer. */
  readonly inline: boolean;
  /** How long a receiver waits before polling again after a poll that found nothing new. */
  readonly pollMs: number;
  /** Send nothing: the receivers only poll, to measure what an empty poll costs the servers. */
  readonly pollsOnly?: boolean;
}

/** The raw infrastructure carrying the same bytes in a closed loop. */
export interface SmallBaselineSpec extends ClosedLoop {
  readonly kind: 'bus' | 'fs';
  readonly payloadBytes: number;
  /** A real NATS for the bus baseline; without it, a fresh in-process bus in the worker. */
  readonly natsUrl: string | undefined;
  /** Prefix of the baseline's stream and subjects on a real NATS (the run's own, deleted afterwards). */
  readonly busPrefix: string;
  /** Directory of the filesystem baseline: on the same filesystem as the mesh's blobs. */
  readonly dir: string;
}

/** What a closed loop answers: the shape suite 1's load worker answers, plus the suite's own detail. */
export interface LoopResult {
  /** Operations completed correctly during the measured window. */
  readonly requests: number;
  readonly errors: number;
  readonly warmupErrors: number;
  readonly errorSamples: readonly string[];
  readonly elapsedMs: number;
  readonly clientBusy: number;
  readonly latenciesMs: Float64Array;
}

/** The stages of an end-to-end transfer, each as a duration in milliseconds. */
export const STAGES = ['create', 'upload', 'commit', 'until seen', 'accept', 'fetch', 'confirm'] as const;
export type Stage = (typeof STAGES)[number];

export interface E2eResult extends LoopResult {
  /** Per stage, the duration of every measured transfer, in milliseconds (same order as the latencies). */
  readonly stagesMs: Readonly<Record<Stage, Float64Array>>;
  /** RPCs made during the measured window, by `Service/Method`. */
  readonly calls: Readonly<Record<string, number>>;
  /** Polls made during the measured window, and how many of them found nothing new. */
  readonly polls: { readonly total: number; readonly empty: number };
}

/** The large transfer's content: made from this seed, in 1 MiB pieces. */
export const LARGE_SEED = 2;

/** The large transfer: up and down through the gateway, then up and down straight to the storage. */
export interface LargeSpec {
  readonly gateway: string;
  /** `host:port` of the storage service, for the reference legs that bypass the gateway. */
  readonly storage: string;
  readonly cast: Cast;
  readonly bytes: number;
  /** SHA-256 of the content, declared in CreateTransfer (computed beforehand by prepare-load.ts). */
  readonly sha256: Uint8Array;
  /** Which byte paths to run, in order: through the gateway, straight to the storage. */
  readonly paths: readonly ('gateway' | 'direct')[];
}

export const LARGE_LEGS = ['gateway up', 'gateway down', 'direct up', 'direct down'] as const;
export type LargeLeg = (typeof LARGE_LEGS)[number];

export interface LegResult {
  readonly leg: LargeLeg;
  readonly bytes: number;
  /** From opening the stream to its answer (up) or its end (down). */
  readonly ms: number;
}

export interface LargeResult {
  readonly legs: readonly LegResult[];
  /** CreateTransfer to ConfirmDelivery of the transfer through the gateway. */
  readonly gatewayTransferMs: number;
  /** Per leg, the largest rise of the client process's RSS (it runs in a child process of its own). */
  readonly clientRssRiseBytes: Readonly<Record<string, number>>;
  readonly calls: Readonly<Record<string, number>>;
}

/** What the large transfer needs before it starts, made in a worker of its own (prepare-load.ts). */
export interface LargePreparation {
  readonly sha256: Uint8Array;
  /** Sealing (AES-256-GCM in 64 KiB segments) and hashing (SHA-256) one MiB, in ms. */
  readonly cryptoMsPerMiB: { readonly aesGcm: number; readonly sha256: number };
}

/** The raw infrastructure carrying the large content: a file written, fsynced and read; a stream of messages. */
export interface LargeBaselineSpec {
  readonly kind: 'fs' | 'bus';
  readonly bytes: number;
  readonly natsUrl: string | undefined;
  readonly busPrefix: string;
  readonly dir: string;
}

export interface LargeBaselineResult {
  /** Each direction's bytes and time; the bus carries both at once, so it reports one leg, `through`. */
  readonly legs: readonly {
    readonly leg: 'write' | 'read' | 'through';
    readonly bytes: number;
    readonly ms: number;
  }[];
}
