// A dataset split in a local YOLO directory, as Ultralytics and Roboflow write them:
//   <root>/data.yaml            names: [...] (or {0: name}), and per split a path such as
//                               `val: valid/images` (relative to `path:` or the yaml's folder)
//   <…>/images/<file>           the images
//   <…>/labels/<stem>.txt       their labels (no file: no objects)
// Which folder the split is and which label belongs to an image are Python's
// (yolo_layout.evaluation_split, through shared-rules.ts), as `dataset push` and the trainer read them.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DatasetSource, SplitImages } from './dataset-source.js';
import { sharedRules } from './shared-rules.js';

export class LocalYoloDataset implements DatasetSource {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `the YOLO dataset in ${root}`;
  }

  async split(name: string): Promise<SplitImages> {
    const found = await sharedRules('split', {
      root: path.resolve(this.root),
      shown: this.root,
      split: name,
    });
    return {
      classNames: found.names,
      count: found.images.length,
      async *images() {
        for (const image of found.images) {
          yield {
            name: image.name,
            bytes: await fs.readFile(image.file),
            labels: image.labels,
            labelsWhere: image.where,
          };
        }
      },
    };
  }
}
