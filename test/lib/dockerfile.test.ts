/**
 * The Dockerfile, checked without a Docker engine: it installs the production
 * dependencies from the lockfile, copies every folder the programs of the
 * manifests import (followed file by file from each entry point), and every
 * package they import at run time is a production dependency; it runs as the
 * non-root user the pods run as, and leaves health to Kubernetes' probes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ofKind, ROOT, render } from '../support/k8s.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  engines: { node: string };
  imports: Record<string, string>;
};

/** Every program the manifests run, with the other command-line tools of the image. */
function entryPoints(): string[] {
  const pods = [...ofKind(render('overlays/production'), 'Deployment'), ...render('create-admin')];
  const scripts = pods.map(
    (o) => (o.spec.template.spec.containers[0].args as string[]).find((a) => a.endsWith('.ts'))!,
  );
  return [...new Set([...scripts, 'services/auth/src/bin/verify-audit.ts'])];
}

/** Follows the runtime imports from the entry points: the files reached and the packages named. */
function importGraph(entries: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [...entries];
  const builtins = new Set(builtinModules);
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    if (!file.endsWith('.ts')) continue;
    const source = readFileSync(join(ROOT, file), 'utf8');
    // Runtime imports only: `import type` and `export type` vanish when tsx strips the types.
    const specifiers = [
      ...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm),
      ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specifiers) {
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      let target: string | undefined;
      if (spec.startsWith('.')) target = relative(ROOT, join(ROOT, dirname(file), spec));
      else if (spec.startsWith('#')) {
        const key = Object.keys(pkg.imports).find((k) =>
          k.endsWith('*') ? spec.startsWith(k.slice(0, -1)) : spec === k,
        );
        expect(key, `${file}: ${spec} is in package.json "imports"`).toBeDefined();
        const mapped = pkg.imports[key!]!;
        target = key!.endsWith('*')
          ? mapped.replace('*', spec.slice(key!.length - 1)).replace(/^\.\//, '')
          : mapped.replace(/^\.\//, '');
      } else {
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
        continue;
      }
      const candidates = [target, target.replace(/\.js$/, '.ts'), `${target}.ts`, join(target, 'index.ts')];
      const found = candidates.find((c) => existsSync(join(ROOT, c)) && !c.endsWith('/'));
      expect(found, `${file} imports ${spec}`).toBeDefined();
      pending.push(found!);
    }
  }
  return { files, packages };
}

describe('Dockerfile', () => {
  const { files, packages } = importGraph(entryPoints());

  it('builds on Node.js 20 in a stage that runs npm ci with the lockfile, production dependencies only', () => {
    const froms = instructions.filter((i) => i.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(image).toMatch(/^node:20[.-]/);
    expect(pkg.engines.node).toMatch(/^>=20/);
    const ci = instructions.findIndex((i) => i.startsWith('RUN ') && /\bnpm ci\b/.test(i));
    expect(ci, 'RUN npm ci').toBeGreaterThan(0);
    expect(instructions[ci]).toMatch(/--omit=dev/);
    const lock = instructions.findIndex((i) => /^COPY .*package-lock\.json/.test(i));
    expect(lock, 'the lockfile is copied before npm ci').toBeGreaterThanOrEqual(0);
    expect(lock).toBeLessThan(ci);
    expect(instructions.some((i) => /^COPY --from=\S+ \/app\/node_modules/.test(i))).toBe(true);
  });

  it('copies every folder the programs import', () => {
    const copied = instructions
      .filter((i) => i.startsWith('COPY ') && !i.startsWith('COPY --from'))
      .flatMap((i) => i.split(/\s+/).slice(1, -1));
    const needed = new Set([...files].map((f) => f.split('/')[0]!));
    expect(needed.size).toBeGreaterThan(3);
    for (const dir of needed) expect(copied, `COPY ${dir}`).toContain(dir);
    // gen/openapi is read from disk by the gateway at run time.
    expect(copied).toContain('gen');
  });

  it('lets the copied folders through .dockerignore', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignore).toContain('*');
    for (const dir of new Set([...files].map((f) => f.split('/')[0]!))) expect(ignore).toContain(`!${dir}/`);
    for (const f of ['package.json', 'package-lock.json']) expect(ignore).toContain(`!${f}`);
  });

  it('needs at run time only production dependencies', () => {
    expect(packages.size).toBeGreaterThan(5);
    const missing = [...packages].filter((p) => pkg.dependencies[p] === undefined);
    expect(missing, 'imported at run time but not in "dependencies"').toEqual([]);
    expect(pkg.dependencies['tsx'], 'the programs run through tsx').toBeDefined();
  });

  it('runs as the non-root user the pods run as, with the program as the argument', () => {
    const user = instructions.filter((i) => i.startsWith('USER ')).at(-1);
    expect(user).toMatch(/^USER \d+:\d+$/);
    const [uid, gid] = user!.slice(5).split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    for (const d of ofKind(render('overlays/production'), 'Deployment')) {
      expect(d.spec.template.spec.securityContext.runAsUser, d.metadata.name).toBe(uid);
      expect(d.spec.template.spec.securityContext.runAsGroup, d.metadata.name).toBe(gid);
    }
    expect(instructions).toContain('ENTRYPOINT ["node", "--import", "tsx"]');
    expect(instructions.some((i) => i.startsWith('HEALTHCHECK'))).toBe(false);
  });
});
