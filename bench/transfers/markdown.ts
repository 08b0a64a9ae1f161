/** Suite 2's sections of latest.md: cost per transfer, stages, the large transfer, targets, what limits them. */
import { CONTENDED_LOAD, type ScenarioReport } from '../report.js';
import { MiB } from './content.js';
import { entries, growthText, ms, num, pct, ratioText, sizeText } from './format.js';
import type { LargeReport, TransferCosts, TransfersSection } from './report.js';
import { STAGES } from './spec.js';

export function transfersMarkdown(scenarios: readonly ScenarioReport[], section: TransfersSection): string[] {
  return [
    ...costsMarkdown(scenarios),
    ...idlePollMarkdown(section),
    ...profileMarkdown(section),
    ...largeMarkdown(section.large),
    ...targetsMarkdown(section),
  ];
}

function costsMarkdown(scenarios: readonly ScenarioReport[]): string[] {
  const costed = scenarios.filter(
    (s): s is ScenarioReport & { costs: TransferCosts } => s.costs !== undefined,
  );
  if (costed.length === 0) return [];
  const row = (label: string, cell: (c: TransferCosts, s: ScenarioReport) => string) =>
    `| ${label} | ${costed.map((s) => cell(s.costs, s)).join(' | ')} |`;
  const pglite = costed.some((s) => s.costs.sql.database === 'pglite');
  return [
    '### Cost per transfer',
    '',
    'Counted on the main thread during each end-to-end scenario\u2019s measured window and divided by the transfers ' +
      'confirmed in it (bench/transfers/probes.ts wraps the SQL drivers and the mesh\u2019s `bus.publish` for this ' +
      'process; nothing of the services is changed). Background work (offers, purges, the outbox) done in the window ' +
      'is included, as it is part of what a transfer costs.',
    '',
    `| per transfer | ${costed.map((s) => `(${s.id}) ${s.title.replace('Transfer end to end, ', '')}`).join(' | ')} |`,
    `|---|${costed.map(() => '--:').join('|')}|`,
    row('transfers in the window', (c) => String(c.transfers)),
    row('main thread busy (every server' + (pglite ? ', PGlite' : '') + ')', (c) =>
      ms(c.serverMsPerTransfer),
    ),
    row('→ ceiling of one event loop', (c) => `${(1000 / c.serverMsPerTransfer).toFixed(1)}/s`),
    row('process CPU, all threads', (c) => ms(c.processCpuMsPerTransfer)),
    row('client worker busy', (c) => ms(c.clientMsPerTransfer)),
    row('signed RPCs through the gateway', (c) => `${num(c.rpcsPerTransfer)} (${entries(c.rpcs)})`),
    row('polls, share that found nothing new', (c) => `${num(c.pollsPerTransfer)}, ${pct(c.emptyPollShare)}`),
    row('main thread spent polling, at least (polls × an empty poll)', (c) =>
      c.pollServerMsPerTransfer === null ? '—' : ms(c.pollServerMsPerTransfer),
    ),
    row(
      'SQL statements (by service schema)',
      (c) => `${num(c.sql.statementsPerTransfer)} (${entries(c.sql.byService)})`,
    ),
    row('SQL transactions', (c) => num(c.sql.transactionsPerTransfer)),
    row('SQL statement time, call to answer', (c) => ms(c.sql.statementMsPerTransfer)),
    ...(pglite
      ? [
          row('PGlite session leased (share of window)', (c) =>
            c.sql.sessionHeldShare === null ? '—' : pct(c.sql.sessionHeldShare),
          ),
          row('queued for the PGlite session', (c) =>
            c.sql.leaseWaitMsPerTransfer === null ? '—' : ms(c.sql.leaseWaitMsPerTransfer),
          ),
        ]
      : []),
    row(
      'bus messages published (by subject)',
      (c) => `${num(c.bus.messagesPerTransfer)} (${entries(c.bus.bySubject)})`,
    ),
    '',
    'Where the time of a transfer goes, by stage (ms; "until seen": from the transfer being deliverable to its ' +
      'receiver\u2019s poll answering with it):',
    '',
    `| stage | ${costed.map((s) => `(${s.id}) mean | (${s.id}) p50 | (${s.id}) p95`).join(' | ')} |`,
    `|---|${costed.map(() => '--:|--:|--:').join('|')}|`,
    ...STAGES.map(
      (stage) =>
        `| ${stage} | ${costed
          .map((s) => {
            const t = s.costs.stagesMs[stage];
            return `${num(t.mean)} | ${num(t.p50)} | ${num(t.p95)}`;
          })
          .join(' | ')} |`,
    ),
    '',
  ];
}

