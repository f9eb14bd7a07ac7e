// The CLI against contracts/: the dataset manifest it writes (and the hash the trainer trusts),
// the trainer events and exit codes it reads, the registry tags it shows, and the flag defaults
// it shares with the trainer and the service. Every fixture is also checked against its schema
// in both languages (contracts/test/fixtures.unit.test.ts, bento/tests/test_contracts.py).
import { describe, expect, it } from 'vitest';
import { fixtures, instancesOf, schema, validator } from '../../contracts/test/schema-check.js';
import Detect from '../src/commands/detect.js';
import Train from '../src/commands/train.js';
import {
  DETECTION_PARAMS,
  PRODUCTION_ALIAS,
  TRAIN_DEFAULTS,
  TRAINER_EVENT_NAMES,
  TRAINER_EXIT_CODES,
} from '../src/lib/contracts.js';
import {
  buildManifest,
  contentHash,
  dataYaml,
  type Manifest,
  versionOf,
} from '../src/lib/datasets/manifest.js';
import { REQUIRED_SPLITS, SPLITS } from '../src/lib/datasets/source.js';
import { summarizeVersion } from '../src/lib/models/registry.js';
import { renderEvent } from '../src/lib/training/render.js';
import { EXIT_KILLED } from '../src/lib/training/run.js';
import type { TrainerEvent, TrainerEventName } from '../src/lib/training/trainer-process.js';

const golden = instancesOf('dataset-manifest', 'valid')[0] as Manifest;

describe('dataset manifest', () => {
  it('when the golden manifest is hashed, then the push computes the content_hash and version it names', () => {
    const hash = contentHash(golden.names, golden.files);
    expect(hash).toBe(golden.content_hash);
    expect(versionOf(hash)).toBe(golden.version);
  });

  it('when the manifest names splits, then they are the dataset rules splits', () => {
    const { splits } = schema('dataset-manifest').properties;
    expect(splits.propertyNames.enum).toEqual(SPLITS);
    expect(splits.required).toEqual(REQUIRED_SPLITS);
  });

  it('when a manifest is built, then it matches the schema the trainer reads', () => {
    const yaml = dataYaml(['circle', 'square'], ['train', 'val']);
    const image = {
      key: 'train/images/a.png',
      sha256: 'a'.repeat(64),
      size: 5,
      body: { content: Buffer.from('x') },
    };
    const manifest = buildManifest(
      'shapes',
      ['circle', 'square'],
      [yaml, image],
      {
        train: { images: 1, backgrounds: 1, boxes: 0, boxesPerClass: { circle: 0, square: 0 } },
        val: { images: 0, backgrounds: 0, boxes: 0, boxesPerClass: {} },
      },
      { format: 'yolo', path: '/data/shapes' },
    );
    const validate = validator('dataset-manifest');
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe('trainer events and exit codes', () => {
  it('when the contract lists the events, then the CLI knows exactly those', () => {
    const known = {
      started: true,
      dataset: true,
      model: true,
      epoch: true,
      finished: true,
      failed: true,
      killed: true,
    } satisfies Record<TrainerEventName, true>;
    expect(Object.keys(known)).toEqual(TRAINER_EVENT_NAMES);
  });

  it.each(fixtures('trainer-event', 'valid').map(({ file, instances }) => [file, instances]))(
    'when the golden stream %s is rendered, then every event has its line (failed: the command reports it)',
    (_, events) => {
      for (const event of events as TrainerEvent[]) {
        const line = renderEvent(event);
        if (event.event === 'failed') expect(line).toBeNull();
        else expect(line).toMatch(/\S/);
        expect(line ?? '').not.toMatch(/undefined|NaN/);
      }
    },
  );

  it('when the trainer stops, then the CLI exits with the contracts statuses', () => {
    expect(TRAINER_EXIT_CODES).toEqual(instancesOf('trainer-exit-codes', 'valid')[0]);
    expect(EXIT_KILLED).toBe(TRAINER_EXIT_CODES.killed);
  });
});

describe('flag defaults', () => {
  it('when `train` names no option, then its defaults are the trainer contracts', () => {
    const { properties } = schema('train-options');
    expect(Train.flags.epochs.default).toBe(properties.epochs.default);
    expect(Train.flags.imgsz.default).toBe(properties.imgsz.default);
    expect(Train.flags.batch.default).toBe(properties.batch.default);
    expect(Train.flags.experiment.default).toBe(properties.experiment.default);
    expect(Train.flags.register.default).toBe(properties.register.default);
    expect(TRAIN_DEFAULTS).toMatchObject({ epochs: 100, imgsz: 640, batch: 16, experiment: 'mini-streamio' });
  });

  it("when `detect` names no threshold, then it asks for the service's defaults", () => {
    expect(Detect.flags.conf.default).toBe(DETECTION_PARAMS.conf.default);
    expect(Detect.flags.iou.default).toBe(DETECTION_PARAMS.iou.default);
    expect(Detect.flags['max-det'].default).toBe(DETECTION_PARAMS.max_det.default);
    expect(DETECTION_PARAMS.conf.default).toBe(0.25);
  });
});

describe('registry tags', () => {
  it.each(
    fixtures('registry-tags', 'valid').map(({ file, instances }) => [
      file,
      instances[0] as Record<string, string>,
    ]),
  )('when the golden tags %s are read, then `model list` shows them', (_, tags) => {
    const version = {
      name: 'mini-streamio-detector',
      version: '4',
      creation_timestamp: 0,
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    };
    const summary = summarizeVersion(version, [PRODUCTION_ALIAS]);
    expect(summary.weights_uri).toBe(tags.weights_uri);
    expect(summary.demo).toBe(tags.demo === 'true');
    expect(summary.dataset).toBe(tags.dataset ?? null);
    for (const [key, value] of Object.entries(tags).filter(([key]) => key.startsWith('metric.')))
      expect(summary.metrics[key.slice('metric.'.length)]).toBe(Number(value));
    expect(PRODUCTION_ALIAS).toBe('production');
  });
});
