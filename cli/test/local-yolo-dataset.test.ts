// `evaluate --dir`'s reading of a local YOLO folder: the split and its labels come from Python
// (python -m mini_streamio.shared_rules split), so this spawns the clone's Python.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalYoloDataset } from '../src/lib/local-yolo-dataset.js';

function write(root: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
}

async function collect(source: LocalYoloDataset, name: string) {
  const split = await source.split(name);
  const images = [];
  for await (const image of split.images()) images.push({ name: image.name, labels: image.labels });
  return { classNames: split.classNames, count: split.count, images };
}

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
    expect(await collect(new LocalYoloDataset(root), 'valid')).toEqual({
      classNames: ['enemyBody', 'enemyHead'],
      count: 2,
      images: [
        { name: 'a.png', labels: '1 0.5 0.5 0.1 0.1\n' },
        { name: 'b.jpg', labels: '' },
      ],
    });
  });

  it('when the dataset uses images/<split> and labels/<split> with names as a map, then those are read', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-'));
    write(root, {
      'data.yaml': 'names:\n  1: dog\n  0: cat\n',
      'images/test/x.jpg': 'X',
      'labels/test/x.txt': '0 0.25 0.25 0.5 0.5\n',
    });
    expect(await collect(new LocalYoloDataset(root), 'test')).toEqual({
      classNames: ['cat', 'dog'],
      count: 1,
      images: [{ name: 'x.jpg', labels: '0 0.25 0.25 0.5 0.5\n' }],
    });
  });

  it('when the split or data.yaml is missing, or names are, then the error says which', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-'));
    await expect(new LocalYoloDataset(root).split('valid')).rejects.toThrow('data.yaml is missing');
    write(root, { 'data.yaml': 'nc: 1\n' });
    await expect(new LocalYoloDataset(root).split('valid')).rejects.toThrow('data.yaml has no "names" list');
    write(root, { 'data.yaml': 'names: [a]\n' });
    await expect(new LocalYoloDataset(root).split('train')).rejects.toThrow('has no split "train"');
  });

  it('when a label row is not a label, then the split is refused at once, naming the file and line', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'yolo-'));
    write(root, {
      'data.yaml': 'val: valid/images\nnames: [a]\n',
      'valid/images/a.jpg': 'A',
      'valid/labels/a.txt': '0 0.5 0.5 0.2 0.4\ncat 1 2 3 4\n',
    });
    await expect(new LocalYoloDataset(root).split('valid')).rejects.toThrow(
      `${path.join(root, 'valid/labels/a.txt')}:2: not a YOLO label line (not numbers): "cat 1 2 3 4"`,
    );
  });
});
