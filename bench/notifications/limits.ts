/**
 * The issue's notification targets, whether this run met each, and for each
 * one missed, where the time goes — every sentence built from this run's
 * measurements (the send call, SQL statements and bus messages per notice,
 * the main thread's busy share, CPU per heartbeat and per stream, the
 * profile), none written in advance.
 */
import type { Infrastructure } from '../mesh.js';
import type { ScenarioReport } from '../report.js';
import { entries, ms, num, pct } from '../transfers/format.js';
import type { PhaseMeasure } from './phases.js';
import {
  type FanoutReport,
  type LimitFinding,
  type NotificationsSection,
  type PresencePhaseReport,
  type PresenceReport,
  TARGETS,
  type TargetVerdict,
} from './report.js';

/** Above this busy share, the main thread (every server) is the bottleneck rather than waiting. */
const SATURATED = 0.85;
const PROFILE_OWNERS = 6;
const MiB = 2 ** 20;

export const STEADY_PHASE = 'streams + heartbeats';

export function phaseOf(presence: PresenceReport, name: string): PresencePhaseReport | undefined {
  return presence.phases.find((p) => p.name === name);
}

export function targetVerdicts(
  scenarios: readonly ScenarioReport[],
  fanout: FanoutReport,
  presence: PresenceReport,
): TargetVerdict[] {
  const latency = scenarios.find((s) => s.id === 'b')?.summary;
  const message = scenarios.find((s) => s.id === 'c')?.summary;
  const bus = scenarios.find((s) => s.id === 'a')?.summary;
  const worst = fanout.rounds.length > 0 ? Math.max(...fanout.rounds.map((r) => r.lastMs)) : null;
  const fanoutAll = scenarios.find((s) => s.id === 'e')?.summary;
  const busWorst =
    fanout.baselineRounds.length > 0 ? Math.max(...fanout.baselineRounds.map((r) => r.lastMs)) : null;
  const steady = phaseOf(presence, STEADY_PHASE);
  const idle = phaseOf(presence, 'idle');
  const streams = phaseOf(presence, 'streams');
  return [
    {
      id: 'latency',
      what: 'notice latency, commit to subscriber (NEW_DELIVERY of a 1 KiB inline transfer), p99',
      target: `< ${TARGETS.latencyP99Ms} ms`,
      measured: latency
        ? `p99 ${ms(latency.latencyMs.p99)} (p50 ${ms(latency.latencyMs.p50)})` +
          (message ? `; APP_MESSAGE p99 ${ms(message.latencyMs.p99)}` : '') +
          (bus ? `; the bus alone p99 ${ms(bus.latencyMs.p99)}` : '')
        : 'not measured',
      met: latency ? latency.latencyMs.p99 < TARGETS.latencyP99Ms : null,
    },
    {
      id: 'fanout',
      what: `time to notify ${fanout.recipients} subscribed recipients of one transfer, commit to the last notice`,
      target: `≤ ${TARGETS.fanoutMs / 1000} s`,
      measured:
        worst === null
          ? 'not measured'
          : `worst of ${fanout.rounds.length} rounds ${ms(worst)}` +
            (fanoutAll ? `, p50 across recipients ${ms(fanoutAll.latencyMs.p50)}` : '') +
            (busWorst === null ? '' : `; the bus alone ${ms(busWorst)}`),
      met: worst === null ? null : worst <= TARGETS.fanoutMs,
    },
    {
      id: 'presence',
      what: `mesh process CPU with ${presence.apps} apps subscribed and heartbeating every ${presence.intervalMs / 1000} s`,
      target: `< ${TARGETS.presenceCores} core`,
      measured:
        steady === undefined
          ? 'not measured'
          : `${steady.cores.toFixed(3)} core` +
            (idle ? ` (idle mesh ${idle.cores.toFixed(3)}` : ' (') +
            (streams ? `, streams only ${streams.cores.toFixed(3)})` : ')') +
            `; RSS ${num(steady.rssEndBytes / MiB)} MiB`,
      met: steady === undefined ? null : steady.cores < TARGETS.presenceCores,
    },
  ];
}

export function limitFindings(
  section: NotificationsSection,
  scenarios: readonly ScenarioReport[],
  infra: Infrastructure,
): LimitFinding[] {
  const out: LimitFinding[] = [];
  for (const target of section.targets) {
    if (target.met !== false) continue;
    const findings =
      target.id === 'latency'
        ? latencyFindings(section, scenarios, infra)
        : target.id === 'fanout'
          ? fanoutFindings(section, scenarios)
          : presenceFindings(section.presence);
    out.push({ target: target.what, findings });
  }
  return out;
}

