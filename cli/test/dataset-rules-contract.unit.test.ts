// The TypeScript side of contracts/dataset-rules.cases.json: image files, label paths, class names, label rows,
// split folders, box matching and the content hash. bento/tests/test_dataset_rules_contract.py runs
// the same cases in Python; a case that fails on one side only means the two have diverged.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import cases from '../../contracts/dataset-rules.cases.json' with { type: 'json' };
import { parseYoloLabels } from '../src/lib/dataset-source.js';
import { contentHash, versionOf } from '../src/lib/datasets/manifest.js';
import { imageMediaType, isImageFile, SPLITS } from '../src/lib/datasets/rules.js';
import { classNamesOf, dataYamlBase, labelFileFor, resolveSplitFolder } from '../src/lib/datasets/yolo.js';
import { type Box, iou, matchBoxes, type Prediction } from '../src/lib/metrics.js';

const box = ([classId, xc, yc, w, h]: number[]): Box => ({ classId, xc, yc, w, h }) as Box;
const prediction = (row: number[]): Prediction => ({ ...box(row), confidence: row[5] as number });

describe('dataset rules contract (TypeScript side)', () => {
  it('when a folder is listed, then the images are the files with an image extension', () => {
    expect(cases.image_files.files.filter(isImageFile)).toEqual(cases.image_files.images);
  });

  it('when an image is pushed, then it is stored with its media type', () => {
    for (const image of cases.image_files.images) expect(imageMediaType(image)).toMatch(/^image\//);
    expect(imageMediaType('a.txt')).toBeUndefined();
  });

  it.each(cases.label_paths.map((c) => [c.image, c.label]))(
    'when the image is %s, then its label is %s',
    (image, label) => {
      const root = path.resolve('/dataset');
      expect(path.relative(root, labelFileFor(path.join(root, image)))).toBe(path.normalize(label));
    },
  );

  it.each(cases.class_names.map((c) => [c.name, c] as const))(
    'when data.yaml holds "%s", then the class names are the case\'s',
    (_, c) => {
      const config = parseYaml(c.data_yaml) as Record<string, unknown>;
      expect(classNamesOf(config.names)).toEqual(c.names);
    },
  );

  it.each(cases.label_rows.map((c) => [c.name, c] as const))(
    'when label rows are "%s", then they parse as the case says',
    (_, c) => {
      if ('error_line' in c) {
        expect(() => parseYoloLabels(c.text, 'a.txt')).toThrow(`a.txt:${c.error_line}: `);
        return;
      }
      const parsed = parseYoloLabels(c.text, 'a.txt').map((b) => [b.classId, b.xc, b.yc, b.w, b.h]);
      expect(parsed).toHaveLength(c.boxes.length);
      parsed.forEach((row, i) => {
        row.forEach((value, k) => {
          expect(value).toBeCloseTo(c.boxes[i]?.[k] as number, 12);
        });
      });
    },
  );

  it.each(cases.split_folders.map((c) => [c.name, c] as const))(
    'when data.yaml is "%s", then each split resolves to the case\'s folder',
    async (_, c) => {
      const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'split-rules-')));
      for (const folder of c.folders) fs.mkdirSync(path.join(root, folder), { recursive: true });
      const dataYaml = path.join(root, 'data.yaml');
      fs.writeFileSync(dataYaml, c.data_yaml.replaceAll('{root}', root));
      const config = parseYaml(fs.readFileSync(dataYaml, 'utf8')) as Record<string, unknown>;
      const base = await dataYamlBase(dataYaml, config.path);
      const resolved: Record<string, string | null> = {};
      for (const split of SPLITS) {
        const value = config[split];
        const folder = typeof value === 'string' ? await resolveSplitFolder(base, value) : null;
        resolved[split] = folder === null ? null : path.relative(root, folder).split(path.sep).join('/');
      }
      expect(resolved).toEqual(c.expected);
    },
  );

  it.each(cases.box_matching.map((c) => [c.name, c] as const))(
    'when boxes are matched ("%s"), then each prediction takes the case\'s box',
    (_, c) => {
      const truth = c.truth.map(box);
      const predictions = c.predictions.map(prediction);
      expect(matchBoxes(truth, predictions, c.threshold)).toEqual(c.matches);
      const ious = predictions.map((p) => truth.map((g) => iou(p, g)));
      ious.forEach((row, d) => {
        row.forEach((value, g) => {
          expect(value).toBeCloseTo(c.ious[d]?.[g] as number, 12);
        });
      });
    },
  );

  it('when a version is pushed, then its content hash and version are the golden ones', () => {
    const { names, files, content_hash, version } = cases.content_hash;
    expect(contentHash(names, files)).toBe(content_hash);
    expect(versionOf(content_hash)).toBe(version);
  });
});
