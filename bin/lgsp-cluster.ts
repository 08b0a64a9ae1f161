/**
 * `npm run cluster`: the local cluster mode (docs/operations.md, "Local
 * cluster"). On loopback only: a three-node NATS cluster with JetStream,
 * `--replicas` processes of every service and of the gateway, over the
 * Postgres of DATABASE_URL. Ctrl-C, or `npm run cluster -- stop` from another
 * terminal, stops it all.
 *
 *   npm run cluster [-- --replicas 2] [--gateway-port 8080] [--run-dir .lgsp/cluster]
 *   npm run cluster -- stop
 *   npm run cluster -- status
 *
 *   DATABASE_URL  default postgres://postgres@127.0.0.1:5432/lgsp_cluster (created if missing)
 *   LOG_LEVEL     of every process (default info); logs go to <run-dir>/logs/<process>.log
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDatabase, fixedPorts, LocalCluster, SERVICES } from '../cluster/cluster.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    replicas: { type: 'string', default: '2' },
    'gateway-replicas': { type: 'string' },
    'gateway-port': { type: 'string', default: '8080' },
    'run-dir': { type: 'string', default: '.lgsp/cluster' },
  },
});
const command = positionals[0] ?? 'start';
const runDir = resolve(values['run-dir']);
const stateFile = join(runDir, 'cluster.json');

interface State {
  readonly supervisor: number;
  readonly processes: ReadonlyArray<{ name: string; pid: number | undefined }>;
  readonly gateways: readonly string[];
}

function readState(): State | undefined {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `pid` still runs one of the cluster's programs (a pid may have been reused since). */
function isOurs(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /lgsp-cluster|nats-server|src\/main\.ts/.test(cmdline);
  } catch {
    return alive(pid);
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !alive(pid);
}

async function stop(): Promise<number> {
  const state = readState();
  if (state === undefined) {
    process.stdout.write(`no local cluster runs from ${runDir}\n`);
    return 0;
  }
  if (alive(state.supervisor) && isOurs(state.supervisor)) {
    process.kill(state.supervisor, 'SIGTERM');
    if (await waitGone(state.supervisor, 90_000)) {
      process.stdout.write('local cluster stopped\n');
      return 0;
    }
  }
  // The supervisor is gone (killed without cleanup): stop what it recorded, by pid.
  for (const p of state.processes) {
    if (p.pid !== undefined && alive(p.pid) && isOurs(p.pid)) process.kill(p.pid, 'SIGTERM');
  }
  for (const p of state.processes) {
    if (p.pid !== undefined && !(await waitGone(p.pid, 15_000)) && isOurs(p.pid))
      process.kill(p.pid, 'SIGKILL');
  }
  rmSync(stateFile, { force: true });
  process.stdout.write('local cluster stopped (its supervisor was gone; stopped its processes by pid)\n');
  return 0;
}

function status(): number {
  const state = readState();
  if (state === undefined || !alive(state.supervisor)) {
    process.stdout.write(`no local cluster runs from ${runDir}\n`);
    return 1;
  }
  for (const p of state.processes) {
    const up = p.pid !== undefined && alive(p.pid);
    process.stdout.write(`${p.name.padEnd(16)} ${up ? `running, pid ${p.pid}` : 'not running'}\n`);
  }
  process.stdout.write(`gateways: ${state.gateways.join('  ')}\n`);
  return 0;
}

async function start(): Promise<number> {
  const existing = readState();
  if (existing !== undefined && alive(existing.supervisor) && isOurs(existing.supervisor)) {
    process.stderr.write(`a local cluster runs already from ${runDir} (pid ${existing.supervisor})\n`);
    return 1;
  }
  const replicas = Number(values.replicas);
  const gatewayReplicas = Number(values['gateway-replicas'] ?? values.replicas);
  const gatewayPort = Number(values['gateway-port']);
  if (![replicas, gatewayReplicas, gatewayPort].every((n) => Number.isInteger(n) && n > 0)) {
    process.stderr.write('--replicas, --gateway-replicas and --gateway-port take positive integers\n');
    return 2;
  }
  const databaseUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/lgsp_cluster';
  if (process.env['DATABASE_URL'] === undefined) await ensureDatabase(databaseUrl, 'lgsp_cluster');

  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`starting the local cluster in ${runDir} (logs in ${join(runDir, 'logs')})`);
  let stopping = false;
  let cluster: LocalCluster | undefined;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    say('stopping the local cluster…');
    void (cluster?.stop() ?? Promise.resolve()).finally(() => {
      rmSync(stateFile, { force: true });
      say('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  cluster = await LocalCluster.start({
    runDir,
    databaseUrl,
    replicas,
    gatewayReplicas,
    ports: fixedPorts(replicas, gatewayReplicas, gatewayPort),
    logLevel: process.env['LOG_LEVEL'] ?? 'info',
    progress: say,
  });
  const writeState = () => {
    const state: State = {
      supervisor: process.pid,
      processes: cluster!.processes.map((p) => ({ name: p.name, pid: p.pid })),
      gateways: cluster!.gatewayUrls,
    };
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  };
  writeState();
  if (stopping) return 0;

  const admin = cluster.admin!;
  say('');
  say(
    `LGSP local cluster is running: ${replicas} processes of each service, ${gatewayReplicas} gateways, 3 NATS nodes.`,
  );
  say('Ctrl-C here, or `npm run cluster -- stop` elsewhere, stops it all.');
  say('');
  for (const url of cluster.gatewayUrls) say(`  gateway                 ${url}   (${url}/readyz)`);
  for (const s of SERVICES) {
    say(`  ${s.padEnd(23)} ${cluster.ports.services[s].map((p) => `127.0.0.1:${p}`).join('  ')}`);
  }
  say(`  NATS                    ${cluster.nats.url}`);
  say(`  Postgres                ${databaseUrl.replace(/\/\/[^@]*@/, '//')}`);
  say(`  logs                    ${join(runDir, 'logs')}/<process>.log`);
  say(
    admin.created
      ? `  first administrator     ${admin.accessKeyId}, credential in ${admin.file} (shown once)`
      : `  administrator           credential kept in ${admin.file} since an earlier start`,
  );
  say('');

  // A process that dies on its own is reported (the fault tests kill on purpose; here nothing should).
  for (const p of cluster.processes) {
    const watch = (): void => {
      void p.exited.then(() => {
        if (stopping) return;
        say(`${p.name} exited; see ${p.spec.logFile}`);
        writeState();
      });
    };
    watch();
  }
  return new Promise<number>(() => {});
}

const run = command === 'stop' ? stop : command === 'status' ? async () => status() : start;
if (!['start', 'stop', 'status'].includes(command)) {
  process.stderr.write(`unknown command ${command}: start (default), stop or status\n`);
  process.exit(2);
}
run().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`lgsp-cluster: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
