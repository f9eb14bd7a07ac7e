import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidDatasetError, prepareDataset } from '../src/lib/datasets/prepare.js';
import { formatProblem } from '../src/lib/datasets/source.js';
import { JPEG, PNG, validYolo, writeTree } from './fixtures.js';

/** Every problem the push of `files` reports, as `where: message` lines. */
async function problemsOf(files: Record<string, string | Buffer>): Promise<string[]> {
  const dir = writeTree(files);
  try {
    await prepareDataset(dir, 'test-set');
  } catch (err) {
    if (err instanceof InvalidDatasetError) return err.problems.map(formatProblem);
    throw err;
  }
  return [];
}

describe('YOLO dataset validation', () => {
  it('when the dataset is valid, then it is accepted with its counts and boxes per class', async () => {
    const { manifest, files } = await prepareDataset(writeTree(validYolo()), 'shapes');
    expect(manifest.names).toEqual(['circle', 'square', 'triangle']);
    expect(manifest.splits.train).toEqual({
      images: 2,
      backgrounds: 0,
      boxes: 3,
      boxes_per_class: { circle: 1, square: 1, triangle: 1 },
    });
    expect(manifest.splits.val).toMatchObject({ images: 1, backgrounds: 1, boxes: 0 });
    expect(Object.keys(manifest.files).sort()).toEqual([
      'data.yaml',
      'train/images/a.jpg',
      'train/images/b.png',
      'train/labels/a.txt',
      'train/labels/b.txt',
      'val/images/c.jpg',
      'val/labels/c.txt',
    ]);
    expect(files).toHaveLength(7);
  });

  it('when data.yaml is missing and there is no COCO file, then the folder is refused', async () => {
    const { 'data.yaml': _, ...rest } = validYolo();
    const problems = await problemsOf(rest);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/has neither a data\.yaml \(YOLO\) nor COCO annotations/);
  });

  it('when names are missing, then data.yaml is named with the problem', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'data.yaml': 'train: train/images\nval: valid/images\n',
    });
    expect(problems).toContain('data.yaml: `names` is missing or empty');
  });

  it('when nc disagrees with names, then both numbers are reported', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'data.yaml': 'train: train/images\nval: valid/images\nnc: 4\nnames: [circle, square, triangle]\n',
    });
    expect(problems).toContain('data.yaml: `nc` is 4 but `names` has 3 entries');
  });

  it('when the val split is missing, then the push is refused', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'data.yaml': 'train: train/images\nnames: [a, b, c]\n',
    });
    expect(problems).toContain('data.yaml: has no `val` split (train and val are required)');
  });

  it('when a split names a folder that does not exist, then that folder is named', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'data.yaml': 'train: train/images\nval: validation/images\nnames: [a, b, c]\n',
    });
    expect(problems).toContain('data.yaml: `val: validation/images` is not a folder of the dataset');
  });

  it('when a split has no images, then the split is reported empty', async () => {
    const files = validYolo();
    delete files['valid/images/c.jpg'];
    delete files['valid/labels/c.txt'];
    const dir = writeTree(files);
    fs.mkdirSync(path.join(dir, 'valid', 'images'), { recursive: true });
    await expect(prepareDataset(dir, 'x')).rejects.toThrow(/val: the split has no images/);
  });

  it('when an image has no label file, then the image and the expected label are named', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/images/d.jpg': JPEG });
    expect(problems).toEqual(['train/images/d.jpg: has no label file (expected train/labels/d.txt)']);
  });

  it('when a label file has no image, then the label file is named', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/labels/orphan.txt': '0 0.5 0.5 0.1 0.1\n' });
    expect(problems).toEqual(['train/labels/orphan.txt: label file has no image of the same name']);
  });

  it('when a row does not have five values, then file and line are named', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'train/labels/a.txt': '0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n',
    });
    expect(problems).toEqual([
      'train/labels/a.txt:2: expected 5 values "class x_center y_center width height", got 4',
    ]);
  });

  it('when a row holds something that is not a number, then the value is quoted', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/labels/a.txt': '0 0.5 abc 0.2 0.2\n' });
    expect(problems).toEqual(['train/labels/a.txt:1: "abc" not a number']);
  });

  it('when coordinates are outside [0, 1], then each one is reported', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/labels/a.txt': '0 1.5 0.5 0.2 -0.1\n' });
    expect(problems).toEqual([
      'train/labels/a.txt:1: x_center 1.5 is outside [0, 1]',
      'train/labels/a.txt:1: height -0.1 is outside [0, 1]',
    ]);
  });

  it('when a class id is outside names, then the valid range is given', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/labels/b.txt': '3 0.5 0.5 0.2 0.2\n' });
    expect(problems).toEqual(['train/labels/b.txt:1: class id 3 is outside names (0..2)']);
  });

  it('when an image cannot be decoded, then it is reported unreadable', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'train/images/b.png': Buffer.from('not an image at all'),
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^train\/images\/b\.png: is not a readable image/);
  });

  it('when a JPEG is cut short, then it is reported truncated', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/images/a.jpg': JPEG.subarray(0, 400) });
    expect(problems).toEqual(['train/images/a.jpg: is not a readable image (truncated JPEG)']);
  });

  it('when an image file is empty, then it is reported unreadable', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/images/a.jpg': Buffer.alloc(0) });
    expect(problems).toEqual(['train/images/a.jpg: is not a readable image (empty file)']);
  });

  it('when there are many problems, then all of them are reported at once', async () => {
    const problems = await problemsOf({
      ...validYolo(),
      'train/labels/a.txt': '7 0.5 0.5 0.2 0.2\n0 2 0.5 0.2 0.2\n',
      'train/images/b.png': Buffer.from('garbage'),
      'train/images/e.jpg': JPEG,
      'valid/labels/stray.txt': '',
    });
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/valid\/labels\/stray\.txt/);
    expect(problems.join('\n')).toMatch(/train\/images\/e\.jpg: has no label file/);
    expect(problems.join('\n')).toMatch(/train\/images\/b\.png: is not a readable image/);
    expect(problems.join('\n')).toMatch(/train\/labels\/a\.txt:1: class id 7/);
    expect(problems.join('\n')).toMatch(/train\/labels\/a\.txt:2: x_center 2/);
  });

  it("when data.yaml uses Roboflow's ../train/images paths, then the splits are found", async () => {
    const files = validYolo();
    files['data.yaml'] =
      'train: ../train/images\nval: ../valid/images\nnc: 3\nnames: [circle, square, triangle]\n';
    const { manifest } = await prepareDataset(writeTree(files), 'roboflow');
    expect(manifest.splits.train?.images).toBe(2);
  });

  it('when two images share a stem, then the shared label file is reported', async () => {
    const problems = await problemsOf({ ...validYolo(), 'train/images/a.png': PNG });
    expect(problems).toEqual([
      'train/images/a.png: shares its label file train/labels/a.txt with train/images/a.jpg',
    ]);
  });

  it('when the dataset name is not allowed, then the push is refused before reading files', async () => {
    await expect(prepareDataset(writeTree(validYolo()), 'Bad Name')).rejects.toThrow(
      /dataset name "Bad Name" must be/,
    );
  });
});

describe('dataset versions', () => {
  it('when the same content is prepared twice, then it gets the same version', async () => {
    const first = await prepareDataset(writeTree(validYolo()), 'shapes');
    const second = await prepareDataset(writeTree(validYolo()), 'shapes');
    expect(second.manifest.version).toBe(first.manifest.version);
    expect(first.manifest.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it('when one label changes, then the version changes', async () => {
    const first = await prepareDataset(writeTree(validYolo()), 'shapes');
    const changed = await prepareDataset(
      writeTree({ ...validYolo(), 'train/labels/b.txt': '2 0.7 0.7 0.3 0.31\n' }),
      'shapes',
    );
    expect(changed.manifest.version).not.toBe(first.manifest.version);
  });

  it('when a class is renamed, then the version changes', async () => {
    const first = await prepareDataset(writeTree(validYolo()), 'shapes');
    const renamed = await prepareDataset(
      writeTree({
        ...validYolo(),
        'data.yaml': 'train: train/images\nval: valid/images\nnames: [disc, square, triangle]\n',
      }),
      'shapes',
    );
    expect(renamed.manifest.version).not.toBe(first.manifest.version);
  });
});
