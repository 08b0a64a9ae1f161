/** The report of a run: JSON for machines, Markdown for people. */

import { gatewayMarkdown } from './gateway/markdown.js';
import type { GatewaySection } from './gateway/suite.js';
import { notificationsMarkdown } from './notifications/markdown.js';
import type { NotificationsSection } from './notifications/report.js';
import { type Ratio, round3, type Summary } from './stats.js';
import { ratioText } from './transfers/format.js';
import { transfersMarkdown } from './transfers/markdown.js';
import type { TransferCosts, TransfersSection } from './transfers/report.js';

export interface ScenarioReport {
  readonly id: string;
  readonly title: string;
  /** `service/Method` */
  readonly rpc: string;
  readonly server: string;
  readonly protocol: string;
  readonly client: string;
  readonly summary: Summary | null;
  /** Share of the measured window the main thread (all servers) was busy, 0 to 1. */
  readonly serverBusy: number | null;
  /** Share of the measured window the load worker was busy, 0 to 1. */
  readonly clientBusy: number | null;
  /** Share of the machine's CPU other processes used during the measured window, 0 to 1. */
  readonly otherLoad: number | null;
  readonly warmupErrors: number;
  readonly errorSamples: readonly string[];
  /** Set when the scenario could not run at all. */
  readonly failure?: string;
  /** Suite 2's end-to-end scenarios: what a transfer cost the servers. */
  readonly costs?: TransferCosts;
}

export interface RatioReport {
  /** `b/a`: numerator over denominator. */
  readonly id: string;
  readonly title: string;
  /** What the ratio isolates. */
  readonly isolates: string;
  readonly value: Ratio | null;
  /** A throughput ratio the numerator must reach, and whether this run reached it (null: not measured). */
  readonly target?: { readonly throughputAtLeast: number; readonly met: boolean | null };
}

export interface SuiteReport {
  readonly id: string;
  readonly title: string;
  readonly baseline: string;
  readonly infrastructure: { readonly database: string; readonly bus: string };
  readonly scenarios: readonly ScenarioReport[];
  readonly ratios: readonly RatioReport[];
  /** What a reader must know to read the numbers, e.g. what signed scenarios include. */
  readonly notes?: readonly string[];
  /** What the throughput column counts per second (default `req/s`). */
  readonly rateUnit?: string;
  /** Suite 2's own sections: costs, the large transfer, targets and limits. */
  readonly transfers?: TransfersSection;
  /** Suite 3's own sections: costs of a notice, the fan-out, many apps online, targets and limits. */
  readonly notifications?: NotificationsSection;
  /** The gateway suite's own sections: CPU per request, targets, where the time goes. */
  readonly gateway?: GatewaySection;
}

export interface BenchReport {
  readonly schemaVersion: 1;
  readonly generatedAt: string;
  readonly commit: { readonly sha: string; readonly dirty: boolean };
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly memoryGiB: number;
    readonly os: string;
    readonly node: string;
  };
  readonly settings: {
    readonly suites: readonly string[];
    readonly warmupMs: number;
    readonly durationMs: number;
    readonly concurrency: number;
    readonly maxRequests: number;
    readonly largeBytes: number;
    readonly receivers: number;
    readonly pollMs: number;
    readonly apps?: number;
  };
  readonly suites: readonly SuiteReport[];
}

/** Above this share of the machine's CPU taken by other processes, a scenario's numbers are not reliable. */
export const CONTENDED_LOAD = 0.1;

export function contendedScenarios(suite: SuiteReport): ScenarioReport[] {
  return suite.scenarios.filter((s) => (s.otherLoad ?? 0) > CONTENDED_LOAD);
}

export function toJsonText(report: BenchReport): string {
  return `${JSON.stringify(report, (_key, value) => (typeof value === 'number' ? round3(value) : value), 2)}\n`;
}

