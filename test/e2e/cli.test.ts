/**
 * The `lgsp` CLI as a user runs it: a child process (`bin/lgsp.js`), from a
 * fresh temporary HOME, against the whole platform. Profiles in the config
 * file, send → inbox → receive → status, `watch`, `units search`, the admin
 * commands, `--json` output, and the exit codes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, grantSend, newApp, newUnit, Platform, sha256 } from './transfers.support.js';

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let platform: Platform;
let source: App;
let destination: App;
let home: string;

/** The environment of a user with a fresh HOME and no LGSP_* variables. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('LGSP_') && !k.startsWith('XDG_')) env[k] = v;
  return { ...env, HOME: home, ...extra };
}

function lgsp(args: string[], extra: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/lgsp.js', ...args],
      { env: cleanEnv(extra), timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const secretOf = (app: App) => String((app.signer.key as { secret: string }).secret);

beforeAll(async () => {
  platform = await Platform.start({ readMaxBytes: 4 * 1024 * 1024 + 64 * 1024 });
  source = await newApp(platform, await newUnit(platform, 'Sở gửi CLI'), 'QLVB gửi CLI');
  destination = await newApp(platform, await newUnit(platform, 'Sở nhận CLI'), 'QLVB nhận CLI', [
    'text/plain',
    'application/octet-stream',
  ]);
  await grantSend(platform, source, destination.id);
  home = mkdtempSync(join(tmpdir(), 'lgsp-cli-home-'));
}, 120_000);

afterAll(async () => {
  rmSync(home, { recursive: true, force: true });
  await platform?.close();
}, 60_000);

describe('lgsp', () => {
  it('saves profiles in ~/.config/lgsp/config.json, readable by the user only', async () => {
    for (const [name, app] of [
      ['src', source],
      ['dst', destination],
    ] as const) {
      const added = await lgsp([
        'profile',
        'add',
        name,
        '--url',
        platform.url,
        '--access-key-id',
        app.signer.accessKeyId,
        '--secret-key',
        secretOf(app),
      ]);
      expect(added.code, added.stderr).toBe(0);
    }
    const path = join(home, '.config', 'lgsp', 'config.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const config = JSON.parse(readFileSync(path, 'utf8'));
    expect(config.defaultProfile).toBe('src');
    const listed = await lgsp(['profile', 'list', '--json']);
    expect(JSON.parse(listed.stdout).profiles.dst.accessKeyId).toBe(destination.signer.accessKeyId);
    expect(listed.stdout).not.toContain(secretOf(destination));
  });

  it('sends, lists the inbox, receives and shows the status', async () => {
    const work = mkdtempSync(join(home, 'work-'));
    const file = join(work, 'bao-cao.bin');
    const content = randomBytes(1024 * 1024 + 7);
    writeFileSync(file, content);

    // The default profile (src); a progress bar on stderr when asked for outside a terminal.
    const sent = await lgsp(
      [
        'send',
        file,
        '--to',
        destination.id,
        '--subject',
        'Báo cáo tháng 11',
        '--priority',
        'urgent',
        '--json',
      ],
      { LGSP_PROGRESS: '1' },
    );
    expect(sent.code, sent.stderr).toBe(0);
    const answer = JSON.parse(sent.stdout);
    expect(answer).toMatchObject({ state: 'DELIVERING', inline: false, sizeBytes: content.length });
    expect(answer.sha256).toBe(sha256(content).toString('hex'));
    expect(answer.transferId).toMatch(/^trf_[0-9a-f]{16}$/);
    expect(sent.stderr).toMatch(/sending bao-cao\.bin \[#+\] 100% 1\.0 MiB\/1\.0 MiB/);

    const inbox = await lgsp(['--profile', 'dst', 'inbox', '--json']);
    expect(inbox.code, inbox.stderr).toBe(0);
    const delivery = JSON.parse(inbox.stdout).find(
      (d: { transferId: string }) => d.transferId === answer.transferId,
    );
    expect(delivery).toMatchObject({ subject: 'Báo cáo tháng 11', priority: 'PRIORITY_URGENT' });
    const human = await lgsp(['--profile', 'dst', 'inbox']);
    expect(human.stdout).toMatch(
      new RegExp(`^DELIVERY +PRIORITY +FROM +SIZE +SUBJECT\\n(.*\\n)*${delivery.id} +URGENT`),
    );

    const target = join(work, 'nhan.bin');
    const received = await lgsp(['receive', delivery.id, '-o', target, '--profile', 'dst']);
    expect(received.code, received.stderr).toBe(0);
    expect(received.stdout).toMatch(/SHA-256 verified, DELIVERED/);
    expect(readFileSync(target).equals(content)).toBe(true);

    const status = await lgsp(['status', answer.transferId, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout);
    expect(shown.state).toBe('DELIVERED');
    expect(shown.deliveries[0].state).toBe('DELIVERY_STATE_DELIVERED');
    const statusHuman = await lgsp(['status', answer.transferId]);
    expect(statusHuman.stdout.split('\n')[0]).toBe(`${answer.transferId}  DELIVERED  Báo cáo tháng 11`);

    // The notices of that transfer, on a stream, one JSON a line.
    const watched = await lgsp([
      'watch',
      '--profile',
      'dst',
      '--count',
      '1',
      '--json',
      '--kind',
      'new-delivery',
    ]);
    expect(watched.code, watched.stderr).toBe(0);
    const notice = JSON.parse(watched.stdout.trim().split('\n')[0]!);
    expect(notice.kind).toBe('NOTICE_KIND_NEW_DELIVERY');
    expect(notice.newDelivery.delivery.transferId).toBe(answer.transferId);
  }, 120_000);

  it('credentials from the environment win over the default profile', async () => {
    const small = join(home, 'giay-moi.txt');
    writeFileSync(small, 'Giấy mời họp\n');
    // LGSP_PROFILE names the destination's profile, which holds no grant: the environment's key must win.
    const sent = await lgsp(['send', small, '--to', destination.id], {
      LGSP_PROFILE: 'dst',
      LGSP_URL: platform.url,
      LGSP_ACCESS_KEY_ID: source.signer.accessKeyId,
      LGSP_SECRET_KEY: secretOf(source),
    });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/^sent trf_[0-9a-f]{16}: DELIVERING, 19 B inline, 1 delivery\n/);
  });

  it('searches units by name, diacritics or not', async () => {
    const human = await lgsp(['units', 'search', 'tài chính']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^CODE +NAME\n000\.00\.03\.H26 +Sở Tài chính\n/);
    const json = await lgsp(['units', 'search', 'so tai chinh', '--json', '--limit', '3']);
    expect(JSON.parse(json.stdout)[0]).toMatchObject({ code: '000.00.03.H26', name: 'Sở Tài chính' });
  });

  it('administers apps, keys and grants with an administrator key', async () => {
    const admin = {
      LGSP_URL: platform.url,
      LGSP_ACCESS_KEY_ID: platform.admin.accessKeyId,
      LGSP_SECRET_KEY: String((platform.admin.key as { secret: string }).secret),
    };
    const registered = await lgsp(
      [
        'apps',
        'register',
        '--unit',
        destination.unitCode,
        '--name',
        'Cổng dữ liệu',
        '--accept',
        'application/json',
        '--json',
      ],
      admin,
    );
    expect(registered.code, registered.stderr).toBe(0);
    const app = JSON.parse(registered.stdout);
    const key = await lgsp(['keys', 'create', '--app', app.id, '--label', 'cli', '--json'], admin);
    expect(JSON.parse(key.stdout)).toMatchObject({
      accessKeyId: expect.any(String),
      secretKey: expect.any(String),
    });
    const keys = await lgsp(['keys', 'list', '--app', app.id], admin);
    expect(keys.stdout).toContain(JSON.parse(key.stdout).accessKeyId);
    expect(keys.stdout).not.toContain(JSON.parse(key.stdout).secretKey);
    const grant = await lgsp(['grants', 'create', '--app', app.id, '--on', source.unitCode, '--json'], admin);
    expect(grant.code, grant.stderr).toBe(0);
    const grantId = JSON.parse(grant.stdout).id;
    expect((await lgsp(['grants', 'list', '--app', app.id], admin)).stdout).toContain(grantId);
    expect((await lgsp(['grants', 'revoke', grantId], admin)).code).toBe(0);
    expect((await lgsp(['grants', 'list', '--app', app.id], admin)).stdout).not.toContain(grantId);
    const suspended = await lgsp(['apps', 'suspend', app.id, '--reason', 'bảo trì'], admin);
    expect(suspended.stdout).toBe(`${app.id} is now SUSPENDED\n`);
    const revoked = await lgsp(['keys', 'revoke', JSON.parse(key.stdout).accessKeyId], admin);
    expect(revoked.code, revoked.stderr).toBe(0);
  }, 180_000);

  describe('exit codes', () => {
    it('2 for usage errors, with the usage line', async () => {
      const missing = await lgsp(['send', 'x.pdf']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/--to is required/);
      const unknown = await lgsp(['sned']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/unknown command "sned"; see lgsp --help/);
      const badOption = await lgsp(['inbox', '--colour']);
      expect(badOption.code).toBe(2);
      expect(badOption.stderr).toMatch(/usage: lgsp inbox/);
      const help = await lgsp(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Exit codes: 0 ok/);
    });

    it('3 for what does not exist', async () => {
      const ran = await lgsp(['status', 'trf_0000000000000000', '--json']);
      expect(ran.code).toBe(3);
      expect(JSON.parse(ran.stderr).error).toMatchObject({ code: 'not_found', reason: 'TRANSFER_NOT_FOUND' });
    });

    it('4 for refused credentials and missing permissions, saying what to do', async () => {
      const denied = await lgsp(['keys', 'create', '--app', source.id]);
      expect(denied.code).toBe(4);
      expect(denied.stderr).toMatch(/permission_denied/);
      expect(denied.stderr).toMatch(/hint: /);
      const badSecret = await lgsp(['inbox'], {
        LGSP_URL: platform.url,
        LGSP_ACCESS_KEY_ID: source.signer.accessKeyId,
        LGSP_SECRET_KEY: 'wrong',
      });
      expect(badSecret.code).toBe(4);
      // As docs/clients.md shows it.
      expect(badSecret.stderr).toBe(
        'lgsp inbox: the signature does not match the request (unauthenticated, BAD_SIGNATURE)\n' +
          '  hint: check LGSP_SECRET_KEY (or the RSA private key): it does not match the access key\n',
      );
      const noProfile = await lgsp(['inbox', '--profile', 'nobody']);
      expect(noProfile.code).toBe(2);
      expect(noProfile.stderr).toMatch(/no profile "nobody".*lgsp profile add nobody/);
    });

    it('5 when the platform cannot be reached', async () => {
      const ran = await lgsp(['units', 'search', 'x', '--url', 'http://127.0.0.1:9', '--timeout', '2']);
      expect(ran.code).toBe(5);
      expect(ran.stderr).toMatch(/hint: /);
    });
  });
});
