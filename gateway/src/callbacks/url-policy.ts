// Which webhook URLs the gateway may call. Anyone who can POST a task names the URL, so the
// gateway must not become a way into its own network (SSRF): https to public addresses only,
// unless the host is listed in CALLBACK_ALLOWED_HOSTS, which also allows http. Every address the
// name resolves to is checked, at POST and again at each delivery (the name may change meanwhile),
// and the delivery connects to the address that was checked.
import dns from 'node:dns';
import net from 'node:net';
import { CallbackRefusedError } from './callback-sender.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

export type Lookup = (host: string) => Promise<ResolvedAddress[]>;

export const systemLookup: Lookup = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/** Loopback, private, link-local, shared, multicast and reserved ranges (IPv4 and IPv6). */
const notPublic = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  notPublic.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  notPublic.addSubnet(network, prefix, 'ipv6');

export function isPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return isPublicAddress(mapped);
  return !notPublic.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}

export class UrlPolicy {
  private readonly allowed: Set<string>;

  constructor(
    allowedHosts: string[],
    private readonly lookup: Lookup = systemLookup,
  ) {
    this.allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  }

  /** The URL, if its form may be called; its addresses are checked by `resolve`. */
  parse(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new CallbackRefusedError(`callback_url ${JSON.stringify(raw)} is not a URL`);
    }
    if (url.username || url.password) throw new CallbackRefusedError('callback_url may not hold credentials');
    const listed = this.isListed(url);
    if (url.protocol === 'https:' || (url.protocol === 'http:' && listed)) return url;
    throw new CallbackRefusedError(
      url.protocol === 'http:'
        ? `callback_url must be https (http only to hosts in CALLBACK_ALLOWED_HOSTS; ${url.hostname} is not)`
        : `callback_url must be an https URL, not ${url.protocol}`,
    );
  }

  /** The addresses to connect to: all public, unless the host is listed. */
  async resolve(url: URL): Promise<ResolvedAddress[]> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.lookup(host);
    } catch (err) {
      throw new CallbackRefusedError(`callback_url host ${host} does not resolve: ${(err as Error).message}`);
    }
    if (addresses.length === 0) throw new CallbackRefusedError(`callback_url host ${host} has no address`);
    if (this.isListed(url)) return addresses;
    const internal = addresses.find((a) => !isPublicAddress(a.address));
    if (internal)
      throw new CallbackRefusedError(
        `callback_url host ${host} resolves to ${internal.address}, a loopback, private or link-local ` +
          'address; list the host in CALLBACK_ALLOWED_HOSTS to allow it',
      );
    return addresses;
  }

  private isListed(url: URL): boolean {
    return this.allowed.has(url.hostname.replace(/^\[|\]$/g, '').toLowerCase());
  }
}
