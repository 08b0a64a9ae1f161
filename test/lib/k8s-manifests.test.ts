/**
 * The Kubernetes manifests in deploy/k8s, checked without a cluster: every
 * file the kustomization lists parses, every Deployment has its probes and a
 * headless Service on the same port, every environment variable a pod sets is
 * one its program reads, every address points at a Service of the manifests,
 * and every Secret key is documented.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'deploy', 'k8s');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

interface Port {
  name?: string;
  containerPort: number;
}

interface Probe {
  grpc?: { port: number };
  httpGet?: { path: string; port: number | string };
}

interface Container {
  name: string;
  args?: string[];
  ports?: Port[];
  env?: EnvVar[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  /** Absent from a Namespace. */
  spec?: {
    replicas?: number;
    selector?: { matchLabels: Record<string, string> } | Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    clusterIP?: string;
    ports?: Array<{ name?: string; port: number; targetPort?: number | string }>;
  };
}

const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
  namespace: string;
  resources: string[];
};

function loadManifests(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of kustomization.resources) {
    if (!existsSync(join(K8S, file))) continue; // reported by its own test
    for (const doc of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const value = doc.toJS() as Manifest | null;
      if (value !== null) manifests.push(value);
    }
  }
  return manifests;
}

const manifests = loadManifests();
const deployments = manifests.filter((m) => m.kind === 'Deployment');
const services = new Map(manifests.filter((m) => m.kind === 'Service').map((m) => [m.metadata.name, m]));
const podSpecs: Array<{ name: string; spec: PodSpec }> = manifests
  .filter((m) => m.spec?.template !== undefined)
  .map((m) => ({ name: `${m.kind} ${m.metadata.name}`, spec: m.spec!.template!.spec }));

/** The program a container runs, e.g. `services/storage/src/main.ts`. */
function scriptOf(container: Container): string {
  const script = container.args?.find((arg) => arg.endsWith('.ts'));
  if (script === undefined) throw new Error(`container ${container.name} runs no TypeScript program`);
  return script;
}

const sourceCache = new Map<string, string>();

/** Every non-test TypeScript source under `dir`, concatenated. */
function sourcesUnder(dir: string): string {
  let text = sourceCache.get(dir);
  if (text === undefined) {
    text = readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
      .map((file) => readFileSync(join(ROOT, dir, file), 'utf8'))
      .join('\n');
    sourceCache.set(dir, text);
  }
  return text;
}

/** True when the program (its own `src/` and the shared `lib/`) reads the variable by name. */
function programReads(script: string, name: string): boolean {
  const srcDir = script.slice(0, script.indexOf('/src/') + '/src'.length);
  const quoted = new RegExp(`['"\`]${name}['"\`]`);
  return quoted.test(sourcesUnder(srcDir)) || quoted.test(sourcesUnder('lib'));
}

