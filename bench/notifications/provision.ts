/**
 * The apps of the notifications suite, set up through the gateway by the
 * first administrator as a real one would (every call signed, nothing
 * written to a database directly): a unit for the source app and units of
 * `APPS_PER_UNIT` subscribing apps each, every app with its own HMAC
 * credential, and one grant letting the source send to every unit.
 */
import { create } from '@bufbuild/protobuf';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { AppKind, GrantAction, UnitKind } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { FirstAdmin } from '../../services/auth/src/bootstrap.js';
import { grpcClient, type RpcClient, signerOf } from '../client.js';
import { inParallel } from './load-support.js';
import type { AppSpec, Population } from './spec.js';

const PROVINCE = '000.00.00.H26';
/** Subscribing apps per unit: a department with many systems, or many small units' systems under one. */
export const APPS_PER_UNIT = 100;
/** Set-up calls in flight at once. */
const PARALLEL = 32;
export const CONTENT_TYPE = 'application/json';

/** `000.91.00.H26` for the source, `000.91.01.H26`… for the subscribing apps' units. */
const unitCodeOf = (n: number) => `000.91.${String(n).padStart(2, '0')}.H26`;

/** At most 99 units of subscribing apps. */
export const MAX_APPS = 99 * APPS_PER_UNIT;

export async function provisionPopulation(
  gateway: string,
  admin: FirstAdmin,
  count: number,
  onProgress: (done: number) => void = () => {},
): Promise<Population> {
  if (count < 1 || count > MAX_APPS) throw new Error(`between 1 and ${MAX_APPS} apps, not ${count}`);
  const asAdmin = grpcClient(
    gateway,
    signerOf({ accessKeyId: admin.accessKeyId, key: { kind: 'hmac', secret: admin.secret } }),
  );
  try {
    const units = Math.ceil(count / APPS_PER_UNIT);
    await inParallel(units + 1, PARALLEL, (n) => createUnit(asAdmin, unitCodeOf(n)));
    const source = await newApp(asAdmin, unitCodeOf(0), 'Bench: hệ thống gửi thông báo');
    await grantSendEverywhere(asAdmin, source.appId);
    const apps = new Array<AppSpec>(count);
    let done = 0;
    await inParallel(count, PARALLEL, async (i) => {
      apps[i] = await newApp(
        asAdmin,
        unitCodeOf(1 + Math.floor(i / APPS_PER_UNIT)),
        `Bench: hệ thống nhận ${i + 1}`,
      );
      if (++done % 500 === 0) onProgress(done);
    });
    return { source, apps };
  } finally {
    asAdmin.close();
  }
}

async function createUnit(asAdmin: RpcClient, code: string): Promise<void> {
  const method = RegistryService.method.createUnit;
  const { unit } = await asAdmin.unary(
    method,
    create(method.input, { code, name: `Bench ${code}`, parentCode: PROVINCE, kind: UnitKind.OTHER }),
  );
  if (unit?.code !== code) throw new Error(`CreateUnit ${code}: no unit in the answer`);
}

async function newApp(asAdmin: RpcClient, unitCode: string, name: string): Promise<AppSpec> {
  const registerApp = RegistryService.method.registerApp;
  const { app } = await asAdmin.unary(
    registerApp,
    create(registerApp.input, {
      unitCode,
      name,
      kind: AppKind.DOCUMENT_SYSTEM,
      acceptedContentTypes: [CONTENT_TYPE],
    }),
  );
  if (app === undefined || app.id === '') throw new Error(`RegisterApp in ${unitCode}: no app in the answer`);

  const createCredential = AuthService.method.createCredential;
  const { credential, secretKey } = await asAdmin.unary(
    createCredential,
    create(createCredential.input, {
      owner: { owner: { case: 'appId', value: app.id } },
      label: 'bench notifications HMAC-SHA256',
    }),
  );
  if (credential === undefined || secretKey === '') {
    throw new Error(`CreateCredential for ${app.id}: no access key or secret in the answer`);
  }
  return {
    appId: app.id,
    unitCode,
    signer: { accessKeyId: credential.accessKeyId, key: { kind: 'hmac', secret: secretKey } },
  };
}

/** SEND on every active unit of the zone: one grant covers every subscribing app. */
async function grantSendEverywhere(asAdmin: RpcClient, sourceAppId: string): Promise<void> {
  const method = RegistryService.method.createGrant;
  const { grant } = await asAdmin.unary(
    method,
    create(method.input, {
      subject: { party: { case: 'appId', value: sourceAppId } },
      object: { object: { case: 'anyUnit', value: true } },
      action: GrantAction.SEND,
      note: 'bench notifications',
    }),
  );
  if (grant === undefined) throw new Error('CreateGrant SEND on every unit: no grant in the answer');
}
