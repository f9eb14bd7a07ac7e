import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYoloLabels } from '../src/lib/dataset-source.js';
import { LocalYoloDataset } from '../src/lib/local-yolo-dataset.js';

function write(root: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
}

async function collect(source: LocalYoloDataset, split: string) {
  const out = [];
  for await (const image of source.images(split)) out.push({ name: image.name, boxes: image.boxes });
  return out;
}

describe('parseYoloLabels', () => {
  it('when a line has a class and four numbers, then it is a box; with a polygon, then its bounding box', () => {
    expect(parseYoloLabels('0 0.5 0.5 0.2 0.4\n\n2 0.1 0.2 0.3 0.2 0.3 0.6\n', 'x.txt')).toEqual([
      { classId: 0, xc: 0.5, yc: 0.5, w: 0.2, h: 0.4 },
      { classId: 2, xc: 0.2, yc: 0.4, w: expect.closeTo(0.2, 12), h: expect.closeTo(0.4, 12) },
    ]);
  });

  it('when a line is not a label, then the error names the file and line', () => {
    expect(() => parseYoloLabels('0 0.5 0.5 0.2 0.4\ncat 1 2 3 4', 'labels/a.txt')).toThrow('labels/a.txt:2');
    expect(() => parseYoloLabels('0 0.5 0.5', 'b.txt')).toThrow('b.txt:1');
  });
});

describe('LocalYoloDataset', () => {
  it('when data.yaml names a split folder (Roboflow layout), then images come with their labels, missing labels meaning none', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-'));
    write(root, {
      'data.yaml': "path: .\nval: valid/images\nnames: ['enemyBody', 'enemyHead']\n",
      'valid/images/b.jpg': 'B',
      'valid/images/a.png': 'A',
      'valid/images/notes.txt': 'ignored',
      'valid/labels/a.txt': '1 0.5 0.5 0.1 0.1\n',
    });
    const source = new LocalYoloDataset(root);
    expect(await source.classNames()).toEqual(['enemyBody', 'enemyHead']);
    expect(await collect(source, 'valid')).toEqual([
      { name: 'a.png', boxes: [{ classId: 1, xc: 0.5, yc: 0.5, w: 0.1, h: 0.1 }] },
      { name: 'b.jpg', boxes: [] },
    ]);
  });

  it('when the dataset uses images/<split> and labels/<split> with names as a map, then those are read', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-'));
    write(root, {
      'data.yaml': 'names:\n  1: dog\n  0: cat\n',
      'images/test/x.jpg': 'X',
      'labels/test/x.txt': '0 0.25 0.25 0.5 0.5\n',
    });
    const source = new LocalYoloDataset(root);
    expect(await source.classNames()).toEqual(['cat', 'dog']);
    expect(await collect(source, 'test')).toEqual([
      { name: 'x.jpg', boxes: [{ classId: 0, xc: 0.25, yc: 0.25, w: 0.5, h: 0.5 }] },
    ]);
  });

  it('when the split or data.yaml is missing, then the error says which', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-'));
    await expect(new LocalYoloDataset(root).classNames()).rejects.toThrow('data.yaml is missing');
    write(root, { 'data.yaml': 'names: [a]\n' });
    await expect(collect(new LocalYoloDataset(root), 'train')).rejects.toThrow('has no split "train"');
  });
});
