/**
 * What one client may take of the gateway (issue 6, bad input): requests per
 * second per app and streams at once per app, answered resource_exhausted
 * with when to retry; other apps are served meanwhile, and the gateway stays up.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signRequest } from '#lib/auth/signing.js';
import { type App, call, newApp, Platform, REGISTRY } from './transfers.support.js';

const NOTIFICATION = 'lgsp.notification.v1.NotificationService';

let platform: Platform;
let noisy: App;
let quiet: App;
let bystander: App;

beforeAll(async () => {
  platform = await Platform.start({
    gateway: {
      rateLimit: { default: { perSecond: 1, burst: 20 }, overrides: new Map() },
      maxStreamsPerApp: 2,
    },
  });
  noisy = await newApp(platform, '000.00.03.H26', 'QLVB ồn ào');
  quiet = await newApp(platform, '000.00.04.H26', 'QLVB yên tĩnh');
  bystander = await newApp(platform, '000.00.05.H26', 'QLVB bên cạnh');
});

afterAll(async () => {
  await platform?.close();
});

it('answers an app past its rate resource_exhausted with retry-after, and serves another app', async () => {
  const answers = await Promise.all(
    Array.from({ length: 60 }, () => call(platform, REGISTRY, 'GetApp', { id: noisy.id }, noisy.signer)),
  );
  const refused = answers.filter((a) => a.status !== 200);
  // 20 at once, then one a second: however slowly the 60 calls arrive (a loaded machine), most are refused.
  expect(refused.length).toBeGreaterThanOrEqual(20);
  const first = refused[0]!;
  expect(first.status).toBe(429);
  expect(first.body).toMatchObject({ code: 'resource_exhausted' });
  expect(JSON.stringify(first.body)).toContain('RATE_LIMITED');
  expect(Number(first.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(String((first.body as { message: string }).message)).toMatch(/1 request per second/);

  const other = await call(platform, REGISTRY, 'GetApp', { id: quiet.id }, quiet.signer);
  expect(other.status).toBe(200);
  // And the noisy app is served again once it waits.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  expect((await call(platform, REGISTRY, 'GetApp', { id: noisy.id }, noisy.signer)).status).toBe(200);
});

it('refuses a third stream of one app while two are open, and frees the slot when one closes', async () => {
  const open = async (app: App) => {
    const controller = new AbortController();
    const path = `/${NOTIFICATION}/Subscribe`;
    const body = envelope({});
    const res = await fetch(`${platform.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/connect+json',
        'connect-protocol-version': '1',
        ...signRequest({ method: 'POST', url: path, body, ...app.signer }),
      },
      body,
      signal: controller.signal,
    });
    return { res, close: () => controller.abort() };
  };
  const first = await open(quiet);
  const second = await open(quiet);
  expect([first.res.status, second.res.status]).toEqual([200, 200]);
  const third = await open(quiet);
  const ended = new Uint8Array(await third.res.arrayBuffer());
  const text = new TextDecoder().decode(ended);
  expect(text).toContain('resource_exhausted');
  expect(text).toContain('TOO_MANY_STREAMS');

  // Another app's stream is not affected.
  const others = await open(bystander);
  const greeting = await others.res.body!.getReader().read();
  expect(new TextDecoder().decode(greeting.value)).toContain('heartbeat');
  others.close();

  first.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const again = await open(quiet);
  const reader = again.res.body!.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain('heartbeat');
  again.close();
  second.close();
});

/** One Connect streaming message: flags 0, length big-endian, the JSON. */
function envelope(json: unknown): Uint8Array {
  const body = Buffer.from(JSON.stringify(json));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}
