// The detection page as the gateway serves it: its inputs carry the ranges and defaults of
// contracts/detection-params.schema.json, filled in at start-up (index.html holds placeholders).
// In-process through supertest, so in the component tier.
import fs from 'node:fs';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { schema } from '../../contracts/test/schema-check.js';
import { createApp, publicDir } from '../src/http/app.js';
import { GatewayMetrics } from '../src/http/metrics.js';
import type { ObjectStore } from '../src/storage/object-store.js';
import { FakeInference } from './support/fake-inference.js';

const params = schema('detection-params').properties as Record<
  string,
  { type: string; minimum: number; maximum: number; default: number }
>;

describe('detection page', () => {
  it('when the detection page is served, then its inputs hold the contracts ranges and defaults', async () => {
    // index.html itself holds placeholders only; the gateway fills them in from the contract.
    const file = fs.readFileSync(`${publicDir}/index.html`, 'utf8');
    const app = createApp({
      store: {} as ObjectStore, // the page never reaches storage, inference or the API
      inference: new FakeInference(),
      api: express.Router(),
      metrics: new GatewayMetrics(),
      logger: pino({ level: 'silent' }),
      maxImageBytes: 1024,
    });
    const served = await request(app).get('/');
    expect(served.status).toBe(200);
    expect(served.headers['cache-control']).toBe('no-cache');
    const revalidated = await request(app)
      .get('/')
      .set('If-None-Match', served.headers.etag ?? '');
    expect(revalidated.status).toBe(304);
    expect((await request(app).get('/index.html')).text).toBe(served.text);
    for (const [id, name] of [
      ['conf', 'conf'],
      ['iou', 'iou'],
      ['max-det', 'max_det'],
    ] as const) {
      const input = (page: string) => page.match(new RegExp(`<input id="${id}"[^>]*>`))?.[0] ?? '';
      const attribute = (key: string) => input(served.text).match(new RegExp(` ${key}="([^"]+)"`))?.[1];
      for (const key of ['min', 'max', 'step', 'value'])
        expect(input(file)).toMatch(new RegExp(` ${key}="\\{\\{${name}\\.\\w+\\}\\}"`));
      const spec = params[name];
      expect(['min', 'max', 'value'].map((key) => Number(attribute(key)))).toEqual([
        spec?.minimum,
        spec?.maximum,
        spec?.default,
      ]);
      // Integers count by one; a threshold's default lies on the step, or the page refuses it.
      const step = Number(attribute('step'));
      expect(step).toBe(spec?.type === 'integer' ? 1 : 0.01);
      const steps = ((spec?.default ?? 0) - (spec?.minimum ?? 0)) / step;
      expect(Math.abs(steps - Math.round(steps))).toBeLessThan(1e-9);
    }
  });
});