export function toMarkdown(report: BenchReport): string {
  const { machine, settings, commit } = report;
  const lines: string[] = [
    '# LGSP bench report',
    '',
    `Generated ${report.generatedAt} by \`npm run bench\` at commit \`${commit.sha.slice(0, 12)}\`` +
      `${commit.dirty ? ' (with uncommitted changes)' : ''}.`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}.`,
    '',
    `Each scenario: ${ms(settings.warmupMs)} warm-up (not measured), then ${ms(settings.durationMs)} measured, ` +
      `${settings.concurrency} requests (suite 1) or transfers (suite 2) in flight (closed loop), at most ` +
      `${settings.maxRequests.toLocaleString('en')} per scenario. ` +
      'The servers run on the main thread, the load generator in a worker thread; everything on loopback. ' +
      '"Server busy" and "client busy" are the shares of the measured window the main thread (every server) ' +
      'and the load worker were busy: near 100 %, that side is the limit. ' +
      '"Other load" is the share of the machine\u2019s CPU that other processes took meanwhile: above ' +
      `${Math.round(CONTENDED_LOAD * 100)} %, the run shared its cores and its numbers and ratios are not reliable. ` +
      'See `bench/README.md` for how to read the numbers.',
    '',
  ];
  for (const suite of report.suites) lines.push(...suiteMarkdown(suite));
  return `${lines.join('\n').trimEnd()}\n`;
}

function suiteMarkdown(suite: SuiteReport): string[] {
  const unit = suite.rateUnit ?? 'req/s';
  const lines = [
    `## ${suite.title}`,
    '',
    `- Database: ${suite.infrastructure.database}`,
    `- Bus: ${suite.infrastructure.bus}`,
    `- Baseline: ${suite.baseline}`,
    '',
    'Scenarios:',
    '',
    ...suite.scenarios.map(
      (s) => `- **(${s.id}) ${s.title}**: \`${s.rpc}\` on ${s.server}; ${s.protocol}; client: ${s.client}.`,
    ),
    '',
    ...(suite.notes ?? []).flatMap((note) => [note, '']),
    `| | scenario | ${unit === 'req/s' ? 'requests' : 'operations'} | errors | ${unit} | p50 ms | p95 ms | p99 ms | max ms | server busy | client busy | other load |`,
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of suite.scenarios) {
    const m = s.summary;
    const cells = m
      ? [
          m.requests.toLocaleString('en'),
          String(m.errors),
          fmt(m.rps, m.rps >= 100 ? 0 : 1),
          fmt(m.latencyMs.p50),
          fmt(m.latencyMs.p95),
          fmt(m.latencyMs.p99),
          fmt(m.latencyMs.max),
          share(s.serverBusy),
          share(s.clientBusy),
          share(s.otherLoad),
        ]
      : ['—', '—', '—', '—', '—', '—', '—', '—', '—', '—'];
    lines.push(`| (${s.id}) | ${s.title} | ${cells.join(' | ')} |`);
  }
  const contended = contendedScenarios(suite);
  if (contended.length > 0) {
    lines.push(
      '',
      `**Contended run:** other processes took more than ${Math.round(CONTENDED_LOAD * 100)} % of the machine's CPU ` +
        `during ${contended.map((s) => `(${s.id})`).join(', ')}; compare runs on an otherwise idle machine. ` +
        '(Other processes include a PostgreSQL or NATS server on this machine, busy with this run\u2019s own queries ' +
        'and nonces: with `DATABASE_URL` or `NATS_URL` pointing here, part of that load is the run itself.)',
    );
  }
  const problems = suite.scenarios.filter(
    (s) => s.failure !== undefined || (s.summary?.errors ?? 0) > 0 || s.warmupErrors > 0,
  );
  if (problems.length > 0) {
    lines.push('', '**Errors:**', '');
    for (const s of problems) {
      const what = s.failure ?? s.errorSamples.join('; ');
      lines.push(
        `- (${s.id}): ${s.warmupErrors} during warm-up, ${s.summary?.errors ?? '?'} measured — ${what}`,
      );
    }
  }
  lines.push(
    '',
    '### Ratios',
    '',
    'Numerator over denominator, same run, same machine. Latency ratios above 1: the numerator is that many ' +
      'times slower. Throughput ratio below 1: it serves that fraction of the denominator\u2019s requests per second.',
    '',
    '| ratio | compares | isolates | latency p50 | latency p95 | latency p99 | throughput | throughput target |',
    '|---|---|---|--:|--:|--:|--:|---|',
  );
  for (const r of suite.ratios) {
    const v = r.value;
    const cells = v
      ? [
          `${ratioText(v.p50)}×`,
          `${ratioText(v.p95)}×`,
          `${ratioText(v.p99)}×`,
          `${ratioText(v.throughput)}×`,
        ]
      : ['—', '—', '—', '—'];
    lines.push(`| ${r.id} | ${r.title} | ${r.isolates} | ${cells.join(' | ')} | ${targetCell(r.target)} |`);
  }
  lines.push('', ...charts(suite, unit));
  if (suite.transfers !== undefined) lines.push('', ...transfersMarkdown(suite.scenarios, suite.transfers));
  if (suite.notifications !== undefined) lines.push('', ...notificationsMarkdown(suite.notifications));
  if (suite.gateway !== undefined) lines.push('', ...gatewayMarkdown(suite.scenarios, suite.gateway));
  return lines;
}

function charts(suite: SuiteReport, unit: string): string[] {
  const measured = suite.scenarios.filter((s) => s.summary !== null);
  if (measured.length === 0) return [];
  const bars = (title: string, value: (m: Summary) => number, unit: string, digits: number) => {
    const values = measured.map((s) => value(s.summary!));
    const max = Math.max(...values);
    const min = Math.min(...values.filter((v) => v > 0));
    // Suite 2 sets raw infrastructure beside whole transfers: a linear scale would flatten all but one bar.
    const log = max / min > 100;
    const width = (v: number) => {
      if (max <= 0 || v <= 0) return 0;
      if (!log) return Math.max(1, Math.round((v / max) * 40));
      return 1 + Math.round((39 * Math.log(v / min)) / Math.log(max / min));
    };
    return [
      log ? `${title.replace(/:$/, '')}, logarithmic scale:` : title,
      '',
      '```',
      ...measured.map((s) => {
        const v = value(s.summary!);
        return `(${s.id}) ${'█'.repeat(width(v)).padEnd(40)} ${fmt(v, v >= 100 ? digits : Math.max(digits, 1))} ${unit}`;
      }),
      '```',
    ];
  };
  return [
    ...bars('Throughput (longer is better):', (m) => m.rps, unit, 0),
    '',
    ...bars('Latency p50 (shorter is better):', (m) => m.latencyMs.p50, 'ms', 3),
  ];
}

function targetCell(target: RatioReport['target']): string {
  if (target === undefined) return '';
  const verdict = target.met === null ? 'not measured' : target.met ? '**met**' : '**not met**';
  return `≥ ${fmt(target.throughputAtLeast, 2)}×: ${verdict}`;
}

function fmt(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return '—';
  if (digits === undefined) return String(round3(value));
  return value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function share(value: number | null): string {
  return value === null ? '—' : `${Math.round(value * 100)} %`;
}

function ms(value: number): string {
  return value % 1000 === 0 ? `${value / 1000} s` : `${value} ms`;
}
