/** Suite 3's sections of latest.md: the cost of a notice, the fan-out, many apps online, targets, limits. */
import type { Settings } from '../settings.js';
import { entries, ms, num, pct } from '../transfers/format.js';
import { presenceFindings } from './limits.js';
import { MACHINE_CORES } from './phases.js';
import type { NotificationsSection, PresenceReport } from './report.js';
import { LATENCY_MIN_MS, latencyWindowMs } from './scale.js';

const MiB = 2 ** 20;
const mib = (bytes: number | null) => (bytes === null ? '—' : `${num(bytes / MiB)} MiB`);

export function notificationsNotes(settings: Settings, recipients: number): string[] {
  return [
    'Commit to subscriber: the destination app holds a Subscribe stream through the gateway; the source app ' +
      'sends it a 1 KiB document, one at a time, and the time runs from the answer of the send call (the ' +
      'commit: CreateTransfer answers once the transfer is DELIVERING, SendNotice once the notice is written) ' +
      'to the notice’s arrival on the stream, both read on the same clock in one client process. In (b) the ' +
      'destination then confirms the delivery from the notice’s inline content (not timed), as a real one does ' +
      `(an unconfirmed delivery is offered again 30 s later). (e): one transfer to ${recipients} apps, each ` +
      'holding its stream on a connection of its own; its latencies are per recipient, its max the slowest round.',
    'The loads that talk to the mesh run in child processes, so the mesh process’s CPU and memory are the ' +
      'servers’ alone; their CPU is taken out of the other-load column. The bus baselines run in a worker thread ' +
      'alone, with the same 1 KiB messages. The send calls, the notices and the confirmations are all signed ' +
      `(HMAC-SHA256), as an agency’s system signs them. Warm-up ${settings.warmupMs / 1000} s and ` +
      `${latencyWindowMs(settings) / 1000} s measured for (a)–(c) (at least ${LATENCY_MIN_MS / 1000} s, whatever ` +
      '--duration says: a p99 needs a hundred notices or more); a warm-up round and the measured rounds for (d), (e).',
  ];
}

export function notificationsMarkdown(section: NotificationsSection): string[] {
  return [
    ...costsMarkdown(section),
    ...fanoutMarkdown(section),
    ...presenceMarkdown(
      section.presence,
      !section.limits.some((l) => l.target === section.targets.find((t) => t.id === 'presence')?.what),
    ),
    ...targetsMarkdown(section),
  ];
}

function costsMarkdown(section: NotificationsSection): string[] {
  if (section.costs.length === 0) return [];
  return [
    '### What a notice cost the servers',
    '',
    `Set-up: ${section.provisioning.apps} apps with a credential each, registered through the gateway in ` +
      `${num(section.provisioning.ms / 1000)} s. Per notice, over each scenario’s measured window (for (b): the ` +
      'transfer, its notice and its confirmation; every SQL statement and bus message of the mesh is counted):',
    '',
    '| | notices | send call p50 | send call p99 | main thread per notice | SQL statements per notice | bus messages per notice | arrived before the send’s answer |',
    '|---|--:|--:|--:|--:|---|---|--:|',
    ...section.costs.map(
      (c) =>
        `| (${c.scenario}) | ${c.notices} | ${ms(c.sendMs.p50)} | ${ms(c.sendMs.p99)} | ${ms(c.serverMsPerNotice)} | ` +
        `${num(c.sqlPerNotice)} (${entries(c.sqlByService)}) | ${num(c.busPerNotice)} (${entries(c.busBySubject)}) | ${c.early} |`,
    ),
    '',
  ];
}

function fanoutMarkdown(section: NotificationsSection): string[] {
  const { fanout } = section;
  const lines = [`### One transfer to ${fanout.recipients} subscribed apps`, ''];
  if (fanout.failure !== undefined) lines.push(`Failed: ${fanout.failure}`, '');
  if (fanout.rounds.length === 0) return lines;
  lines.push(
    'Each round after the mesh was back at rest; times from the commit (CreateTransfer’s answer). SQL statements ' +
      'and bus messages: the whole mesh during the round.',
    '',
    '| round | CreateTransfer | half notified | all notified | main thread busy | other load | SQL statements | bus messages | raw bus: half | raw bus: all |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...fanout.rounds.map((r, i) => {
      const base = fanout.baselineRounds[i];
      return (
        `| ${i + 1} | ${ms(r.sendMs)} | ${ms(r.p50Ms)} | ${ms(r.lastMs)} | ${r.serverBusy === null ? '—' : pct(r.serverBusy)} | ` +
        `${r.otherLoad === null ? '—' : pct(r.otherLoad)} | ${r.sqlStatements ?? '—'} | ${r.busMessages ?? '—'} | ` +
        `${base ? ms(base.p50Ms) : '—'} | ${base ? ms(base.lastMs) : '—'} |`
      );
    }),
    '',
  );
  return lines;
}

