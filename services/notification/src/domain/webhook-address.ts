/**
 * Which webhook URLs may be registered, and which addresses the platform may
 * call. A webhook URL is https, or http on a loopback host for development.
 * Whatever the URL says, the address actually connected to is checked when
 * the call is made (a name may resolve anywhere, and resolve differently
 * later): private, link-local, shared and reserved ranges are refused unless
 * the operator allows a network (LGSP_WEBHOOK_ALLOWED_NETWORKS, e.g. the
 * provincial WAN), and loopback unless LGSP_WEBHOOK_ALLOW_LOOPBACK is set.
 * Otherwise anyone able to register a webhook could make the platform call
 * its own internal services or a cloud metadata endpoint.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

export const WEBHOOK_URL_MAX = 2048;

/** Ranges no webhook may reach unless allowed by name: RFC 6890 special-purpose blocks. */
const FORBIDDEN_V4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const FORBIDDEN_V6: ReadonlyArray<readonly [string, number]> = [
  ['::', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
];

export interface AddressPolicy {
  readonly allowLoopback: boolean;
  /** Networks allowed although they lie in a forbidden range, as `address/prefix`. */
  readonly allowedNetworks: readonly string[];
}

/** Parses `10.0.0.0/8, 2001:db8::/32`; returns the problems found, none when all parse. */
export function checkNetworks(networks: readonly string[]): string[] {
  const problems: string[] = [];
  for (const network of networks) {
    if (parseNetwork(network) === undefined) problems.push(`"${network}" is not a network like 10.20.0.0/16`);
  }
  return problems;
}

function parseNetwork(
  network: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(network.trim());
  if (match === null) return undefined;
  const address = match[1]!;
  const prefix = Number(match[2]);
  const version = isIP(address);
  if (version === 0 || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Decides, for one policy, whether an address may be called. */
export class AddressGuard {
  readonly #forbidden = new BlockList();
  readonly #loopback = new BlockList();
  readonly #allowed = new BlockList();
  readonly #allowLoopback: boolean;

  constructor(policy: AddressPolicy) {
    this.#allowLoopback = policy.allowLoopback;
    for (const [address, prefix] of FORBIDDEN_V4) this.#forbidden.addSubnet(address, prefix, 'ipv4');
    for (const [address, prefix] of FORBIDDEN_V6) this.#forbidden.addSubnet(address, prefix, 'ipv6');
    this.#loopback.addSubnet('127.0.0.0', 8, 'ipv4');
    this.#loopback.addAddress('::1', 'ipv6');
    for (const network of policy.allowedNetworks) {
      const parsed = parseNetwork(network);
      if (parsed !== undefined) this.#allowed.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }

  /** Why `address` may not be called, or undefined when it may. */
  refusal(address: string): string | undefined {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (this.#loopback.check(address, family)) {
      return this.#allowLoopback ? undefined : `${address} is a loopback address`;
    }
    if (this.#forbidden.check(address, family) && !this.#allowed.check(address, family)) {
      return `${address} is in a private or reserved range`;
    }
    return undefined;
  }

  /**
   * A `lookup` for http(s).request that resolves as usual and hands on only
   * the addresses this guard allows; none allowed fails with
   * `AddressForbiddenError`. Literal IP hosts never reach a lookup: check them
   * with `refusal` first.
   */
  readonly lookup = (
    hostname: string,
    options: { family?: number | 'IPv4' | 'IPv6'; all?: boolean; hints?: number },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(
      hostname,
      { ...options, all: true },
      (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
        if (err !== null) {
          callback(err, []);
          return;
        }
        const allowed = addresses.filter((a) => this.refusal(a.address) === undefined);
        const first = allowed[0];
        if (first === undefined) {
          const reasons = addresses.map((a) => this.refusal(a.address)).join('; ');
          callback(
            new AddressForbiddenError(`${hostname} resolves only to forbidden addresses: ${reasons}`),
            [],
          );
          return;
        }
        if (options.all === true) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
    );
  };
}

export class AddressForbiddenError extends Error {
  override name = 'AddressForbiddenError';
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The problem with a webhook URL given by a client, or undefined when it is acceptable. */
export function webhookUrlProblem(raw: string): string | undefined {
  if (raw.length > WEBHOOK_URL_MAX) return `must be at most ${WEBHOOK_URL_MAX} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials: the platform signs its calls instead';
  }
  if (url.hash !== '') return 'must not have a fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    const loopback =
      LOOPBACK_HOSTS.has(url.hostname) || (isIP(url.hostname) === 4 && url.hostname.startsWith('127.'));
    return loopback ? undefined : 'must be https; http is allowed only on localhost, for development';
  }
  return 'must be an https URL';
}
