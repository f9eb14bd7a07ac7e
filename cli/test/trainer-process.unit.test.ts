import { describe, expect, it } from 'vitest';
import { loadCliConfig } from '../src/lib/config.js';
import { renderEvent } from '../src/lib/training/render.js';
import { trainerArgv, trainerEnv } from '../src/lib/training/trainer-process.js';

describe('spawning the trainer', () => {
  it('when options are given, then they become the trainer flags and pass-through arguments', () => {
    expect(
      trainerArgv({
        dataset: 'shapes@0c51c848f161',
        model: 'models:/mini-streamio-detector@production',
        epochs: 3,
        imgsz: 128,
        batch: -1,
        device: 'cpu',
        experiment: 'exp',
        register: false,
        extra: ['lr0=0.002', 'cos_lr=true'],
      }),
    ).toEqual([
      '-m',
      'mini_streamio.training',
      '--events=jsonl',
      '--stop-on-stdin-eof',
      '--dataset=shapes@0c51c848f161',
      '--model=models:/mini-streamio-detector@production',
      '--epochs=3',
      '--imgsz=128',
      '--batch=-1',
      '--device=cpu',
      '--experiment=exp',
      '--no-register',
      '--arg=lr0=0.002',
      '--arg=cos_lr=true',
    ]);
  });

  it('when the CLI has settings, then the trainer gets them under the shared names', () => {
    const config = loadCliConfig({
      MINIO_ENDPOINT: 'http://127.0.0.1:9999',
      MINI_STREAMIO_ALLOW_DOWNLOADS: 'yes',
    });
    const env = trainerEnv(config, {});
    expect(env.MINIO_ENDPOINT).toBe('http://127.0.0.1:9999');
    expect(env.MINI_STREAMIO_ALLOW_DOWNLOADS).toBe('true');
    expect(env.MINI_STREAMIO_DATA_DIR).toMatch(/\.data$/);
  });

  it('when MINI_STREAMIO_ALLOW_DOWNLOADS is not a boolean, then the setting is named', () => {
    expect(() => loadCliConfig({ MINI_STREAMIO_ALLOW_DOWNLOADS: 'maybe' })).toThrow(
      /MINI_STREAMIO_ALLOW_DOWNLOADS="maybe"/,
    );
  });
});

describe('rendering trainer events', () => {
  it('when an epoch ends, then losses and metrics are shown on one line', () => {
    const line = renderEvent({
      event: 'epoch',
      epoch: 3,
      epochs: 10,
      metrics: {
        'train/box_loss': 1.23456,
        'train/cls_loss': 2,
        'train/dfl_loss': 3,
        'val/box_loss': 4,
        'val/cls_loss': 5,
        'val/dfl_loss': 6,
        'metrics/precision_B': 0.5,
        'metrics/recall_B': 0.25,
        'metrics/mAP50_B': 0.75,
        'metrics/mAP50-95_B': 0.125,
        'time/epoch_s': 1.26,
      },
    });
    expect(line).toBe(
      'epoch  3/10 │ train box 1.235 cls 2.000 dfl 3.000 │ val box 4.000 cls 5.000 dfl 6.000 │ ' +
        'P 0.500 R 0.250 │ mAP50 0.750 mAP50-95 0.125 │ 1.3s',
    );
  });

  it('when training stops, then the kept weights are listed', () => {
    expect(
      renderEvent({ event: 'killed', run_id: 'abc', artifacts: ['results.csv', 'weights/last.pt'] }),
    ).toBe('Stopped: run abc is KILLED; logged 2 artifacts (weights/last.pt)');
  });
});
