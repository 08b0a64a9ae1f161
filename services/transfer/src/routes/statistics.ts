/**
 * Administration and statistics (Art. 5.11, 5.12, 7.1): a unit's send and
 * receive history, and reports of the statistics aggregates, as messages or
 * as a CSV file.
 *
 * Who sees what: province administrators ("admin") and platform services
 * every unit; anyone else — the unit's apps, its unit administrators, its
 * staff — their own unit only (Caller.unit_code). Naming another unit is
 * refused with permission_denied / OTHER_UNIT.
 */
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { type Caller, Priority } from '#gen/lgsp/common/v1/common_pb.js';
import {
  type ConnectionStatistics,
  ConnectionStatisticsSchema,
  StatisticsPeriod,
  TrafficDirection,
  type TrafficStatistics,
  TrafficStatisticsSchema,
  type UnitStatistics,
  UnitStatisticsSchema,
} from '#gen/lgsp/transfer/v1/statistics_pb.js';
import type {
  GetUnitStatisticsRequest,
  ListUnitHistoryRequest,
  TransferService,
} from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { isUnitCode, normalizeUnitCode } from '#lib/domain/unit-code.js';
import { PermissionDeniedError, ResourceExhaustedError, Violations } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { TransferContext } from '../context.js';
import { toDelivery } from '../db/rows.js';
import type { DeliveryStateName } from '../db/schema.js';
import { statsDb } from '../db/statistics.js';
import {
  buildReport,
  type ReportQuery,
  type ReportRow,
  type TrafficFigures,
} from '../db/statistics-report.js';
import { listUnitHistory } from '../db/unit-history.js';
import { deliveryStates } from '../domain/states.js';
import { csvLine, daysBetween, type PeriodKind, parseDay, quantileMs } from '../domain/statistics.js';
import { mayReadAll } from './parties.js';

export const MAX_REPORT_UNITS = 500;
export const MAX_REPORT_DAYS = 3 * 366;
export const MAX_REPORT_ROWS = 100_000;

