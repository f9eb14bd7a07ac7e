// MinIO adapter of the ObjectStore port.
import { Client } from 'minio';
import type { Config } from '../config.js';
import { UpstreamError } from '../http/errors.js';
import type { ObjectStore } from './object-store.js';

export function minioClient(config: Config): Client {
  const url = new URL(config.MINIO_ENDPOINT);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port || (useSSL ? 443 : 80)),
    useSSL,
    accessKey: config.MINIO_ACCESS_KEY,
    secretKey: config.MINIO_SECRET_KEY,
    region: config.MINIO_REGION,
  });
}

export class MinioStore implements ObjectStore {
  constructor(private readonly client: Client) {}

  async ping(): Promise<void> {
    try {
      await this.client.listBuckets();
    } catch (err) {
      throw new UpstreamError('storage_unavailable', `MinIO is unreachable: ${(err as Error).message}`);
    }
  }
}
