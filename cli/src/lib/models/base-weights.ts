// Base weights for air-gapped machines: a .pt file imported into MinIO at
// s3://<models bucket>/base/<name>.pt, where the trainer looks for `--model=<name>`
// (bento/src/mini_streamio/training/weights.py) before any download.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'minio';
import { UserError } from '../command.js';
import { sha256 } from '../datasets/validate.js';
import { ensureBucket, statObject } from '../minio.js';

export const BASE_PREFIX = 'base';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ImportResult {
  name: string;
  uri: string;
  sha256: string;
  size: number;
  status: 'imported' | 'unchanged' | 'replaced';
}

/** Why the bytes are not a PyTorch checkpoint (zip since torch 1.6, pickle before), or null. */
export function checkpointProblem(bytes: Buffer): string | null {
  if (bytes.length < 4) return 'the file is empty or too short';
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  const pickle = bytes[0] === 0x80 && (bytes[1] ?? 0) >= 2 && (bytes[1] ?? 0) <= 5;
  return zip || pickle ? null : 'it is not a PyTorch checkpoint (neither a zip archive nor a pickle)';
}

export function baseName(file: string, name?: string): string {
  const chosen = name ?? path.basename(file).replace(/\.pt$/, '');
  if (!NAME.test(chosen) || chosen.endsWith('.pt')) {
    throw new UserError(
      `base model name ${JSON.stringify(chosen)} must be letters, digits, ".", "_" or "-" (no .pt)`,
    );
  }
  return chosen;
}

export async function importBaseWeights(
  client: Client,
  bucket: string,
  file: string,
  name: string,
  force: boolean,
): Promise<ImportResult> {
  if (path.extname(file) !== '.pt') throw new UserError(`${file} is not a .pt file`);
  const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read ${file} (${err.code})`);
  });
  const problem = checkpointProblem(bytes);
  if (problem) throw new UserError(`${file}: ${problem}`);
  const key = `${BASE_PREFIX}/${name}.pt`;
  const digest = sha256(bytes);
  const result = { name, uri: `s3://${bucket}/${key}`, sha256: digest, size: bytes.length };
  const existing = await statObject(client, bucket, key);
  if (existing && existing.metadata.sha256 === digest) return { ...result, status: 'unchanged' };
  if (existing && !force) {
    throw new UserError(`${result.uri} already holds different weights; pass --force to replace them`);
  }
  await ensureBucket(client, bucket);
  await client.putObject(bucket, key, bytes, bytes.length, {
    'Content-Type': 'application/octet-stream',
    'x-amz-meta-sha256': digest,
  });
  return { ...result, status: existing ? 'replaced' : 'imported' };
}

export async function hasBaseWeights(client: Client, bucket: string, name: string): Promise<boolean> {
  return (await statObject(client, bucket, `${BASE_PREFIX}/${name}.pt`)) !== null;
}