function containerPort(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number')
    return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

describe('deploy/k8s manifests', () => {
  it('lists files that exist and parse', () => {
    for (const file of kustomization.resources) {
      expect(existsSync(join(K8S, file)), file).toBe(true);
    }
    expect(deployments.length).toBeGreaterThan(0);
  });

  it('lists every manifest of the folder', () => {
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...files].sort()).toEqual([...kustomization.resources].sort());
  });

  it('deploys a program for every service and the gateway', () => {
    const programs = deployments.map((d) => scriptOf(d.spec!.template!.spec.containers[0]!));
    const expected = readdirSync(join(ROOT, 'services'))
      .filter((name) => existsSync(join(ROOT, 'services', name, 'src', 'main.ts')))
      .map((name) => `services/${name}/src/main.ts`)
      .concat('gateway/src/main.ts');
    expect(programs.sort()).toEqual(expected.sort());
    for (const script of programs) expect(existsSync(join(ROOT, script)), script).toBe(true);
  });

  describe.each(deployments.map((d) => [d.metadata.name, d] as const))(
    'Deployment %s',
    (name, deployment) => {
      const spec = deployment.spec!;
      const template = spec.template!;
      const container = template.spec.containers[0]!;

      it('carries the labels the selector and the network policy rely on', () => {
        const selector = (spec.selector as { matchLabels: Record<string, string> }).matchLabels;
        expect(selector).toEqual({ 'app.kubernetes.io/name': name });
        expect(template.metadata.labels).toMatchObject({
          'app.kubernetes.io/name': name,
          'app.kubernetes.io/part-of': 'lgsp',
        });
        expect(['service', 'gateway']).toContain(template.metadata.labels['lgsp/tier']);
        expect(deployment.metadata.labels).toEqual(template.metadata.labels);
        expect(spec.replicas ?? 1).toBeGreaterThanOrEqual(2);
      });

      it('has readiness and liveness probes on its own port', () => {
        expect(container.readinessProbe, 'readinessProbe').toBeDefined();
        expect(container.livenessProbe, 'livenessProbe').toBeDefined();
        for (const probe of [container.readinessProbe!, container.livenessProbe!]) {
          const port = probe.grpc?.port ?? probe.httpGet?.port;
          expect(containerPort(container, port), `probe port ${port}`).toBeDefined();
        }
        expect(container.resources?.requests?.['memory']).toBeDefined();
        expect(container.resources?.limits?.['memory']).toBeDefined();
      });

      it('listens where its Service sends traffic', () => {
        const service = services.get(name);
        expect(service, `Service ${name}`).toBeDefined();
        expect(service!.spec!.selector).toEqual({ 'app.kubernetes.io/name': name });
        const listening = Number(container.env?.find((e) => e.name === 'PORT')?.value);
        expect(container.ports?.map((p) => p.containerPort)).toEqual([listening]);
        for (const port of service!.spec!.ports ?? []) {
          expect(containerPort(container, port.targetPort ?? port.port), `targetPort of ${name}`).toBe(
            listening,
          );
        }
        if (template.metadata.labels['lgsp/tier'] === 'service') {
          // Headless, so that grpc-js sees every pod and balances over them.
          expect(service!.spec!.clusterIP).toBe('None');
          expect(service!.spec!.ports?.map((p) => p.port)).toEqual([listening]);
        }
      });

      it('sets only variables its program reads', () => {
        const script = scriptOf(container);
        const unread = (container.env ?? []).map((e) => e.name).filter((n) => !programReads(script, n));
        expect(unread, `read by neither ${script.split('/src/')[0]}/src nor lib`).toEqual([]);
      });
    },
  );

  it("sets only variables its program reads, in every pod template (the Job's too)", () => {
    for (const { name, spec } of podSpecs) {
      for (const container of spec.containers) {
        const script = scriptOf(container);
        const unread = (container.env ?? []).map((e) => e.name).filter((n) => !programReads(script, n));
        expect(unread, name).toEqual([]);
      }
    }
  });

  it('gives the gateway the address of every upstream it reads', () => {
    const gateway = deployments.find((d) => d.metadata.name === 'gateway')!;
    const set = new Set(gateway.spec!.template!.spec.containers[0]!.env?.map((e) => e.name));
    const read = [...sourcesUnder('gateway/src').matchAll(/'([A-Z]+_ADDR)'/g)].map((m) => m[1]!);
    expect(read.length).toBeGreaterThan(0);
    for (const name of read) expect(set.has(name), name).toBe(true);
  });

  it('points every address at a Service of the manifests, on its port', () => {
    for (const { name, spec } of podSpecs) {
      for (const env of spec.containers.flatMap((c) => c.env ?? [])) {
        if (!env.name.endsWith('_ADDR')) continue;
        const match = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$/.exec(env.value ?? '');
        expect(match, `${name}: ${env.name}=${env.value}`).not.toBeNull();
        const [, host, namespace, port] = match!;
        expect(namespace).toBe(kustomization.namespace);
        const service = services.get(host!);
        expect(service, `${name}: ${env.name} names Service ${host}`).toBeDefined();
        expect(service!.spec!.ports?.map((p) => p.port)).toContain(Number(port));
      }
    }
  });

  it('takes secrets only from lgsp-secrets, under keys the README documents', () => {
    const readme = readFileSync(join(K8S, 'README.md'), 'utf8');
    for (const { name, spec } of podSpecs) {
      for (const env of spec.containers.flatMap((c) => c.env ?? [])) {
        const ref = env.valueFrom?.secretKeyRef;
        if (ref === undefined) continue;
        expect(ref.name, `${name}: ${env.name}`).toBe('lgsp-secrets');
        expect(readme, `${relative(ROOT, K8S)}/README.md documents ${ref.key}`).toContain(`\`${ref.key}\``);
      }
    }
  });
});