export function statisticsRoutes(ctx: TransferContext): Partial<ServiceImpl<typeof TransferService>> {
  const report = async (req: GetUnitStatisticsRequest, handlerCtx: HandlerContext): Promise<ReportRow[]> => {
    const query = checkReport(req, callerOf(handlerCtx), ctx.config.statsUtcOffsetMinutes);
    const rows = await buildReport(statsDb(ctx.db), query);
    if (rows.length > MAX_REPORT_ROWS) {
      throw new ResourceExhaustedError(
        'REPORT_TOO_LARGE',
        `the report has ${rows.length} rows, more than ${MAX_REPORT_ROWS}: name fewer units, a shorter range or a longer period`,
      );
    }
    return rows;
  };

  return {
    async listUnitHistory(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const v = new Violations();
      const page = readPage(req.pageSize, req.pageToken, v);
      const filter = checkHistory(req, caller, v);
      const found = await listUnitHistory(ctx.db, filter, page.offset, page.limit);
      return {
        deliveries: found.map(({ delivery, transfer }) => toDelivery(delivery, transfer)),
        nextPageToken: nextPageToken(page, found.length),
      };
    },

    async getUnitStatistics(req, handlerCtx) {
      const rows = await report(req, handlerCtx);
      return { rows: rows.map(toUnitStatistics) };
    },

    async exportUnitStatistics(req, handlerCtx) {
      const rows = await report(req as unknown as GetUnitStatisticsRequest, handlerCtx);
      return {
        csv: new TextEncoder().encode(toCsv(rows)),
        contentType: 'text/csv; charset=utf-8',
        filename: `lgsp-statistics-${req.fromDate}-${req.toDate}.csv`,
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Who sees which unit

/**
 * The units a caller may read, out of those it named: every unit (undefined)
 * or the named ones for administrators, its own unit for anyone else.
 */
export function unitsFor(caller: Caller, named: readonly string[]): readonly string[] | undefined {
  if (mayReadAll(caller)) return named.length === 0 ? undefined : named;
  if (caller.unitCode === '') {
    throw new PermissionDeniedError(
      'UNIT_REQUIRED',
      'only province administrators read units other than their own, and this caller has no unit',
      { subject: caller.subject },
    );
  }
  const other = named.find((code) => code !== caller.unitCode);
  if (other !== undefined) {
    throw new PermissionDeniedError(
      'OTHER_UNIT',
      `only province administrators read another unit's figures and history; yours is ${caller.unitCode}`,
      { unit_code: other, caller_unit_code: caller.unitCode },
    );
  }
  return [caller.unitCode];
}

// ---------------------------------------------------------------------------
// Validation, before anything is read

function unitCodeOf(raw: string, field: string, v: Violations): string | undefined {
  const code = normalizeUnitCode(raw.trim());
  if (code === '') return undefined;
  if (!isUnitCode(code)) {
    v.add(field, 'must be a unit code like 000.00.03.H26', 'UNIT_CODE_FORMAT');
    return undefined;
  }
  return code;
}

export function checkReport(
  req: GetUnitStatisticsRequest,
  caller: Caller,
  offsetMinutes: number,
): ReportQuery {
  const v = new Violations();
  const named: string[] = [];
  if (req.unitCodes.length > MAX_REPORT_UNITS) {
    v.add('unit_codes', `at most ${MAX_REPORT_UNITS}`, 'TOO_MANY');
  }
  req.unitCodes.forEach((raw, i) => {
    const code = unitCodeOf(raw, `unit_codes[${i}]`, v);
    if (code === undefined && raw.trim() === '') v.add(`unit_codes[${i}]`, 'is empty', 'REQUIRED');
    if (code !== undefined && !named.includes(code)) named.push(code);
  });
  const from = req.fromDate === '' ? undefined : parseDay(req.fromDate);
  const to = req.toDate === '' ? undefined : parseDay(req.toDate);
  if (req.fromDate === '') v.add('from_date', 'is required (YYYY-MM-DD)', 'REQUIRED');
  else if (from === undefined) v.add('from_date', 'must be a date like 2026-10-01', 'DATE_FORMAT');
  if (req.toDate === '') v.add('to_date', 'is required (YYYY-MM-DD)', 'REQUIRED');
  else if (to === undefined) v.add('to_date', 'must be a date like 2026-10-31', 'DATE_FORMAT');
  if (from !== undefined && to !== undefined) {
    if (to < from) v.add('to_date', 'is before from_date', 'RANGE_REVERSED');
    else if (daysBetween(from, to) >= MAX_REPORT_DAYS)
      v.add('to_date', `is more than ${MAX_REPORT_DAYS} days after from_date`, 'RANGE_TOO_LONG');
  }
  const period: PeriodKind | undefined =
    req.period === StatisticsPeriod.UNSPECIFIED
      ? 'range'
      : req.period === StatisticsPeriod.DAY
        ? 'day'
        : req.period === StatisticsPeriod.MONTH
          ? 'month'
          : undefined;
  if (period === undefined) v.add('period', 'is not a known period', 'UNKNOWN_PERIOD');
  const counterparty = unitCodeOf(req.counterpartyUnitCode, 'counterparty_unit_code', v);
  v.throwIfAny();
  return {
    units: unitsFor(caller, named),
    from: from!,
    to: to!,
    period: period!,
    byCounterparty: req.byCounterparty || counterparty !== undefined,
    counterparty,
    offsetMinutes,
    now: Date.now(),
  };
}

function checkHistory(req: ListUnitHistoryRequest, caller: Caller, v: Violations) {
  const unit = unitCodeOf(req.unitCode, 'unit_code', v);
  if (unit === undefined && req.unitCode.trim() === '' && mayReadAll(caller)) {
    v.add('unit_code', 'is required: name the unit whose history to read', 'REQUIRED');
  }
  const direction =
    req.direction === TrafficDirection.UNSPECIFIED
      ? undefined
      : req.direction === TrafficDirection.SENT
        ? ('sent' as const)
        : req.direction === TrafficDirection.RECEIVED
          ? ('received' as const)
          : null;
  if (direction === null) v.add('direction', 'is not a known direction', 'UNKNOWN_DIRECTION');
  const counterparty = unitCodeOf(req.counterpartyUnitCode, 'counterparty_unit_code', v);
  const states: DeliveryStateName[] = [];
  req.states.forEach((s, i) => {
    const name = deliveryStates.fromProto(s);
    if (name === undefined) v.add(`states[${i}]`, 'is not a delivery state', 'UNKNOWN_STATE');
    else states.push(name);
  });
  if (!(req.priority in Priority)) v.add('priority', 'is not a known priority', 'UNKNOWN_PRIORITY');
  const from = req.fromTime === undefined ? undefined : timestampDate(req.fromTime);
  const to = req.toTime === undefined ? undefined : timestampDate(req.toTime);
  if (from !== undefined && to !== undefined && to < from)
    v.add('to_time', 'is before from_time', 'RANGE_REVERSED');
  v.throwIfAny();
  const units = unitsFor(caller, unit === undefined ? [] : [unit]);
  return {
    unitCode: units![0]!,
    direction: direction ?? undefined,
    counterparty,
    from,
    to,
    states,
    // Unset priority is stored as normal.
    priorities:
      req.priority === Priority.UNSPECIFIED
        ? []
        : req.priority === Priority.NORMAL
          ? [Priority.UNSPECIFIED, Priority.NORMAL]
          : [req.priority],
  };
}

// ---------------------------------------------------------------------------
// Answers

function toTraffic(f: TrafficFigures): TrafficStatistics {
  const finals = f.delivered + f.refused + f.expired + f.failed + f.cancelled;
  const p95 = quantileMs(f.histogram, 0.95);
  return create(TrafficStatisticsSchema, {
    packages: BigInt(f.packages),
    bytes: f.bytes,
    delivered: BigInt(f.delivered),
    refused: BigInt(f.refused),
    expired: BigInt(f.expired),
    failed: BigInt(f.failed),
    cancelled: BigInt(f.cancelled),
    open: BigInt(Math.max(0, f.packages - finals)),
    ...(f.delivered === 0
      ? {}
      : { meanDeliveryTime: durationFromMs(Math.round(f.deliveryMsSum / f.delivered)) }),
    ...(p95 === undefined ? {} : { p95DeliveryTime: durationFromMs(p95) }),
  });
}

function share(onlineMs: number, possibleMs: number): number {
  return possibleMs <= 0 ? 0 : Math.min(1, Math.round((onlineMs / possibleMs) * 10_000) / 10_000);
}

export function toUnitStatistics(row: ReportRow): UnitStatistics {
  const c = row.connection;
  const connection: ConnectionStatistics | undefined =
    c === undefined
      ? undefined
      : create(ConnectionStatisticsSchema, {
          connects: BigInt(c.connects),
          disconnects: BigInt(c.disconnects),
          onlineTime: durationFromMs(Math.round(c.onlineMs)),
          onlineShare: share(c.onlineMs, c.possibleMs),
          appCount: c.appCount,
        });
  return create(UnitStatisticsSchema, {
    unitCode: row.unitCode,
    periodStart: row.periodStart,
    periodEnd: row.periodEnd,
    counterpartyUnitCode: row.counterparty,
    sent: toTraffic(row.sent),
    received: toTraffic(row.received),
    ...(connection === undefined ? {} : { connection }),
  });
}

const TRAFFIC_COLUMNS = [
  'packages',
  'bytes',
  'delivered',
  'refused',
  'expired',
  'failed',
  'cancelled',
  'open',
  'mean_delivery_seconds',
  'p95_delivery_seconds',
];

const seconds = (ms: number | undefined): string => (ms === undefined ? '' : (ms / 1000).toFixed(3));

function trafficFields(f: TrafficFigures): Array<string | number> {
  const finals = f.delivered + f.refused + f.expired + f.failed + f.cancelled;
  return [
    f.packages,
    f.bytes.toString(),
    f.delivered,
    f.refused,
    f.expired,
    f.failed,
    f.cancelled,
    Math.max(0, f.packages - finals),
    seconds(f.delivered === 0 ? undefined : f.deliveryMsSum / f.delivered),
    seconds(quantileMs(f.histogram, 0.95)),
  ];
}

/** The report as CSV: one header line, one line per row, CRLF line ends (RFC 4180). */
export function toCsv(rows: readonly ReportRow[]): string {
  let out = csvLine([
    'unit_code',
    'period_start',
    'period_end',
    'counterparty_unit_code',
    ...TRAFFIC_COLUMNS.map((c) => `sent_${c}`),
    ...TRAFFIC_COLUMNS.map((c) => `received_${c}`),
    'connects',
    'disconnects',
    'online_seconds',
    'online_share',
    'app_count',
  ]);
  for (const row of rows) {
    const c = row.connection;
    out += csvLine([
      row.unitCode,
      row.periodStart,
      row.periodEnd,
      row.counterparty,
      ...trafficFields(row.sent),
      ...trafficFields(row.received),
      ...(c === undefined
        ? ['', '', '', '', '']
        : [c.connects, c.disconnects, seconds(c.onlineMs), share(c.onlineMs, c.possibleMs), c.appCount]),
    ]);
  }
  return out;
}
