/**
 * Every object the kustomizations of deploy/k8s render, validated offline
 * against the Kubernetes schemas:
 *
 * - core and built-in kinds (Deployment, Service, HorizontalPodAutoscaler,
 *   PodDisruptionBudget, NetworkPolicy, ConfigMap, Job, Ingress, ...) with the
 *   validators `kubernetes-models` compiles from the Kubernetes OpenAPI
 *   document (types, required fields, enums, formats);
 * - Gateway API kinds (Gateway, TLSRoute) with `@kubernetes-models/gateway-api`,
 *   compiled from the Gateway API CRDs;
 * - the CloudNativePG `Cluster`, for which no schema package exists, against
 *   the small schema below, written from the fields the CloudNativePG API
 *   reference documents for the ones these manifests use.
 *
 * Those schemas, like the API server's, accept unknown fields; a misspelt
 * field is caught by the TypeScript check at the end, which type-checks every
 * object against the `kubernetes-models` interfaces (an object literal with an
 * unknown property does not compile).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { K8S, type K8sObject, KUSTOMIZATIONS, parseYamlObjects, ROOT, render } from '../support/k8s.js';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** Where the model of an apiVersion lives: `apps/v1` → kubernetes-models/apps/v1. */
function modulePath(apiVersion: string): string | undefined {
  if (apiVersion === 'v1') return 'kubernetes-models/v1';
  const [group, version] = apiVersion.split('/');
  if (group === 'gateway.networking.k8s.io') return `@kubernetes-models/gateway-api/${group}/${version}`;
  if (group!.endsWith('.k8s.io') || !group!.includes('.')) return `kubernetes-models/${group}/${version}`;
  return undefined;
}

async function modelOf(o: K8sObject): Promise<ModelClass | undefined> {
  const path = modulePath(o.apiVersion);
  if (path === undefined) return undefined;
  const module = (await import(path)) as Record<string, ModelClass>;
  return module[o.kind];
}

const QUANTITY = '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$';

/** The CloudNativePG Cluster (postgresql.cnpg.io/v1), the fields used here, from the API reference. */
const cnpgCluster = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'postgresql.cnpg.io/v1' },
    kind: { const: 'Cluster' },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 50 } },
    },
    spec: {
      type: 'object',
      required: ['instances'],
      additionalProperties: false,
      properties: {
        description: { type: 'string' },
        instances: { type: 'integer', minimum: 1 },
        imageName: { type: 'string' },
        primaryUpdateStrategy: { enum: ['unsupervised', 'supervised'] },
        primaryUpdateMethod: { enum: ['switchover', 'restart'] },
        enableSuperuserAccess: { type: 'boolean' },
        postgresql: {
          type: 'object',
          additionalProperties: false,
          properties: {
            parameters: { type: 'object', additionalProperties: { type: 'string' } },
            synchronous: {
              type: 'object',
              required: ['method', 'number'],
              additionalProperties: false,
              properties: {
                method: { enum: ['any', 'first'] },
                number: { type: 'integer', minimum: 1 },
                dataDurability: { enum: ['required', 'preferred'] },
              },
            },
            pg_hba: { type: 'array', items: { type: 'string' } },
          },
        },
        bootstrap: {
          type: 'object',
          additionalProperties: false,
          properties: {
            initdb: {
              type: 'object',
              additionalProperties: false,
              properties: {
                database: { type: 'string' },
                owner: { type: 'string' },
                secret: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
              },
            },
          },
        },
        storage: { $ref: '#/$defs/storage' },
        walStorage: { $ref: '#/$defs/storage' },
        affinity: {
          type: 'object',
          additionalProperties: false,
          properties: {
            enablePodAntiAffinity: { type: 'boolean' },
            topologyKey: { type: 'string' },
            podAntiAffinityType: { enum: ['preferred', 'required'] },
            nodeSelector: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
        resources: {
          type: 'object',
          additionalProperties: false,
          properties: {
            requests: { type: 'object', additionalProperties: { type: 'string', pattern: QUANTITY } },
            limits: { type: 'object', additionalProperties: { type: 'string', pattern: QUANTITY } },
          },
        },
        monitoring: { type: 'object', properties: { enablePodMonitor: { type: 'boolean' } } },
      },
    },
  },
  $defs: {
    storage: {
      type: 'object',
      required: ['size'],
      additionalProperties: false,
      properties: {
        size: { type: 'string', pattern: QUANTITY },
        storageClass: { type: 'string' },
        resizeInUseVolumes: { type: 'boolean' },
      },
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: true });
const validateCluster = ajv.compile(cnpgCluster);

const rendered = KUSTOMIZATIONS.flatMap((dir) =>
  render(dir).map((o) => ({ where: `${dir}: ${o.kind} ${o.metadata.name}`, object: o })),
);
// The optional component, rendered on its own (it adds one resource).
const ingressComponent = parseYamlObjects(
  readFileSync(join(K8S, 'components', 'ingress-nginx-passthrough', 'ingress.yaml'), 'utf8'),
  'ingress.yaml',
).map((o) => ({ where: `component ingress-nginx-passthrough: ${o.kind}`, object: o }));
const all = [...rendered, ...ingressComponent];

describe('deploy/k8s against the Kubernetes schemas', () => {
  it('renders objects of known kinds only', async () => {
    const unknown: string[] = [];
    for (const { where, object } of all) {
      if (object.apiVersion === 'postgresql.cnpg.io/v1' && object.kind === 'Cluster') continue;
      if ((await modelOf(object)) === undefined) unknown.push(where);
    }
    expect(unknown).toEqual([]);
  });

  it.each(all.map((o) => [o.where, o.object] as const))('%s is valid', async (_where, object) => {
    if (object.kind === 'Cluster') {
      const ok = validateCluster(object);
      expect(ajv.errorsText(validateCluster.errors), 'CloudNativePG Cluster').toBe(ok ? 'No errors' : '');
      return;
    }
    const Model = (await modelOf(object))!;
    expect(() => new Model(object).validate()).not.toThrow();
  });

  it('catches an invalid object (the validators are live)', async () => {
    const deployment = structuredClone(all.find((o) => o.object.kind === 'Deployment')!.object);
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'grpc';
    const Model = (await modelOf(deployment))!;
    expect(() => new Model(deployment).validate()).toThrow(/containerPort/);
    const cluster = structuredClone(all.find((o) => o.object.kind === 'Cluster')!.object);
    cluster.spec.instance = 3;
    expect(validateCluster(cluster)).toBe(false);
  });

  it('has no misspelt or unknown fields (type-checked against the kubernetes-models interfaces)', () => {
    const typed = all.filter(({ object }) => object.kind !== 'Cluster');
    const imports = new Map<string, string>();
    const lines: string[] = [];
    typed.forEach(({ where, object }, i) => {
      const from = modulePath(object.apiVersion)!;
      const alias = `I${i}`;
      imports.set(alias, `import type { I${object.kind} as ${alias} } from '${from}';`);
      lines.push(`// ${where}\nexport const o${i}: ${alias} = ${JSON.stringify(object)};`);
    });
    const file = join(ROOT, 'test', 'lib', '__k8s-objects__.ts');
    const source = `${[...imports.values()].join('\n')}\n${lines.join('\n')}\n`;
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, version, ...rest) =>
      name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === file || fileExists(name);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === file ? source : readFile(name));
    const program = ts.createProgram([file], options, host);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file)
      .map((d) => {
        const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line;
        const where = source.split('\n')[line - 1] ?? '';
        return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      });
    expect(problems).toEqual([]);
  }, 120_000);
});