function idlePollMarkdown(section: TransfersSection): string[] {
  const idle = section.idlePoll;
  if (idle === null) return [];
  return [
    `An empty poll costs the servers ${ms(idle.msPerPoll)} of main thread: measured before the scenarios, with ` +
      `the ${section.settings.receivers} receivers alone polling every ${section.settings.pollMs} ms and nothing to find ` +
      `(${idle.pollsPerSecond.toFixed(0)} polls/s; main thread ${pct(idle.serverBusy)} busy, against ` +
      `${pct(idle.idleServerBusy)} with nothing running). A poll that finds deliveries costs more.`,
    '',
  ];
}

/** Owners below this share of the main thread are summed into one line. */
const PROFILE_SHOWN_SHARE = 0.015;

function profileMarkdown(section: TransfersSection): string[] {
  const profiles = section.profiles.filter((p) => p.transfers > 0);
  if (profiles.length === 0) return [];
  const lines = [
    'Where the main thread’s time goes, by owner of the code on top of the stack: a sampling CPU profile ' +
      '(1 ms) of the main thread over a separate window of the same load after each end-to-end scenario, so ' +
      'that the profiler’s cost stays out of the numbers above. "(garbage collector)" and "(V8 and native code)" ' +
      'are V8 itself; `node:*` is Node.js (HTTP/2, streams, crypto bindings); `services/*`, `lib/*`, `gateway` are ' +
      'this repository.',
    '',
  ];
  for (const p of profiles) {
    const shown = p.owners.filter((o) => o.share >= PROFILE_SHOWN_SHARE);
    const rest = p.owners.filter((o) => o.share < PROFILE_SHOWN_SHARE);
    const restMs = rest.reduce((a, o) => a + o.msPerTransfer, 0);
    const restShare = rest.reduce((a, o) => a + o.share, 0);
    lines.push(
      `(${p.scenario}), ${p.transfers} transfers, ${ms(p.busyMs / p.transfers)} of main thread per transfer:`,
      '',
      '| owner | share | ms per transfer |',
      '|---|--:|--:|',
      ...shown.map((o) => `| ${o.owner} | ${pct(o.share)} | ${num(o.msPerTransfer)} |`),
      ...(rest.length > 0 ? [`| ${rest.length} others | ${pct(restShare)} | ${num(restMs)} |`] : []),
      '',
    );
  }
  return lines;
}

