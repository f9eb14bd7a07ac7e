// Dataset versions in MinIO (layout: bento/src/mini_streamio/training/dataset.py).
// A push uploads every file under the version's prefix, then the manifest: until the manifest
// exists the version is invisible, and a push that fails removes the objects it wrote.
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from 'minio';
import { mapLimit } from '../concurrency.js';
import type { CliConfig } from '../config.js';
import { ensureBucket, listFolders, listObjects, minioClient, readObject } from '../minio.js';
import { DATA_YAML_FILE, MANIFEST_FILE, type Manifest } from './manifest.js';
import { imageMediaType } from './rules.js';
import type { PreparedFile } from './validate.js';

export const DATASETS_BUCKET = 'datasets';
export const DATASET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const VERSION = /^[0-9a-f]{12}$/;

export class DatasetError extends Error {}

export interface DatasetRef {
  name: string;
  version?: string;
}

export function parseDatasetRef(ref: string): DatasetRef {
  const [name = '', version, ...rest] = ref.split('@');
  if (!DATASET_NAME.test(name) || rest.length > 0) {
    throw new DatasetError(
      `${JSON.stringify(ref)} is not a dataset reference: use name or name@version, where name is lower-case ` +
        'letters, digits, ".", "_" or "-" (at most 63)',
    );
  }
  if (version !== undefined && !VERSION.test(version)) {
    throw new DatasetError(
      `dataset version ${JSON.stringify(version)} is not 12 hex digits (see \`dataset list\`)`,
    );
  }
  return version === undefined ? { name } : { name, version };
}

export interface PushProgress {
  files: number;
  bytes: number;
}

export interface PushResult {
  status: 'created' | 'unchanged';
  manifest: Manifest;
  uploadedFiles: number;
}

export function datasetStore(config: CliConfig): DatasetStore {
  return new DatasetStore(minioClient(config), config.DATASETS_BUCKET);
}

export class DatasetStore {
  constructor(
    private readonly client: Client,
    readonly bucket: string = DATASETS_BUCKET,
  ) {}

  uri(manifest: Pick<Manifest, 'name' | 'version'>): string {
    return `s3://${this.bucket}/${manifest.name}/${manifest.version}`;
  }

  async push(
    manifest: Manifest,
    files: PreparedFile[],
    onProgress?: (done: PushProgress) => void,
  ): Promise<PushResult> {
    const prefix = `${manifest.name}/${manifest.version}/`;
    const existing = await this.manifest(manifest.name, manifest.version);
    if (existing) return { status: 'unchanged', manifest: existing, uploadedFiles: 0 };
    await ensureBucket(this.client, this.bucket);
    // Objects left by an earlier, interrupted push of the same content are reused: the
    // version's prefix is content-addressed, so a key of the same size holds the same bytes.
    const present = await listObjects(this.client, this.bucket, prefix);
    const written: string[] = [];
    const done: PushProgress = { files: 0, bytes: 0 };
    // data.yaml after the images and labels, the manifest last of all.
    const ordered = [
      ...files.filter((f) => f.key !== DATA_YAML_FILE),
      ...files.filter((f) => f.key === DATA_YAML_FILE),
    ];
    try {
      await mapLimit(ordered, 4, async (file) => {
        const key = prefix + file.key;
        if (present.get(key) !== file.size) {
          await this.put(key, file);
          written.push(key);
        }
        done.files += 1;
        done.bytes += file.size;
        onProgress?.({ ...done });
      });
      const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
      await this.client.putObject(this.bucket, prefix + MANIFEST_FILE, body, body.length, {
        'Content-Type': 'application/json',
      });
    } catch (err) {
      await this.client.removeObjects(this.bucket, written).catch(() => undefined);
      throw err;
    }
    return { status: 'created', manifest, uploadedFiles: written.length };
  }

  private async put(key: string, file: PreparedFile): Promise<void> {
    const body = 'file' in file.body ? fs.createReadStream(file.body.file) : file.body.content;
    await this.client.putObject(this.bucket, key, body, file.size, {
      'Content-Type': contentType(file.key),
      'x-amz-meta-sha256': file.sha256,
    });
  }

  /** The manifest of name@version, or null if that version does not exist (or is incomplete). */
  async manifest(name: string, version: string): Promise<Manifest | null> {
    const bytes = await readObject(this.client, this.bucket, `${name}/${version}/${MANIFEST_FILE}`);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as Manifest) : null;
  }

  /** Complete versions of a dataset, newest first. */
  async versions(name: string): Promise<Manifest[]> {
    const folders = await listFolders(this.client, this.bucket, `${name}/`);
    const manifests = await mapLimit(folders, 8, (version) => this.manifest(name, version));
    return manifests
      .filter((m): m is Manifest => m !== null)
      .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
  }

  async names(): Promise<string[]> {
    return (await listFolders(this.client, this.bucket, '')).sort();
  }

  /** `name` (its newest version) or `name@version`. */
  async resolve(ref: string): Promise<Manifest> {
    const { name, version } = parseDatasetRef(ref);
    if (version) {
      const manifest = await this.manifest(name, version);
      if (manifest) return manifest;
      const known = (await this.versions(name)).map((m) => m.version);
      throw new DatasetError(
        `dataset ${name} has no version ${version} (versions: ${known.join(', ') || 'none'})`,
      );
    }
    const [latest] = await this.versions(name);
    if (!latest) {
      throw new DatasetError(
        `no dataset named ${name} in s3://${this.bucket} (push one with \`dataset push\`)`,
      );
    }
    return latest;
  }
}

function contentType(key: string): string {
  const types: Record<string, string> = { '.txt': 'text/plain', '.yaml': 'application/yaml' };
  return imageMediaType(key) ?? types[path.extname(key).toLowerCase()] ?? 'application/octet-stream';
}
