// A dataset split in a local YOLO directory, as Ultralytics and Roboflow write them:
//   <root>/data.yaml            names: [...] (or {0: name}), and per split a path such as
//                               `val: valid/images` (relative to `path:` or the yaml's folder)
//   <…>/images/<file>           the images
//   <…>/labels/<stem>.txt       their labels (no file: no objects)
import fs from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { UserError } from './command.js';
import { type DatasetSource, type LabelledImage, parseYoloLabels } from './dataset-source.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp']);

interface DataYaml {
  path?: string;
  names?: string[] | Record<string, string>;
  [split: string]: unknown;
}

export class LocalYoloDataset implements DatasetSource {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `the YOLO dataset in ${root}`;
  }

  async classNames(): Promise<string[]> {
    const names = (await this.dataYaml()).names;
    if (Array.isArray(names)) return names.map(String);
    if (names && typeof names === 'object')
      return Object.entries(names)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([, name]) => String(name));
    throw new UserError(`${this.yamlPath()} has no "names" list`);
  }

  async count(split: string): Promise<number> {
    return (await this.imageFiles(await this.imagesDir(split))).length;
  }

  async *images(split: string): AsyncIterable<LabelledImage> {
    const imagesDir = await this.imagesDir(split);
    const labelsDir = labelsDirFor(imagesDir);
    const files = await this.imageFiles(imagesDir);
    for (const file of files) {
      const labelFile = path.join(labelsDir, `${path.parse(file).name}.txt`);
      const labels = await fs.readFile(labelFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      yield {
        name: file,
        bytes: await fs.readFile(path.join(imagesDir, file)),
        boxes: parseYoloLabels(labels, labelFile),
      };
    }
  }

  private async imageFiles(imagesDir: string): Promise<string[]> {
    return (await fs.readdir(imagesDir))
      .filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()))
      .sort();
  }

  /** The split's image folder: from data.yaml (`val` also answers for `valid`), else <root>/<split>/images. */
  private async imagesDir(split: string): Promise<string> {
    const data = await this.dataYaml();
    const base = path.resolve(path.dirname(this.yamlPath()), data.path ?? '.');
    const aliases = split === 'valid' || split === 'val' ? ['val', 'valid'] : [split];
    const declared = aliases.map((s) => data[s]).find((v): v is string => typeof v === 'string');
    const candidates = [
      ...(declared ? [path.resolve(base, declared)] : []),
      path.join(this.root, split, 'images'),
      path.join(this.root, 'images', split),
    ];
    for (const dir of candidates) if (await isDirectory(dir)) return dir;
    throw new UserError(`${this.description} has no split "${split}" (looked in ${candidates.join(', ')})`);
  }

  private yamlPath(): string {
    return path.join(this.root, 'data.yaml');
  }

  private async dataYaml(): Promise<DataYaml> {
    const text = await fs.readFile(this.yamlPath(), 'utf8').catch(() => {
      throw new UserError(`${this.root} is not a YOLO dataset: ${this.yamlPath()} is missing`);
    });
    return (YAML.parse(text) ?? {}) as DataYaml;
  }
}

/** Ultralytics' rule: the labels live where the last `images` folder of the path says `labels`. */
function labelsDirFor(imagesDir: string): string {
  const parts = imagesDir.split(path.sep);
  const at = parts.lastIndexOf('images');
  if (at < 0) return path.join(path.dirname(imagesDir), 'labels');
  parts[at] = 'labels';
  return parts.join(path.sep);
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await fs.stat(dir).catch(() => undefined))?.isDirectory() ?? false;
}
