/**
 * The notifications suite's part of the report (beside the scenario table
 * every suite has): what a notice cost the servers, the fan-out round by
 * round, the mesh process phase by phase with many apps online, the targets
 * and where the time goes.
 */
import type { LimitFinding, TargetVerdict } from '../transfers/report.js';
import type { PhaseMeasure } from './phases.js';

export type { LimitFinding, TargetVerdict };

/** The targets. */
export const TARGETS = {
  /** Commit to subscriber, p99, milliseconds. */
  latencyP99Ms: 50,
  /** Time to notify every recipient of one transfer, milliseconds. */
  fanoutMs: 1000,
  /** Cores the mesh may keep busy with every app subscribed and heartbeating. */
  presenceCores: 0.1,
} as const;

/** What one notice cost the servers during a latency scenario's measured window. */
export interface NoticeCosts {
  readonly scenario: string;
  readonly notices: number;
  /** The send call (CreateTransfer or SendNotice), from call to answer. */
  readonly sendMs: { readonly p50: number; readonly p99: number };
  /** Notices that arrived before the send call's answer was read. */
  readonly early: number;
  /** Main-thread busy milliseconds per notice (the send, the notice, and for a transfer its confirmation). */
  readonly serverMsPerNotice: number;
  readonly sqlPerNotice: number;
  readonly sqlByService: Readonly<Record<string, number>>;
  readonly busPerNotice: number;
  readonly busBySubject: Readonly<Record<string, number>>;
}

export interface FanoutRound {
  /** CreateTransfer to every recipient, from call to answer. */
  readonly sendMs: number;
  /** Commit to the last recipient's notice: the time to notify them all. */
  readonly lastMs: number;
  readonly p50Ms: number;
  readonly serverBusy: number | null;
  readonly otherLoad: number | null;
  readonly sqlStatements: number | null;
  readonly busMessages: number | null;
}

export interface FanoutReport {
  readonly recipients: number;
  readonly rounds: readonly FanoutRound[];
  /** The raw bus: the same number of messages published at once, consumed by one consumer. */
  readonly baselineRounds: readonly { readonly lastMs: number; readonly p50Ms: number }[];
  readonly failure?: string;
}

/** One phase of the presence scenario: the mesh process, and what the apps did meanwhile. */
export interface PresencePhaseReport extends PhaseMeasure {
  readonly heartbeats: number;
  readonly heartbeatErrors: number;
  readonly streamMessages: number;
  readonly openStreams: number;
}

export interface PresenceReport {
  readonly apps: number;
  /** The platform's heartbeat interval: the apps heartbeat, and the streams send heartbeats, at it. */
  readonly intervalMs: number;
  readonly phases: readonly PresencePhaseReport[];
  /** From the first stream opened to the last stream's first message. */
  readonly openingMs: number | null;
  readonly streamErrors: number;
  readonly errorSamples: readonly string[];
  readonly clientRssBytes: number | null;
  /** After the measured phases, streams still open: the process after a full garbage collection, and how long it took. */
  readonly retained: {
    readonly rssBytes: number;
    readonly heapUsedBytes: number;
    readonly externalBytes: number;
    readonly collectMs: number;
  } | null;
  /** Where the main thread's time went during the profiled phase, by owner. */
  readonly profile: readonly { readonly owner: string; readonly ms: number; readonly share: number }[];
  readonly failure?: string;
}

export interface NotificationsSection {
  readonly settings: {
    readonly apps: number;
    readonly fanoutRecipients: number;
    readonly fanoutRounds: number;
    readonly payloadBytes: number;
  };
  readonly provisioning: { readonly apps: number; readonly ms: number };
  readonly costs: readonly NoticeCosts[];
  readonly fanout: FanoutReport;
  readonly presence: PresenceReport;
  readonly targets: readonly TargetVerdict[];
  readonly limits: readonly LimitFinding[];
}
