/**
 * Renders the kustomizations of deploy/k8s with `kubectl kustomize`, offline,
 * for the manifest tests. kubectl must be installed: a missing kubectl fails
 * the tests, it never skips them.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = join(import.meta.dirname, '..', '..');
export const K8S = join(ROOT, 'deploy', 'k8s');

/** The kustomizations an operator applies, relative to deploy/k8s. */
export const OVERLAYS = ['overlays/dev', 'overlays/production'] as const;
/** Everything that renders on its own. */
export const KUSTOMIZATIONS = ['base', ...OVERLAYS, 'create-admin'] as const;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered YAML, checked field by field by the tests
  spec?: any;
  data?: Record<string, string>;
}

const cache = new Map<string, K8sObject[]>();

/** The objects `kubectl kustomize deploy/k8s/<dir>` renders. */
export function render(dir: string): K8sObject[] {
  let objects = cache.get(dir);
  if (objects === undefined) {
    let text: string;
    try {
      text = execFileSync('kubectl', ['kustomize', join(K8S, dir)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT')
        throw new Error('kubectl is not installed: the deploy/k8s tests render the manifests with it');
      throw new Error(`kubectl kustomize deploy/k8s/${dir} failed: ${e.stderr ?? e.message}`);
    }
    objects = parseYamlObjects(text, dir);
    cache.set(dir, objects);
  }
  return objects;
}

export function parseYamlObjects(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

export function ofKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}
