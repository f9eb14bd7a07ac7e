// MinIO access for the CLI: one client factory and the few object helpers the commands share.
import { Client, S3Error } from 'minio';
import type { CliConfig } from './config.js';

export function minioClient(config: CliConfig): Client {
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

const MISSING = new Set(['NoSuchKey', 'NoSuchBucket', 'NotFound', 'NoSuchObject']);

export function isMissing(err: unknown): boolean {
  return err instanceof S3Error && MISSING.has(String(err.code));
}

/** Creates the bucket unless it exists; safe when several processes race to create it. */
export async function ensureBucket(client: Client, bucket: string): Promise<void> {
  if (await client.bucketExists(bucket)) return;
  try {
    await client.makeBucket(bucket);
  } catch (err) {
    const code = err instanceof S3Error ? String(err.code) : '';
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(code)) throw err;
  }
}

/** The object's bytes, or null when it (or its bucket) does not exist. */
export async function readObject(client: Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const stream = await client.getObject(bucket, key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

export interface ObjectInfo {
  size: number;
  metadata: Record<string, string>;
}

export async function statObject(client: Client, bucket: string, key: string): Promise<ObjectInfo | null> {
  try {
    const stat = await client.statObject(bucket, key);
    return { size: stat.size, metadata: stat.metaData as Record<string, string> };
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** Every key under a prefix with its size (recursive). */
export async function listObjects(
  client: Client,
  bucket: string,
  prefix: string,
): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  if (!(await client.bucketExists(bucket))) return found;
  for await (const item of client.listObjectsV2(bucket, prefix, true)) {
    if (item.name) found.set(item.name, item.size ?? 0);
  }
  return found;
}

/** The immediate "folders" under a prefix (`a/` for `a/b/c`), without the trailing slash. */
export async function listFolders(client: Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  if (!(await client.bucketExists(bucket))) return found;
  for await (const item of client.listObjectsV2(bucket, prefix, false)) {
    if (item.prefix) found.push(item.prefix.slice(prefix.length).replace(/\/$/, ''));
  }
  return found;
}
