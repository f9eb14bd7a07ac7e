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
import { isImageFile, SPLIT_ALIASES, storedSplitName } from './datasets/rules.js';
import {
  classNamesOf,
  dataYamlBase,
  isDirectory,
  labelFileFor,
  resolveSplitFolder,
} from './datasets/yolo.js';

// Which files are images, where a split's folder is and where an image's label is follow the
// rules `dataset push` uses (datasets/rules.ts, datasets/yolo.ts), so both read a folder alike.

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
    if (names && typeof names === 'object') return classNamesOf(names);
    throw new UserError(`${this.yamlPath()} has no "names" list`);
  }

  async count(split: string): Promise<number> {
    return (await this.imageFiles(await this.imagesDir(split))).length;
  }

  async *images(split: string): AsyncIterable<LabelledImage> {
    const imagesDir = await this.imagesDir(split);
    const files = await this.imageFiles(imagesDir);
    for (const file of files) {
      const labelFile = labelFileFor(path.join(imagesDir, file));
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
    return (await fs.readdir(imagesDir)).filter(isImageFile).sort();
  }

  /** The split's image folder: from data.yaml (`valid` and `val` name one split), else <root>/<split>/images or <root>/images/<split>. */
  private async imagesDir(split: string): Promise<string> {
    const data = await this.dataYaml();
    const base = await dataYamlBase(this.yamlPath(), data.path);
    const declared = splitKeys(split)
      .map((key) => data[key])
      .find((v): v is string => typeof v === 'string');
    const folder = declared ? await resolveSplitFolder(base, declared) : null;
    if (folder) return folder;
    const candidates = [path.join(this.root, split, 'images'), path.join(this.root, 'images', split)];
    for (const dir of candidates) if (await isDirectory(dir)) return dir;
    const looked = [...(declared ? [path.resolve(base, declared)] : []), ...candidates];
    throw new UserError(`${this.description} has no split "${split}" (looked in ${looked.join(', ')})`);
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

/** The keys data.yaml may declare a split under, the stored name first (`val`, then `valid`). */
function splitKeys(split: string): string[] {
  const stored = storedSplitName(split);
  const aliases = Object.keys(SPLIT_ALIASES).filter((alias) => SPLIT_ALIASES[alias] === stored);
  return [...new Set([stored, split, ...aliases])];
}
