/**
 * Suite 2, "transfers end to end": on a fresh embedded mesh, apps set up
 * through the gateway by the first administrator send transfers to each
 * other, every request signed, while the main thread counts what the servers
 * did (probes.ts). First the large transfer, up and down with the process's
 * memory sampled (large.ts); then for each payload size the same bytes
 * through the raw infrastructure (bus, filesystem) as baselines, and end to
 * end (closed-scenarios.ts). See bench/README.md.
 */
import {
  type BenchMesh,
  describeInfrastructure,
  firstAdminOf,
  type Infrastructure,
  startBenchMesh,
} from '../mesh.js';
import type { ScenarioReport, SuiteReport } from '../report.js';
import type { Settings } from '../settings.js';
import { ratio } from '../stats.js';
import { endToEnd, PROFILE_MS, pollCost, profiled, SMALL_SIZES, smallBaseline } from './closed-scenarios.js';
import { KiB } from './content.js';
import { LOOP_GRACE_MS, type SuiteContext } from './context.js';
import { INLINE_MAX_BYTES } from './flow.js';
import {
  LARGE_FIXED_ALLOWANCE_MS,
  LARGE_PROFILE_BYTES,
  LARGE_SLOWEST_BYTES_PER_MS,
  largeTransfer,
} from './large.js';
import { limitFindings, targetVerdicts } from './limits.js';
import { installProbes } from './probes.js';
import { provisionCast } from './provision.js';
import type { ScenarioProfile, TransfersSection } from './report.js';

/** Scenarios (closed loops) of the suite and large-transfer workers, for the run's overall time budget. */
export function transfersBudgetMs(settings: Settings): number {
  const loops =
    6 * (settings.warmupMs + settings.durationMs + LOOP_GRACE_MS) + 3 * (1000 + PROFILE_MS + LOOP_GRACE_MS);
  const large =
    3 * (LARGE_FIXED_ALLOWANCE_MS + (4 * settings.largeBytes) / LARGE_SLOWEST_BYTES_PER_MS) +
    LARGE_FIXED_ALLOWANCE_MS +
    (2 * LARGE_PROFILE_BYTES) / LARGE_SLOWEST_BYTES_PER_MS;
  return loops + large + 120_000;
}

export async function transfersSuite(settings: Settings, infra: Infrastructure): Promise<SuiteReport> {
  let bench: BenchMesh | undefined;
  try {
    bench = await startBenchMesh(infra);
    const { mesh } = bench;
    installProbes(mesh.bus, infra.schemaPrefix);
    const gateway = new URL(mesh.gateway.url).host;
    const cast = await provisionCast(gateway, firstAdminOf(mesh), settings.receivers);
    console.log(
      `bench apps: source ${cast.source.appId}, recipients ${cast.recipients.map((r) => r.appId).join(', ')}`,
    );
    const context: SuiteContext = { settings, infra, mesh, cast, gateway, dataDir: bench.dataDir };
    // The large transfer first, on a mesh that has not yet carried the closed loops: the memory those
    // leave allocated (and free) in the process would otherwise hide what the large transfer needs.
    const large = await largeTransfer(context);
    const idlePoll = await pollCost(context);

    const scenarios: ScenarioReport[] = [];
    const profiles: ScenarioProfile[] = [];
    for (const size of SMALL_SIZES) {
      scenarios.push(await smallBaseline(context, size, 'bus'));
      scenarios.push(await smallBaseline(context, size, 'fs'));
      scenarios.push(await endToEnd(context, size, idlePoll));
      const profile = await profiled(context, size);
      if (profile !== null) profiles.push(profile);
    }
    const targets = targetVerdicts(scenarios, large);
    const section: TransfersSection = {
      settings: { receivers: settings.receivers, pollMs: settings.pollMs, largeBytes: settings.largeBytes },
      idlePoll,
      profiles,
      large,
      targets,
      limits: limitFindings(targets, scenarios, large, infra, profiles),
    };
    return {
      id: 'transfers-end-to-end',
      title: 'Suite 2 — transfers end to end',
      baseline:
        'the same bytes through the raw infrastructure, in a worker thread with the same closed loop: a durable ' +
        'publish consumed and acknowledged on the bus (raw JetStream with NATS_URL, else a fresh in-process bus), ' +
        'and a file written, fsynced, read back and deleted on the filesystem of the blobs.',
      infrastructure: describeInfrastructure(infra),
      rateUnit: 'ops/s',
      scenarios,
      ratios: RATIOS.map((r) => {
        const num = scenarios.find((s) => s.id === r.num)?.summary;
        const den = scenarios.find((s) => s.id === r.den)?.summary;
        return {
          id: `(${r.num})/(${r.den})`,
          title: r.title,
          isolates: r.isolates,
          value: num && den ? ratio(num, den) : null,
        };
      }),
      notes: NOTES(settings),
      transfers: section,
    };
  } finally {
    await bench?.close();
  }
}

const RATIOS = [
  {
    num: 'c',
    den: 'a',
    title: '1 KiB transfer end to end / 1 KiB over the bus',
    isolates: 'everything a transfer adds to moving the bytes as one durable message',
  },
  {
    num: 'c',
    den: 'b',
    title: '1 KiB transfer end to end / 1 KiB file write + fsync + read',
    isolates: 'everything a transfer adds to storing the bytes durably and reading them back',
  },
  {
    num: 'f',
    den: 'd',
    title: '1 MiB transfer end to end / 1 MiB over the bus',
    isolates: 'the same for 1 MiB, uploaded and downloaded in streams instead of inline',
  },
  {
    num: 'f',
    den: 'e',
    title: '1 MiB transfer end to end / 1 MiB file write + fsync + read',
    isolates: 'the same for 1 MiB against the disk',
  },
  {
    num: 'f',
    den: 'c',
    title: '1 MiB / 1 KiB transfer end to end',
    isolates:
      'what 1023 KiB more cost a transfer: the upload and download streams, encryption, digests, disk',
  },
] as const;

function NOTES(settings: Settings): string[] {
  return [
    `A transfer: the source app's CreateTransfer (content inline up to ${INLINE_MAX_BYTES / KiB} KiB, else an ` +
      'Upload stream and CommitTransfer), then the recipient app\u2019s receiver, which polls ListPendingDeliveries, ' +
      'takes the delivery, AcceptDelivery (content inline in the answer, else a Download stream), checks the ' +
      'SHA-256 and ConfirmDelivery with it. Latency: from the start of CreateTransfer to the answer of ' +
      `ConfirmDelivery. ${settings.concurrency} transfers in flight, each to the next of ${settings.receivers} ` +
      `recipient apps in other units; each recipient app runs one receiver that polls again at once after a poll ` +
      `that found something new, else after ${settings.pollMs} ms: polling works for every client (a receiver ` +
      'on the notification service\u2019s Subscribe stream of NEW_DELIVERY notices is not measured yet; the ' +
      'notices themselves are made for every transfer all the same, and counted in its costs).',
    'Everything runs in one process: the servers (and PGlite) on the main thread, the clients in a worker ' +
      'thread. Server and client busy are those two threads\u2019 event-loop utilisation. The bus and filesystem ' +
      'baselines run in a worker alone, with the same closed loop and the same bytes; with the in-process bus, ' +
      'the baseline\u2019s bus is a fresh one in that worker.',
  ];
}