function presenceMarkdown(presence: PresenceReport, withFindings: boolean): string[] {
  const lines = [
    `### ${presence.apps} apps subscribed and heartbeating`,
    '',
    `Each app holds a Subscribe stream through the gateway on a connection of its own (the stream’s heartbeat ` +
      `every ${presence.intervalMs / 1000} s, the default), then also calls Heartbeat every ` +
      `${presence.intervalMs / 1000} s — the platform’s interval, so no scaling is needed: the CPU below is per ` +
      'second of wall time at the real rate. The mesh process alone (the apps run in a child process). "Cores": ' +
      'CPU seconds of the mesh process (every thread) per second of wall time. Other load: the share of the ' +
      `machine’s ${MACHINE_CORES} cores other processes took (with DATABASE_URL or NATS_URL on this machine, ` +
      'that includes the PostgreSQL and NATS servers serving the mesh).',
    '',
  ];
  if (presence.failure !== undefined) lines.push(`Failed: ${presence.failure}`, '');
  if (presence.phases.length === 0) return lines;
  lines.push(
    '| phase | s | cores | main thread busy | RSS at end | RSS peak | V8 heap used | buffers (external) | heartbeats/s | heartbeat errors | stream messages/s | SQL statements/s | bus messages/s | other load |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...presence.phases.map((p) => {
      const rate = (n: number) => num(p.wallMs > 0 ? (n * 1000) / p.wallMs : 0);
      return (
        `| ${p.name === 'profiled' ? 'profiled (the profiler’s own cost included)' : p.name} | ${num(p.wallMs / 1000)} | ${p.cores.toFixed(3)} | ${pct(p.serverBusy)} | ${mib(p.rssEndBytes)} | ` +
        `${mib(p.rssPeakBytes)} | ${mib(p.heapUsedBytes)} | ${mib(p.externalBytes)} | ${rate(p.heartbeats)} | ${p.heartbeatErrors} | ` +
        `${rate(p.streamMessages)} | ${rate(p.sql.statements)} | ${rate(p.bus.published)} | ${pct(p.otherLoad)} |`
      );
    }),
    '',
  );
  const facts = [
    presence.openingMs === null
      ? null
      : `Opening the ${presence.apps} streams took ${num(presence.openingMs / 1000)} s.`,
    presence.streamErrors > 0
      ? `${presence.streamErrors} streams ended with an error: ${presence.errorSamples.join('; ')}.`
      : null,
    presence.retained === null
      ? null
      : `After the phases, every stream still open, a full garbage collection (${num(presence.retained.collectMs)} ms ` +
        `of the main thread) left the mesh process at ${mib(presence.retained.rssBytes)} RSS, ` +
        `${mib(presence.retained.heapUsedBytes)} of V8 heap in use and ${mib(presence.retained.externalBytes)} of buffers: ` +
        'what the servers hold for the apps; the rest of the heap above was garbage not yet collected.',
    presence.clientRssBytes === null ? null : `The apps’ process held ${mib(presence.clientRssBytes)}.`,
  ].filter((f) => f !== null);
  if (facts.length > 0) lines.push(facts.join(' '), '');
  // When the target is missed, the same findings are under "What limits it".
  if (withFindings)
    lines.push('Where the time goes:', '', ...presenceFindings(presence).map((f) => `- ${f}`), '');
  return lines;
}

function targetsMarkdown(section: NotificationsSection): string[] {
  const lines = [
    '### Targets',
    '',
    '| target | aim | measured | |',
    '|---|---|---|---|',
    ...section.targets.map(
      (t) =>
        `| ${t.what} | ${t.target} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? '**met**' : '**not met**'} |`,
    ),
    '',
  ];
  if (section.limits.length > 0) {
    lines.push('### What limits it', '');
    for (const limit of section.limits) {
      lines.push(`**${limit.target}**`, '', ...limit.findings.map((f) => `- ${f}`), '');
    }
  }
  return lines;
}
