/** What the parts of suite 2 share while it runs: its settings, its mesh, its apps. */
import type { EmbeddedMesh } from '../../embedded/mesh.js';
import type { Infrastructure } from '../mesh.js';
import type { Settings } from '../settings.js';
import type { Cast } from './spec.js';

export interface SuiteContext {
  readonly settings: Settings;
  readonly infra: Infrastructure;
  readonly mesh: EmbeddedMesh;
  readonly cast: Cast;
  /** `host:port` of the gateway. */
  readonly gateway: string;
  /** The mesh's data directory: the baselines write on the same filesystem as its blobs. */
  readonly dataDir: string;
}

/** Extra time a closed-loop worker may take beyond warm-up and duration (a transfer may take up to a minute). */
export const LOOP_GRACE_MS = 90_000;