function largeMarkdown(large: LargeReport): string[] {
  const lines = [
    `### Large transfer: ${sizeText(large.bytes)} up and down`,
    '',
    `The source uploads ${sizeText(large.bytes)} (made on the fly in 1 MiB pieces, never held whole) in one Upload ` +
      'stream and commits; the recipient accepts and downloads it in one Download stream, checking the SHA-256 as ' +
      'the bytes arrive, and confirms. First through the gateway, every call signed; then again with the two ' +
      'streams going straight to the storage service (a peer\u2019s caller entry instead of a signature; the ' +
      'control calls still through the gateway) as a reference. MB/s: 10^6 bytes per second, from opening the ' +
      'stream to its answer (up) or its end (down). The client runs in a child process of its own: the main ' +
      'thread, the CPU and the memory below are the mesh\u2019s alone.',
    '',
  ];
  if (large.failure !== undefined) lines.push(`**Failed:** ${large.failure}`, '');
  if (large.legs.length > 0) {
    lines.push(
      '| leg | MB/s | seconds | main thread busy | main thread per MiB | mesh process CPU per MiB | SQL statements | bus messages | mesh RSS rise | servers\u2019 heap + buffers rise | client process RSS rise | other load |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
      ...large.legs.map((l) => {
        const mainPerMiB = l.serverBusy === null ? null : (l.serverBusy * l.ms) / (l.bytes / MiB);
        return (
          `| ${l.leg} | ${l.mbPerS.toFixed(1)} | ${(l.ms / 1000).toFixed(2)} | ${l.serverBusy === null ? '—' : pct(l.serverBusy)} | ` +
          `${mainPerMiB === null ? '—' : ms(mainPerMiB)} | ${l.processCpuMsPerMiB === null ? '—' : ms(l.processCpuMsPerMiB)} | ` +
          `${l.sqlStatements ?? '—'} | ${l.busMessages ?? '—'} | ${growthText(l.rssRiseBytes)} | ${growthText(l.serverHeapRiseBytes)} | ${growthText(l.clientRssRiseBytes)} | ${l.otherLoad === null ? '—' : pct(l.otherLoad)} |`
        );
      }),
      '',
    );
  }
  const contended = large.legs.filter((l) => (l.otherLoad ?? 0) > CONTENDED_LOAD);
  if (contended.length > 0) {
    lines.push(
      `**Contended:** other processes took more than ${pct(CONTENDED_LOAD)} of the machine’s CPU during ` +
        `${contended.map((l) => l.leg).join(', ')}; compare runs on an otherwise idle machine.`,
      '',
    );
  }
  lines.push(
    'Baselines, the same bytes in the same 1 MiB pieces, in a worker thread:',
    '',
    '| baseline | MB/s | seconds |',
    '|---|--:|--:|',
    ...large.baselines.map((b) =>
      b.failure === undefined
        ? `| ${b.leg} | ${b.mbPerS.toFixed(0)} | ${(b.ms / 1000).toFixed(2)} |`
        : `| ${b.leg} | failed: ${b.failure} | |`,
    ),
    '',
  );
  const rate = (name: string) =>
    large.legs.find((l) => l.leg === name)?.mbPerS ?? large.baselines.find((b) => b.leg === name)?.mbPerS;
  const ratios = [
    ['gateway up', 'filesystem write'],
    ['gateway down', 'filesystem read'],
    ['gateway up', 'direct up'],
    ['gateway down', 'direct down'],
  ]
    .map(([num, den]) => {
      const n = rate(num!);
      const d = rate(den!);
      return n === undefined || d === undefined || d === 0
        ? undefined
        : `${num} / ${den} ×${ratioText(n / d)}`;
    })
    .filter((r) => r !== undefined);
  if (ratios.length > 0) lines.push(`Throughput ratios: ${ratios.join('; ')}.`, '');
  for (const p of large.profiles) {
    const shown = p.owners.filter((o) => o.share >= PROFILE_SHOWN_SHARE);
    const rest = p.owners.filter((o) => o.share < PROFILE_SHOWN_SHARE);
    lines.push(
      `Main thread during ${p.leg} of another ${sizeText(p.bytes)} transfer, profiled (as for the transfers above): ` +
        `${ms(p.busyMs / (p.bytes / MiB))} per MiB.`,
      '',
      '| owner | share | ms per MiB |',
      '|---|--:|--:|',
      ...shown.map((o) => `| ${o.owner} | ${pct(o.share)} | ${num(o.msPerMiB)} |`),
      ...(rest.length > 0
        ? [
            `| ${rest.length} others | ${pct(rest.reduce((a, o) => a + o.share, 0))} | ${num(rest.reduce((a, o) => a + o.msPerMiB, 0))} |`,
          ]
        : []),
      '',
    );
  }
  if (large.memory !== null) {
    const m = large.memory;
    lines.push(
      `**Memory: ${m.pass ? 'PASS' : 'FAIL'}** — during the four legs the mesh process\u2019s RSS rose by at most ` +
        `${growthText(m.growthBytes)} above any earlier reading of the transfer (limit +${sizeText(m.limitBytes)}): ` +
        `it was ${sizeText(m.startRssBytes)} once the client was ready and the RSS steady, and peaked at ` +
        `${sizeText(m.peakRssBytes)} (${m.samples} samples, every 100 ms and at each leg\u2019s ends). The client ` +
        'runs in a child process of its own, so this is the servers\u2019 process alone (the gateway, every service ' +
        'and, with PGlite, the database, as the embedded mode runs them); of it, the servers\u2019 isolate (main ' +
        `thread) rose by at most ${growthText(m.serverHeapRiseBytes)} of heap in use and buffers (garbage not yet ` +
        `collected included). The client process\u2019s RSS rose by at most ${growthText(m.clientRssRiseBytes)}.`,
      '',
    );
  }
  if (large.gatewayTransferMs !== null) {
    lines.push(
      `CreateTransfer to ConfirmDelivery through the gateway: ${(large.gatewayTransferMs / 1000).toFixed(1)} s.`,
      '',
    );
  }
  return lines;
}

function targetsMarkdown(section: TransfersSection): string[] {
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
