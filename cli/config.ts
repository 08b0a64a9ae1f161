/**
 * Where the CLI finds the gateway and its key, first match wins:
 *
 * 1. `--profile <name>`: that profile of the config file;
 * 2. the environment: `LGSP_ACCESS_KEY_ID` and the rest (as `clients/shell/lgsp-call`);
 * 3. the config file's default profile (`LGSP_PROFILE`, else its `defaultProfile`, else `default`).
 *
 * `--url` (or `LGSP_URL`) overrides the profile's URL. The config file is
 * `$LGSP_CONFIG`, else `$XDG_CONFIG_HOME/lgsp/config.json`, else
 * `~/.config/lgsp/config.json`:
 *
 *     { "defaultProfile": "stc",
 *       "profiles": { "stc": { "url": "https://lgsp.example.gov.vn", "accessKeyId": "LGSP…", "secretKey": "…" } } }
 *
 * A profile may give `privateKeyFile` (and `algorithm: "RSA-SHA256"`) instead of `secretKey`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigurationError, type Credentials, checkAlgorithm, credentialsFromEnv } from './sdk.js';

export interface Profile {
  readonly url?: string;
  readonly accessKeyId?: string;
  readonly secretKey?: string;
  readonly privateKeyFile?: string;
  readonly algorithm?: string;
}

export interface ConfigFile {
  defaultProfile?: string;
  profiles: Record<string, Profile>;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  if (env['LGSP_CONFIG']) return env['LGSP_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'lgsp', 'config.json');
}

export function readConfig(path: string): ConfigFile {
  if (!existsSync(path)) return { profiles: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigurationError(`the config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const config = parsed as Partial<ConfigFile>;
  if (typeof config !== 'object' || config === null || typeof config.profiles !== 'object') {
    throw new ConfigurationError(`the config file ${path} must hold {"profiles": {"<name>": {...}}}`);
  }
  return config as ConfigFile;
}

export function writeConfig(path: string, config: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export interface Resolved {
  readonly url: string | undefined;
  readonly credentials: Credentials | null;
  /** Where they came from, for `lgsp whoami` and error messages. */
  readonly source: string;
}

export function resolveCredentials(
  env: NodeJS.ProcessEnv,
  flags: { profile?: string | undefined; url?: string | undefined },
): Resolved {
  const path = configPath(env);
  const fromEnv = flags.profile === undefined ? credentialsFromEnv(env) : undefined;
  if (fromEnv !== undefined) {
    return { url: flags.url ?? env['LGSP_URL'], credentials: fromEnv, source: 'the environment' };
  }
  const config = readConfig(path);
  const name = flags.profile ?? env['LGSP_PROFILE'] ?? config.defaultProfile ?? 'default';
  const profile = config.profiles[name];
  if (profile === undefined) {
    if (flags.profile !== undefined || env['LGSP_PROFILE'] !== undefined) {
      throw new ConfigurationError(
        `no profile "${name}" in ${path}; add one with: lgsp profile add ${name} --url … --access-key-id … --secret-key …`,
      );
    }
    return { url: flags.url ?? env['LGSP_URL'], credentials: null, source: 'no credentials' };
  }
  if (profile.accessKeyId === undefined) {
    throw new ConfigurationError(`profile "${name}" in ${path} has no accessKeyId`);
  }
  const credentials: Credentials = {
    accessKeyId: profile.accessKeyId,
    ...(profile.secretKey === undefined ? {} : { secretKey: profile.secretKey }),
    ...(profile.privateKeyFile === undefined ? {} : { privateKeyFile: profile.privateKeyFile }),
    ...(profile.algorithm === undefined
      ? {}
      : { algorithm: checkAlgorithm(profile.algorithm, `profile "${name}": algorithm`) }),
  };
  return {
    url: flags.url ?? env['LGSP_URL'] ?? profile.url,
    credentials,
    source: `profile "${name}" of ${path}`,
  };
}
