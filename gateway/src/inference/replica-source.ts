// Where the BentoML replicas are: a fixed list (BENTOML_URLS, or the one BENTOML_URL), or every
// address a DNS name resolves to (BENTOML_DNS=host:port, e.g. a headless Kubernetes Service,
// whose name resolves to one address per ready pod), resolved again every few seconds.
import dns from 'node:dns';

export interface ReplicaSource {
  /** The replicas' base URLs, as known now. */
  urls(): string[];
  stop(): void;
}

export function fixedReplicas(urls: string[]): ReplicaSource {
  const normalized = urls.map((u) => u.replace(/\/+$/, ''));
  return { urls: () => normalized, stop: () => {} };
}

export type Lookup = (host: string) => Promise<string[]>;

/** Every A and AAAA record of `host`, through the system resolver (so /etc/hosts too). */
const systemLookup: Lookup = async (host) =>
  (await dns.promises.lookup(host, { all: true })).map((a) => a.address);

export interface DnsOptions {
  intervalMs: number;
  lookup?: Lookup;
  /** A failed resolution (the last addresses known stay in use). */
  onError?: (err: Error) => void;
}

export class DnsReplicas implements ReplicaSource {
  private known: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly lookup: Lookup;
  /** Settles once the first resolution is done (no replica is known before). */
  readonly resolved: Promise<void>;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly options: DnsOptions,
  ) {
    this.lookup = options.lookup ?? systemLookup;
    this.resolved = this.resolve();
    this.timer = setInterval(() => void this.resolve(), options.intervalMs).unref();
  }

  urls(): string[] {
    return this.known;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async resolve(): Promise<void> {
    try {
      const addresses = [...new Set(await this.lookup(this.target.host))].sort();
      const { port } = this.target;
      this.known = addresses.map((a) => `http://${a.includes(':') ? `[${a}]` : a}:${port}`);
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }
}
