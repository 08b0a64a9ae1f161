/**
 * `lgsp`: the platform from the command line, for an agency system's staff
 * and for scripts. Every call goes through the SDK (sdk/): signed, retried
 * when safe, typed errors turned into exit codes.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type DescMessage, type MessageShape, toJson } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { CredentialSchema } from '#gen/lgsp/auth/v1/resources_pb.js';
import { NoticeSchema } from '#gen/lgsp/notification/v1/resources_pb.js';
import {
  AppKind,
  AppSchema,
  AppStatus,
  GrantAction,
  GrantSchema,
  UnitKind,
  UnitSchema,
} from '#gen/lgsp/registry/v1/resources_pb.js';
import { DeliverySchema, StatusChangeSchema, TransferSchema } from '#gen/lgsp/transfer/v1/resources_pb.js';
import { configPath, readConfig, resolveCredentials, writeConfig } from './config.js';
import { bytes, json, progressBar, table } from './output.js';
import {
  Code,
  ConfigurationError,
  DeliveryState,
  LgspClient,
  LgspError,
  NoticeKind,
  Priority,
  TransferState,
} from './sdk.js';

/** Exit codes: documented in docs/clients.md. */
export const EXIT = {
  ok: 0,
  other: 1,
  usage: 2,
  notFound: 3,
  denied: 4,
  unavailable: 5,
  integrity: 6,
} as const;

class UsageError extends Error {}

const GLOBAL = {
  json: { type: 'boolean' },
  profile: { type: 'string' },
  url: { type: 'string' },
  protocol: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

interface Context {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
  readonly json: boolean;
  client(): LgspClient;
  out(human: string, data: unknown): void;
}

interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly options?: ParseArgsConfig['options'];
  /** Positionals required, at least. */
  readonly args?: number;
  run(ctx: Context): Promise<number | undefined>;
}

const enumName = (e: Record<number, string>, v: number) => e[v] ?? String(v);
const time = (t: Parameters<typeof timestampDate>[0] | undefined) =>
  t === undefined
    ? ''
    : timestampDate(t)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
const protoJson = <D extends DescMessage>(schema: D, m: MessageShape<D>) => toJson(schema, m);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);

const PRIORITY_NAMES = ['normal', 'urgent', 'very-urgent', 'flash'] as const;