function latencyFindings(
  section: NotificationsSection,
  scenarios: readonly ScenarioReport[],
  infra: Infrastructure,
): string[] {
  const out: string[] = [];
  const b = scenarios.find((s) => s.id === 'b');
  const a = scenarios.find((s) => s.id === 'a')?.summary;
  const c = scenarios.find((s) => s.id === 'c')?.summary;
  const cost = section.costs.find((k) => k.scenario === 'b');
  if (b?.summary == null || cost === undefined) return ['(b) was not measured.'];
  const m = b.summary.latencyMs;
  out.push(
    `Commit to subscriber: p50 ${ms(m.p50)}, p99 ${ms(m.p99)}, max ${ms(m.max)} over ${cost.notices} notices` +
      (a ? `; the raw bus hop alone p50 ${ms(a.latencyMs.p50)}, p99 ${ms(a.latencyMs.p99)}` : '') +
      '. The NEW_DELIVERY path crosses the bus twice (the transfer’s DeliveryOffered, then the notice’s fan-out ' +
      'event), each time after an outbox relay picks the row up, with a notification transaction in between' +
      (c
        ? `; an APP_MESSAGE, which starts at the notification service, takes p50 ${ms(c.latencyMs.p50)}, p99 ${ms(c.latencyMs.p99)}`
        : '') +
      '.',
  );
  out.push(
    `Per notice (the transfer, its notice and its confirmation) the servers ran ${num(cost.sqlPerNotice)} SQL ` +
      `statements (${entries(cost.sqlByService)}) and published ${num(cost.busPerNotice)} bus messages ` +
      `(${entries(cost.busBySubject)}); the main thread was busy ${ms(cost.serverMsPerNotice)} per notice, ` +
      `${pct(b.serverBusy ?? 0)} of the window.`,
  );
  if ((b.serverBusy ?? 0) >= SATURATED) {
    out.push('The main thread was saturated: notices queued behind other work on the one event loop.');
  } else {
    out.push(
      `The main thread was idle ${pct(1 - (b.serverBusy ?? 0))} of the window, one notice at a time: the ` +
        'latency is the path’s own sequence of steps and waits, not a lack of CPU.',
    );
  }
  if (m.p99 > 3 * m.p50) {
    out.push(
      `The tail is long (p99 ${num(m.p99 / m.p50)}× p50): single slow notices — a garbage collection, a ` +
        'periodic task (sweeps, proof of life, relays) running at that moment' +
        (infra.databaseUrl === undefined ? ', PGlite’s single session held by another statement' : '') +
        ' — rather than a slow path.',
    );
  }
  if ((b.otherLoad ?? 0) > 0.1)
    out.push(`Other processes took ${pct(b.otherLoad ?? 0)} of the machine meanwhile.`);
  return out;
}

function fanoutFindings(section: NotificationsSection, scenarios: readonly ScenarioReport[]): string[] {
  const { fanout } = section;
  const out: string[] = [];
  const n = fanout.recipients;
  for (const [i, r] of fanout.rounds.entries()) {
    const busyMs = r.serverBusy === null ? null : r.serverBusy * r.lastMs;
    out.push(
      `Round ${i + 1}: CreateTransfer to ${n} apps answered in ${ms(r.sendMs)}; from its commit, the first half of ` +
        `the recipients had their notice within ${ms(r.p50Ms)} and the last within ${ms(r.lastMs)}; the main ` +
        `thread was busy ${pct(r.serverBusy ?? 0)} of the round` +
        (busyMs === null ? '' : ` (about ${num(busyMs / n)} ms per recipient)`) +
        (r.sqlStatements === null ? '' : `, ${num(r.sqlStatements / n)} SQL statements`) +
        (r.busMessages === null ? '' : ` and ${num(r.busMessages / n)} bus messages per recipient`) +
        `${r.otherLoad !== null && r.otherLoad > 0.1 ? `; other processes took ${pct(r.otherLoad)}` : ''}.`,
    );
  }
  const busy = scenarios.find((s) => s.id === 'e')?.serverBusy ?? 0;
  out.push(
    busy >= SATURATED
      ? 'The main thread was saturated during the rounds: notifying the recipients is bound by the servers’ CPU ' +
          '(every service and the database share one event loop here), so the time to notify them all grows with ' +
          'the work per recipient above.'
      : `The main thread was busy ${pct(busy)} of the rounds: part of the time is waiting (relays, consumers, ` +
          'batches) rather than computing.',
  );
  const base = fanout.baselineRounds;
  if (base.length > 0) {
    out.push(
      `The raw bus carried ${n} messages at once to one consumer in ${ms(Math.max(...base.map((r) => r.lastMs)))} at worst: ` +
        'the bus is a small part of it.',
    );
  }
  return out;
}

function perSecond(count: number, phase: PhaseMeasure): number {
  return phase.wallMs > 0 ? (count * 1000) / phase.wallMs : 0;
}

/** CPU milliseconds per event: what a phase cost beyond another, divided by its events. */
function costPer(phase: PhaseMeasure, base: PhaseMeasure, eventsPerSecond: number): number {
  return eventsPerSecond > 0 ? ((phase.cores - base.cores) * 1000) / eventsPerSecond : Number.NaN;
}

