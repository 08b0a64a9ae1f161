/**
 * The Kubernetes manifests in deploy/k8s, checked without a cluster on what
 * each overlay renders (`kubectl kustomize`): a Deployment for every service
 * and the gateway with its probes, resources, security settings, autoscaler,
 * disruption budget and headless Service; every environment variable a pod
 * gets (its own and its ConfigMaps') is one its program reads; every address
 * points at a Service; the network policies allow exactly the calls the
 * configuration names; every Secret key is documented. Schemas: see
 * k8s-schemas.test.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { K8S, type K8sObject, KUSTOMIZATIONS, OVERLAYS, ofKind, ROOT, render } from '../support/k8s.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

interface Probe {
  grpc?: { port: number };
  httpGet?: { path: string; port: number | string; scheme?: string };
}

interface Container {
  name: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

interface PodSpec {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  volumes?: Array<{ name: string; emptyDir?: unknown; secret?: { secretName: string } }>;
}

/** The secrets the pods may read, by name, with their keys. */
const SECRETS: Record<string, string[]> = {
  'lgsp-secrets': ['nats-url', 'master-key'],
  // Written by the CloudNativePG operator for the Cluster's owner role.
  'lgsp-db-app': ['uri'],
};
const SECRET_VOLUMES = ['lgsp-gateway-tls'];

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

/** The program a container runs, e.g. `services/storage/src/main.ts`. */
function scriptOf(container: Container): string {
  const script = container.args?.find((arg) => arg.endsWith('.ts'));
  if (script === undefined) throw new Error(`container ${container.name} runs no TypeScript program`);
  return script;
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

/** Every variable the container gets, with its value when it is a plain one (ConfigMaps resolved). */
function effectiveEnv(objects: readonly K8sObject[], container: Container): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    expect(name, `${container.name}: envFrom takes ConfigMaps only`).toBeDefined();
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    expect(configMap, `${container.name}: ConfigMap ${name}`).toBeDefined();
    for (const [key, value] of Object.entries(configMap!.data ?? {})) env.set(key, value);
  }
  for (const e of container.env ?? []) env.set(e.name, e.value);
  return env;
}

const PORT_OF_SERVICE = (objects: readonly K8sObject[], name: string): number[] =>
  (objects.find((o) => o.kind === 'Service' && o.metadata.name === name)?.spec.ports ?? []).map(
    (p: { port: number }) => p.port,
  );

// ---- network policies, evaluated as the API documents them (same namespace) ----

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

interface Peer {
  labels: Record<string, string>;
  namespace: string;
  namespaceLabels: Record<string, string>;
}

function matches(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && e.values!.includes(value!))) return false;
    if (e.operator === 'NotIn' && has && e.values!.includes(value!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

interface PolicyPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}

function peerMatches(rule: PolicyPeer, peer: Peer, policyNamespace: string): boolean {
  if (rule.ipBlock !== undefined) return false; // pods are not reached through ipBlocks here
  const inNamespace =
    rule.namespaceSelector === undefined
      ? peer.namespace === policyNamespace
      : matches(rule.namespaceSelector, peer.namespaceLabels);
  return inNamespace && matches(rule.podSelector, peer.labels);
}

interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: Array<{ port?: number; protocol?: string }>;
}

function ruleAllows(rule: PolicyRule, peers: PolicyPeer[] | undefined, peer: Peer, port: number, ns: string) {
  const portOk = rule.ports === undefined || rule.ports.some((p) => p.port === undefined || p.port === port);
  const peerOk = peers === undefined || peers.some((p) => peerMatches(p, peer, ns));
  return portOk && peerOk;
}

