/**
 * The apps of the transfers suite, set up through the gateway by the first
 * administrator as a real one would (every call signed, nothing written to a
 * database directly): a unit for the source and one per recipient, each with
 * a registered app that accepts PDF and an HMAC credential, and a SEND grant
 * of the source on every recipient unit.
 */
import { create } from '@bufbuild/protobuf';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { AppKind, GrantAction, UnitKind } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { FirstAdmin } from '../../services/auth/src/bootstrap.js';
import { grpcClient, type RpcClient, signerOf } from '../client.js';
import { CONTENT_TYPE } from './content.js';
import type { AppSpec, Cast } from './spec.js';

const PROVINCE = '000.00.00.H26';

/** Unit codes the demo tree does not use: `000.90.00.H26` for the source, `000.90.01.H26`… for recipients. */
const benchUnitCode = (n: number) => `000.90.${String(n).padStart(2, '0')}.H26`;

export async function provisionCast(gateway: string, admin: FirstAdmin, recipients: number): Promise<Cast> {
  const asAdmin = grpcClient(
    gateway,
    signerOf({ accessKeyId: admin.accessKeyId, key: { kind: 'hmac', secret: admin.secret } }),
  );
  try {
    const source = await newApp(asAdmin, benchUnitCode(0), 'Bench: hệ thống gửi');
    const apps: AppSpec[] = [];
    for (let n = 1; n <= recipients; n++) {
      const app = await newApp(asAdmin, benchUnitCode(n), `Bench: hệ thống nhận ${n}`);
      await grantSend(asAdmin, source.appId, app.unitCode);
      apps.push(app);
    }
    return { source, recipients: apps };
  } finally {
    asAdmin.close();
  }
}

async function newApp(asAdmin: RpcClient, unitCode: string, name: string): Promise<AppSpec> {
  const createUnit = RegistryService.method.createUnit;
  const { unit } = await asAdmin.unary(
    createUnit,
    create(createUnit.input, {
      code: unitCode,
      name: `Bench ${unitCode}`,
      parentCode: PROVINCE,
      kind: UnitKind.OTHER,
    }),
  );
  if (unit?.code !== unitCode) throw new Error(`CreateUnit ${unitCode}: no unit in the answer`);

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
      label: 'bench transfers HMAC-SHA256',
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

async function grantSend(asAdmin: RpcClient, sourceAppId: string, unitCode: string): Promise<void> {
  const createGrant = RegistryService.method.createGrant;
  const { grant } = await asAdmin.unary(
    createGrant,
    create(createGrant.input, {
      subject: { party: { case: 'appId', value: sourceAppId } },
      object: { object: { case: 'unitCode', value: unitCode } },
      action: GrantAction.SEND,
      note: 'bench transfers',
    }),
  );
  if (grant === undefined) throw new Error(`CreateGrant SEND on ${unitCode}: no grant in the answer`);
}