function need(ctx: Context, name: string): string {
  const v = str(ctx.values[name]);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

function enumValue<E extends Record<string, string | number>>(
  e: E,
  prefix: string,
  value: string,
  flag: string,
): number {
  const key = value.toUpperCase().replace(/-/g, '_');
  const found = e[key] ?? e[key.replace(`${prefix}_`, '')];
  if (typeof found !== 'number' || found === 0) {
    const names = Object.keys(e).filter((k) => Number.isNaN(Number(k)) && k !== 'UNSPECIFIED');
    throw new UsageError(
      `${flag} must be one of ${names.map((n) => n.toLowerCase().replace(/_/g, '-')).join(', ')}`,
    );
  }
  return found;
}

const COMMANDS: Record<string, Command> = {
  send: {
    usage:
      'send <file> --to <unit code|app id>... [--subject S] [--priority normal|urgent|very-urgent|flash] [--content-type T] [--idempotency-key K]',
    summary: 'send a file to units or apps (inline when small, else streamed), with a progress bar',
    args: 1,
    options: {
      to: { type: 'string', multiple: true },
      subject: { type: 'string' },
      priority: { type: 'string' },
      'content-type': { type: 'string' },
      'idempotency-key': { type: 'string' },
    },
    async run(ctx) {
      const file = ctx.positionals[0]!;
      const to = list(ctx.values['to']);
      if (to.length === 0) throw new UsageError('--to is required: a unit code (000.00.04.H26) or an app id');
      const priority = str(ctx.values['priority']);
      if (priority !== undefined && !(PRIORITY_NAMES as readonly string[]).includes(priority)) {
        throw new UsageError(`--priority must be one of ${PRIORITY_NAMES.join(', ')}`);
      }
      try {
        readFileSync(file, { flag: 'r' }).subarray(0, 0);
      } catch (error) {
        throw new UsageError(
          `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      const bar = progressBar(`sending ${basename(file)}`);
      const contentType = str(ctx.values['content-type']);
      const key = str(ctx.values['idempotency-key']);
      const sent = await ctx
        .client()
        .send({
          to,
          content: file,
          subject: str(ctx.values['subject']) ?? basename(file),
          onProgress: bar.update,
          ...(priority === undefined ? {} : { priority: priority as (typeof PRIORITY_NAMES)[number] }),
          ...(contentType === undefined ? {} : { contentType }),
          ...(key === undefined ? {} : { idempotencyKey: key }),
        })
        .finally(bar.done);
      ctx.out(
        `sent ${sent.transfer.id}: ${enumName(TransferState, sent.transfer.state)}, ${bytes(sent.sizeBytes)} ${sent.inline ? 'inline' : 'uploaded'}, ${sent.transfer.deliveryCount} ${sent.transfer.deliveryCount === 1 ? 'delivery' : 'deliveries'}\nsha256 ${sent.sha256}`,
        {
          transferId: sent.transfer.id,
          state: enumName(TransferState, sent.transfer.state),
          inline: sent.inline,
          sizeBytes: sent.sizeBytes,
          sha256: sent.sha256,
          transfer: protoJson(TransferSchema, sent.transfer),
        },
      );
      return EXIT.ok;
    },
  },
  inbox: {
    usage: 'inbox [--limit N] [--min-priority P]',
    summary: 'the deliveries waiting for this app, most urgent first',
    options: { limit: { type: 'string' }, 'min-priority': { type: 'string' } },
    async run(ctx) {
      const min = str(ctx.values['min-priority']);
      if (min !== undefined && !(PRIORITY_NAMES as readonly string[]).includes(min)) {
        throw new UsageError(`--min-priority must be one of ${PRIORITY_NAMES.join(', ')}`);
      }
      const deliveries = await ctx.client().inbox({
        limit: Number(str(ctx.values['limit']) ?? 100),
        ...(min === undefined ? {} : { minPriority: min as (typeof PRIORITY_NAMES)[number] }),
      });
      const rows = deliveries.map((d) => [
        d.id,
        enumName(Priority, d.priority),
        d.sourceUnitCode,
        bytes(Number(d.sizeBytes)),
        d.subject,
      ]);
      ctx.out(
        deliveries.length === 0
          ? 'nothing waiting'
          : table(rows, ['DELIVERY', 'PRIORITY', 'FROM', 'SIZE', 'SUBJECT']),
        deliveries.map((d) => protoJson(DeliverySchema, d)),
      );
      return EXIT.ok;
    },
  },
  receive: {
    usage: 'receive <delivery id> -o <file> [--no-confirm] [--receipt-ref R]',
    summary: 'accept a delivery, fetch it to a file, check its SHA-256 and confirm it',
    args: 1,
    options: {
      output: { type: 'string', short: 'o' },
      'no-confirm': { type: 'boolean' },
      'receipt-ref': { type: 'string' },
    },
    async run(ctx) {
      const deliveryId = ctx.positionals[0]!;
      const to = need(ctx, 'output');
      const bar = progressBar(`receiving ${deliveryId}`);
      const ref = str(ctx.values['receipt-ref']);
      const received = await ctx
        .client()
        .receive(deliveryId, {
          to,
          confirm: ctx.values['no-confirm'] !== true,
          onProgress: bar.update,
          ...(ref === undefined ? {} : { receiptRef: ref }),
        })
        .finally(bar.done);
      ctx.out(
        `received ${deliveryId} into ${to}: ${bytes(received.sizeBytes)}, SHA-256 verified, ${enumName(DeliveryState, received.delivery.state)}\nsha256 ${received.sha256}`,
        {
          deliveryId,
          path: to,
          sizeBytes: received.sizeBytes,
          sha256: received.sha256,
          inline: received.inline,
          state: enumName(DeliveryState, received.delivery.state),
        },
      );
      return EXIT.ok;
    },
  },
  status: {
    usage: 'status <transfer id>',
    summary: 'a transfer, each delivery and its history',
    args: 1,
    async run(ctx) {
      const s = await ctx.client().status(ctx.positionals[0]!);
      const t = s.transfer;
      const human = [
        `${t.id}  ${enumName(TransferState, s.state)}  ${t.subject}`,
        `  ${bytes(Number(t.sizeBytes))}, ${t.contentType}, ${t.deliveredCount}/${t.deliveryCount} delivered, created ${time(t.createTime)}`,
        '',
        table(
          s.deliveries.map((d) => [
            d.id,
            d.destinationUnitCode,
            d.destinationAppId,
            enumName(DeliveryState, d.state),
          ]),
          ['DELIVERY', 'UNIT', 'APP', 'STATE'],
        ),
        '',
        table(
          s.history.map((h) => [
            time(h.occurTime),
            h.deliveryId === '' ? '(transfer)' : h.deliveryId,
            h.deliveryId === ''
              ? enumName(TransferState, h.transferState)
              : enumName(DeliveryState, h.deliveryState),
            h.actor,
          ]),
          ['TIME', 'WHAT', 'STATE', 'BY'],
        ),
      ].join('\n');
      ctx.out(human, {
        transfer: protoJson(TransferSchema, t),
        state: enumName(TransferState, s.state),
        deliveries: s.deliveries.map((d) => protoJson(DeliverySchema, d)),
        history: s.history.map((h) => protoJson(StatusChangeSchema, h)),
      });
      return EXIT.ok;
    },
  },
  watch: {
    usage: 'watch [--after SEQ] [--kind K]... [--count N] [--no-ack] [--heartbeat SECONDS]',
    summary: 'print notices as they come (one JSON a line with --json), reconnecting by itself; Ctrl-C stops',
    options: {
      after: { type: 'string' },
      kind: { type: 'string', multiple: true },
      count: { type: 'string' },
      'no-ack': { type: 'boolean' },
      heartbeat: { type: 'string' },
    },
    async run(ctx) {
      const kinds = list(ctx.values['kind']).map((k) => enumValue(NoticeKind, 'NOTICE_KIND', k, '--kind'));
      const count = Number(str(ctx.values['count']) ?? Number.POSITIVE_INFINITY);
      const heartbeat = str(ctx.values['heartbeat']);
      const after = str(ctx.values['after']);
      const subscription = ctx.client().subscribe({
        kinds,
        autoAck: ctx.values['no-ack'] !== true,
        ...(after === undefined ? {} : { afterSequence: BigInt(after) }),
        ...(heartbeat === undefined ? {} : { heartbeatIntervalSeconds: Number(heartbeat) }),
        onReconnect: ({ attempt, delayMs, error }) =>
          process.stderr.write(
            `lgsp: stream broken (${error.codeName}: ${error.rawMessage}); reconnecting in ${Math.round(delayMs)} ms (try ${attempt})\n`,
          ),
      });
      const stop = () => subscription.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let seen = 0;
      for await (const notice of subscription) {
        if (ctx.json) process.stdout.write(`${JSON.stringify(protoJson(NoticeSchema, notice))}\n`);
        else {
          const p = notice.payload;
          const about =
            p.case === 'newDelivery'
              ? `${p.value.delivery?.id} from ${p.value.delivery?.sourceUnitCode}: ${p.value.delivery?.subject}`
              : p.case === 'transferStatus'
                ? `${p.value.change?.transferId} ${p.value.change?.deliveryId === '' ? enumName(TransferState, p.value.change?.transferState ?? 0) : enumName(DeliveryState, p.value.change?.deliveryState ?? 0)}`
                : p.case === 'appMessage'
                  ? `${p.value.fromAppId}: ${p.value.topic}`
                  : p.case === 'credentialExpiring'
                    ? `${p.value.accessKeyId} expires ${time(p.value.expireTime)}`
                    : p.case === 'destinationOffline'
                      ? `${p.value.destinationAppId} offline (transfer ${p.value.transferId})`
                      : '';
          process.stdout.write(
            `${notice.sequence}\t${time(notice.createTime)}\t${enumName(NoticeKind, notice.kind)}\t${about}\n`,
          );
        }
        if (++seen >= count) break;
      }
      if (seen > 0 && ctx.values['no-ack'] !== true) await subscription.ack();
      return EXIT.ok;
    },
  },
  'units search': {
    usage: 'units search <text> [--parent CODE] [--limit N]',
    summary: 'find units by name (no diacritics needed) or code prefix',
    args: 1,
    options: { parent: { type: 'string' }, limit: { type: 'string' } },
    async run(ctx) {
      const parent = str(ctx.values['parent']);
      const units = await ctx.client().searchUnits(ctx.positionals.join(' '), {
        pageSize: Number(str(ctx.values['limit']) ?? 20),
        ...(parent === undefined ? {} : { parentCode: parent }),
      });
      ctx.out(
        units.length === 0
          ? 'no unit matches'
          : table(
              units.map((u) => [u.code, u.name]),
              ['CODE', 'NAME'],
            ),
        units.map((u) => protoJson(UnitSchema, u)),
      );
      return EXIT.ok;
    },
  },
  'units get': {
    usage: 'units get <code>',
    summary: 'one unit',
    args: 1,
    async run(ctx) {
      const { unit } = await ctx.client().registry.getUnit({ code: ctx.positionals[0]! });
      ctx.out(
        `${unit!.code}  ${unit!.name}  (parent ${unit!.parentCode || '-'}, ${enumName(UnitKind, unit!.kind)})`,
        protoJson(UnitSchema, unit!),
      );
      return EXIT.ok;
    },
  },
  'units create': {
    usage:
      'units create --code CODE --name NAME --parent CODE [--kind department|district|commune|other] [--decision REF]',
    summary: 'create a unit (province administrator)',
    options: {
      code: { type: 'string' },
      name: { type: 'string' },
      parent: { type: 'string' },
      kind: { type: 'string' },
      decision: { type: 'string' },
    },
    async run(ctx) {
      const { unit } = await ctx.client().registry.createUnit({
        code: need(ctx, 'code'),
        name: need(ctx, 'name'),
        parentCode: need(ctx, 'parent'),
        kind: enumValue(UnitKind, 'UNIT_KIND', str(ctx.values['kind']) ?? 'other', '--kind'),
        decisionRef: str(ctx.values['decision']) ?? '',
      });
      ctx.out(`created unit ${unit!.code} ${unit!.name}`, protoJson(UnitSchema, unit!));
      return EXIT.ok;
    },
  },
  'apps list': {
    usage: 'apps list --unit CODE [--all]',
    summary: "a unit's apps",
    options: { unit: { type: 'string' }, all: { type: 'boolean' } },
    async run(ctx) {
      const { apps } = await ctx.client().registry.listApps({
        unitCode: need(ctx, 'unit'),
        includeInactive: ctx.values['all'] === true,
        pageSize: 200,
      });
      ctx.out(
        table(
          apps.map((a) => [a.id, enumName(AppStatus, a.status), a.name]),
          ['APP', 'STATUS', 'NAME'],
        ),
        apps.map((a) => protoJson(AppSchema, a)),
      );
      return EXIT.ok;
    },
  },
  'apps get': {
    usage: 'apps get <app id>',
    summary: 'one app',
    args: 1,
    async run(ctx) {
      const { app } = await ctx.client().registry.getApp({ id: ctx.positionals[0]! });
      ctx.out(
        `${app!.id}  ${app!.name}  unit ${app!.unitCode}  ${enumName(AppStatus, app!.status)}  accepts ${app!.acceptedContentTypes.join(', ')}`,
        protoJson(AppSchema, app!),
      );
      return EXIT.ok;
    },
  },
  'apps register': {
    usage:
      'apps register --unit CODE --name NAME [--kind document-system|data-service|web-app|other] [--accept MEDIA-TYPE]...',
    summary: 'register an app of a unit (administrator)',
    options: {
      unit: { type: 'string' },
      name: { type: 'string' },
      kind: { type: 'string' },
      accept: { type: 'string', multiple: true },
      description: { type: 'string' },
    },
    async run(ctx) {
      const { app } = await ctx.client().registry.registerApp({
        unitCode: need(ctx, 'unit'),
        name: need(ctx, 'name'),
        description: str(ctx.values['description']) ?? '',
        kind: enumValue(AppKind, 'APP_KIND', str(ctx.values['kind']) ?? 'document-system', '--kind'),
        acceptedContentTypes: list(ctx.values['accept']),
      });
      ctx.out(`registered ${app!.id} (${app!.name})`, protoJson(AppSchema, app!));
      return EXIT.ok;
    },
  },
  ...Object.fromEntries(
    (
      [
        ['suspend', AppStatus.SUSPENDED],
        ['activate', AppStatus.ACTIVE],
        ['retire', AppStatus.RETIRED],
      ] as const
    ).map(([verb, status]) => [
      `apps ${verb}`,
      {
        usage: `apps ${verb} <app id> [--reason TEXT]`,
        summary: `${verb} an app (administrator)${verb === 'retire' ? '; final' : ''}`,
        args: 1,
        options: { reason: { type: 'string' } },
        async run(ctx: Context) {
          const { app } = await ctx.client().registry.setAppStatus({
            id: ctx.positionals[0]!,
            status,
            reason: str(ctx.values['reason']) ?? '',
          });
          ctx.out(`${app!.id} is now ${enumName(AppStatus, app!.status)}`, protoJson(AppSchema, app!));
          return EXIT.ok;
        },
      } satisfies Command,
    ]),
  ),
  'keys list': {
    usage: 'keys list --app APP_ID [--all]',
    summary: "an app's credentials (never their secrets)",
    options: { app: { type: 'string' }, all: { type: 'boolean' } },
    async run(ctx) {
      const { credentials } = await ctx.client().auth.listCredentials({
        owner: { owner: { case: 'appId', value: need(ctx, 'app') } },
        includeInactive: ctx.values['all'] === true,
        pageSize: 200,
      });
      ctx.out(
        table(
          credentials.map((c) => [
            c.accessKeyId,
            enumName({ 1: 'ACTIVE', 2: 'EXPIRED', 3: 'REVOKED' }, c.status),
            c.label,
            time(c.lastUsedTime),
          ]),
          ['ACCESS KEY', 'STATUS', 'LABEL', 'LAST USED'],
        ),
        credentials.map((c) => protoJson(CredentialSchema, c)),
      );
      return EXIT.ok;
    },
  },
  'keys create': {
    usage: 'keys create --app APP_ID [--label TEXT]',
    summary: 'a new HMAC credential for an app; its secret is shown once',
    options: { app: { type: 'string' }, label: { type: 'string' } },
    async run(ctx) {
      const answer = await ctx.client().auth.createCredential({
        owner: { owner: { case: 'appId', value: need(ctx, 'app') } },
        label: str(ctx.values['label']) ?? 'lgsp cli',
      });
      ctx.out(
        `LGSP_ACCESS_KEY_ID=${answer.credential!.accessKeyId}\nLGSP_SECRET_KEY=${answer.secretKey}\n# the secret is shown once: keep it now`,
        {
          accessKeyId: answer.credential!.accessKeyId,
          secretKey: answer.secretKey,
          credential: protoJson(CredentialSchema, answer.credential!),
        },
      );
      return EXIT.ok;
    },
  },
  'keys rotate': {
    usage: 'keys rotate <access key id> [--overlap-hours N]',
    summary: 'a new credential replacing this one; the old one works for the overlap (default 24 h)',
    args: 1,
    options: { 'overlap-hours': { type: 'string' } },
    async run(ctx) {
      const hours = str(ctx.values['overlap-hours']);
      const answer = await ctx.client().auth.rotateCredential({
        accessKeyId: ctx.positionals[0]!,
        ...(hours === undefined ? {} : { overlap: { seconds: BigInt(Math.round(Number(hours) * 3600)) } }),
      });
      ctx.out(
        `LGSP_ACCESS_KEY_ID=${answer.credential!.accessKeyId}\nLGSP_SECRET_KEY=${answer.secretKey}\n# the secret is shown once; ${answer.previous?.accessKeyId} works until ${time(answer.previous?.expireTime)}`,
        {
          accessKeyId: answer.credential!.accessKeyId,
          secretKey: answer.secretKey,
          credential: protoJson(CredentialSchema, answer.credential!),
        },
      );
      return EXIT.ok;
    },
  },
  'keys revoke': {
    usage: 'keys revoke <access key id> [--reason TEXT]',
    summary: 'revoke a credential, for good',
    args: 1,
    options: { reason: { type: 'string' } },
    async run(ctx) {
      const { credential } = await ctx
        .client()
        .auth.revokeCredential({ accessKeyId: ctx.positionals[0]!, reason: str(ctx.values['reason']) ?? '' });
      ctx.out(`revoked ${credential!.accessKeyId}`, protoJson(CredentialSchema, credential!));
      return EXIT.ok;
    },
  },
  'grants list': {
    usage: 'grants list --app APP_ID [--action send|call]',
    summary: "an app's grants",
    options: { app: { type: 'string' }, action: { type: 'string' } },
    async run(ctx) {
      const action = str(ctx.values['action']);
      const { grants } = await ctx.client().registry.listGrants({
        subject: { party: { case: 'appId', value: need(ctx, 'app') } },
        pageSize: 200,
        ...(action === undefined
          ? {}
          : { action: enumValue(GrantAction, 'GRANT_ACTION', action, '--action') }),
      });
      ctx.out(
        table(
          grants.map((g) => [
            g.id,
            enumName(GrantAction, g.action),
            g.object?.object.case === 'anyUnit' ? 'any unit' : String(g.object?.object.value ?? ''),
            time(g.expireTime),
          ]),
          ['GRANT', 'ACTION', 'ON', 'EXPIRES'],
        ),
        grants.map((g) => protoJson(GrantSchema, g)),
      );
      return EXIT.ok;
    },
  },
  'grants create': {
    usage: 'grants create --app APP_ID --on <unit code|app id|any> [--action send|call] [--note TEXT]',
    summary: 'let an app send to (or call) a unit, an app, or any unit (administrator)',
    options: {
      app: { type: 'string' },
      on: { type: 'string' },
      action: { type: 'string' },
      note: { type: 'string' },
    },
    async run(ctx) {
      const on = need(ctx, 'on');
      const { grant } = await ctx.client().registry.createGrant({
        subject: { party: { case: 'appId', value: need(ctx, 'app') } },
        object: {
          object:
            on === 'any'
              ? { case: 'anyUnit', value: true }
              : on.startsWith('app_')
                ? { case: 'appId', value: on }
                : { case: 'unitCode', value: on },
        },
        action: enumValue(GrantAction, 'GRANT_ACTION', str(ctx.values['action']) ?? 'send', '--action'),
        note: str(ctx.values['note']) ?? '',
      });
      ctx.out(`created grant ${grant!.id}`, protoJson(GrantSchema, grant!));
      return EXIT.ok;
    },
  },
  'grants revoke': {
    usage: 'grants revoke <grant id>',
    summary: 'withdraw a grant (the platform deletes it; there is no suspension of a grant)',
    args: 1,
    async run(ctx) {
      await ctx.client().registry.deleteGrant({ id: ctx.positionals[0]! });
      ctx.out(`revoked grant ${ctx.positionals[0]}`, { id: ctx.positionals[0], revoked: true });
      return EXIT.ok;
    },
  },
  'profile add': {
    usage:
      'profile add <name> --url URL --access-key-id ID (--secret-key S | --private-key-file PEM) [--default]',
    summary: 'save credentials in the config file (mode 600)',
    args: 1,
    options: {
      'access-key-id': { type: 'string' },
      'secret-key': { type: 'string' },
      'private-key-file': { type: 'string' },
      default: { type: 'boolean' },
    },
    async run(ctx) {
      const path = configPath(process.env);
      const config = readConfig(path);
      const name = ctx.positionals[0]!;
      const secret = str(ctx.values['secret-key']);
      const pem = str(ctx.values['private-key-file']);
      if (secret === undefined && pem === undefined)
        throw new UsageError('--secret-key or --private-key-file is required');
      const url = str(ctx.values['url']);
      config.profiles[name] = {
        ...(url === undefined ? {} : { url }),
        accessKeyId: need(ctx, 'access-key-id'),
        ...(secret === undefined ? {} : { secretKey: secret }),
        ...(pem === undefined ? {} : { privateKeyFile: pem, algorithm: 'RSA-SHA256' }),
      };
      if (ctx.values['default'] === true || config.defaultProfile === undefined) config.defaultProfile = name;
      writeConfig(path, config);
      ctx.out(`saved profile "${name}" in ${path}${config.defaultProfile === name ? ' (default)' : ''}`, {
        profile: name,
        path,
        default: config.defaultProfile === name,
      });
      return EXIT.ok;
    },
  },
  'profile list': {
    usage: 'profile list',
    summary: 'the profiles of the config file',
    async run(ctx) {
      const path = configPath(process.env);
      const config = readConfig(path);
      const rows = Object.entries(config.profiles).map(([name, p]) => [
        name === config.defaultProfile ? `${name} *` : name,
        p.url ?? '',
        p.accessKeyId ?? '',
      ]);
      ctx.out(rows.length === 0 ? `no profiles in ${path}` : table(rows, ['PROFILE', 'URL', 'ACCESS KEY']), {
        path,
        defaultProfile: config.defaultProfile ?? null,
        profiles: Object.fromEntries(
          Object.entries(config.profiles).map(([n, p]) => [n, { url: p.url, accessKeyId: p.accessKeyId }]),
        ),
      });
      return EXIT.ok;
    },
  },
  whoami: {
    usage: 'whoami',
    summary: 'which gateway and key the CLI would use, and the clock offset to the platform',
    async run(ctx) {
      const client = ctx.client();
      const serverTime = await client.serverTime();
      const skew = Math.round((serverTime.getTime() - Date.now()) / 1000);
      ctx.out(
        `${client.url}\nkey ${client.accessKeyId ?? '(none: public calls only)'}\nclock offset ${skew} s`,
        { url: client.url, accessKeyId: client.accessKeyId ?? null, clockOffsetSeconds: skew },
      );
      return EXIT.ok;
    },
  },
};

const GROUPS = ['units', 'apps', 'keys', 'grants', 'profile'];

function help(): string {
  const lines = Object.entries(COMMANDS).map(([, c]) => `  lgsp ${c.usage}\n      ${c.summary}`);
  return `lgsp — send and receive documents through LGSP, and administer it

Usage:
${lines.join('\n')}

Options for every command:
  --json              machine-readable output (errors as JSON on stderr)
  --profile NAME      credentials from this profile of the config file
  --url URL           the gateway (default LGSP_URL, the profile's, or http://127.0.0.1:8080)
  --protocol P        grpc (default) or connect (Connect JSON over HTTP/1.1)
  --timeout SECONDS   deadline of each call (default 30)
  -h, --help          this help

Credentials: --profile, else LGSP_ACCESS_KEY_ID + LGSP_SECRET_KEY (or LGSP_PRIVATE_KEY with
LGSP_ALGORITHM=RSA-SHA256), else the default profile of ${'$'}LGSP_CONFIG or ~/.config/lgsp/config.json.

Exit codes: 0 ok, 1 other error, 2 usage or invalid argument, 3 not found,
4 authentication or permission refused, 5 platform unavailable or deadline passed,
6 content does not match its SHA-256.
`;
}

function exitCodeOf(error: LgspError): number {
  switch (error.code) {
    case Code.InvalidArgument:
      return EXIT.usage;
    case Code.NotFound:
      return EXIT.notFound;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return EXIT.denied;
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return EXIT.unavailable;
    case Code.DataLoss:
      return EXIT.integrity;
    default:
      return EXIT.other;
  }
}

export async function main(argv: string[]): Promise<number> {
  const wantsJson = argv.includes('--json');
  const fail = (code: number, message: string, data: Record<string, unknown>, prefix = 'lgsp: ') => {
    if (wantsJson) process.stderr.write(`${JSON.stringify({ error: { message, ...data } })}\n`);
    else process.stderr.write(`${prefix}${message}\n`);
    return code;
  };
  let name: string | undefined;
  try {
    // The command's words: the first arguments that are neither options nor their values.
    const words: string[] = [];
    for (let i = 0; i < argv.length && words.length < 2; i++) {
      const arg = argv[i]!;
      if (['--profile', '--url', '--protocol', '--timeout'].includes(arg)) i++;
      else if (!arg.startsWith('-')) words.push(arg);
    }
    const first = words[0];
    if (first === undefined || first === 'help') {
      if (argv.includes('--version')) {
        process.stdout.write('lgsp 0.1.0\n');
        return EXIT.ok;
      }
      process.stdout.write(help());
      return first === undefined && !argv.includes('--help') && !argv.includes('-h') ? EXIT.usage : EXIT.ok;
    }
    name = GROUPS.includes(first) ? `${first} ${words[1] ?? ''}`.trim() : first;
    const command = COMMANDS[name];
    if (command === undefined) {
      throw new UsageError(
        GROUPS.includes(first)
          ? `lgsp ${first} needs one of: ${Object.keys(COMMANDS)
              .filter((k) => k.startsWith(`${first} `))
              .map((k) => k.split(' ')[1])
              .join(', ')}`
          : `unknown command "${first}"; see lgsp --help`,
      );
    }
    const rest = [...argv];
    for (const word of name.split(' ')) rest.splice(rest.indexOf(word), 1);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...GLOBAL, ...command.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError(`${(error as Error).message.split('\n')[0]}\nusage: lgsp ${command.usage}`);
    }
    const values = parsed.values as Context['values'];
    if (values['help'] === true) {
      process.stdout.write(`usage: lgsp ${command.usage}\n  ${command.summary}\n`);
      return EXIT.ok;
    }
    if (parsed.positionals.length < (command.args ?? 0)) throw new UsageError(`usage: lgsp ${command.usage}`);
    const protocol = str(values['protocol']) ?? 'grpc';
    if (protocol !== 'grpc' && protocol !== 'connect')
      throw new UsageError('--protocol must be grpc or connect');
    const timeout = str(values['timeout']);
    if (timeout !== undefined && !(Number(timeout) > 0))
      throw new UsageError('--timeout must be a number of seconds');
    let client: LgspClient | undefined;
    const ctx: Context = {
      values,
      positionals: parsed.positionals,
      json: values['json'] === true,
      client: () => {
        if (client !== undefined) return client;
        const resolved = resolveCredentials(process.env, {
          profile: str(values['profile']),
          url: str(values['url']),
        });
        client = new LgspClient({
          credentials: resolved.credentials,
          env: {},
          protocol,
          ...(resolved.url === undefined ? {} : { url: resolved.url }),
          ...(timeout === undefined ? {} : { timeoutMs: Number(timeout) * 1000 }),
        });
        return client;
      },
      out: (human, data) => process.stdout.write(`${values['json'] === true ? json(data) : human}\n`),
    };
    try {
      return (await command.run(ctx)) ?? EXIT.ok;
    } finally {
      client?.close();
    }
  } catch (raw) {
    if (raw instanceof UsageError) return fail(EXIT.usage, raw.message, { code: 'usage' });
    if (raw instanceof ConfigurationError) return fail(EXIT.usage, raw.message, { code: 'configuration' });
    if (raw instanceof LgspError) {
      const lines = [
        `lgsp${name === undefined ? '' : ` ${name}`}: ${raw.rawMessage} (${raw.codeName}${raw.reason === '' ? '' : `, ${raw.reason}`})`,
      ];
      for (const v of raw.violations) lines.push(`  ${v.field}: ${v.description || v.reason}`);
      if (raw.hint !== '') lines.push(`  hint: ${raw.hint}`);
      return wantsJson
        ? fail(exitCodeOf(raw), raw.rawMessage, raw.toJSON())
        : fail(exitCodeOf(raw), lines.join('\n'), {}, '');
    }
    const error = raw as NodeJS.ErrnoException;
    return fail(EXIT.other, error.code === undefined ? String(error.message) : `${error.message}`, {
      code: 'other',
    });
  }
}

process.exitCode = await main(process.argv.slice(2));
