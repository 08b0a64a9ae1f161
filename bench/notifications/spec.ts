/**
 * What the notifications suite (suite.ts, main thread) asks of its loads, and
 * what they answer. Everything here crosses a thread or process boundary
 * (structured clone): plain data only.
 */
import type { AppSpec } from '../transfers/spec.js';

export type { AppSpec };

/**
 * The apps of the suite: one source, and the subscribing apps, many to a
 * unit. The first subscribing app is the destination of the latency
 * scenarios, the first `fanout` of them the recipients of the fan-out, and
 * all of them hold streams and heartbeat in the presence scenario.
 */
export interface Population {
  readonly source: AppSpec;
  readonly apps: readonly AppSpec[];
}

/** What travels from commit to subscriber in the latency scenarios. */
export type NoticePath = 'transfer' | 'message';

/** Notices one at a time: send, wait for the notice on the destination's stream, send the next. */
export interface LatencySpec {
  readonly gateway: string;
  readonly source: AppSpec;
  readonly destination: AppSpec;
  readonly path: NoticePath;
  readonly payloadBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly maxOps: number;
}

/** A closed loop's answer, with what the load process itself spent (it is not another process's load). */
export interface LatencyResult {
  /** Commit (the send call's answer) to the notice's arrival on the stream, per measured notice. */
  readonly latenciesMs: Float64Array;
  /** The send call itself (CreateTransfer or SendNotice), per measured notice. */
  readonly sendMs: Float64Array;
  /** Notices that arrived before the send call's answer was read (counted as 0 ms). */
  readonly early: number;
  readonly errors: number;
  readonly warmupErrors: number;
  readonly errorSamples: readonly string[];
  readonly elapsedMs: number;
  readonly clientBusy: number;
  /** CPU milliseconds of the load process during the measured window. */
  readonly clientCpuMs: number;
}

/** One transfer to many subscribed apps, a few times over. */
export interface FanoutSpec {
  readonly gateway: string;
  readonly source: AppSpec;
  readonly recipients: readonly AppSpec[];
  readonly rounds: number;
  readonly payloadBytes: number;
}

export interface FanoutResult {
  /** Per round, commit to each recipient's notice, in order of arrival. */
  readonly rounds: readonly Float64Array[];
  /** Per round, how long CreateTransfer to every recipient took. */
  readonly sendMs: readonly number[];
  readonly early: number;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** CPU milliseconds of the load process during the measured rounds. */
  readonly clientCpuMs: number;
  /** Wall milliseconds of the measured rounds (waiting between rounds excluded). */
  readonly elapsedMs: number;
}

/** The raw bus: notices-to-be published and consumed, one at a time or many at once. */
export interface BusBaselineSpec {
  readonly mode: 'latency' | 'fanout';
  readonly natsUrl: string | undefined;
  readonly busPrefix: string;
  readonly payloadBytes: number;
  /** latency: warm-up and measured window; fanout: messages per round and rounds. */
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly maxOps: number;
  readonly messages: number;
  readonly rounds: number;
}

export interface BusBaselineResult {
  /** latency: publish to consume per message; fanout: per round, each message's publish start to its consumption. */
  readonly latenciesMs: Float64Array;
  readonly rounds: readonly Float64Array[];
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly elapsedMs: number;
  readonly clientBusy: number;
}

/** The presence scenario's timeline: each phase is announced to the orchestrator as it begins. */
export const PRESENCE_PHASES = [
  'idle',
  'opening streams',
  'streams',
  'heartbeats warm-up',
  'streams + heartbeats',
  'profiled',
] as const;
export type PresencePhase = (typeof PRESENCE_PHASES)[number];

export interface PresenceSpec {
  readonly gateway: string;
  readonly apps: readonly AppSpec[];
  /** The platform's heartbeat interval: streams and heartbeats are paced by it, as real apps are. */
  readonly intervalMs: number;
  /** Length of each phase, in milliseconds (`opening streams` lasts until every stream has its first message). */
  readonly phaseMs: Readonly<Record<Exclude<PresencePhase, 'opening streams'>, number>>;
  /** Streams opening at once while the streams open. */
  readonly openConcurrency: number;
}

export interface PresenceResult {
  /** Per phase: heartbeats answered, heartbeat errors, stream messages received, streams open at its end. */
  readonly phases: Readonly<
    Record<
      string,
      {
        readonly heartbeats: number;
        readonly heartbeatErrors: number;
        readonly streamMessages: number;
        readonly openStreams: number;
      }
    >
  >;
  /** How long opening the streams took, and the first-message latency of the slowest. */
  readonly openingMs: number;
  readonly streamErrors: number;
  readonly errorSamples: readonly string[];
  /** Resident set of the load process at the end, for information. */
  readonly clientRssBytes: number;
}
