// evaluateSplit with a stand-in gateway: refused images are reported and scored, other errors stop
// it. The scoring is Python's (python -m mini_streamio.shared_rules evaluate): this spawns it.
import { describe, expect, it } from 'vitest';
import type { DatasetSource, LabelledImage } from '../src/lib/dataset-source.js';
import { evaluateSplit } from '../src/lib/evaluation.js';
import { type GatewayClient, GatewayError, type TaskView } from '../src/lib/gateway-client.js';

function source(names: string[], labels = '0 0.5 0.5 0.2 0.2\n'): DatasetSource {
  const images: LabelledImage[] = names.map((name) => ({
    name,
    bytes: Buffer.from(name),
    labels,
    labelsWhere: `labels/${name}.txt`,
  }));
  return {
    description: 'test images',
    split: async () => ({
      classNames: ['thing'],
      count: images.length,
      async *images() {
        yield* images;
      },
    }),
  };
}

/** Answers each image by its name: `refused-<status>-<code>` is refused, anything else is found exactly. */
function gateway(): GatewayClient {
  return {
    detect: async (bytes: Buffer): Promise<TaskView> => {
      const name = bytes.toString();
      const refused = /^refused-(\d+)-(\w+)/.exec(name);
      if (refused)
        throw new GatewayError(
          `the gateway answered ${refused[1]} ${refused[2]}: no`,
          Number(refused[1]),
          refused[2],
        );
      const instance = { boundingBox: '0.5 0.5 0.2 0.2', class: '0', className: 'thing', confidence: 0.9 };
      return {
        task_id: name,
        status: 'completed',
        created_at: '',
        updated_at: '',
        response: {
          instances: [instance],
          image: { width: 10, height: 10 },
          model: { name: 'm', version: '1' },
          inference_ms: 1,
        },
      };
    },
  } as unknown as GatewayClient;
}

describe('evaluateSplit', () => {
  it('when the gateway refuses images (413, 415, 422, 400 image_…), then each is listed with the reason, in order, and scored as missed', async () => {
    const names = [
      'a',
      'refused-415-unsupported_image_type',
      'b',
      'refused-413-image_too_large',
      'refused-422-image_unreadable',
      'refused-400-image_empty',
    ];
    const totals: number[] = [];
    const progress: number[] = [];
    const report = await evaluateSplit(source(names), gateway(), {
      split: 'valid',
      params: {},
      concurrency: 3,
      onStart: (total) => totals.push(total),
      onProgress: (done) => progress.push(done),
    });
    expect(report.failed.map((f) => f.name)).toEqual(names.filter((n) => n.startsWith('refused')));
    expect(report.failed[0]?.error).toBe('the gateway answered 415 unsupported_image_type: no');
    expect(report.metrics.images).toBe(6);
    expect(report.metrics.recall).toBeCloseTo(2 / 6, 12);
    expect(report.classNames).toEqual(['thing']);
    expect(report.metrics.classes.map((c) => [c.id, c.instances, c.recall])).toEqual([[0, 6, 2 / 6]]);
    expect(totals).toEqual([6]);
    expect(progress.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each([
    [401, 'unauthorized'],
    [400, 'invalid_request'],
    [429, 'queue_full'],
  ])(
    'when the gateway answers %i %s (not about one image), then the evaluation stops with it',
    async (status, code) => {
      const run = evaluateSplit(source(['a', `refused-${status}-${code}`, 'b']), gateway(), {
        split: 'valid',
        params: {},
        concurrency: 1,
      });
      await expect(run).rejects.toThrow(`the gateway answered ${status} ${code}`);
    },
  );

  it('when a label row is not a label, then the evaluation fails naming the file and line', async () => {
    const run = evaluateSplit(source(['a'], '0 0.5 0.5'), gateway(), {
      split: 'valid',
      params: {},
      concurrency: 1,
    });
    await expect(run).rejects.toThrow(
      'labels/a.txt:1: not a YOLO label line (2 coordinates (expected 4 or a polygon)): "0 0.5 0.5"',
    );
  });
});