/** Per second, by key. */
function rates(counts: Readonly<Record<string, number>>, phase: PhaseMeasure): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, perSecond(n, phase)]));
}

/** What a phase did per event beyond another phase, by key: (rate − base rate) / events per second. */
function extraPer(
  counts: Readonly<Record<string, number>>,
  phase: PhaseMeasure,
  baseCounts: Readonly<Record<string, number>>,
  base: PhaseMeasure,
  eventsPerSecond: number,
): Record<string, number> {
  if (eventsPerSecond <= 0) return {};
  const now = rates(counts, phase);
  const before = rates(baseCounts, base);
  return Object.fromEntries(
    Object.keys({ ...now, ...before })
      .map((k) => [k, ((now[k] ?? 0) - (before[k] ?? 0)) / eventsPerSecond] as const)
      .filter(([, v]) => v > 0)
      .sort(([, a], [, b]) => b - a),
  );
}

const total = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, b) => a + b, 0);

export function presenceFindings(presence: PresenceReport): string[] {
  const out: string[] = [];
  const idle = phaseOf(presence, 'idle');
  const streams = phaseOf(presence, 'streams');
  const steady = phaseOf(presence, STEADY_PHASE);
  if (idle === undefined || streams === undefined || steady === undefined)
    return ['Not every phase was measured.'];
  const apps = presence.apps;
  const interval = presence.intervalMs / 1000;
  const idleSql = rates(idle.sql.byService, idle);
  out.push(
    `The idle mesh (${apps} apps registered, none connected) keeps ${idle.cores.toFixed(3)} core busy ` +
      `(its main thread ${pct(idle.serverBusy)}): timers, sweeps, the outbox relays and workers polling — ` +
      `${num(total(idleSql))} SQL statements a second (${entries(idleSql)}).`,
  );
  const streamMsgs = perSecond(streams.streamMessages, streams);
  const streamSql = extraPer(streams.sql.byService, streams, idle.sql.byService, idle, streamMsgs);
  out.push(
    `${apps} open streams add ${(streams.cores - idle.cores).toFixed(3)} core: each stream’s heartbeat every ` +
      `${interval} s makes ${num(streamMsgs)} messages a second, ` +
      `${num(costPer(streams, idle, streamMsgs))} ms of CPU each, and ${num(total(streamSql))} SQL statements ` +
      `each (${entries(streamSql)}; the stream reads its notice counter before every heartbeat).`,
  );
  const beats = perSecond(steady.heartbeats, steady);
  const beatSql = extraPer(steady.sql.byService, steady, streams.sql.byService, streams, beats);
  const beatBus = extraPer(steady.bus.bySubject, steady, streams.bus.bySubject, streams, beats);
  out.push(
    `Heartbeats at ${num(beats)} a second (${apps} apps every ${interval} s) add ` +
      `${(steady.cores - streams.cores).toFixed(3)} core: ${num(costPer(steady, streams, beats))} ms of CPU per ` +
      'heartbeat — a signed call through the gateway (the signature, the nonce claimed in the replay store, the ' +
      'key material fetched again from the auth service when its cache entry expired), a hop to the notification ' +
      'service, the presence record, the notice counter read — and ' +
      `${num(total(beatSql))} SQL statements per heartbeat (${entries(beatSql)})` +
      (total(beatBus) >= 0.05 ? `, ${num(total(beatBus))} bus messages (${entries(beatBus)})` : '') +
      '.',
  );
  out.push(
    `The main thread was busy ${pct(steady.serverBusy)} of the steady phase; the process used ` +
      `${steady.cores.toFixed(3)} core on all threads (garbage collection and the libuv pool included).` +
      (steady.serverBusy >= SATURATED
        ? ' The main thread was saturated: every service and the database share it here, so the mesh ran at ' +
          'its ceiling and this figure is a floor of what the load needs, not its cost.'
        : ''),
  );
  const expected = apps / interval;
  if (beats < 0.95 * expected) {
    out.push(
      `Only ${num(beats)} heartbeats a second were answered of the ${num(expected)} the apps sent: the mesh fell behind.`,
    );
  }
  if (presence.retained !== null && steady.heapUsedBytes > 2 * presence.retained.heapUsedBytes) {
    out.push(
      `The V8 heap in use reached ${num(steady.heapUsedBytes / MiB)} MiB in the steady phase, while a full ` +
        `collection afterwards left ${num(presence.retained.heapUsedBytes / MiB)} MiB: most of it was garbage ` +
        'waiting for the collector, whose work is part of the CPU above.',
    );
  }
  if (presence.profile.length > 0) {
    out.push(
      `Main-thread profile of the same load: ${presence.profile
        .slice(0, PROFILE_OWNERS)
        .map((o) => `${o.owner} ${pct(o.share)}`)
        .join(', ')}.`,
    );
  }
  return out;
}
