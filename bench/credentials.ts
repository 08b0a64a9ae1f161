/**
 * The bench's own app and its two credentials, set up through the gateway the
 * way an administrator would: each call signed with the first administrator's
 * key (which the mesh creates at its first start), nothing written to a
 * database directly. So the signed scenarios exercise the same path as a real
 * agency's system: key material the gateway fetched from the auth service and
 * cached, not something a test planted.
 *
 * Before any load, a request signed with the wrong key is sent with each
 * credential and must be refused: a signed scenario then proves that its
 * signatures were verified, not merely let through.
 */
import { generateKeyPairSync } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { AppKind } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { FirstAdmin } from '../services/auth/src/bootstrap.js';
import { grpcClient, type RpcClient, signerOf } from './client.js';
import { BENCH_UNIT_CODE, type SignerSpec } from './scenarios.js';

export interface BenchSigners {
  /** An HMAC-SHA256 credential of the bench's app (CreateCredential). */
  readonly hmac: SignerSpec;
  /** A 2048-bit RSA key of the bench's app (RegisterPublicKey); the private key stays here. */
  readonly rsa: SignerSpec;
}

/** Registers the app and its credentials through the gateway at `address`, and checks they are verified. */
export async function provisionSigners(address: string, admin: FirstAdmin): Promise<BenchSigners> {
  const asAdmin = grpcClient(address, signerOf(hmacSpec(admin.accessKeyId, admin.secret)));
  try {
    const appId = await registerApp(asAdmin);
    const signers = {
      hmac: await createHmacCredential(asAdmin, appId),
      rsa: await registerRsaKey(asAdmin, appId),
    };
    for (const signer of Object.values(signers)) await assertVerified(address, signer);
    return signers;
  } finally {
    asAdmin.close();
  }
}

function hmacSpec(accessKeyId: string, secret: string): SignerSpec {
  return { accessKeyId, key: { kind: 'hmac', secret } };
}

function newRsaKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** The bench's app lives under the unit it reads, an active unit of the local zone in the demo tree. */
async function registerApp(asAdmin: RpcClient): Promise<string> {
  const method = RegistryService.method.registerApp;
  const { app } = await asAdmin.unary(
    method,
    create(method.input, {
      unitCode: BENCH_UNIT_CODE,
      name: 'LGSP bench load client',
      description: 'Signs the requests of the signed bench scenarios',
      kind: AppKind.DATA_SERVICE,
    }),
  );
  if (app === undefined || app.id === '' || app.unitCode !== BENCH_UNIT_CODE) {
    throw new Error(`RegisterApp answered no app of ${BENCH_UNIT_CODE}`);
  }
  return app.id;
}

async function createHmacCredential(asAdmin: RpcClient, appId: string): Promise<SignerSpec> {
  const method = AuthService.method.createCredential;
  const { credential, secretKey } = await asAdmin.unary(
    method,
    create(method.input, { owner: { owner: { case: 'appId', value: appId } }, label: 'bench HMAC-SHA256' }),
  );
  if (credential === undefined || credential.accessKeyId === '' || secretKey === '') {
    throw new Error('CreateCredential answered no access key id or no secret');
  }
  return hmacSpec(credential.accessKeyId, secretKey);
}

async function registerRsaKey(asAdmin: RpcClient, appId: string): Promise<SignerSpec> {
  const method = AuthService.method.registerPublicKey;
  const { publicKeyPem, privateKeyPem } = newRsaKeyPair();
  const { credential } = await asAdmin.unary(
    method,
    create(method.input, { appId, publicKeyPem, label: 'bench RSA-SHA256' }),
  );
  if (credential === undefined || credential.accessKeyId === '') {
    throw new Error('RegisterPublicKey answered no access key id');
  }
  return { accessKeyId: credential.accessKeyId, key: { kind: 'rsa', privateKeyPem } };
}

/**
 * GetUnit is public, so the gateway would answer it unsigned too: only a
 * refusal of the same call signed with the wrong key of the same kind shows
 * that a signature on it is checked. A genuine call must then succeed.
 */
async function assertVerified(address: string, signer: SignerSpec): Promise<void> {
  const forgedKey: SignerSpec['key'] =
    signer.key.kind === 'hmac'
      ? { kind: 'hmac', secret: `${signer.key.secret}-forged` }
      : { kind: 'rsa', privateKeyPem: newRsaKeyPair().privateKeyPem };
  const forged = await getUnitWith(address, { accessKeyId: signer.accessKeyId, key: forgedKey }).then(
    () => undefined,
    (error: unknown) => error,
  );
  if ((forged as grpc.ServiceError | undefined)?.code !== grpc.status.UNAUTHENTICATED) {
    throw new Error(
      `the gateway did not refuse a request forged with key ${signer.accessKeyId}: ${String(forged ?? 'it answered')}`,
    );
  }
  await getUnitWith(address, signer);
}

async function getUnitWith(address: string, signer: SignerSpec): Promise<void> {
  const client = grpcClient(address, signerOf(signer));
  try {
    const method = RegistryService.method.getUnit;
    const { unit } = await client.unary(method, create(method.input, { code: BENCH_UNIT_CODE }));
    if (unit?.code !== BENCH_UNIT_CODE)
      throw new Error(`GetUnit signed by ${signer.accessKeyId}: wrong answer`);
  } finally {
    client.close();
  }
}