/** Whether a TCP connection from `from` to `to`'s `port` passes every policy, both ends. */
function connectionAllowed(policies: readonly K8sObject[], from: Peer, to: Peer, port: number): boolean {
  const side = (pod: Peer, type: 'Ingress' | 'Egress', other: Peer): boolean => {
    const selecting = policies.filter(
      (p) =>
        (p.metadata.namespace ?? 'lgsp') === pod.namespace &&
        (p.spec.policyTypes as string[]).includes(type) &&
        matches(p.spec.podSelector, pod.labels),
    );
    if (selecting.length === 0) return true;
    return selecting.some((p) =>
      ((type === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []).some((rule: PolicyRule) =>
        ruleAllows(rule, type === 'Ingress' ? rule.from : rule.to, other, port, pod.namespace),
      ),
    );
  };
  return side(from, 'Egress', to) && side(to, 'Ingress', from);
}

// ---- the tests ----

describe('deploy/k8s', () => {
  it('renders every kustomization, and every manifest file belongs to one', () => {
    const referenced = new Set<string>();
    const walk = (dir: string) => {
      const file = join(K8S, dir, 'kustomization.yaml');
      const k = parse(readFileSync(file, 'utf8')) as {
        resources?: string[];
        components?: string[];
        patches?: Array<{ path?: string }>;
        configMapGenerator?: Array<{ envs?: string[] }>;
      };
      for (const r of k.resources ?? []) {
        const path = join(K8S, dir, r);
        if (existsSync(join(path, 'kustomization.yaml'))) walk(relative(K8S, path));
        else referenced.add(relative(K8S, path));
      }
      for (const c of k.components ?? []) walk(relative(K8S, join(K8S, dir, c)));
      for (const p of k.patches ?? []) if (p.path) referenced.add(relative(K8S, join(K8S, dir, p.path)));
      for (const g of k.configMapGenerator ?? [])
        for (const e of g.envs ?? []) referenced.add(relative(K8S, join(K8S, dir, e)));
    };
    for (const dir of KUSTOMIZATIONS) {
      expect(render(dir).length, dir).toBeGreaterThan(0);
      walk(dir);
    }
    walk('components/ingress-nginx-passthrough');
    const files = readdirSync(K8S, { recursive: true, encoding: 'utf8' }).filter(
      (f) =>
        (f.endsWith('.yaml') || f.endsWith('.env')) &&
        !f.endsWith('kustomization.yaml') &&
        !f.startsWith('nats/'),
    );
    for (const file of files) expect(referenced.has(file), `${file} is used by a kustomization`).toBe(true);
  });

  it('puts everything in the lgsp namespace', () => {
    for (const dir of KUSTOMIZATIONS)
      for (const o of render(dir).filter((o) => o.kind !== 'Namespace'))
        expect(o.metadata.namespace, `${dir}: ${o.kind} ${o.metadata.name}`).toBe('lgsp');
  });

  describe.each(OVERLAYS)('overlay %s', (overlay) => {
    const objects = render(overlay);
    const deployments = ofKind(objects, 'Deployment');
    const production = overlay.endsWith('production');

    it('deploys a program for every service and the gateway', () => {
      const programs = deployments.map((d) => scriptOf(d.spec.template.spec.containers[0]));
      const expected = readdirSync(join(ROOT, 'services'))
        .filter((name) => existsSync(join(ROOT, 'services', name, 'src', 'main.ts')))
        .map((name) => `services/${name}/src/main.ts`)
        .concat('gateway/src/main.ts');
      expect(programs.sort()).toEqual(expected.sort());
      for (const d of deployments) {
        const container = d.spec.template.spec.containers[0] as Container;
        expect(container.args, d.metadata.name).toEqual([scriptOf(container)]);
        expect(d.spec.template.spec.containers, 'one container').toHaveLength(1);
      }
      const images = new Set(deployments.map((d) => d.spec.template.spec.containers[0].image));
      expect(images.size, 'one image for every Deployment').toBe(1);
    });

    describe.each(deployments.map((d) => [d.metadata.name, d] as const))('Deployment %s', (name, d) => {
      const spec = d.spec;
      const template = spec.template;
      const pod = template.spec as PodSpec;
      const container = pod.containers[0]!;

      it('carries the labels the selector and the network policies rely on', () => {
        expect(spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': name });
        expect(template.metadata.labels).toMatchObject({
          'app.kubernetes.io/name': name,
          'app.kubernetes.io/part-of': 'lgsp',
        });
        expect(template.metadata.labels['lgsp/tier']).toBe(name === 'gateway' ? 'gateway' : 'service');
      });

      it('leaves the replica count to a HorizontalPodAutoscaler, and has a disruption budget', () => {
        expect(spec.replicas, 'spec.replicas would fight the autoscaler at every apply').toBeUndefined();
        const hpas = ofKind(objects, 'HorizontalPodAutoscaler').filter(
          (h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name,
        );
        expect(hpas).toHaveLength(1);
        const hpa = hpas[0]!;
        expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(production ? 2 : 1);
        expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
        expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
        // A CPU utilisation target needs a CPU request.
        expect(container.resources?.requests?.['cpu']).toBeDefined();
        const pdbs = ofKind(objects, 'PodDisruptionBudget').filter((p) =>
          matches(p.spec.selector, template.metadata.labels),
        );
        expect(pdbs).toHaveLength(1);
        // maxUnavailable (not minAvailable) never blocks a drain at one replica.
        expect(pdbs[0]!.spec.maxUnavailable).toBe(1);
      });

      it('has startup, readiness and liveness probes on its own port', () => {
        for (const key of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
          const probe = container[key];
          expect(probe, key).toBeDefined();
          const port = probe!.grpc?.port ?? probe!.httpGet?.port;
          expect(containerPort(container, port), `${key} port ${port}`).toBeDefined();
        }
        expect(container.livenessProbe!.httpGet?.path).toBe('/healthz');
        expect(container.startupProbe!.httpGet?.path).toBe('/healthz');
        // Readiness checks the dependencies: /readyz, or gRPC health (the same check).
        if (container.readinessProbe!.grpc === undefined)
          expect(container.readinessProbe!.httpGet?.path).toBe('/readyz');
        expect(container.resources?.requests?.['memory']).toBeDefined();
        expect(container.resources?.limits?.['memory']).toBeDefined();
      });

      it('runs as a non-root user on a read-only root filesystem, with /tmp writable', () => {
        expect(pod.securityContext?.['runAsNonRoot']).toBe(true);
        expect(container.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(tmp, 'a volume at /tmp (tsx keeps its cache there)').toBeDefined();
        expect(pod.volumes?.find((v) => v.name === tmp!.name)?.emptyDir).toBeDefined();
      });

      it('listens where its Service sends traffic', () => {
        const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
        expect(service, `Service ${name}`).toBeDefined();
        expect(service!.spec.selector).toEqual({ 'app.kubernetes.io/name': name });
        const listening = Number(effectiveEnv(objects, container).get('PORT'));
        expect(container.ports?.map((p) => p.containerPort)).toEqual([listening]);
        for (const port of service!.spec.ports) {
          expect(containerPort(container, port.targetPort ?? port.port), `targetPort of ${name}`).toBe(
            listening,
          );
        }
        if (name !== 'gateway') {
          // Headless, so that grpc-js sees every pod and balances over them.
          expect(service!.spec.clusterIP).toBe('None');
          expect(PORT_OF_SERVICE(objects, name)).toEqual([listening]);
        }
      });

      it('gets only variables its program reads', () => {
        const script = scriptOf(container);
        const unread = [...effectiveEnv(objects, container).keys()].filter((n) => !programReads(script, n));
        expect(unread, `read by neither ${script.split('/src/')[0]}/src nor lib`).toEqual([]);
      });

      it('gets the address of every service its program reads one of', () => {
        const env = effectiveEnv(objects, container);
        const srcDir = scriptOf(container).split('/src/')[0] + '/src';
        const read = [...sourcesUnder(srcDir).matchAll(/'([A-Z]+_ADDR)'/g)].map((m) => m[1]!);
        for (const variable of read) expect(env.has(variable), variable).toBe(true);
      });
    });

    it('points every address at a Service of the manifests, on its port', () => {
      for (const d of deployments) {
        const env = effectiveEnv(objects, d.spec.template.spec.containers[0]);
        for (const [variable, value] of env) {
          if (!variable.endsWith('_ADDR')) continue;
          const match = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$/.exec(value ?? '');
          expect(match, `${d.metadata.name}: ${variable}=${value}`).not.toBeNull();
          const [, host, namespace, port] = match!;
          expect(namespace).toBe('lgsp');
          expect(PORT_OF_SERVICE(objects, host!), `${d.metadata.name}: ${variable}`).toContain(Number(port));
        }
      }
    });

    it('lets through exactly the calls the configuration names, and the public port only to the gateway', () => {
      const policies = ofKind(objects, 'NetworkPolicy');
      const lgsp = { 'kubernetes.io/metadata.name': 'lgsp' };
      const podOf = (labels: Record<string, string>): Peer => ({
        labels,
        namespace: 'lgsp',
        namespaceLabels: lgsp,
      });
      const job = render('create-admin')[0]!;
      const pods = [...deployments, job].map((o) => ({
        name: o.metadata.name,
        peer: podOf(o.spec.template.metadata.labels),
        env: effectiveEnv(objects, o.spec.template.spec.containers[0]),
        port: Number(effectiveEnv(objects, o.spec.template.spec.containers[0]).get('PORT')),
      }));
      for (const p of pods) expect(p.peer.labels['lgsp/tier'], p.name).toBeDefined();
      const postgres = podOf({ 'cnpg.io/cluster': 'lgsp-db', 'cnpg.io/podRole': 'instance' });
      const nats = podOf({ 'app.kubernetes.io/name': 'nats', 'lgsp/tier': 'nats' });
      const outsider: Peer = {
        labels: { 'app.kubernetes.io/name': 'ingress-nginx' },
        namespace: 'ingress',
        namespaceLabels: { 'kubernetes.io/metadata.name': 'ingress' },
      };
      const operator: Peer = {
        labels: { 'app.kubernetes.io/name': 'cloudnative-pg' },
        namespace: 'cnpg-system',
        namespaceLabels: { 'kubernetes.io/metadata.name': 'cnpg-system' },
      };
      const calls = (from: (typeof pods)[number], to: (typeof pods)[number]) =>
        [...from.env.entries()].some(([k, v]) => k.endsWith('_ADDR') && v?.startsWith(`${to.name}.`));
      for (const from of pods) {
        for (const to of pods) {
          if (Number.isNaN(to.port) || from === to) continue;
          expect(
            connectionAllowed(policies, from.peer, to.peer, to.port),
            `${from.name} -> ${to.name}:${to.port}`,
          ).toBe(calls(from, to));
        }
        expect(connectionAllowed(policies, from.peer, postgres, 5432), `${from.name} -> postgres`).toBe(
          from.env.has('DATABASE_URL'),
        );
        expect(connectionAllowed(policies, from.peer, nats, 4222), `${from.name} -> nats`).toBe(
          from.env.has('NATS_URL'),
        );
        if (!Number.isNaN(from.port))
          expect(connectionAllowed(policies, outsider, from.peer, from.port), `outside -> ${from.name}`).toBe(
            from.name === 'gateway',
          );
      }
      expect(connectionAllowed(policies, outsider, nats, 4222), 'outside -> nats').toBe(false);
      expect(connectionAllowed(policies, outsider, postgres, 5432), 'outside -> postgres').toBe(false);
      expect(connectionAllowed(policies, nats, nats, 6222), 'nats routes').toBe(true);
      expect(connectionAllowed(policies, postgres, postgres, 5432), 'replication').toBe(true);
      expect(connectionAllowed(policies, operator, postgres, 8000), 'the CNPG operator').toBe(true);
    });

    it('takes secrets only from lgsp-secrets and the Cluster, under keys docs/deploy.md documents', () => {
      const docs = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
      const pods = [...deployments, ...render('create-admin')].map((o) => o.spec.template.spec as PodSpec);
      for (const pod of pods) {
        for (const env of pod.containers.flatMap((c) => c.env ?? [])) {
          const ref = env.valueFrom?.secretKeyRef;
          if (ref === undefined) continue;
          expect(SECRETS[ref.name]?.includes(ref.key), `${env.name}: ${ref.name}/${ref.key}`).toBe(true);
          expect(docs, `docs/deploy.md documents ${ref.key}`).toContain(`\`${ref.key}\``);
          expect(docs).toContain(`\`${ref.name}\``);
        }
        for (const volume of pod.volumes ?? []) {
          if (volume.secret === undefined) continue;
          expect(SECRET_VOLUMES).toContain(volume.secret.secretName);
          expect(docs).toContain(`\`${volume.secret.secretName}\``);
        }
      }
    });

    it('keeps the Postgres connections within max_connections', () => {
      const cluster = ofKind(objects, 'Cluster')[0]!;
      const withDatabase = deployments.filter((d) =>
        effectiveEnv(objects, d.spec.template.spec.containers[0]).has('DATABASE_URL'),
      );
      const maxPods = withDatabase
        .map(
          (d) =>
            ofKind(objects, 'HorizontalPodAutoscaler').find(
              (h) => h.spec.scaleTargetRef.name === d.metadata.name,
            )!.spec.maxReplicas as number,
        )
        .reduce((a, b) => a + b, 0);
      // Each process's pool holds up to 10 connections (lib/db/database.ts), plus the Job's and a margin.
      expect(maxPods * 10 + 10 + 20).toBeLessThanOrEqual(
        Number(cluster.spec.postgresql.parameters.max_connections),
      );
    });

    it('asks JetStream for no more copies than the NATS values give nodes', () => {
      const values = parse(
        readFileSync(join(K8S, 'nats', production ? 'values.yaml' : 'values-dev.yaml'), 'utf8'),
      );
      const nodes = values.config.cluster.enabled ? values.config.cluster.replicas : 1;
      expect(values.config.jetstream.enabled).toBe(true);
      expect(values.config.jetstream.fileStore.enabled).toBe(true);
      expect(values.podTemplate.merge.metadata.labels['lgsp/tier']).toBe('nats');
      const data = (name: string) =>
        objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(`${name}-`))!.data!;
      for (const copies of [
        data('lgsp-storage')['LGSP_BLOB_NATS_REPLICAS'],
        data('lgsp-notification')['LGSP_PRESENCE_KV_REPLICAS'],
      ])
        expect(Number(copies)).toBe(nodes);
      if (production) expect(nodes).toBe(3);
    });

    it('replicates Postgres synchronously in production', () => {
      const cluster = ofKind(objects, 'Cluster')[0]!;
      expect(cluster.metadata.name).toBe('lgsp-db');
      if (production) {
        expect(cluster.spec.instances).toBe(3);
        expect(cluster.spec.postgresql.synchronous.number).toBeGreaterThanOrEqual(1);
      }
    });
  });

  describe('production overlay', () => {
    const objects = render('overlays/production');
    const gateway = ofKind(objects, 'Deployment').find((d) => d.metadata.name === 'gateway')!;
    const container = gateway.spec.template.spec.containers[0] as Container;

    it('serves TLS at the gateway from the Secret lgsp-gateway-tls, probed over HTTPS', () => {
      const env = effectiveEnv(objects, container);
      const cert = env.get('LGSP_TLS_CERT_FILE')!;
      const key = env.get('LGSP_TLS_KEY_FILE')!;
      const mount = container.volumeMounts!.find((m) => cert.startsWith(`${m.mountPath}/`))!;
      expect(mount).toBeDefined();
      expect(key.startsWith(`${mount.mountPath}/`)).toBe(true);
      const volume = (gateway.spec.template.spec as PodSpec).volumes!.find((v) => v.name === mount.name)!;
      expect(volume.secret?.secretName).toBe('lgsp-gateway-tls');
      for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe])
        expect(probe!.httpGet?.scheme).toBe('HTTPS');
    });

    it('routes the public host to the gateway Service port', () => {
      const routes = ofKind(objects, 'TLSRoute');
      expect(routes).toHaveLength(1);
      const ports = PORT_OF_SERVICE(objects, 'gateway');
      for (const ref of routes[0]!.spec.rules.flatMap((r: { backendRefs: unknown[] }) => r.backendRefs))
        expect(ports).toContain((ref as { port: number }).port);
      const ssoIssuer = objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('lgsp-sso-'),
      )!.data!['LGSP_SSO_ISSUER']!;
      expect(routes[0]!.spec.hostnames).toContain(new URL(ssoIssuer).hostname);
    });
  });
});
