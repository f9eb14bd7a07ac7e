// A dataset version in MinIO, as `mini-streamio dataset push` stores it (layout documented in
// bento/src/mini_streamio/training/dataset.py): images and labels under <name>/<version>/<split>/,
// listed with their sha256 in the version's manifest, which is checked for every file read.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Client } from 'minio';
import { UserError } from './command.js';
import type { DatasetSource, SplitImages } from './dataset-source.js';
import type { Manifest } from './datasets/manifest.js';
import { storedSplitName } from './datasets/rules.js';
import type { DatasetStore } from './datasets/store.js';
import { readObject } from './minio.js';

export class MinioDataset implements DatasetSource {
  readonly description: string;

  /** `ref` is `name` (its newest version) or `name@version`. */
  constructor(
    private readonly store: DatasetStore,
    private readonly client: Client,
    private readonly ref: string,
  ) {
    this.description = `dataset ${ref} in s3://${store.bucket}`;
  }

  async split(name: string): Promise<SplitImages> {
    const manifest = await this.store.resolve(this.ref);
    const { stored, prefix, keys } = this.imageKeys(manifest, name);
    const read = (key: string) => this.read(manifest, key);
    return {
      classNames: manifest.names,
      count: keys.length,
      async *images() {
        for (const key of keys) {
          const relative = key.slice(prefix.length);
          const labelKey = `${stored}/labels/${relative.slice(0, -path.extname(relative).length)}.txt`;
          const labels = manifest.files[labelKey] ? (await read(labelKey)).toString('utf8') : '';
          yield { name: relative, bytes: await read(key), labels, labelsWhere: labelKey };
        }
      },
    };
  }

  private imageKeys(manifest: Manifest, split: string): { stored: string; prefix: string; keys: string[] } {
    // Storage calls the validation split `val`; exports (and --split's default) say `valid`.
    const stored = storedSplitName(split);
    const prefix = `${stored}/images/`;
    const keys = Object.keys(manifest.files)
      .filter((key) => key.startsWith(prefix))
      .sort();
    if (keys.length === 0)
      throw new UserError(
        `dataset ${manifest.name}@${manifest.version} has no split "${split}" ` +
          `(it has ${Object.keys(manifest.splits).join(', ') || 'none'})`,
      );
    return { stored, prefix, keys };
  }

  /** A file of the version, checked against the manifest's sha256. */
  private async read(manifest: Manifest, key: string): Promise<Buffer> {
    const where = `s3://${this.store.bucket}/${manifest.name}/${manifest.version}/${key}`;
    const bytes = await readObject(
      this.client,
      this.store.bucket,
      `${manifest.name}/${manifest.version}/${key}`,
    );
    if (!bytes) throw new UserError(`${where} is missing although the manifest lists it`);
    const expected = manifest.files[key]?.sha256;
    if (createHash('sha256').update(bytes).digest('hex') !== expected)
      throw new UserError(`${where} does not match its sha256 in the manifest`);
    return bytes;
  }
}
