// Component-test harness: a real MinIO (started once per test file) and gateway apps built on
// it with a fake inference client, each listening on a free port (port 0).
import type { AddressInfo } from 'node:net';
import { Client } from 'minio';
import { pino } from 'pino';
import { startTestStack, type TestStack } from '../../../scripts/stack/test-stack.js';
import { composeGateway, type Gateway } from '../../src/compose.js';
import { type Config, loadConfig } from '../../src/config.js';
import { minioClient } from '../../src/storage/minio-store.js';
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
  /** Run the reconciler loop (off by default: tests then drive rounds with runOnce). */
  reconcile?: boolean;
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<RunningGateway> {
  const inference = options.inference ?? new FakeInference();
  const gateway = composeGateway(config, {
    inference,
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
