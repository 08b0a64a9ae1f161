/**
 * Where the main thread's time goes, by package: a sampling CPU profile of
 * this thread (node:inspector, 1 ms interval) taken over a separate window of
 * load, so that its overhead touches none of the measured numbers. Each
 * sample is billed to the function on top of the stack (self time), and the
 * function to what owns it: a package of node_modules, a folder of this
 * repository (services/transfer, gateway, lib/rpc…), a part of Node.js, or
 * WebAssembly (PGlite's PostgreSQL).
 */
import { Session } from 'node:inspector';
import { fileURLToPath } from 'node:url';

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  /** Ids of the functions this one called (the profile's call tree). */
  readonly children?: readonly number[];
}

/** A V8 CPU profile as the inspector answers it. */
export interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileShare {
  readonly owner: string;
  /** Milliseconds of main thread in the window. */
  readonly ms: number;
  /** Share of the main thread's busy (non-idle) time. */
  readonly share: number;
}

export interface MainThreadProfile {
  /** Busy milliseconds sampled, idle excluded. */
  readonly busyMs: number;
  readonly owners: readonly ProfileShare[];
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error === null ? resolve(result as T) : reject(error))),
  );
}

export class MainThreadProfiler {
  readonly #session = new Session();

  async start(): Promise<void> {
    this.#session.connect();
    await post(this.#session, 'Profiler.enable');
    await post(this.#session, 'Profiler.setSamplingInterval', { interval: 1000 });
    await post(this.#session, 'Profiler.start');
  }

  async stop(): Promise<MainThreadProfile> {
    return summarise(await this.stopRaw());
  }

  /** The profile itself, for a reader that bills samples its own way (the gateway suite). */
  async stopRaw(): Promise<Profile> {
    try {
      const { profile } = await post<{ profile: Profile }>(this.#session, 'Profiler.stop');
      return profile;
    } finally {
      this.#session.disconnect();
    }
  }
}

function summarise(profile: Profile): MainThreadProfile {
  const ownerOf = new Map<number, string>();
  for (const node of profile.nodes) ownerOf.set(node.id, owner(node.callFrame));
  const byOwner = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the gap to the next one (the last has none).
    const us = deltas[i + 1] ?? 0;
    const who = ownerOf.get(samples[i]!) ?? '(unknown)';
    byOwner.set(who, (byOwner.get(who) ?? 0) + us / 1000);
  }
  byOwner.delete('(idle)');
  const busyMs = [...byOwner.values()].reduce((a, b) => a + b, 0);
  const owners = [...byOwner.entries()]
    .sort(([, a], [, b]) => b - a)
    .map(([who, ms]) => ({ owner: who, ms, share: busyMs > 0 ? ms / busyMs : 0 }));
  return { busyMs, owners };
}

function owner(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      return functionName === '(program)' ? '(V8 and native code)' : functionName;
    }
    return '(V8 and native code)';
  }
  if (url.startsWith('wasm://')) return 'WebAssembly (PGlite)';
  if (url.startsWith('node:'))
    return `node:${url.slice(5).split('/')[url.startsWith('node:internal/') ? 1 : 0]}`;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (path.startsWith(REPO)) {
    const parts = path.slice(REPO.length).split('/');
    // services/transfer/src/... → services/transfer; lib/rpc/... → lib/rpc; gateway/src/... → gateway.
    if (parts[0] === 'services' || parts[0] === 'lib' || parts[0] === 'gen')
      return parts.slice(0, 2).join('/');
    return parts[0]!;
  }
  return '(other)';
}
