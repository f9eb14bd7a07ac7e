// CORS for CORS_ORIGINS: the real gateway app on a free port and a real MinIO, requests as a
// browser sends them (an Origin header; a preflight OPTIONS before a POST with custom headers).
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { checked } from './support/contract.js';
import { type RunningGateway, startGateway, startMinio, testConfig } from './support/harness.js';
import { shapeImage } from './support/images.js';

const APP = 'https://app.example';
const KEY = 'correct-horse-battery';

let stack: TestStack;
let open: RunningGateway;
let withCors: RunningGateway;

beforeAll(async () => {
  stack = await startMinio();
  open = await startGateway(testConfig(stack));
  withCors = await startGateway(
    testConfig(stack, { CORS_ORIGINS: `${APP}, http://localhost:5173`, API_KEY: KEY }),
  );
});
afterAll(async () => {
  await open?.close();
  await withCors?.close();
  await stack?.stop();
});

const preflight = (url: string, origin: string) =>
  request(url)
    .options('/image/detect')
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'POST')
    .set('Access-Control-Request-Headers', 'idempotency-key, x-api-key');

const corsHeaders = (res: request.Response) =>
  Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));

describe('CORS', () => {
  it('when CORS_ORIGINS is unset, then no answer has CORS headers, not even Vary', async () => {
    const got = await request(open.url).get('/healthz').set('Origin', APP);
    expect(got.status).toBe(200);
    expect(corsHeaders(got)).toEqual([]);
    expect(got.headers.vary ?? '').not.toMatch(/origin/i);
    const pre = await preflight(open.url, APP);
    expect(pre.status).not.toBe(204);
    expect(corsHeaders(pre)).toEqual([]);
  });

  it('when a listed origin sends a preflight, then 204 allows the methods and headers, without the API key', async () => {
    const res = await preflight(withCors.url, APP);
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST');
    const allowed = (res.headers['access-control-allow-headers'] as string).toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['content-type', 'idempotency-key', 'x-api-key']));
    expect(Number(res.headers['access-control-max-age'])).toBeGreaterThan(0);
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('when a listed origin posts an image, then the answer names the origin and exposes Location', async () => {
    const res = await checked(
      request(withCors.url)
        .post('/image/detect')
        .set('Origin', 'http://localhost:5173')
        .set('X-API-Key', KEY)
        .attach('image', shapeImage('png'), 'a.png'),
    );
    expect(res.status).toBe(202);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
    const exposed = (res.headers['access-control-expose-headers'] as string).split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['Location', 'Retry-After', 'X-Request-Id']));
    const task = await checked(
      request(withCors.url)
        .get(`/image/detect?task_id=${res.body.task_id}`)
        .set('Origin', 'http://localhost:5173')
        .set('X-API-Key', KEY),
    );
    expect(task.status).toBe(200);
    expect(task.headers['access-control-allow-origin']).toBe('http://localhost:5173');
  });

  it('when a listed origin calls without the key, then the 401 still carries CORS headers, so the page can read it', async () => {
    const res = await checked(
      request(withCors.url)
        .get('/image/detect?task_id=7d444840-9dc0-11d1-b245-5ffdce74fad2')
        .set('Origin', APP),
    );
    expect(res.status).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
  });

  it('when an origin is not listed, then neither its preflight nor its request gets CORS headers', async () => {
    for (const origin of ['https://evil.example', 'https://app.example:8443', 'http://app.example']) {
      const pre = await preflight(withCors.url, origin);
      expect(pre.status).not.toBe(204);
      expect(corsHeaders(pre)).toEqual([]);
      const got = await request(withCors.url).get('/healthz').set('Origin', origin);
      expect(got.status).toBe(200);
      expect(corsHeaders(got)).toEqual([]);
      // Still varies by Origin: a cache must not serve this answer to a listed origin.
      expect(got.headers.vary).toMatch(/\bOrigin\b/);
    }
  });
});

describe('CORS_ORIGINS', () => {
  it('when it lists origins, then they are read exactly, spaces around commas ignored', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).CORS_ORIGINS).toEqual([
      'https://a.example',
      'http://localhost:5173',
    ]);
    expect(loadConfig({ CORS_ORIGINS: '' }).CORS_ORIGINS).toBeUndefined();
    expect(loadConfig({}).CORS_ORIGINS).toBeUndefined();
  });

  it.each([
    'https://a.example/',
    'https://a.example/app',
    'https://A.example',
    'https://a.example:443',
    'a.example',
    '*',
    'ftp://a.example',
    'https://a.example,,https://b.example',
  ])('when it holds %s, then the gateway refuses to start, naming the setting and the value', (value) => {
    expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(
      /CORS_ORIGINS=.*is not an origin like https:\/\/host\[:port\]/,
    );
  });
});
