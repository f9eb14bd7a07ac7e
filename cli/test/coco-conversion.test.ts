import { describe, expect, it } from 'vitest';
import { InvalidDatasetError, prepareDataset } from '../src/lib/datasets/prepare.js';
import { formatProblem } from '../src/lib/datasets/source.js';
import { JPEG, PNG, writeTree } from './fixtures.js';

interface Coco {
  images: { id: number; file_name: string; width?: number; height?: number }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: unknown }[];
  categories: { id: number; name: string; supercategory?: string }[];
}

/** Roboflow's COCO export: an unused parent category 0, real categories 1 and 2. */
function roboflowCoco(): Coco {
  return {
    images: [
      { id: 0, file_name: 'a.jpg', width: 8, height: 8 },
      { id: 1, file_name: 'b.png', width: 8, height: 8 },
    ],
    annotations: [
      { id: 10, image_id: 0, category_id: 1, bbox: [2, 2, 4, 4] },
      { id: 11, image_id: 0, category_id: 2, bbox: [0, 0, 2, 4] },
    ],
    categories: [
      { id: 0, name: 'shapes', supercategory: 'none' },
      { id: 1, name: 'circle', supercategory: 'shapes' },
      { id: 2, name: 'square', supercategory: 'shapes' },
    ],
  };
}

function roboflowExport(train: Coco, valid: Coco = roboflowCoco()): Record<string, string | Buffer> {
  return {
    'train/_annotations.coco.json': JSON.stringify(train),
    'train/a.jpg': JPEG,
    'train/b.png': PNG,
    'valid/_annotations.coco.json': JSON.stringify(valid),
    'valid/a.jpg': JPEG,
    'valid/b.png': PNG,
  };
}

async function problemsOf(files: Record<string, string | Buffer>): Promise<string[]> {
  try {
    await prepareDataset(writeTree(files), 'coco-set');
  } catch (err) {
    if (err instanceof InvalidDatasetError) return err.problems.map(formatProblem);
    throw err;
  }
  return [];
}

function labelText(files: Awaited<ReturnType<typeof prepareDataset>>['files'], key: string): string {
  const file = files.find((f) => f.key === key);
  if (!file || !('content' in file.body)) throw new Error(`no generated label ${key}`);
  return file.body.content.toString('utf8');
}

describe('COCO conversion', () => {
  it('when a Roboflow COCO export is pushed, then boxes become normalised YOLO rows', async () => {
    const { manifest, files } = await prepareDataset(writeTree(roboflowExport(roboflowCoco())), 'coco-set');
    expect(manifest.source.format).toBe('coco');
    expect(manifest.names).toEqual(['circle', 'square']);
    expect(labelText(files, 'train/labels/a.txt')).toBe('0 0.5 0.5 0.5 0.5\n1 0.125 0.25 0.25 0.5\n');
    expect(labelText(files, 'train/labels/b.txt')).toBe('');
    expect(manifest.splits.val?.images).toBe(2);
    expect(manifest.splits.train?.boxes_per_class).toEqual({ circle: 1, square: 1 });
  });

  it('when the standard annotations/instances_<split>.json layout is used, then it is found', async () => {
    const coco = roboflowCoco();
    const { manifest } = await prepareDataset(
      writeTree({
        'annotations/instances_train2017.json': JSON.stringify(coco),
        'annotations/instances_val2017.json': JSON.stringify(coco),
        'train2017/a.jpg': JPEG,
        'train2017/b.png': PNG,
        'val2017/a.jpg': JPEG,
        'val2017/b.png': PNG,
      }),
      'coco-std',
    );
    expect(Object.keys(manifest.splits)).toEqual(['train', 'val']);
  });

  it('when an annotation refers to an unknown image, then the annotation is named', async () => {
    const coco = roboflowCoco();
    coco.annotations.push({ id: 12, image_id: 99, category_id: 1, bbox: [0, 0, 1, 1] });
    expect(await problemsOf(roboflowExport(coco))).toEqual([
      'train/_annotations.coco.json: annotation 12: refers to image id 99, which is not in "images"',
    ]);
  });

  it('when an annotation has an unknown category, then the category id is given', async () => {
    const coco = roboflowCoco();
    coco.annotations.push({ id: 13, image_id: 1, category_id: 7, bbox: [0, 0, 1, 1] });
    expect(await problemsOf(roboflowExport(coco))).toEqual([
      'train/_annotations.coco.json: annotation 13: has category id 7, which is not in "categories"',
    ]);
  });

  it('when a bbox is malformed, then the bbox is quoted', async () => {
    const coco = roboflowCoco();
    coco.annotations.push({ id: 14, image_id: 1, category_id: 1, bbox: [1, 2, 3] });
    expect(await problemsOf(roboflowExport(coco))).toEqual([
      'train/_annotations.coco.json: annotation 14: bbox [1,2,3] is not [x, y, width, height]',
    ]);
  });

  it('when a box lies outside its image, then the annotation is named with the coordinate', async () => {
    const coco = roboflowCoco();
    coco.annotations.push({ id: 15, image_id: 1, category_id: 2, bbox: [6, 2, 6, 2] });
    expect(await problemsOf(roboflowExport(coco))).toEqual([
      'train/_annotations.coco.json: annotation 15: x_center 1.125 is outside [0, 1]',
    ]);
  });

  it('when an image listed in the JSON is missing, then its file name and id are given', async () => {
    const coco = roboflowCoco();
    coco.images.push({ id: 5, file_name: 'gone.jpg', width: 8, height: 8 });
    expect(await problemsOf(roboflowExport(coco))).toEqual([
      'train/_annotations.coco.json: image "gone.jpg" (id 5) does not exist',
    ]);
  });

  it('when the JSON is not valid, then the file is named', async () => {
    const files = roboflowExport(roboflowCoco());
    files['train/_annotations.coco.json'] = '{ not json';
    const problems = await problemsOf(files);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^train\/_annotations\.coco\.json: is not valid JSON/);
  });

  it('when there is no annotation file for val, then the missing split is reported', async () => {
    const { 'valid/_annotations.coco.json': _, ...files } = roboflowExport(roboflowCoco());
    expect(await problemsOf(files)).toEqual([
      'val: no COCO annotation file for this split (train and val are required)',
    ]);
  });
});
