// The manifest of a dataset version: what it holds, counted, and every file's checksum.
// The storage layout and the version rule are documented with the reader of this format,
// bento/src/mini_streamio/training/dataset.py. contentHash is the hash's only implementation: the
// trainer takes it from the manifest (contracts/dataset-rules.cases.json pins its value).
import { stringify as toYaml } from 'yaml';
import { SPLITS, type SplitName } from './source.js';
import { type PreparedFile, type SplitStats, sha256 } from './validate.js';

export const MANIFEST_FILE = 'manifest.json';
export const DATA_YAML_FILE = 'data.yaml';

export interface SplitSummary {
  images: number;
  backgrounds: number;
  boxes: number;
  boxes_per_class: Record<string, number>;
}

export interface Manifest {
  schema: 1;
  name: string;
  version: string;
  content_hash: string;
  created_at: string;
  source: { format: 'yolo' | 'coco'; path: string };
  names: string[];
  splits: Partial<Record<SplitName, SplitSummary>>;
  boxes_per_class: Record<string, number>;
  files: Record<string, { sha256: string; size: number }>;
}

/** sha256 of the canonical `{"schema":1,"names":[…],"files":[[path, sha256], …]}`, files sorted by path. */
export function contentHash(names: string[], files: Record<string, { sha256: string }>): string {
  const entries = Object.entries(files)
    .map(([key, meta]) => [key, meta.sha256] as const)
    .sort(([a, shaA], [b, shaB]) => (a < b ? -1 : a > b ? 1 : shaA < shaB ? -1 : shaA > shaB ? 1 : 0));
  return sha256(JSON.stringify({ schema: 1, names, files: entries }));
}

export function versionOf(hash: string): string {
  return hash.slice(0, 12);
}

/** The version's data.yaml: splits relative to the version's folder. */
export function dataYaml(names: string[], splits: readonly SplitName[]): PreparedFile {
  const config: Record<string, unknown> = { path: '.' };
  for (const split of SPLITS) if (splits.includes(split)) config[split] = `${split}/images`;
  Object.assign(config, { nc: names.length, names });
  const content = Buffer.from(toYaml(config), 'utf8');
  return { key: DATA_YAML_FILE, sha256: sha256(content), size: content.length, body: { content } };
}

export function buildManifest(
  name: string,
  names: string[],
  files: PreparedFile[],
  stats: Partial<Record<SplitName, SplitStats>>,
  source: Manifest['source'],
  createdAt: Date = new Date(),
): Manifest {
  const fileMap: Manifest['files'] = {};
  for (const file of [...files].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    fileMap[file.key] = { sha256: file.sha256, size: file.size };
  }
  const hash = contentHash(names, fileMap);
  const splits: Manifest['splits'] = {};
  const totals: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const split of SPLITS) {
    const s = stats[split];
    if (!s) continue;
    splits[split] = {
      images: s.images,
      backgrounds: s.backgrounds,
      boxes: s.boxes,
      boxes_per_class: s.boxesPerClass,
    };
    for (const [cls, count] of Object.entries(s.boxesPerClass)) totals[cls] = (totals[cls] ?? 0) + count;
  }
  return {
    schema: 1,
    name,
    version: versionOf(hash),
    content_hash: hash,
    created_at: createdAt.toISOString(),
    source,
    names,
    splits,
    boxes_per_class: totals,
    files: fileMap,
  };
}
