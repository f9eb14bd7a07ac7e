// Component-test harness: a real MinIO (started once per test file) and gateway apps built on
// it with a fake inference client, each listening on a free port (port 0).
import type { AddressInfo } from 'node:net';
import { Client } from 'minio';
import { pino } from 'pino';
import { startTestStack, type TestStack } from '../../../scripts/stack/test-stack.js';
import { composeGateway, type Gateway } from '../../src/compose.js';
import { type Config, loadConfig } from '../../src/config.js';
import { MinioStore, minioClient } from '../../src/storage/minio-store.js';
import {
  type ObjectStore,
  type PutOptions,
  StorageUnavailableError,
} from '../../src/storage/object-store.js';
import { FakeInference } from './fake-inference.js';

export interface RunningGateway {
  url: string;
  gateway: Gateway;
  inference: FakeInference;
  config: Config;
  close(): Promise<void>;
}

export async function startMinio(): Promise<TestStack> {
  return startTestStack(['minio']);
}

/** Gateway settings for tests: the stack's MinIO, fast reconciliation, quiet logs. */
export function testConfig(stack: TestStack, overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ...stack.env,
    LOG_LEVEL: 'silent',
    RECONCILE_INTERVAL_MS: '100',
    ...overrides,
  });
}

export interface GatewayOptions {
  inference?: FakeInference;
  /** Instead of the MinIO adapter over the stack's MinIO (e.g. one that fails some writes). */
  store?: ObjectStore;
  /** Run the reconciler loop (off by default: tests then drive rounds with runOnce). */
  reconcile?: boolean;
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<RunningGateway> {
  const inference = options.inference ?? new FakeInference();
  const gateway = composeGateway(config, {
    inference,
    store: options.store,
    validateResponses: true,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  const server = gateway.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  if (options.reconcile) gateway.reconciler.start();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    gateway,
    inference,
    config,
    close: async () => {
      await gateway.reconciler.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A plain MinIO client, for tests that look at what the gateway stored. */
export function storageClient(config: Config): Client {
  return minioClient(config);
}

/** Every object key in a bucket (none if the bucket does not exist yet). */
export async function objectKeys(client: Client, bucket: string): Promise<string[]> {
  if (!(await client.bucketExists(bucket))) return [];
  const keys: string[] = [];
  for await (const item of client.listObjectsV2(bucket, '', true)) if (item.name) keys.push(item.name);
  return keys.sort();
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The MinIO adapter over the stack's MinIO, except that PUTs `refused` picks fail as MinIO's would
 * and PUTs `held` picks wait for `hold`.
 */
export class RefusingStore implements ObjectStore {
  private readonly real: MinioStore;

  /** While set, PUTs `held` picks wait for it before they go to MinIO. */
  hold: Promise<void> | undefined;

  constructor(
    config: Config,
    private readonly refused: (bucket: string, key: string) => boolean,
    private readonly held: (bucket: string, key: string) => boolean = () => false,
  ) {
    this.real = new MinioStore(minioClient(config), [config.IMAGES_BUCKET, config.TASKS_BUCKET]);
  }

  ping = () => this.real.ping();
  get = (bucket: string, key: string) => this.real.get(bucket, key);
  exists = (bucket: string, key: string) => this.real.exists(bucket, key);
  remove = (bucket: string, key: string) => this.real.remove(bucket, key);
  removeMany = (bucket: string, keys: string[]) => this.real.removeMany(bucket, keys);
  list = (bucket: string, prefix: string, limit: number) => this.real.list(bucket, prefix, limit);

  async put(bucket: string, key: string, body: Buffer, options?: PutOptions): Promise<string> {
    if (this.held(bucket, key)) await this.hold;
    if (this.refused(bucket, key))
      throw new StorageUnavailableError(`object storage refused ${bucket}/${key} (test)`);
    return this.real.put(bucket, key, body, options);
  }
}
